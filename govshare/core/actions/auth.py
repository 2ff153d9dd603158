"""Actions on authentication: login records, login protection (throttles and lock), passwords, personal API tokens."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.core import audit, context, crypto, periodic
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, ValidationFailed
from govshare.core.models import ApiToken, LoginAddress, LoginThrottle, User
from govshare.core.permissions import Action, require_object
from govshare.core.roles import Capability

TOKEN_PREFIX = "gs"
MAX_TOKEN_DAYS = 366


def check_password_strength(password: str, user: User, *, field: str) -> None:
    """Django's password validators (settings.AUTH_PASSWORD_VALIDATORS), as a ValidationFailed."""
    from govshare.core.passwords import Reasons

    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        # the reasons stay lazy: rendered in the reader's language when the error is shown
        raise ValidationFailed("weak_password", "%(reasons)s", reasons=Reasons(exc.error_list),
                               field=field) from exc


# ------------------------------------------------------------------ login protection (issue 9)
#
# Three counters, all in the database (several server processes share them), all numbers from settings:
# * per (user name, address): after GOVSHARE_LOGIN_THROTTLE_FREE failures each failure makes the next
#   attempt from that address for that name wait base·2^k seconds (capped);
# * per address: the same after GOVSHARE_LOGIN_THROTTLE_IP_FREE failures over any names — one address
#   trying many accounts is slowed — except for accounts that have logged in from that address before;
# * per account, failures from addresses it has never logged in from: GOVSHARE_LOGIN_MAX_FAILURES of them
#   lock the account for GOVSHARE_LOGIN_LOCKOUT_MINUTES — for such addresses only.  An attacker
#   elsewhere can lock himself out, never the user at an address the user has logged in from.
# docs/security.md § "Login protection" explains the design.


def login_key(username: str, ip: str) -> str:
    """The (user name, address) throttle key: the name as typed, so unknown names behave the same."""
    return f"{username.strip().lower()[:150]}|{ip}"


def is_known_address(user: User | None, ip: str, now: dt.datetime | None = None) -> bool:
    """The user logged in from ``ip`` with the right password within GOVSHARE_LOGIN_KNOWN_ADDRESS_DAYS."""
    if user is None or not ip:
        return False
    since = (now or timezone.now()) - dt.timedelta(days=settings.GOVSHARE_LOGIN_KNOWN_ADDRESS_DAYS)
    return LoginAddress.objects.filter(user=user, ip=ip, last_seen_at__gte=since).exists()


@dataclass(frozen=True)
class LoginRefusal:
    reason: str  # "account_address", "address" or "account_locked"
    until: dt.datetime


def login_refusal(username: str, user: User | None, ip: str, now: dt.datetime | None = None) \
        -> LoginRefusal | None:
    """Why an attempt must be refused before its password is checked, or None (reads only)."""
    now = now or timezone.now()
    known = is_known_address(user, ip, now)
    keys = [(LoginThrottle.Scope.ACCOUNT_ADDRESS, login_key(username, ip))]
    if not known:
        keys.append((LoginThrottle.Scope.ADDRESS, ip))
    condition = Q()
    for scope, key in keys:
        condition |= Q(scope=scope, key=key)
    blocked = (LoginThrottle.objects.filter(condition, blocked_until__gt=now)
               .order_by("-blocked_until").values_list("scope", "blocked_until").first())
    if blocked is not None and blocked[1] is not None:
        return LoginRefusal(str(blocked[0]), blocked[1])
    if user is not None and user.is_locked(now) and not known:
        assert user.locked_until is not None
        return LoginRefusal("account_locked", user.locked_until)
    return None


def _count_failure(scope: str, key: str, free: int, now: dt.datetime) -> LoginThrottle | None:
    """One more failure on a throttle row (created on first use); returns the row when this failure
    starts a delay.  Conditional UPDATEs: concurrent failures are all counted."""
    window = now - dt.timedelta(minutes=settings.GOVSHARE_LOGIN_THROTTLE_WINDOW_MINUTES)
    rows = LoginThrottle.objects.filter(scope=scope, key=key)
    rows.filter(last_failure_at__lt=window).update(failures=0)  # old failures are forgotten
    if not rows.update(failures=F("failures") + 1, last_failure_at=now):
        try:
            with transaction.atomic():
                LoginThrottle.objects.create(scope=scope, key=key, failures=1, last_failure_at=now)
        except IntegrityError:  # another process created it first
            rows.update(failures=F("failures") + 1, last_failure_at=now)
    row = rows.get()
    if row.failures < free:
        return None
    exponent = min(row.failures - free, 30)
    delay = min(settings.GOVSHARE_LOGIN_THROTTLE_MAX_SECONDS,
                settings.GOVSHARE_LOGIN_THROTTLE_BASE_SECONDS * 2 ** exponent)
    row.blocked_until = now + dt.timedelta(seconds=delay)
    rows.update(blocked_until=row.blocked_until)
    return row


