"""Authentication backend with login protection (issue 2 §4, issue 9).  Password hashing is argon2 (settings).

Before a password is checked, :func:`~govshare.core.actions.auth.reserve_login_attempt` counts the attempt
as a failure — atomically, so parallel attempts cannot slip past — or refuses it when it must wait (too
many failures from this address, or for this user name from this address) or the account is locked for
this address; the right password gives the reservation back.  A refused attempt, or a user name with a
control character (refused before any query), spends the time of a password check and gets the same
answer as a wrong password, so neither the answer nor its timing tells whether the name exists or the
password was right.  docs/security.md § "Login protection".
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from govshare.core.models import User


class AccountLocked(Exception):  # noqa: N818 — not PermissionDenied: authenticate() would swallow it
    """The attempt was refused before its password was checked (a delay or the account lock)."""

    def __init__(self, user: User | None, reason: str = "account_locked") -> None:
        super().__init__(reason)
        self.user = user
        self.reason = reason


#: the same exception, by the name that says what it covers
LoginRefused = AccountLocked


class LockoutModelBackend(ModelBackend):
    """Refuses a throttled attempt or a locked account before checking its password, and counts failures."""

    def authenticate(self, request: Any, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> User | None:
        from govshare.core.actions.auth import (
            LoginRefusal,
            do_record_login_failure,
            do_record_login_refused,
            do_release_login_attempt,
            is_clean_username,
            reserve_login_attempt,
        )
        from govshare.core.middleware import client_ip

        if username is None or password is None:
            return None
        if not is_clean_username(username):  # a NUL would fail the query on PostgreSQL: no query at all
            User().set_password(password)
            raise LoginRefused(None, "malformed_username")
        ip = client_ip(request) if request is not None else ""
        user = User.objects.select_related("department").filter(username__iexact=username.strip()).first()
        reservation = reserve_login_attempt(username, user, ip)
        if isinstance(reservation, LoginRefusal):
            User().set_password(password)  # spend the same time as a real check: no timing oracle
            do_record_login_refused(username, user, reservation)
            raise LoginRefused(user, reservation.reason)
        result = super().authenticate(request, username=user.username if user else username, password=password,
                                      **kwargs)
        if result is None:
            do_record_login_failure(username, user, reservation)
        else:
            do_release_login_attempt(reservation)
        return result  # type: ignore[return-value]

    def get_user(self, user_id: Any) -> Any:
        """The session's user with their department in the same query: every audit and access-log row
        names the reader's department (issue 9), without a query of its own."""
        user = User.objects.select_related("department").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None


def active_login_delays(user: User) -> int:
    """How many addresses must currently wait before trying this user's name again (the user page)."""
    from django.utils import timezone

    from govshare.core.actions.auth import login_key
    from govshare.core.models import LoginThrottle

    return LoginThrottle.objects.filter(scope=LoginThrottle.Scope.ACCOUNT_ADDRESS,
                                        key__startswith=login_key(user.get_username(), ""),
                                        blocked_until__gt=timezone.now()).count()
