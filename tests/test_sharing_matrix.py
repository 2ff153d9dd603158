"""The sharing permission matrix (SHR-1…SHR-8, SEC-2): every role × share type × action, exhaustively.

Parties: the centre (administrator, reviewer), the provider department (公安局: administrator, data
specialist), the consumer department (市场监管局: administrator, data specialist), an outsider
department (教育局: administrator, data specialist — the owner / colleague / outsider of the house
rules), the auditor, a public user and ``None`` (no user at all).

Share types: 无条件 (``unconditional``), 有条件 (``conditional``), 不予共享 (``none``).  The object
an action needs is built lazily for the cell, always on behalf of the consumer department (the
market's data specialist applies, subscribes, opens the case, reports the error).

A cell is either ``ok`` — the action is allowed and its effect is checked — or a refusal:
``403`` (a capability the roles do not give, or an object the user sees but is not a party to),
``404`` (the object is not visible to the user: missing and forbidden look the same),
``409:<code>`` / ``400:<code>`` (the state does not allow it).  After a refusal NOTHING changed: every
sharing row, the subscriptions, deadlines, notifications, the audit trail (apart from the recorded
denial itself) and the stored letters are compared before and after.

For the access check a cell is ``ok`` (allowed by a grant), ``own`` (allowed: the department's own
data) or the code of the first denial reason.

The base organisation is the ``share`` state built once per test process (tests/conftest.py), copied
once per module into a transaction that is rolled back at the end, plus the outsider department built
on top of it; each test runs in its own savepoint on top of it (pytest-django), so cells do not see
each other's objects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from govshare.catalog.models import CatalogEntry, Subscription
from govshare.core.actions import do_create_department
from govshare.core.audit_codes import AuditCode
from govshare.core.demo import make_uscc
from govshare.core.errors import GovshareError
from govshare.core.models import AuditEvent, Deadline, Notification
from govshare.core.permissions import get_for, restrict
from govshare.core.roles import Role
from govshare.sharing import letters
from govshare.sharing.access import check_access
from govshare.sharing.actions import (
    do_answer,
    do_apply,
    do_first_review,
    do_open_case,
    do_register_system,
    do_report_error,
    do_resolve_error,
    do_resubmit,
    do_revoke_grant,
    do_settle_case,
    do_subscribe_entry,
    do_withdraw_application,
    letter_for_download,
)
from govshare.sharing.models import (
    Application,
    ApplicationStep,
    CaseNote,
    ConsumingSystem,
    CoordinationCase,
    DataRequest,
    ErrorReport,
    Grant,
    HighFrequencyMark,
)
from tests import db_states
from tests.conftest import FAST
from tests.sharing_helpers import ShareOrg

pytestmark = pytest.mark.django_db

ROLES = ("centre_admin", "centre_reviewer", "provider_admin", "provider_specialist", "consumer_admin",
         "consumer_specialist", "outsider_admin", "outsider_specialist", "auditor", "public", "anonymous")
SHARE_TYPES = ("unconditional", "conditional", "none")
ACTIONS = ("subscribe", "apply", "first_review", "answer", "withdraw", "resubmit", "revoke_grant", "open_case",
           "settle_case", "report_error", "resolve_error", "view_application", "view_grant", "access_check",
           "download_letter")

NA = "n/a"

# The verdict table.  Columns, in the order of ROLES:
#   centre admin | centre reviewer | provider admin | provider specialist | consumer admin |
#   consumer specialist | outsider admin | outsider specialist | auditor | public | anonymous
VERDICTS: dict[tuple[str, str], str] = {
    # SHR-1: only an unconditional entry is subscribed to, by any department but the provider
    ("subscribe", "unconditional"):
        "403 403 409:own_entry 409:own_entry ok ok ok ok 403 403 403",
    ("subscribe", "conditional"):
        "403 403 409:own_entry 409:own_entry 409:not_unconditional 409:not_unconditional 409:not_unconditional "
        "409:not_unconditional 403 403 403",
    ("subscribe", "none"):
        "403 403 409:own_entry 409:own_entry 409:not_unconditional 409:not_unconditional 409:not_unconditional "
        "409:not_unconditional 403 403 403",
    # SHR-2: only a conditional entry is applied for
    ("apply", "unconditional"):
        "403 403 409:own_entry 409:own_entry 409:unconditional 409:unconditional 409:unconditional "
        "409:unconditional 403 403 403",
    ("apply", "conditional"):
        "403 403 409:own_entry 409:own_entry ok ok ok ok 403 403 403",
    ("apply", "none"):
        "403 403 409:own_entry 409:own_entry 409:not_shared 409:not_shared 409:not_shared 409:not_shared "
        "403 403 403",
    # the centre's first review of an application waiting for it (unconditional: the subscription's
    # application, approved at once, is never reviewed)
    ("first_review", "unconditional"):
        "409:not_in_first_review 409:not_in_first_review 403 403 403 403 403 403 403 403 403",
    ("first_review", "conditional"):
        "ok ok 403 403 403 403 403 403 403 403 403",
    ("first_review", "none"): NA,
    # the provider's answer to an application that passed the first review
    ("answer", "unconditional"):
        "403 403 409:not_waiting_for_answer 409:not_waiting_for_answer 403 403 404 404 403 403 403",
    ("answer", "conditional"):
        "403 403 ok ok 403 403 404 404 403 403 403",
    ("answer", "none"): NA,
    # the applicant department withdraws an application waiting for the first review
    ("withdraw", "unconditional"):
        "403 403 403 403 409:not_open 409:not_open 404 404 403 404 404",
    ("withdraw", "conditional"):
        "403 403 403 403 ok ok 404 404 403 404 404",
    ("withdraw", "none"): NA,
    # the applicant department completes a returned application
    ("resubmit", "unconditional"):
        "403 403 403 403 409:not_returned 409:not_returned 404 404 403 404 404",
    ("resubmit", "conditional"):
        "403 403 403 403 ok ok 404 404 403 404 404",
    ("resubmit", "none"): NA,
    # SHR-4: the provider, or the centre as sharing authority, revokes the consumer's grant
    ("revoke_grant", "unconditional"):
        "ok ok ok ok 403 403 404 404 403 404 404",
    ("revoke_grant", "conditional"):
        "ok ok ok ok 403 403 404 404 403 404 404",
    ("revoke_grant", "none"):
        "ok ok ok ok 403 403 404 404 403 404 404",
    # SHR-3: a case on a refused application (conditional) or on a 不予共享 entry
    ("open_case", "unconditional"):
        "403 403 409:own_entry 409:own_entry 409:shared_entry 409:shared_entry 409:shared_entry "
        "409:shared_entry 403 403 403",
    ("open_case", "conditional"):
        "403 403 403 403 ok ok 404 404 403 403 403",
    ("open_case", "none"):
        "403 403 409:own_entry 409:own_entry ok ok ok ok 403 403 403",
    ("settle_case", "unconditional"): NA,
    ("settle_case", "conditional"):
        "ok ok 403 403 403 403 403 403 403 403 403",
    ("settle_case", "none"):
        "ok ok 403 403 403 403 403 403 403 403 403",
    # SHR-8: the department holding the grant reports an error; the provider resolves it
    ("report_error", "unconditional"):
        "403 403 409:own_entry 409:own_entry ok ok 409:no_grant 409:no_grant 403 403 403",
    ("report_error", "conditional"):
        "403 403 409:own_entry 409:own_entry ok ok 409:no_grant 409:no_grant 403 403 403",
    ("report_error", "none"):
        "403 403 409:own_entry 409:own_entry ok ok 409:no_grant 409:no_grant 403 403 403",
    ("resolve_error", "unconditional"):
        "403 403 ok ok 403 403 404 404 403 404 404",
    ("resolve_error", "conditional"):
        "403 403 ok ok 403 403 404 404 403 404 404",
    ("resolve_error", "none"):
        "403 403 ok ok 403 403 404 404 403 404 404",
    # visibility through the chokepoint: the parties, the centre and the auditor
    ("view_application", "unconditional"):
        "ok ok ok ok ok ok 404 404 ok 404 404",
    ("view_application", "conditional"):
        "ok ok ok ok ok ok 404 404 ok 404 404",
    ("view_application", "none"): NA,
    ("view_grant", "unconditional"):
        "ok ok ok ok ok ok 404 404 ok 404 404",
    ("view_grant", "conditional"):
        "ok ok ok ok ok ok 404 404 ok 404 404",
    ("view_grant", "none"):
        "ok ok ok ok ok ok 404 404 ok 404 404",
    # SHR-4: the one access check (the consumer department holds a grant in every column)
    ("access_check", "unconditional"):
        "no_grant no_grant own own ok ok no_grant no_grant auditor not_government who_missing",
    # (a conditional grant names the consuming system of the application: only that system receives)
    ("access_check", "conditional"):
        "no_grant no_grant own own wrong_system wrong_system no_grant no_grant auditor not_government who_missing",
    ("access_check", "none"):
        "no_grant no_grant own own ok ok no_grant no_grant auditor not_government who_missing",
    # the stamped letter goes to whoever sees the application (an unconditional one has none)
    ("download_letter", "unconditional"):
        "400:letter_missing 400:letter_missing 400:letter_missing 400:letter_missing 400:letter_missing "
        "400:letter_missing 404 404 400:letter_missing 404 404",
    ("download_letter", "conditional"):
        "ok ok ok ok ok ok 404 404 ok 404 404",
    ("download_letter", "none"): NA,
}

# a cell is n/a when the object the action needs cannot exist for that share type; the cell on the
# right shows it (nobody can make it)
NA_BECAUSE = {"first_review": "apply", "answer": "apply", "withdraw": "apply", "resubmit": "apply",
              "view_application": "apply", "download_letter": "apply", "settle_case": "open_case"}


def verdict(action: str, share_type: str, role: str) -> str:
    row = VERDICTS[(action, share_type)]
    return row if row == NA else row.split()[ROLES.index(role)]


CELLS = [(a, s, r) for a in ACTIONS for s in SHARE_TYPES for r in ROLES if VERDICTS[(a, s)] != NA]


# ------------------------------------------------------------------ the organisation (once per module)

class World:
    def __init__(self, share: ShareOrg) -> None:
        self.org = org = share.org
        self.share = share
        self.education = do_create_department(org.centre_admin, name="龙南市教育局", short_name="教育局",
                                              uscc=make_uscc("360783", 4), code="JY", jurisdiction=org.county)
        self.edu_admin = org.user("edu_admin", self.education, Role.DEPT_ADMIN)
        self.edu_specialist = org.user("edu_specialist", self.education, Role.DATA_SPECIALIST)
        self.edu_system = do_register_system(self.edu_admin, name="学籍管理系统", code="JY-XJ")
        self.entries = {"unconditional": share.unconditional, "conditional": share.conditional,
                        "none": share.not_shared}
        self.actors: dict[str, Any] = {
            "centre_admin": org.centre_admin, "centre_reviewer": org.reviewer, "provider_admin": org.police_admin,
            "provider_specialist": org.police_specialist, "consumer_admin": org.market_admin,
            "consumer_specialist": org.market_specialist, "outsider_admin": self.edu_admin,
            "outsider_specialist": self.edu_specialist, "auditor": org.auditor, "public": org.citizen,
            "anonymous": None,
        }

        #: what a cell acts on, built once per module (:func:`tests.db_states.built_once`)
        self.prepared: dict[Any, Any] = {}

    def prepare(self, what: str, share_type: str, build: Callable[[World, str], Any]) -> Any:
        """The object a cell acts on, built through the actions for the first cell that needs it and
        written back — rows and stored letters — for the others (the roles of a row try the same
        object: a few INSERTs instead of a dozen actions)."""
        def run() -> tuple[type[Any], Any, dict[str, bytes]]:
            stored = set(_letters())
            target = build(self, share_type)
            return type(target), target.pk, {p.name: p.read_bytes() for p in _letters().values()
                                             if p.name not in stored}

        model, pk, files = db_states.built_once(self.prepared, (what, share_type), run)
        folder = letters.letters_dir()  # each test has its own
        for name, data in files.items():
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        return model.objects.get(pk=pk)

    def system_of(self, actor: Any) -> Any:
        dept = getattr(actor, "department_id", None)
        return self.edu_system if dept == self.education.pk else self.share.market_system


def _letters() -> dict[str, Path]:
    folder = letters.letters_dir()
    return {p.name: p for p in folder.iterdir()} if folder.exists() else {}


@pytest.fixture(scope="module")
def world(_shared_states: Any, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("matrix")
    fast = {**FAST, "GOVSHARE_SEARCH_DIR": tmp / "search", "GOVSHARE_LETTERS_DIR": tmp / "letters"}
    # like Django's TestCase wrapper; rolled back after the module's last test
    with django_db_blocker.unblock(), override_settings(**fast), db_states.rolled_back_build():
        copies: dict[int, Any] = {}
        for layer in ("org", "cat"):
            _shared_states.copy_into_test(layer, copies)
        yield World(_shared_states.copy_into_test("share", copies))


# ------------------------------------------------------------------ building what a cell needs

CONSUMER_ITEMS = ["公民身份号码", "姓名"]
PURPOSE = "行政依据"


def _consumer(w: World) -> Any:
    return w.org.market_specialist


def _subscription(w: World) -> Grant:
    return do_subscribe_entry(_consumer(w), w.share.unconditional, purpose=PURPOSE)


def _application(w: World, share_type: str, state: str = "centre_review") -> Application:
    """The consumer's application on the entry of ``share_type`` in ``state``."""
    if share_type == "unconditional":
        app = _subscription(w).application
        assert app is not None
        return app
    assert share_type == "conditional", share_type
    org = w.org
    app = w.share.apply()
    if state == "returned":
        return do_first_review(org.reviewer, app, decision="return", comment="请补充加盖公章的申请函。")
    if state in ("provider_review", "refused", "approved"):
        app = do_first_review(org.reviewer, app, decision="pass")
    if state == "refused":
        return do_answer(org.police_admin, app, decision="refuse", basis="《治安管理处罚法》第八十条",
                         reason="用途超出核查范围。")
    if state == "approved":
        return do_answer(org.police_admin, app, decision="approve")
    return app


