"""Authentication backend with lockout (issue 2 §4).  Password hashing is argon2 (settings)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from govshare.core.models import User


class AccountLocked(Exception):  # noqa: N818 — not PermissionDenied: authenticate() would swallow it
    def __init__(self, user: User) -> None:
        super().__init__("account locked")
        self.user = user


class LockoutModelBackend(ModelBackend):
    """Refuses a locked account before checking its password, and counts failures."""

    def authenticate(self, request: Any, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> User | None:
        from govshare.core.actions import do_record_login_failure

        if username is None or password is None:
            return None
        user = User.objects.select_related("department").filter(username__iexact=username.strip()).first()
        if user is not None and user.is_locked():
            User().set_password(password)  # spend the same time as a real check: no timing oracle
            do_record_login_failure(username, user)
            raise AccountLocked(user)
        result = super().authenticate(request, username=user.username if user else username, password=password,
                                      **kwargs)
        if result is None:
            do_record_login_failure(username, user)
        return result  # type: ignore[return-value]
