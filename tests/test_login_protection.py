"""Login protection (issue 9; SEC-3 access authentication): growing delays per (user name, address) and per address, an account lock that
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


def _known_at(user: Any, ip: str, days_ago: int = 0) -> None:
    """``user`` logged in from ``ip`` (``days_ago`` days ago) with the right password."""
    seen = timezone.now() - dt.timedelta(days=days_ago)
    LoginAddress.objects.create(user=user, ip=ip, first_seen_at=seen, last_seen_at=seen)


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
    _known_at(org.police_specialist, OFFICE)
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
    home = "192.0.2.44"
    _known_at(org.police_specialist, OFFICE)
    _known_at(org.police_specialist, home, days_ago=91)
    for n in range(5):
        _login(f"198.51.100.{n}", "police_specialist", WRONG)
    assert not _ok(_login(home, "police_specialist", PASSWORD))
    assert _ok(_login(OFFICE, "police_specialist", PASSWORD))


@pytest.mark.parametrize("days_ago", [None, 91])  # a new account; a user absent longer than the known days
def test_an_attacker_alone_cannot_lock_an_account_with_no_known_address(org: Any, days_ago: int | None) -> None:
    """Nobody could log in from anywhere then: the two delays slow the guessing instead."""
    if days_ago is not None:
        _known_at(org.police_specialist, OFFICE, days_ago=days_ago)
    for n in range(7):  # a botnet, one try per address
        assert _login(f"198.51.100.{n}", "police_specialist", WRONG).status_code == 400
    assert not User.objects.get(pk=org.police_specialist.pk).is_locked()
    assert not _events(AuditCode.ACCOUNT_LOCKED).exists()
    assert _ok(_login("192.0.2.7", "police_specialist", PASSWORD))  # the user, from a new address


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


def test_a_password_sprayer_behind_a_shared_address_is_slowed_on_accounts_known_there_too(org: Any) -> None:
    """Colleagues behind one NAT address share it: the address delay applies to every account (only that
    address can start it), and the known-address exemption is the account lock's alone."""
    names = ["police_specialist", "police_admin", "market_specialist"]
    for name in names:
        assert _ok(_login(OFFICE, name, PASSWORD))
    for name in names:  # two tries each: no per-name delay
        for _ in range(2):
            _login(OFFICE, name, WRONG)
    row = LoginThrottle.objects.get(scope="address", key=OFFICE)
    assert row.failures == 6 and row.blocked_until is not None
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=1), tick=False):
        before = _events(AuditCode.LOGIN_FAILED).count()
        for name in names:
            assert not _ok(_login(OFFICE, name, PASSWORD))  # refused unchecked, known address or not
        assert _events(AuditCode.LOGIN_FAILED).count() == before
        assert _events(AuditCode.LOGIN_THROTTLED, detail__reason="address").count() == len(names)
    assert not User.objects.filter(username__in=names, locked_until__isnull=False).exists()
    assert _ok(_login(ATTACKER, "market_specialist", PASSWORD))  # another address is not delayed


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


def test_a_right_password_gives_its_counted_attempt_back(org: Any) -> None:
    """Every attempt is counted before its password is checked; the right one neither stays counted on the
    address, nor starts its delay (the sixth attempt here), nor keeps its older failures in the window."""
    for n in range(5):
        _login(OFFICE, f"guess{n}", WRONG)
    before = LoginThrottle.objects.get(scope="address", key=OFFICE)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=30), tick=False):
        assert _ok(_login(OFFICE, "police_specialist", PASSWORD))
    after = LoginThrottle.objects.get(scope="address", key=OFFICE)
    assert (after.failures, after.blocked_until, after.last_failure_at) == (5, None, before.last_failure_at)
    assert _ok(_login(OFFICE, "market_specialist", PASSWORD))


# ------------------------------------------------------------------ unlock


def _lock_out(user: Any) -> None:
    _known_at(user, OFFICE)
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
    """The counters are conditional UPDATEs in the database: attempts arriving at once (several gunicorn
    workers) are neither lost nor double-counted."""
    from govshare.core.actions.auth import LoginReservation, do_record_login_failure, reserve_login_attempt

    def fail(n: int) -> None:
        reservation = reserve_login_attempt("Someone", None, f"198.51.100.{n}")
        assert isinstance(reservation, LoginReservation)
        do_record_login_failure("Someone", None, reservation)

    assert not _in_parallel(6, fail)
    assert LoginThrottle.objects.filter(scope="account_address", key__startswith="someone|", failures=1).count() == 6
    assert AuditEvent.objects.filter(code=int(AuditCode.LOGIN_FAILED)).count() == 6


def _in_parallel(count: int, work: Any) -> list[BaseException]:
    """Run ``work(n)`` for n < count in threads released at once (each with its own connection)."""
    import threading

    from django.db import connection

    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            start.wait()
            work(n)
        except BaseException as exc:  # noqa: BLE001 — reported by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                    reason="threads need a database server (make test-postgres)")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("botnet", [False, True])