def _case(w: World, share_type: str) -> CoordinationCase:
    if share_type == "conditional":
        return do_open_case(_consumer(w), application=_application(w, "conditional", "refused"),
                            reason="登记核验确需此数据。")
    return do_open_case(_consumer(w), entry=w.entries[share_type], reason="登记核验确需此数据。",
                        items=CONSUMER_ITEMS, purpose=PURPOSE)


def _grant(w: World, share_type: str) -> Grant:
    if share_type == "unconditional":
        return _subscription(w)
    if share_type == "conditional":
        return Grant.objects.get(application=_application(w, "conditional", "approved"))
    case = do_settle_case(w.org.reviewer, _case(w, "none"), outcome="grant", reason="经协调同意共享。",
                          expires_on=timezone.localdate() + dt.timedelta(days=365))
    return Grant.objects.get(case=case)


def _report(w: World, share_type: str) -> ErrorReport:
    grant = _grant(w, share_type)
    return do_report_error(_consumer(w), entry=grant.entry, record_keys="360783199001011234", field="姓名",
                           description="姓名与户籍登记不一致。")


# ------------------------------------------------------------------ the actions and their effects

@dataclass(frozen=True)
class Act:
    prepare: Callable[[World, str], Any]
    run: Callable[[World, Any, Any], Any]
    effect: Callable[[World, Any, Any, Any], None]


