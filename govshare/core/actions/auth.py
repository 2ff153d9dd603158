"""Actions on authentication: login records, login protection (throttles and lock), passwords, personal API tokens."""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.db.models.functions import Coalesce, Greatest
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
#: how often a token's "last used" is written (each request with it is in the access log anyway)
TOKEN_LAST_USED_EVERY = dt.timedelta(minutes=1)


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
# * per address: the same after GOVSHARE_LOGIN_THROTTLE_IP_FREE failures over any names, for every
#   account — one address trying many accounts (a sprayer behind an office NAT too) is slowed;
# * per account that has a known address, failures from other addresses: GOVSHARE_LOGIN_MAX_FAILURES of
#   them lock the account for GOVSHARE_LOGIN_LOCKOUT_MINUTES — for such addresses only.  An attacker
#   elsewhere can lock himself out, never the user at an address the user has logged in from; an account
#   with no known address is never locked (the two delays slow the guessing there).
# Every attempt is *reserved* before its password is checked — counted as a failure by one conditional
# UPDATE per counter, which refuses it while a delay or the lock runs — so that parallel attempts cannot
# slip past the counters; a right password gives the reservation back.
# An IPv6 client is counted by its /64 network (one host holds the whole /64), an IPv4 client by its address.
# docs/security.md § "Login protection" explains the design.