def test_parallel_wrong_passwords_get_no_more_checks_than_the_limits_allow(settings: Any, botnet: bool) -> None:
    """Each attempt is counted before its password is checked, atomically: a burst of parallel attempts
    from one address gets GOVSHARE_LOGIN_THROTTLE_FREE checks, one from a botnet (one address each) on an
    account with a known address GOVSHARE_LOGIN_MAX_FAILURES; every other attempt is refused unchecked."""
    user = User.objects.create_user(username="victim", password=PASSWORD)
    _known_at(user, OFFICE)
    burst = 8
    assert not _in_parallel(burst, lambda n: _login(f"198.51.100.{n}" if botnet else ATTACKER, "victim", WRONG))
    allowed = settings.GOVSHARE_LOGIN_MAX_FAILURES if botnet else settings.GOVSHARE_LOGIN_THROTTLE_FREE
    assert _events(AuditCode.LOGIN_FAILED).count() == allowed
    assert _events(AuditCode.LOGIN_THROTTLED).count() == burst - allowed
    if botnet:
        assert User.objects.get(pk=user.pk).is_locked() and _events(AuditCode.ACCOUNT_LOCKED).count() == 1
    else:
        assert _throttle("victim", ATTACKER).failures == allowed
    assert _ok(_login(OFFICE, "victim", PASSWORD))


# ------------------------------------------------------------------ the user name, IPv6, the password page


@pytest.mark.parametrize("name", ["police\x00specialist", "police_specialist\x00", "police\x1bspecialist"])
def test_a_user_name_with_a_control_character_gets_the_answer_of_a_wrong_password(org: Any, name: str) -> None:
    """Refused before any query (PostgreSQL refuses a NUL in text: it was a 500)."""
    events = AuditEvent.objects.count()
    response = _login(ATTACKER, name, PASSWORD)
    assert not LoginThrottle.objects.exists() and AuditEvent.objects.count() == events
    wrong = _login(ATTACKER, "police_specialist", WRONG)
    assert response.status_code == wrong.status_code == 400
    assert response.context["error"] == wrong.context["error"]


def test_an_ipv6_client_is_counted_by_its_64_network(org: Any) -> None:
    """One IPv6 host holds a whole /64: changing its last 64 bits does not escape a delay."""
    for host in range(3):
        _login(f"2001:db8:1:2::{host + 1}", "police_specialist", WRONG)
    row = _throttle("police_specialist", "2001:db8:1:2::/64")
    assert row.failures == 3 and row.blocked_until is not None
    assert LoginThrottle.objects.get(scope="address", key="2001:db8:1:2::/64").failures == 3
    assert not _ok(_login("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "police_specialist", PASSWORD))
    assert _ok(_login("2001:db8:1:3::1", "police_specialist", PASSWORD))  # the next /64 is another network


def test_an_ipv4_client_is_counted_by_its_address() -> None:
    from govshare.core.actions.auth import throttle_address

    assert throttle_address("203.0.113.66") == "203.0.113.66"
    assert throttle_address("::ffff:203.0.113.66") == "203.0.113.66"


def _change_password(client: Any, old: str) -> Any:
    return client.post(reverse("core:password_change"), {
        "old_password": old, "new_password": "Another-horse-43", "new_password_again": "Another-horse-43"})


def test_the_current_password_on_the_password_page_is_throttled_and_audited(org: Any, client_for: Any) -> None:
    """A stolen session cannot guess the password there unslowed (issue 9)."""
    client = client_for(org.police_specialist)
    client.defaults["REMOTE_ADDR"] = ATTACKER
    for _ in range(3):
        assert _change_password(client, WRONG).status_code == 400
    failed = _events(AuditCode.LOGIN_FAILED, object_id=str(org.police_specialist.pk))
    assert failed.count() == 3 and {e.detail["purpose"] for e in failed} == {"password_change"}
    assert failed.filter(actor_id=org.police_specialist.pk, ip=ATTACKER).count() == 3
    assert _throttle("police_specialist", ATTACKER).blocked_until is not None
    assert _change_password(client, PASSWORD).status_code == 400  # refused, the password not even checked
    assert _events(AuditCode.LOGIN_THROTTLED, detail__reason="account_address").count() == 1
    assert not _ok(_login(ATTACKER, "police_specialist", PASSWORD))  # the login's throttle too
    assert not _events(AuditCode.PASSWORD_CHANGED).exists()
    with time_machine.travel(_throttle("police_specialist", ATTACKER).blocked_until + dt.timedelta(seconds=1),
                             tick=False):
        assert _change_password(client, PASSWORD).status_code == 302
    assert not LoginThrottle.objects.filter(scope="account_address").exists()