def _dept(actor: Any) -> int:
    return int(actor.department_id)


def _subscribed(w: World, actor: Any, entry: Any, grant: Any) -> None:
    assert grant.consumer_id == _dept(actor) and grant.source == Grant.Source.UNCONDITIONAL and grant.is_active
    assert Subscription.objects.filter(entry=entry, user=actor).exists()
    codes = set(AuditEvent.objects.filter(object_id__in=[str(grant.pk), str(grant.application_id)])
                .values_list("code", flat=True))
    assert {AuditCode.GRANT_CREATED, AuditCode.SHARE_APPLIED} <= codes


def _applied(w: World, actor: Any, entry: Any, app: Any) -> None:
    app = Application.objects.get(pk=app.pk)
    assert app.status == Application.Status.CENTRE_REVIEW and app.consumer_id == _dept(actor)
    assert app.deadline is not None and app.letter_path


def _status_is(expected: str) -> Callable[[World, Any, Any, Any], None]:
    def check(w: World, actor: Any, target: Any, result: Any) -> None:
        target.refresh_from_db()
        assert target.status == expected

    return check


def _answered(w: World, actor: Any, app: Any, result: Any) -> None:
    app.refresh_from_db()
    assert app.status == Application.Status.APPROVED and Grant.objects.filter(application=app).exists()