def do_record_login(user: User, ip: str | None = None) -> None:
    """A login with the right password: clear the (name, address) delay and the account's failure
    count, remember the address.  The address delay and an account lock stay: they are about others."""
    ip = context.current().ip if ip is None else ip
    now = timezone.now()
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(failed_logins=0)
        new_address = False
        if ip:
            LoginThrottle.objects.filter(scope=LoginThrottle.Scope.ACCOUNT_ADDRESS,
                                         key=login_key(user.get_username(), ip)).delete()
            if not LoginAddress.objects.filter(user=user, ip=ip).update(last_seen_at=now):
                _, new_address = LoginAddress.objects.get_or_create(
                    user=user, ip=ip, defaults={"first_seen_at": now, "last_seen_at": now})
        audit.record(AuditCode.LOGIN_SUCCEEDED, actor=user, obj=user,
                     detail={"new_address": True} if new_address else None)


def do_record_login_refused(username: str, user: User | None, refusal: LoginRefusal) -> None:
    """An attempt refused by a delay or a lock (its password was not checked)."""
    with transaction.atomic(durable=False):
        audit.record(AuditCode.LOGIN_THROTTLED, actor=None, obj=user, outcome="denied",
                     department=user.department if user else None,
                     detail={"username": username[:150], "reason": refusal.reason, "until": refusal.until})


def do_record_login_failure(username: str, user: User | None, ip: str | None = None) -> None:
    """Count a failed login on the throttles, and on the account when the address is not one it has
    logged in from; lock it (for such addresses) after the configured number of failures.

    Recorded in its own transaction so that the failure survives whatever the caller does next."""
    ip = context.current().ip if ip is None else ip
    now = timezone.now()
    with transaction.atomic(durable=False):
        department = user.department if user is not None else None
        known = is_known_address(user, ip, now)
        started = [_count_failure(LoginThrottle.Scope.ACCOUNT_ADDRESS, login_key(username, ip),
                                  settings.GOVSHARE_LOGIN_THROTTLE_FREE, now)]
        if ip:
            started.append(_count_failure(LoginThrottle.Scope.ADDRESS, ip,
                                          settings.GOVSHARE_LOGIN_THROTTLE_IP_FREE, now))
        detail: dict[str, Any] = {"username": username[:150], "known_address": known}
        locked_until = None
        if user is not None and not known:
            User.objects.filter(pk=user.pk).update(failed_logins=F("failed_logins") + 1)
            user.refresh_from_db(fields=["failed_logins", "locked_until"])
            detail["failed_logins"] = user.failed_logins
            until = now + dt.timedelta(minutes=settings.GOVSHARE_LOGIN_LOCKOUT_MINUTES)
            # one of several concurrent failures wins the lock (and its audit row)
            if User.objects.filter(pk=user.pk, failed_logins__gte=settings.GOVSHARE_LOGIN_MAX_FAILURES) \
                    .update(locked_until=until, failed_logins=0):
                locked_until = user.locked_until = until
        audit.record(AuditCode.LOGIN_FAILED, actor=None, obj=user, outcome="failure", department=department,
                     detail=detail)
        for row in started:
            if row is not None:
                audit.record(AuditCode.LOGIN_DELAY_STARTED, actor=None, obj=user if row.scope != "address" else None,
                             outcome="denied", department=department if row.scope != "address" else None,
                             detail={"scope": row.scope, "username": username[:150], "failures": row.failures,
                                     "until": row.blocked_until})
        if locked_until is not None:
            audit.record(AuditCode.ACCOUNT_LOCKED, actor=None, obj=user, outcome="denied", department=department,
                         detail={"locked_until": locked_until, "applies_to": "unknown_addresses"})


@periodic.register("core.prune_login_throttles", every_seconds=3600)
def prune_login_throttles(now: dt.datetime | None = None) -> int:
    """Forget throttle rows whose failures are older than the window and whose delay is over."""
    now = now or timezone.now()
    window = now - dt.timedelta(minutes=settings.GOVSHARE_LOGIN_THROTTLE_WINDOW_MINUTES)
    deleted, _ = (LoginThrottle.objects.filter(last_failure_at__lt=window)
                  .filter(Q(blocked_until__isnull=True) | Q(blocked_until__lt=now)).delete())
    return deleted


def do_record_logout(user: Any) -> None:
    if user is not None and getattr(user, "is_authenticated", False):
        with transaction.atomic():
            audit.record(AuditCode.LOGOUT, actor=user, obj=user)