def throttle_address(ip: str) -> str:
    """The address a throttle counts: the /64 network of an IPv6 address, an IPv4 address as it is."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip[:45]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def login_key(username: str, ip: str) -> str:
    """The (user name, address) throttle key: the name as typed, so unknown names behave the same."""
    return f"{username.strip().lower()[:150]}|{throttle_address(ip) if ip else ''}"


def is_clean_username(username: str) -> bool:
    """No NUL or other control/format character (PostgreSQL refuses NUL in text; no user name has one)."""
    return not any(unicodedata.category(ch).startswith("C") for ch in username)


def _known_addresses(user: User | None, now: dt.datetime) -> Any:
    since = now - dt.timedelta(days=settings.GOVSHARE_LOGIN_KNOWN_ADDRESS_DAYS)
    return LoginAddress.objects.filter(user=user, last_seen_at__gte=since)


def is_known_address(user: User | None, ip: str, now: dt.datetime | None = None) -> bool:
    """The user logged in from ``ip`` with the right password within GOVSHARE_LOGIN_KNOWN_ADDRESS_DAYS."""
    if user is None or not ip:
        return False
    return _known_addresses(user, now or timezone.now()).filter(ip=ip).exists()


@dataclass(frozen=True)
class LoginRefusal:
    reason: str  # "account_address", "address" or "account_locked"
    until: dt.datetime


class _Counted(NamedTuple):
    scope: str
    key: str
    failures: int  # after this attempt
    started: dt.datetime | None  # the delay this attempt started
    previous_failure_at: dt.datetime | None  # last_failure_at before it (None: the row was new)


@dataclass
class LoginReservation:
    """An attempt counted (as a failure) before its password is checked; the right password gives it back."""

    username: str
    user_id: int | None
    ip: str
    now: dt.datetime
    known: bool
    counted: list[_Counted]
    failed_logins: int | None = None  # the account's count after this attempt (None: the lock does not apply)
    locked_until: dt.datetime | None = None  # the lock this attempt started


class _Refused(Exception):  # noqa: N818 — rolls the reservation's transaction back
    def __init__(self, refusal: LoginRefusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


def _delay_seconds(failures: int, free: int) -> int:
    exponent = min(failures - free, 30)
    return int(min(settings.GOVSHARE_LOGIN_THROTTLE_MAX_SECONDS,
                   settings.GOVSHARE_LOGIN_THROTTLE_BASE_SECONDS * 2 ** exponent))


def _until(failures: int, free: int, now: dt.datetime) -> dt.datetime | None:
    """When the next attempt may come after ``failures`` within the window (None: no delay)."""
    if failures < free:
        return None
    return now + dt.timedelta(seconds=_delay_seconds(failures, free))


def _reserve(scope: str, key: str, free: int, now: dt.datetime) -> _Counted:
    """Count one attempt on a throttle row (created on first use) with one conditional UPDATE, which
    matches nothing while a delay runs (then :class:`_Refused`).  The attempt that reaches the free limit
    starts the delay at once, so that concurrent attempts are refused; a delay is never shortened."""
    window = now - dt.timedelta(minutes=settings.GOVSHARE_LOGIN_THROTTLE_WINDOW_MINUTES)
    rows = LoginThrottle.objects.filter(scope=scope, key=key)
    open_rows = rows.filter(Q(blocked_until__isnull=True) | Q(blocked_until__lte=now))
    date = DateTimeField()

    def delayed(failures: int) -> Any:  # greatest(existing, new): concurrent failures never shorten a delay
        until = _until(failures, free, now)
        if until is None:
            return F("blocked_until")
        return Greatest(Coalesce(F("blocked_until"), Value(now, output_field=date)), Value(until, output_field=date))

    # the new count is 1 after the window (old failures forgotten), else failures + 1; its delay by cases
    # up to the cap (a handful: base·2^k reaches the cap within a few steps)
    cases = [When(last_failure_at__lt=window, then=delayed(1))]
    failures = max(free, 1)
    while failures < free + 31 and _delay_seconds(failures, free) < settings.GOVSHARE_LOGIN_THROTTLE_MAX_SECONDS:
        cases.append(When(failures=failures - 1, then=delayed(failures)))
        failures += 1
    cases.append(When(failures__lt=max(free, 1) - 1, then=F("blocked_until")))
    update = {"failures": Case(When(last_failure_at__lt=window, then=Value(1)), default=F("failures") + 1),
              "blocked_until": Case(*cases, default=delayed(failures)), "last_failure_at": now}
    for _attempt in range(3):  # a row created, or deleted by a success, between two statements: again
        previous = rows.values_list("last_failure_at", flat=True).first()  # for the release only
        if open_rows.update(**update):
            failures, until = rows.values_list("failures", "blocked_until").get()  # locked by the UPDATE
            started = until if until is not None and until > now and failures >= free else None
            return _Counted(scope, key, failures, started, previous)
        blocked = rows.values_list("blocked_until", flat=True).first()  # None: no row, or no delay
        if blocked is not None and blocked > now:
            raise _Refused(LoginRefusal(scope, blocked))
        if blocked is None and not rows.exists():
            try:
                with transaction.atomic():
                    LoginThrottle.objects.create(scope=scope, key=key, failures=1, last_failure_at=now,
                                                 blocked_until=_until(1, free, now))
                return _Counted(scope, key, 1, _until(1, free, now), None)
            except IntegrityError:  # another process created it first
                continue
    raise _Refused(LoginRefusal(scope, now))  # contended beyond reason: refused, the safe side


def reserve_login_attempt(username: str, user: User | None, ip: str, *, account: bool = True,
                          now: dt.datetime | None = None) -> LoginReservation | LoginRefusal:
    """Count an attempt before its password is checked, or say why it is refused (a delay or the lock).
    All counters or none (one transaction).  ``account=False``: the (name, address) counter only."""
    now = now or timezone.now()
    known = is_known_address(user, ip, now)
    reservation = LoginReservation(username, user.pk if user is not None else None, ip, now, known, [])
    try:
        with transaction.atomic():
            # always in this order (pair, address, account) — the release takes them in the same one
            targets = [(LoginThrottle.Scope.ACCOUNT_ADDRESS, login_key(username, ip),
                        settings.GOVSHARE_LOGIN_THROTTLE_FREE)]
            if ip and account:
                targets.append((LoginThrottle.Scope.ADDRESS, throttle_address(ip),
                                settings.GOVSHARE_LOGIN_THROTTLE_IP_FREE))
            for scope, key, free in targets:
                reservation.counted.append(_reserve(str(scope), key, free, now))
            if account and user is not None and not known and _known_addresses(user, now).exists():
                _reserve_account(user, reservation)
    except _Refused as refused:
        return refused.refusal
    return reservation


def _reserve_account(user: User, reservation: LoginReservation) -> None:
    """One more failure on an account with a known address, from another address; the attempt that
    reaches GOVSHARE_LOGIN_MAX_FAILURES locks it at once (for such addresses), refusing concurrent ones."""
    now = reservation.now
    until = now + dt.timedelta(minutes=settings.GOVSHARE_LOGIN_LOCKOUT_MINUTES)
    reaches = Q(failed_logins__gte=settings.GOVSHARE_LOGIN_MAX_FAILURES - 1)
    rows = User.objects.filter(pk=user.pk)
    for _attempt in range(3):  # a lock lifted between the two statements: again
        if rows.filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now)).update(
                failed_logins=Case(When(reaches, then=Value(0)), default=F("failed_logins") + 1),
                locked_until=Case(When(reaches, then=Value(until, output_field=DateTimeField())),
                                  default=F("locked_until"))):
            break
        locked_until = rows.values_list("locked_until", flat=True).get()
        if locked_until is not None and locked_until > now:
            raise _Refused(LoginRefusal("account_locked", locked_until))
    else:
        raise _Refused(LoginRefusal("account_locked", now))
    failed_logins, locked_until = rows.values_list("failed_logins", "locked_until").get()
    if locked_until == until:
        reservation.failed_logins, reservation.locked_until = settings.GOVSHARE_LOGIN_MAX_FAILURES, until
    else:
        reservation.failed_logins = failed_logins


def do_release_login_attempt(reservation: LoginReservation) -> None:
    """The password was right: give the reservation back — the (name, address) delay ends, the address
    count loses this attempt (the delay it started, its time unless a later attempt came), the lock it
    started is lifted."""
    date = DateTimeField()
    with transaction.atomic():
        for counted in reservation.counted:
            rows = LoginThrottle.objects.filter(scope=counted.scope, key=counted.key)
            if counted.scope == LoginThrottle.Scope.ACCOUNT_ADDRESS:
                rows.delete()
                continue
            restore: dict[str, Any] = {}
            if counted.started is not None:
                restore["blocked_until"] = Case(When(blocked_until=counted.started, then=Value(None)),
                                                default=F("blocked_until"), output_field=date)
            if counted.previous_failure_at is not None:
                restore["last_failure_at"] = Case(
                    When(last_failure_at=reservation.now, then=Value(counted.previous_failure_at, output_field=date)),
                    default=F("last_failure_at"), output_field=date)
            rows.filter(failures__gt=0).update(failures=F("failures") - 1, **restore)
            rows.filter(Q(blocked_until__isnull=True) | Q(blocked_until__lte=reservation.now), failures=0).delete()
        if reservation.locked_until is not None and reservation.user_id is not None:
            User.objects.filter(pk=reservation.user_id, locked_until=reservation.locked_until).update(locked_until=None)


def do_record_login(user: User, ip: str | None = None) -> None:
    """A login with the right password: clear the (name, address) delay and the account's failure
    count, remember the address.  The address delay and an account lock stay: they are about others."""
    ip = context.current().ip if ip is None else ip
    now = timezone.now()
    with transaction.atomic():
        if ip:  # the pair first: the order the reservation takes its rows in
            LoginThrottle.objects.filter(scope=LoginThrottle.Scope.ACCOUNT_ADDRESS,
                                         key=login_key(user.get_username(), ip)).delete()
        User.objects.filter(pk=user.pk).update(failed_logins=0)
        new_address = False
        if ip and not LoginAddress.objects.filter(user=user, ip=ip).update(last_seen_at=now):
            _, new_address = LoginAddress.objects.get_or_create(
                user=user, ip=ip, defaults={"first_seen_at": now, "last_seen_at": now})
        audit.record(AuditCode.LOGIN_SUCCEEDED, actor=user, obj=user,
                     detail={"new_address": True} if new_address else None)


def do_record_login_refused(username: str, user: User | None, refusal: LoginRefusal, *,
                            actor: Any = None) -> None:
    """An attempt refused by a delay or a lock (its password was not checked)."""
    with transaction.atomic(durable=False):
        audit.record(AuditCode.LOGIN_THROTTLED, actor=actor, obj=user, outcome="denied",
                     department=user.department if user else None,
                     detail={"username": username[:150], "reason": refusal.reason, "until": refusal.until})


def do_record_login_failure(username: str, user: User | None, reservation: LoginReservation, *,
                            actor: Any = None, purpose: str = "") -> None:
    """A wrong password on a reserved attempt (already counted): the audit rows — the failure, the delays
    and the lock it started.  ``purpose="password_change"``: the current password on the change page."""
    with transaction.atomic(durable=False):
        department = user.department if user is not None else None
        detail: dict[str, Any] = {"username": username[:150], "known_address": reservation.known}
        if purpose:
            detail["purpose"] = purpose
        if reservation.failed_logins is not None:
            detail["failed_logins"] = reservation.failed_logins
        audit.record(AuditCode.LOGIN_FAILED, actor=actor, obj=user, outcome="failure", department=department,
                     detail=detail)
        for counted in reservation.counted:
            if counted.started is not None:
                personal = counted.scope != LoginThrottle.Scope.ADDRESS
                audit.record(AuditCode.LOGIN_DELAY_STARTED, actor=actor, obj=user if personal else None,
                             outcome="denied", department=department if personal else None,
                             detail={"scope": counted.scope, "username": username[:150],
                                     "failures": counted.failures, "until": counted.started})
        if reservation.locked_until is not None:
            audit.record(AuditCode.ACCOUNT_LOCKED, actor=None, obj=user, outcome="denied", department=department,
                         detail={"locked_until": reservation.locked_until, "applies_to": "unknown_addresses"})


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


def do_change_password(actor: Any, user: User, *, old_password: str | None, new_password: str,
                       operator: bool = False) -> None:
    """Change one's own password (the old one is needed), or set another account's as its manager.
    ``actor=None, operator=True``: the machine operator (``govshare auditor reset-password``),
    which also lifts a lockout.

    The current password is checked under the login's (user name, address) throttle (issue 9): a
    wrong one is counted and audited (``login_failed``, purpose ``password_change``) in a transaction
    of its own, and while a delay runs it is not checked at all."""
    from govshare.core.actions.org import _guard_target

    with transaction.atomic():  # the permission first
        if actor is None:
            if not operator:
                raise ValidationFailed("login_required", _("Log in first."))
        else:
            require_object(actor, Action.CHANGE, user)
            _guard_target(actor, user)
    if actor is not None and actor.pk == user.pk:
        _check_current_password(actor, user, old_password or "")
    with transaction.atomic():
        check_password_strength(new_password, user, field="new_password")
        user.set_password(new_password)
        if actor is None:
            user.failed_logins, user.locked_until = 0, None
        user.save(update_fields=["password", "failed_logins", "locked_until"])
        audit.record(AuditCode.PASSWORD_CHANGED, actor=actor, obj=user, department=user.department)


def _check_current_password(actor: Any, user: User, password: str) -> None:
    ip = context.current().ip
    reservation = reserve_login_attempt(user.get_username(), user, ip, account=False)
    if isinstance(reservation, LoginRefusal):
        do_record_login_refused(user.get_username(), user, reservation, actor=actor)
        raise ValidationFailed("password_attempts", _("Too many wrong passwords: try again in a few minutes."),
                               field="old_password")
    if not user.check_password(password):
        do_record_login_failure(user.get_username(), user, reservation, actor=actor, purpose="password_change")
        raise ValidationFailed("wrong_password", _("The current password is wrong."), field="old_password")
    do_release_login_attempt(reservation)


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
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at >= TOKEN_LAST_USED_EVERY:  # to the minute
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        # the use is traced by the access log (issue 9): each request with a token leaves a row there
        # naming the token, the path and the object (TOKEN_USED is no longer written)
    return token.user, token, ""