def _revoked(w: World, actor: Any, grant: Any, result: Any) -> None:
    grant.refresh_from_db()
    assert grant.revoked_at is not None and grant.revoked_by_id == actor.pk
    assert not check_access(entry=grant.entry, user=_consumer(w), purpose=PURPOSE, items=["姓名"]).allowed


def _case_opened(w: World, actor: Any, target: Any, case: Any) -> None:
    case.refresh_from_db()
    assert case.status == CoordinationCase.Status.OPEN and case.consumer_id == _dept(actor)
    assert case.deadline is not None


def _settled(w: World, actor: Any, case: Any, result: Any) -> None:
    case.refresh_from_db()
    assert case.status == CoordinationCase.Status.GRANTED
    assert Grant.objects.get(case=case).items == case.items


def _reported(w: World, actor: Any, entry: Any, report: Any) -> None:
    report.refresh_from_db()
    assert report.status == ErrorReport.Status.REPORTED and report.reporter_department_id == _dept(actor)


def _visible(model: type[Any]) -> Callable[[World, Any, Any], Any]:
    def run(w: World, actor: Any, target: Any) -> Any:
        return get_for(actor, "view", model, pk=target.pk)

    return run


def _seen(w: World, actor: Any, target: Any, found: Any) -> None:
    assert found.pk == target.pk
    assert restrict(type(target), actor, "view").filter(pk=target.pk).exists()