@transaction.atomic
def do_unlock_user(actor: Any, user: User) -> User:
    from govshare.core.actions.org import _guard_target
    from govshare.core.permissions import require

    require_object(actor, Action.CHANGE, user)
    require(actor, Capability.MANAGE_USERS)
    _guard_target(actor, user)
    was_locked = user.is_locked()
    User.objects.filter(pk=user.pk).update(locked_until=None, failed_logins=0)
    # the delays on this user name (from any address) end too, and its failures are forgotten
    throttles = LoginThrottle.objects.filter(scope=LoginThrottle.Scope.ACCOUNT_ADDRESS,
                                             key__startswith=login_key(user.get_username(), ""))
    lifted = throttles.filter(blocked_until__gt=timezone.now()).count()
    throttles.delete()
    user.refresh_from_db()
    audit.record(AuditCode.USER_UNLOCKED, actor=actor, obj=user, department=user.department,
                 detail={"was_locked": was_locked, "delays_lifted": lifted})
    return user


@transaction.atomic
def do_change_password(actor: Any, user: User, *, old_password: str | None, new_password: str,
                       operator: bool = False) -> None:
    """Change one's own password (the old one is needed), or set another account's as its manager.
    ``actor=None, operator=True``: the machine operator (``govshare auditor reset-password``),
    which also lifts a lockout."""
    from govshare.core.actions.org import _guard_target

    if actor is None:
        if not operator:
            raise ValidationFailed("login_required", _("Log in first."))
    else:
        require_object(actor, Action.CHANGE, user)
        _guard_target(actor, user)
    if actor is not None and actor.pk == user.pk and not user.check_password(old_password or ""):
        raise ValidationFailed("wrong_password", _("The current password is wrong."), field="old_password")
    check_password_strength(new_password, user, field="new_password")
    user.set_password(new_password)
    if actor is None:
        user.failed_logins, user.locked_until = 0, None
    user.save(update_fields=["password", "failed_logins", "locked_until"])
    audit.record(AuditCode.PASSWORD_CHANGED, actor=actor, obj=user, department=user.department)


@dataclass
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


def parse_token(raw: str) -> tuple[str, str] | None:
    # the secret part is URL-safe base64 and may itself contain "_": split off two parts only
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(parts[1]) != 8 or len(parts[2]) < 32:
        return None
    return parts[1], raw.strip()


@transaction.atomic
def do_create_token(actor: Any, *, name: str, scope: str = ApiToken.Scope.READ, days: int = 90) -> NewToken:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise ValidationFailed("login_required", _("Log in first."))
    if not name or not name.strip():
        raise ValidationFailed("required", _("This field is required."), field="name")
    if scope not in ApiToken.Scope.values:
        raise ValidationFailed("invalid_choice", _("Unknown scope %(value)s."), value=scope, field="scope")
    if not 1 <= int(days) <= MAX_TOKEN_DAYS:
        raise ValidationFailed("token_days", _("A token must expire within 1 to %(max)d days."),
                               max=MAX_TOKEN_DAYS, field="days")
    if actor.api_tokens.filter(name=name.strip(), revoked_at__isnull=True).exists():
        raise Conflict("duplicate_token_name", _("You already have a token named %(name)s."), name=name,
                       field="name")
    prefix = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(user=actor, name=name.strip(), prefix=prefix, secret_hash=crypto.token_hash(secret),
                                    scope=scope, expires_at=timezone.now() + dt.timedelta(days=int(days)))
    audit.record(AuditCode.TOKEN_CREATED, actor=actor, obj=token,
                 detail={"scope": scope, "expires_at": token.expires_at})
    return NewToken(token, secret)


@transaction.atomic
def do_revoke_token(actor: Any, token: ApiToken) -> ApiToken:
    require_object(actor, Action.CHANGE, token)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(AuditCode.TOKEN_REVOKED, actor=actor, obj=token)
    return token


def authenticate_token(raw: str, *, write: bool) -> tuple[User | None, ApiToken | None, str]:
    """Check a presented token; returns (user, token, reason).  Every use — accepted or not — is
    audited (SEC-4).  ``reason`` is empty when accepted."""
    parsed = parse_token(raw)
    token = None
    reason = ""
    if parsed is None:
        reason = "malformed"
    else:
        token = ApiToken.objects.select_related("user", "user__department").filter(prefix=parsed[0]).first()
        if token is None or not secrets.compare_digest(token.secret_hash, crypto.token_hash(parsed[1])):
            reason, token = "unknown", None
        elif token.revoked_at is not None:
            reason = "revoked"
        elif token.expires_at <= timezone.now():
            reason = "expired"
        elif not token.user.is_active:
            reason = "user_inactive"
        elif write and token.scope != ApiToken.Scope.WRITE:
            reason = "read_only"
    with transaction.atomic():
        if reason:
            audit.record(AuditCode.TOKEN_REJECTED, actor=token.user if token else None, obj=token,
                         outcome="denied", detail={"reason": reason})
            return None, token, reason
        assert token is not None
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        # the use is traced by the access log (issue 9): each request with a token leaves a row there
        # naming the token, the path and the object (TOKEN_USED is no longer written)
    return token.user, token, ""
