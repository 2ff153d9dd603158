"""Actions on authentication: login records and lockout, passwords, personal API tokens."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.core import audit, crypto
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, ValidationFailed
from govshare.core.models import ApiToken, User
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


def do_record_login(user: User) -> None:
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
        audit.record(AuditCode.LOGIN_SUCCEEDED, actor=user, obj=user)


def do_record_login_failure(username: str, user: User | None) -> None:
    """Count a failed login; lock the account after the configured number of failures.

    Recorded in its own transaction so that the failure survives whatever the caller does next.
    """
    with transaction.atomic(durable=False):
        if user is None:
            audit.record_now(AuditCode.LOGIN_FAILED, outcome="failure", detail={"username": username[:150]})
            return
        User.objects.filter(pk=user.pk).update(failed_logins=F("failed_logins") + 1)
        user.refresh_from_db(fields=["failed_logins", "locked_until"])
        audit.record(AuditCode.LOGIN_FAILED, actor=None, obj=user, outcome="failure",
                     department=user.department, detail={"username": username[:150],
                                                         "failed_logins": user.failed_logins})
        if user.failed_logins >= settings.GOVSHARE_LOGIN_MAX_FAILURES:
            until = timezone.now() + dt.timedelta(minutes=settings.GOVSHARE_LOGIN_LOCKOUT_MINUTES)
            User.objects.filter(pk=user.pk).update(locked_until=until, failed_logins=0)
            audit.record(AuditCode.ACCOUNT_LOCKED, actor=None, obj=user, outcome="denied",
                         department=user.department, detail={"locked_until": until})


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
    User.objects.filter(pk=user.pk).update(locked_until=None, failed_logins=0)
    user.refresh_from_db()
    audit.record(AuditCode.USER_UNLOCKED, actor=actor, obj=user, department=user.department)
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
        audit.record(AuditCode.TOKEN_USED, actor=token.user, obj=token, detail={"write": write})
    return token.user, token, ""