def _downloaded(w: World, actor: Any, app: Any, result: Any) -> None:
    path, _app = result
    assert path.read_bytes().startswith(b"%PDF-")
    assert AuditEvent.objects.filter(code=AuditCode.SHARE_LETTER_DOWNLOADED, object_id=str(app.pk)).exists()


def _apply(w: World, actor: Any, entry: Any) -> Any:
    return do_apply(actor, entry, **w.share.application_data(system=w.system_of(actor).pk))


def _open_case(w: World, actor: Any, target: Any) -> Any:
    if isinstance(target, Application):
        return do_open_case(actor, application=target, reason="登记核验确需此数据。")
    return do_open_case(actor, entry=target, reason="登记核验确需此数据。", items=CONSUMER_ITEMS, purpose=PURPOSE)


ACTS: dict[str, Act] = {
    "subscribe": Act(lambda w, s: w.entries[s],
                     lambda w, actor, entry: do_subscribe_entry(actor, entry, purpose=PURPOSE),
                     _subscribed),
    "apply": Act(lambda w, s: w.entries[s], _apply, _applied),
    "first_review": Act(lambda w, s: _application(w, s),
                        lambda w, actor, app: do_first_review(actor, app, decision="pass"),
                        _status_is(Application.Status.PROVIDER_REVIEW)),
    "answer": Act(lambda w, s: _application(w, s, "provider_review"),
                  lambda w, actor, app: do_answer(actor, app, decision="approve"), _answered),
    "withdraw": Act(lambda w, s: _application(w, s),
                    lambda w, actor, app: do_withdraw_application(actor, app, reason="不再需要。"),
                    _status_is(Application.Status.WITHDRAWN)),
    "resubmit": Act(lambda w, s: _application(w, s, "returned"),
                    lambda w, actor, app: do_resubmit(actor, app, contact_name="李四"),
                    _status_is(Application.Status.CENTRE_REVIEW)),
    "revoke_grant": Act(_grant, lambda w, actor, grant: do_revoke_grant(actor, grant, reason="用途已变更。"),
                        _revoked),
    "open_case": Act(lambda w, s: _application(w, s, "refused") if s == "conditional" else w.entries[s],
                     _open_case, _case_opened),
    "settle_case": Act(_case,
                       lambda w, actor, case: do_settle_case(
                           actor, case, outcome="grant", reason="经协调同意共享。",
                           expires_on=timezone.localdate() + dt.timedelta(days=365)),
                       _settled),
    "report_error": Act(lambda w, s: _grant(w, s).entry,
                        lambda w, actor, entry: do_report_error(actor, entry=entry, record_keys="360783199001011234",
                                                                field="姓名", description="姓名与户籍登记不一致。"),
                        _reported),
    "resolve_error": Act(_report,
                         lambda w, actor, report: do_resolve_error(actor, report, outcome="corrected",
                                                                   resolution="已按户籍登记更正。"),
                         _status_is(ErrorReport.Status.CORRECTED)),
    "view_application": Act(lambda w, s: _application(w, s), _visible(Application), _seen),
    "view_grant": Act(_grant, _visible(Grant), _seen),
    "download_letter": Act(lambda w, s: _application(w, s),
                           lambda w, actor, app: letter_for_download(actor, app), _downloaded),
}

