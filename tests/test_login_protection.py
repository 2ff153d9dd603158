"""Login protection (issue 9): growing delays per (user name, address) and per address, an account lock that
an attacker elsewhere cannot turn against the user, unlock by the department admin or the centre, all audited.

Design: docs/security.md § "Login protection".  Time moves with time_machine, never by sleeping.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from govshare.core.audit_codes import AuditCode
from govshare.core.models import AuditEvent, LoginAddress, LoginThrottle, User
from tests.conftest import PASSWORD, api_json

OFFICE = "10.20.0.8"  # where police_specialist works
ATTACKER = "203.0.113.66"
WRONG = "wrong-password-1"


@pytest.fixture(autouse=True)
def _protection(settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"
    settings.GOVSHARE_LOGIN_MAX_FAILURES = 5
    settings.GOVSHARE_LOGIN_LOCKOUT_MINUTES = 15
    settings.GOVSHARE_LOGIN_THROTTLE_FREE = 3
    settings.GOVSHARE_LOGIN_THROTTLE_IP_FREE = 6
    settings.GOVSHARE_LOGIN_THROTTLE_BASE_SECONDS = 2
    settings.GOVSHARE_LOGIN_THROTTLE_MAX_SECONDS = 60
    settings.GOVSHARE_LOGIN_THROTTLE_WINDOW_MINUTES = 60
    settings.GOVSHARE_LOGIN_KNOWN_ADDRESS_DAYS = 90


def _login(ip: str, username: str, password: str) -> Any:
    return Client(REMOTE_ADDR=ip).post("/login/", {"username": username, "password": password})


def _ok(response: Any) -> bool:
    return response.status_code == 302


def _events(code: AuditCode, **filters: Any) -> Any:
    return AuditEvent.objects.filter(code=int(code), **filters)


def _throttle(username: str, ip: str) -> LoginThrottle:
    return LoginThrottle.objects.get(scope="account_address", key=f"{username}|{ip}")


# ------------------------------------------------------------------ the account lock


def test_an_attacker_elsewhere_cannot_lock_the_user_out_of_an_address_they_logged_in_from(org: Any) -> None:
    assert _ok(_login(OFFICE, "police_specialist", PASSWORD))
    for n in range(5):  # a botnet: one try per address, so no delay applies
        assert _login(f"198.51.100.{n}", "police_specialist", WRONG).status_code == 400
    user = User.objects.get(username="police_specialist")
    assert user.is_locked()
    assert _events(AuditCode.ACCOUNT_LOCKED, object_id=str(user.pk)).get().detail["applies_to"] == "unknown_addresses"
    assert _ok(_login(OFFICE, "police_specialist", PASSWORD))


def test_a_locked_account_refuses_new_addresses_even_with_the_right_password(org: Any) -> None:
    for n in range(5):
        _login(f"198.51.100.{n}", "police_specialist", WRONG)
    response = _login(ATTACKER, "police_specialist", PASSWORD)
    assert response.status_code == 400 and not _ok(response)
    refused = _events(AuditCode.LOGIN_THROTTLED, object_id=str(org.police_specialist.pk)).get()
    assert refused.detail["reason"] == "account_locked" and refused.ip == ATTACKER


def test_failures_from_a_known_address_do_not_count_towards_the_lock(org: Any) -> None:
    assert _ok(_login(OFFICE, "police_specialist", PASSWORD))
    for minute in range(6):  # the user mistypes, slowly enough for no delay to apply
        with time_machine.travel(timezone.now() + dt.timedelta(minutes=5 * minute), tick=False):
            _login(OFFICE, "police_specialist", WRONG)
    assert not User.objects.get(username="police_specialist").is_locked()


def test_a_known_address_is_forgotten_after_the_configured_days(org: Any, settings: Any) -> None:
    assert _ok(_login(OFFICE, "police_specialist", PASSWORD))
    LoginAddress.objects.filter(ip=OFFICE).update(last_seen_at=timezone.now() - dt.timedelta(days=91))
    for n in range(5):
        _login(f"198.51.100.{n}", "police_specialist", WRONG)
    assert not _ok(_login(OFFICE, "police_specialist", PASSWORD))


# ------------------------------------------------------------------ growing delays


def test_repeated_failures_on_one_name_from_one_address_make_the_next_attempt_wait(org: Any) -> None:
    for _ in range(3):
        _login(ATTACKER, "police_specialist", WRONG)
    row = _throttle("police_specialist", ATTACKER)
    assert row.blocked_until is not None
    assert not _ok(_login(ATTACKER, "police_specialist", PASSWORD))  # refused, the password is not even checked
    assert _events(AuditCode.LOGIN_THROTTLED, detail__reason="account_address").exists()
    assert _ok(_login(OFFICE, "police_specialist", PASSWORD))  # another address is not delayed
    with time_machine.travel(row.blocked_until + dt.timedelta(seconds=1), tick=False):
        assert _ok(_login(ATTACKER, "police_specialist", PASSWORD))


def test_the_delay_doubles_with_each_further_failure_up_to_the_cap(org: Any) -> None:
    delays = []
    now = timezone.now()
    for _ in range(9):
        with time_machine.travel(now, tick=False):
            _login(ATTACKER, "nobody_such", WRONG)
        row = _throttle("nobody_such", ATTACKER)
        if row.blocked_until is not None and row.blocked_until > now:
            delays.append(round((row.blocked_until - now).total_seconds()))
            now = row.blocked_until + dt.timedelta(seconds=1)
    assert delays == [2, 4, 8, 16, 32, 60, 60]
    started = _events(AuditCode.LOGIN_DELAY_STARTED, detail__scope="account_address")
    assert started.count() == 7 and started.filter(ip=ATTACKER).count() == 7


def test_old_failures_are_forgotten_after_the_window(org: Any) -> None:
    for _ in range(2):
        _login(ATTACKER, "police_specialist", WRONG)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=61), tick=False):
        _login(ATTACKER, "police_specialist", WRONG)
        assert _throttle("police_specialist", ATTACKER).failures == 1
        assert _ok(_login(ATTACKER, "police_specialist", PASSWORD))


def test_one_address_trying_many_accounts_is_slowed(org: Any) -> None:
    for n in range(6):
        _login(ATTACKER, f"guess{n}", WRONG)  # one try per name: no per-name delay
    assert LoginThrottle.objects.get(scope="address", key=ATTACKER).blocked_until is not None
    assert not _ok(_login(ATTACKER, "market_specialist", PASSWORD))
    assert _events(AuditCode.LOGIN_THROTTLED, detail__reason="address").exists()
    assert _ok(_login(OFFICE, "market_specialist", PASSWORD))


def test_the_address_delay_does_not_keep_out_a_user_who_logged_in_from_there_before(org: Any) -> None:
    """Colleagues behind one NAT address share it: a sprayer among them must not lock them all out."""
    assert _ok(_login(OFFICE, "police_specialist", PASSWORD))
    for n in range(6):
        _login(OFFICE, f"guess{n}", WRONG)
    assert not _ok(_login(OFFICE, "market_specialist", PASSWORD))
    assert _ok(_login(OFFICE, "police_specialist", PASSWORD))


def test_a_refused_attempt_gets_the_same_answer_as_a_wrong_password(org: Any) -> None:
    """Nothing tells whether the name exists, the password was right, or a delay applies."""
    for _ in range(3):
        _login(ATTACKER, "police_specialist", WRONG)
    refused = _login(ATTACKER, "police_specialist", PASSWORD)
    wrong = _login(OFFICE, "police_specialist", WRONG)
    unknown = _login(OFFICE, "nobody_here", PASSWORD)
    assert refused.status_code == wrong.status_code == unknown.status_code == 400
    assert refused.context["error"] == wrong.context["error"] == unknown.context["error"]
    assert "wait" not in refused.content.decode().lower() and "locked" not in refused.content.decode().lower()


def test_a_success_clears_the_delay_of_its_own_name_and_address_only(org: Any) -> None:
    for _ in range(2):
        _login(OFFICE, "police_specialist", WRONG)
    assert _ok(_login(OFFICE, "police_specialist", PASSWORD))
    assert not LoginThrottle.objects.filter(scope="account_address", key=f"police_specialist|{OFFICE}").exists()
    assert LoginThrottle.objects.get(scope="address", key=OFFICE).failures == 2
    success = _events(AuditCode.LOGIN_SUCCEEDED, actor_id=org.police_specialist.pk).get()
    assert success.detail == {"new_address": True} and success.ip == OFFICE


# ------------------------------------------------------------------ unlock


def _lock_out(user: Any) -> None:
    for _ in range(3):  # the third failure from one address starts a delay there
        _login(ATTACKER, user.username, WRONG)
    for n in range(2):  # the fifth from addresses the user never logged in from locks the account
        _login(f"198.51.100.{n}", user.username, WRONG)
    assert User.objects.get(pk=user.pk).is_locked()


def test_the_department_admin_unlocks_from_the_user_page_which_lifts_lock_and_delays(org: Any,
                                                                                   client_for: Any) -> None:
    _lock_out(org.police_specialist)
    admin = client_for(org.police_admin)
    page = admin.get(reverse("core:user_detail", args=[org.police_specialist.pk])).content.decode()
    assert "data-unlock" in page and 'data-login-delays="1"' in page
    assert admin.post(reverse("core:user_unlock", args=[org.police_specialist.pk])).status_code == 302
    assert _ok(_login(ATTACKER, "police_specialist", PASSWORD))
    event = _events(AuditCode.USER_UNLOCKED, object_id=str(org.police_specialist.pk)).get()
    assert event.actor_id == org.police_admin.pk
    assert event.detail == {"was_locked": True, "delays_lifted": 1}


def test_the_user_page_offers_unlock_when_only_a_delay_applies(org: Any, client_for: Any) -> None:
    for _ in range(3):
        _login(ATTACKER, "police_specialist", WRONG)
    page = client_for(org.police_admin).get(reverse("core:user_detail", args=[org.police_specialist.pk]))
    assert "data-unlock" in page.content.decode()


@pytest.mark.parametrize(("who", "target", "statuses"), [
    ("police_admin", "police_specialist", {200}),  # the user's department admin
    ("centre_admin", "police_specialist", {200}),  # the centre
    ("police_specialist", "police_admin", {403, 404}),  # a colleague: the chokepoint's answer to a user change
    ("market_admin", "police_specialist", {404}),  # an admin of another department does not even see the user
])
def test_unlock_through_the_api(org: Any, client_for: Any, who: str, target: str, statuses: set[int]) -> None:
    user = getattr(org, target)
    User.objects.filter(pk=user.pk).update(locked_until=timezone.now() + dt.timedelta(minutes=15))
    response = api_json(client_for(getattr(org, who)), "post", f"/users/{user.pk}/unlock")
    assert response.status_code in statuses
    assert User.objects.get(pk=user.pk).is_locked() == (statuses != {200})
    if statuses == {200}:
        assert response.json()["locked_until"] is None
        assert _events(AuditCode.USER_UNLOCKED, object_id=str(user.pk), actor_id=getattr(org, who).pk).exists()


def test_old_throttle_rows_are_pruned(org: Any) -> None:
    from govshare.core.actions.auth import prune_login_throttles

    _login(ATTACKER, "police_specialist", WRONG)
    assert prune_login_throttles() == 0
    assert prune_login_throttles(timezone.now() + dt.timedelta(minutes=61)) == 2


# ------------------------------------------------------------------ several server processes


# the SQLite test database is a shared-cache memory database, whose table locks fail at once instead of
# waiting (a real instance's file waits: busy timeout + IMMEDIATE transactions): `make test-postgres` runs it
@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                    reason="threads need a database server (make test-postgres)")
@pytest.mark.django_db(transaction=True)
def test_concurrent_failures_are_all_counted() -> None:
    """The counters are conditional UPDATEs in the database: failures arriving at once (several gunicorn
    workers) are neither lost nor double-counted."""
    import threading

    from django.db import connection

    from govshare.core.actions.auth import do_record_login_failure

    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def fail() -> None:
        try:
            start.wait()
            do_record_login_failure("Someone", None, ATTACKER)
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=fail) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert _throttle("someone", ATTACKER).failures == 6
    assert LoginThrottle.objects.get(scope="address", key=ATTACKER).failures == 6
    assert AuditEvent.objects.filter(code=int(AuditCode.LOGIN_FAILED)).count() == 6