# every row an action could touch, with the columns that carry its state
TRACKED: dict[type[Any], tuple[str, ...]] = {
    Application: ("status", "deadline_id", "decided_at", "letter_path"), ApplicationStep: ("step",),
    Grant: ("revoked_at", "items", "expires_on"), CoordinationCase: ("status", "deadline_id", "mediator_id"),
    CaseNote: (), ErrorReport: ("status", "deadline_id"), DataRequest: ("status",), HighFrequencyMark: (),
    ConsumingSystem: ("is_active",), Subscription: (), Deadline: ("closed_at", "due_at"), Notification: (),
    CatalogEntry: ("status", "request_ref"),
}


def snapshot() -> dict[str, Any]:
    """The rows (and their state) of every table an action could touch, the audit trail (a recorded
    denial aside: refusals are audited on purpose) and the stored letters."""
    state: dict[str, Any] = {m.__name__: list(m.objects.order_by("pk").values_list("pk", *fields))
                             for m, fields in TRACKED.items()}
    state["audit"] = list(AuditEvent.objects.exclude(code=AuditCode.PERMISSION_DENIED)
                          .order_by("pk").values_list("pk", "code"))
    folder = letters.letters_dir()
    state["letters"] = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    return state


# ------------------------------------------------------------------ the tests

def test_the_table_has_a_verdict_for_every_role_share_type_and_action() -> None:
    assert set(VERDICTS) == {(a, s) for a in ACTIONS for s in SHARE_TYPES}
    for key, row in VERDICTS.items():
        assert row == NA or len(row.split()) == len(ROLES), key


@pytest.mark.parametrize(("action", "share_type"), [k for k, v in VERDICTS.items() if v == NA])
def test_a_cell_is_not_applicable_only_where_nobody_can_make_its_object(action: str, share_type: str) -> None:
    producer = VERDICTS[(NA_BECAUSE[action], share_type)]
    assert "ok" not in producer.split(), (action, share_type)


@pytest.mark.parametrize(("action", "share_type", "role"), CELLS, ids=["-".join(c) for c in CELLS])
def test_permission_matrix(world: World, action: str, share_type: str, role: str) -> None:
    expected = verdict(action, share_type, role)
    actor = world.actors[role]
    if action == "access_check":
        _check_access_cell(world, share_type, actor, expected)
        return
    act = ACTS[action]
    target = world.prepare(action, share_type, act.prepare)
    if expected == "ok":
        result = act.run(world, actor, target)
        act.effect(world, actor, target, result)
        return
    status, _sep, code = expected.partition(":")
    before = snapshot()
    with pytest.raises(GovshareError) as refused:
        act.run(world, actor, target)
    error = refused.value
    assert error.status == int(status), error.as_dict()
    if code:
        assert error.code == code, error.as_dict()
    elif status == "404":
        assert error.code == "not_found"
    assert snapshot() == before


def _check_access_cell(w: World, share_type: str, actor: Any, expected: str) -> None:
    grant = w.prepare("grant", share_type, _grant)  # the consumer department holds a grant
    before = snapshot()
    decision = check_access(entry=grant.entry, user=actor, purpose=PURPOSE, items=["姓名"])
    assert snapshot() == before
    if expected == "ok":
        assert decision.allowed and decision.basis == "grant" and decision.grant == grant
    elif expected == "own":
        assert decision.allowed and decision.basis == "own_data" and decision.grant is None
    else:
        assert not decision.allowed
        assert decision.reasons[0].code == expected, decision.as_dict()
        assert decision.reasons[0].message
