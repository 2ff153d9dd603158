"""Sharing demo data for ``govshare demo`` (issue 4; SHR-1 … SHR-8).

Realistic sharing activity among the twelve 龙南 departments on the published demo catalog:

* consuming information systems of every department;
* unconditional subscriptions, each granted at once (SHR-1);
* conditional applications in every state (SHR-2): waiting for the centre's first review, returned
  for completion, resubmitted, waiting for the provider with a few working days left (one due
  tomorrow, so it is reminded), one overdue and escalated to the centre, approved with narrowed
  items and per-item masking, refused with its legal basis, rejected at first review, withdrawn;
  one grant revoked (SHR-4);
* coordination cases open, being mediated (with statements of the three parties), settled with a
  grant, finally refused and withdrawn (SHR-3);
* data requests submitted, assigned, registered with a new catalog entry, declined, closed by the
  centre, and three for upper-level platforms: forwarded, provided and refused (SHR-5, SHR-6);
* the two most demanded entries in the high-frequency shared library (SHR-7);
* data error reports reported, being verified, corrected, checked as right, withdrawn, and one
  overdue (SHR-8);
* the daily digest switched on for a few departments.

Everything goes through :mod:`govshare.sharing.actions` with the acting user bound to the audit
context, so the audit log is real and records the moment the demo was loaded.

**Demo back-dating.**  A demo needs history: an application filed ten working days ago, a clock
that ran out yesterday.  The platform has no way to act in the past (and the demo runs on
production installs, without test tools), so each action runs now and the demo then rewrites the
*business* timestamps of the rows it just created — ``submitted_at``, the steps' times, the
notifications' times — and re-opens their ``Deadline`` rows from the earlier start date with
:func:`govshare.core.workdays.compute_due`, so that every due date is the one the working-day
calendar gives for that start.  Due dates quoted in the notifications are rewritten with them.  The
audit log is never touched (it cannot be): it shows when the demo was loaded.  Reminders and
escalations are then sent by the real clock functions, as the worker would.

The loader is idempotent: it does nothing once any share application or consuming system exists,
or when the demo catalog is not there.

The rows of each kind below are package data in ``demo_data/tables.yaml``; the dataclasses say what a
row means, the loader what is done with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeVar

import yaml
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from govshare.catalog.actions import do_create_entry, do_submit
from govshare.catalog.demo import SPECIALISTS, act, content_for, parse_catalog  # registers its loader first
from govshare.catalog.models import CatalogEntry
from govshare.core import context
from govshare.core.demo import REGION, make_id_number, make_uscc, register_loader
from govshare.core.models import Deadline, Department, Jurisdiction, Notification, RoleAssignment, User
from govshare.core.policy import get_profile
from govshare.core.roles import Role
from govshare.core.workdays import DEADLINE_TZ, WorkCalendar, compute_due
from govshare.sharing.actions import (
    do_acknowledge_error,
    do_add_case_note,
    do_answer,
    do_apply,
    do_assign_request,
    do_close_request,
    do_decline_request,
    do_first_review,
    do_forward_request,
    do_mark_high_frequency,
    do_open_case,
    do_record_upper_answer,
    do_register_for_request,
    do_register_system,
    do_report_error,
    do_resolve_error,
    do_resubmit,
    do_revoke_grant,
    do_set_digest,
    do_settle_case,
    do_submit_request,
    do_subscribe_entry,
    do_withdraw_application,
    do_withdraw_case,
    do_withdraw_error,
    escalate_overdue,
    send_reminders,
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

T = TypeVar("T")

#: the demo's data tables (package data, next to this module)
TABLES: dict[str, Any] = yaml.safe_load(
    (resources.files("govshare.sharing") / "demo_data" / "tables.yaml").read_text(encoding="utf-8"))


def _tuples(row: dict[str, Any], *names: str) -> dict[str, Any]:
    """``row`` with the named list fields as tuples (the dataclasses below are frozen)."""
    return {**row, **{name: tuple(row[name]) for name in names if name in row}}

# ------------------------------------------------------------------ consuming information systems

#: department → (system name, code, description)
SYSTEMS: dict[str, list[tuple[str, str, str]]] = {
    code: [(name, system_code, description) for name, system_code, description in systems]
    for code, systems in TABLES["systems"].items()}

# ------------------------------------------------------------------ SHR-1: unconditional subscriptions


@dataclass(frozen=True)
class Subscribe:
    consumer: str
    entry: str
    purpose: str
    detail: str
    system: str
    channel: str
    days_ago: int  # working days before today
    items: tuple[str, ...] = ()


BUSINESS_LICENCE = "市场主体登记信息（营业执照）"
HOUSEHOLD = "户籍人口基本信息"

SUBSCRIPTIONS = [Subscribe(**_tuples(row, "items")) for row in TABLES["subscriptions"]]

# ------------------------------------------------------------------ SHR-2: conditional applications


@dataclass(frozen=True)
class Step:
    """One step of an application's history: ``what`` happens ``days_ago`` working days before today."""

    what: str  # apply, return, resubmit, pass, reject, approve, refuse, withdraw
    days_ago: int
    text: str = ""
    basis: str = ""
    items: tuple[str, ...] = ()
    masking: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Apply:
    key: str
    consumer: str
    entry: str
    items: tuple[str, ...]
    purpose: str
    detail: str
    system: str
    steps: tuple[Step, ...]
    channel: str = "api"


PIPL_34: str = TABLES["pipl_34"]

APPLICATIONS = [
    Apply(**{**_tuples(row, "items"), "steps": tuple(Step(**_tuples(step, "items")) for step in row["steps"])})
    for row in TABLES["applications"]]

#: the approved application whose grant the provider later revokes (SHR-4), working days ago, reason
REVOKED: tuple[str, int, str] = tuple(TABLES["revoked"])  # type: ignore[assignment]

# ------------------------------------------------------------------ SHR-3: coordination cases


@dataclass(frozen=True)
class Case:
    consumer: str
    reason: str
    days_ago: int
    application: str = ""  # key of a refused application
    entry: str = ""  # or a 不予共享 entry
    items: tuple[str, ...] = ()
    purpose: str = ""
    notes: tuple[tuple[str, int, str], ...] = ()  # (party: consumer/provider/centre, days ago, text)
    settle: str = ""  # grant / refuse / withdraw (by the consumer)
    settle_days_ago: int = 0
    outcome: str = ""
    grant_items: tuple[str, ...] = ()
    conditions: str = ""


CASES = [Case(**{**_tuples(row, "items", "grant_items"), "notes": tuple(tuple(n) for n in row.get("notes", ()))})
         for row in TABLES["cases"]]

# ------------------------------------------------------------------ SHR-5 / SHR-6: data requests


@dataclass(frozen=True)
class Request:
    requester: str
    title: str
    description: str
    wanted: str
    purpose: str
    days_ago: int
    owner: str = ""  # suggested owner (local) — assigned to it when ``assign_days_ago`` is set
    assign_days_ago: int | None = None
    answer: str = ""  # register / decline
    answer_days_ago: int = 0
    answer_text: str = ""
    upper: str = ""  # upper-level jurisdiction code (scope upper)
    upper_resource: str = ""
    forward_days_ago: int | None = None
    fulfilled: bool | None = None
    reference: str = ""
    close_days_ago: int | None = None  # closed by the centre with ``answer_text``


#: the entry the owner registers to answer the request of the health commission (SHR-5)
REGISTERED_ENTRY: str = TABLES["registered_entry"]

REQUESTS = [Request(**row) for row in TABLES["requests"]]

# ------------------------------------------------------------------ SHR-7: the high-frequency library

HIGH_FREQUENCY: list[tuple[str, int, str]] = [tuple(row) for row in TABLES["high_frequency"]]  # type: ignore[misc]

# ------------------------------------------------------------------ SHR-8: data error reports


@dataclass(frozen=True)
class Report:
    consumer: str
    entry: str
    field: str
    record_keys: str
    description: str
    days_ago: int
    acknowledge_days_ago: int | None = None
    outcome: str = ""  # corrected / not_an_error, or withdrawn (by the consumer)
    resolve_days_ago: int = 0
    resolution: str = ""


def _companies(*seqs: int) -> str:
    return "、".join(make_uscc(REGION, 5000 + seq, kind="91") for seq in seqs)


def _people(*seqs: int) -> str:
    return "、".join(make_id_number(REGION, "19560312", 400 + seq) for seq in seqs)


def _record_keys(keys: str | dict[str, list[int]]) -> str:
    if isinstance(keys, str):
        return keys
    return _companies(*keys["companies"]) if "companies" in keys else _people(*keys["people"])


REPORTS = [Report(**{**row, "record_keys": _record_keys(row["record_keys"])}) for row in TABLES["reports"]]

#: departments whose administrators receive the daily digest (the centre included)
DIGEST_DEPARTMENTS: list[str] = TABLES["digest_departments"]

# ------------------------------------------------------------------ a letter


def letter_pdf(lines: Iterable[str]) -> bytes:
    """A small one-page PDF (ASCII text, Helvetica) standing in for the stamped letter."""
    text = "\n".join(
        f"BT /F1 12 Tf 72 {770 - 22 * i} Td ({_pdf_text(line)}) Tj ET" for i, line in enumerate(lines)).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(text)).encode() + b" >>\nstream\n" + text + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _pdf_text(line: str) -> str:
    ascii_only = line.encode("ascii", "replace").decode()
    return ascii_only.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


# ------------------------------------------------------------------ the loader


@register_loader
def load_sharing_demo() -> None:
    """Fill the sharing area once (idempotent; needs the demo catalog)."""
    if Application.objects.exists() or ConsumingSystem.objects.exists():
        return
    with transaction.atomic(), context.bind(ip="demo"):
        if Application.objects.exists() or ConsumingSystem.objects.exists():
            return
        loader = _Loader.for_demo_catalog()
        if loader is not None:
            loader.run()


class Past:
    """Working days before today as dates and moments (the demo's back-dating)."""

    def __init__(self) -> None:
        self.calendar = WorkCalendar()
        self.now = timezone.now()
        self.today = timezone.localdate(self.now)

    def day(self, days_ago: int) -> dt.date:
        return self.today if days_ago <= 0 else self.calendar.add(self.today, -days_ago)[0]

    def at(self, days_ago: int, hour: int = 10, minute: int = 0) -> dt.datetime:
        """``days_ago`` working days before today at ``hour``; today is now (never in the future)."""
        if days_ago <= 0:
            return self.now
        return dt.datetime.combine(self.day(days_ago), dt.time(hour, minute), tzinfo=DEADLINE_TZ)


class _Loader:
    def __init__(self, entries: dict[str, CatalogEntry]) -> None:
        self.entries = entries
        self.past = Past()
        self.admin = User.objects.get(username="centre_admin")
        self.reviewer = User.objects.get(username="centre_reviewer")
        self.depts = {d.code: d for d in Department.objects.filter(code__in=[*SYSTEMS, "LNSJZX"])}
        self.editors = {code: _specialist(code, username) for code, username, *_rest in SPECIALISTS}
        self.phones = {code: phone for code, _u, _n, _b, _s, phone in SPECIALISTS}
        self.provider_admins = {"LNGA": User.objects.get(username="police_admin")}
        self.systems: dict[str, ConsumingSystem] = {}
        self.apps: dict[str, Application] = {}
        # the moments of each application's steps, in the order its ApplicationStep rows were written
        self.moments: dict[int, list[dt.datetime]] = {}
        self.minute = 0

    @classmethod
    def for_demo_catalog(cls) -> _Loader | None:
        names = {s.entry for s in SUBSCRIPTIONS} | {a.entry for a in APPLICATIONS} | {c.entry for c in CASES if c.entry}
        names |= {r.entry for r in REPORTS} | {name for name, _d, _n in HIGH_FREQUENCY}
        found = {e.current_version.name: e for e in CatalogEntry.objects.filter(
            status=CatalogEntry.Status.PUBLISHED, current_version__name__in=names).select_related("current_version")
            if e.current_version is not None}
        users = {"centre_admin", "centre_reviewer", "police_admin"}
        if set(found) != names or User.objects.filter(username__in=users, is_active=True).count() != len(users) or \
                any(_specialist(code, username) is None for code, username, *_rest in SPECIALISTS):
            return None  # not the demo catalog: nothing to show sharing on
        return cls(found)

    def run(self) -> None:
        self.register_systems()
        self.subscribe()
        for spec in APPLICATIONS:
            self.application(spec)
        for app_pk, moments in self.moments.items():
            backdate_application(app_pk, moments, self.past.calendar)
        self.revoke()
        for case in CASES:
            self.case(case)
        for request in REQUESTS:
            self.request(request)
        self.high_frequency()
        for report in REPORTS:
            self.report(report)
        for code in DIGEST_DEPARTMENTS:
            act(self.admin, do_set_digest, self.depts[code], enabled=True)
        # what the worker's periodic hooks do on its first heartbeat: remind, then escalate what is late
        send_reminders()
        escalate_overdue()

    # -- helpers

    def do(self, days_ago: int, user: Any, action: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, dt.datetime]:
        """Run ``action`` as ``user`` now, then date its notifications ``days_ago`` working days back."""
        before = _last_notification()
        result = act(user, action, *args, **kwargs)
        self.minute = (self.minute + 7) % 50
        moment = self.past.at(days_ago, hour=9 + days_ago % 7, minute=self.minute)
        Notification.objects.filter(pk__gt=before).update(created_at=moment)
        return result, moment

    def dept(self, code: str) -> Department:
        return self.depts[code]

    # -- systems and SHR-1

    def register_systems(self) -> None:
        moment = self.past.at(60, hour=15)
        for code, systems in SYSTEMS.items():
            for name, system_code, description in systems:
                system = act(self.admin, do_register_system, name=name, code=system_code, description=description,
                             department=self.dept(code))
                self.systems[system_code] = system
        ConsumingSystem.objects.filter(pk__in=[s.pk for s in self.systems.values()]).update(created_at=moment)

    def subscribe(self) -> None:
        for spec in SUBSCRIPTIONS:
            grant, moment = self.do(spec.days_ago, self.editors[spec.consumer], do_subscribe_entry,
                                    self.entries[spec.entry], purpose=spec.purpose, purpose_detail=spec.detail,
                                    items=list(spec.items) or None, channel=spec.channel,
                                    system=self.systems[spec.system] if spec.system else None)
            assert grant.application_id is not None
            self.moments[grant.application_id] = [moment]

    # -- SHR-2

    def application(self, spec: Apply) -> None:
        consumer = self.editors[spec.consumer]
        entry = self.entries[spec.entry]
        provider = self.editors[entry.provider.code]
        app: Application | None = None
        moments: list[dt.datetime] = []
        for step in spec.steps:
            if step.what == "apply":
                lines = ["Application for shared government data (demo letter)",
                         f"Applicant department: {spec.consumer}", f"Resource code: {entry.code}",
                         f"Consuming system: {spec.system}", "Official seal of the applicant department"]
                app, moment = self.do(step.days_ago, consumer, do_apply, entry, items=list(spec.items),
                                      purpose=spec.purpose, purpose_detail=spec.detail,
                                      system=self.systems[spec.system], period_start=None,
                                      period_end=dt.date(self.past.today.year + 1, 12, 31), channel=spec.channel,
                                      contact_name=consumer.real_name, contact_phone=self.phones[spec.consumer],
                                      letter=("共享申请函.pdf", letter_pdf(lines)))
            elif app is None:
                raise RuntimeError(f"{spec.key}: {step.what} before apply")
            elif step.what in ("pass", "return", "reject"):
                app, moment = self.do(step.days_ago, self.reviewer, do_first_review, app, decision=step.what,
                                      comment=step.text)
            elif step.what == "resubmit":
                app, moment = self.do(step.days_ago, consumer, do_resubmit, app,
                                      purpose_detail=f"{spec.detail}依据：《龙南市“出生一件事”联办工作方案》。")
            elif step.what == "approve":
                app, moment = self.do(step.days_ago, provider, do_answer, app, decision="approve",
                                      items=list(step.items) or None, masking=step.masking or None,
                                      conditions=step.text)
            elif step.what == "refuse":
                app, moment = self.do(step.days_ago, provider, do_answer, app, decision="refuse", basis=step.basis,
                                      reason=step.text)
            elif step.what == "withdraw":
                app, moment = self.do(step.days_ago, consumer, do_withdraw_application, app, reason=step.text)
            else:
                raise ValueError(step.what)
            moments.append(moment)
        assert app is not None
        self.apps[spec.key] = app
        self.moments[app.pk] = moments

    def revoke(self) -> None:
        key, days_ago, reason = REVOKED
        grant = Grant.objects.get(application=self.apps[key])
        _grant, moment = self.do(days_ago, self.provider_admins["LNGA"], do_revoke_grant, grant, reason=reason)
        Grant.objects.filter(pk=grant.pk).update(revoked_at=moment)

    # -- SHR-3

    def case(self, spec: Case) -> None:
        opener = self.editors[spec.consumer]
        if spec.application:
            case, opened = self.do(spec.days_ago, opener, do_open_case, application=self.apps[spec.application],
                                   reason=spec.reason)
        else:
            case, opened = self.do(spec.days_ago, opener, do_open_case, entry=self.entries[spec.entry],
                                   reason=spec.reason, items=list(spec.items), purpose=spec.purpose)
        rewrite = ClockRewrite(self.past.calendar)
        rewrite.reopen(case.deadline_id, opened)
        CoordinationCase.objects.filter(pk=case.pk).update(opened_at=opened)
        for party, days_ago, text in spec.notes:
            author = {"consumer": opener, "provider": self.editors[case.provider.code], "centre": self.reviewer}[party]
            note, moment = self.do(days_ago, author, do_add_case_note, case, text=text)
            CaseNote.objects.filter(pk=note.pk).update(at=moment)
        if spec.settle == "withdraw":
            case, settled = self.do(spec.settle_days_ago, opener, do_withdraw_case, case, reason=spec.outcome)
            rewrite.close(case.deadline_id, settled)
            CoordinationCase.objects.filter(pk=case.pk).update(settled_at=settled)
        elif spec.settle:
            expires = dt.date(self.past.today.year + 1, 12, 31) if spec.settle == "grant" else None
            case, settled = self.do(spec.settle_days_ago, self.admin, do_settle_case, case, outcome=spec.settle,
                                    reason=spec.outcome, items=list(spec.grant_items) or None, expires_on=expires,
                                    conditions=spec.conditions)
            rewrite.close(case.deadline_id, settled)
            CoordinationCase.objects.filter(pk=case.pk).update(settled_at=settled)
            Grant.objects.filter(case=case).update(granted_at=settled, valid_from=timezone.localdate(settled))
        rewrite.retext(case)

    # -- SHR-5 / SHR-6

    def request(self, spec: Request) -> None:
        requester = self.editors[spec.requester]
        if spec.upper:
            upper = Jurisdiction.objects.get(code=spec.upper)
            req, asked = self.do(spec.days_ago, requester, do_submit_request, scope=DataRequest.Scope.UPPER,
                                 title=spec.title, description=spec.description, purpose=spec.purpose,
                                 wanted_items=spec.wanted, upper_jurisdiction=upper, upper_resource=spec.upper_resource)
        else:
            req, asked = self.do(spec.days_ago, requester, do_submit_request, title=spec.title,
                                 description=spec.description, purpose=spec.purpose, wanted_items=spec.wanted,
                                 suggested_owner=self.dept(spec.owner) if spec.owner else None)
        DataRequest.objects.filter(pk=req.pk).update(requested_at=asked)
        if spec.assign_days_ago is not None:
            req, moment = self.do(spec.assign_days_ago, self.reviewer, do_assign_request, req, owner=self.dept(spec.owner),
                                  note="请核实是否掌握该数据；如掌握，请编制目录并关联本需求。")
            DataRequest.objects.filter(pk=req.pk).update(assigned_at=moment)
        if spec.forward_days_ago is not None:
            req, moment = self.do(spec.forward_days_ago, self.reviewer, do_forward_request, req,
                                  note="经审核，本级目录无此资源，转报上级平台。")
            handoff = dict(req.handoff, forwarded_at=moment.isoformat())
            DataRequest.objects.filter(pk=req.pk).update(forwarded_at=moment, handoff=handoff)
        if spec.fulfilled is not None:
            req, moment = self.do(spec.answer_days_ago, self.reviewer, do_record_upper_answer, req,
                                  fulfilled=spec.fulfilled, answer=spec.answer_text,
                                  reference=f"{spec.reference}-{self.past.today.year}")
            DataRequest.objects.filter(pk=req.pk).update(answered_at=moment)
        elif spec.close_days_ago is not None:
            req, moment = self.do(spec.close_days_ago, self.reviewer, do_close_request, req, reason=spec.answer_text)
            DataRequest.objects.filter(pk=req.pk).update(answered_at=moment)
        elif spec.answer == "register":
            owner = self.editors[spec.owner]
            spec_line = parse_catalog(REGISTERED_ENTRY)[0]
            entry = act(owner, do_create_entry, content_for(spec_line, {}))
            act(owner, do_submit, entry)  # in the centre's catalog review queue
            req, moment = self.do(spec.answer_days_ago, owner, do_register_for_request, req, entry=entry)
            DataRequest.objects.filter(pk=req.pk).update(answered_at=moment)
        elif spec.answer == "decline":
            req, moment = self.do(spec.answer_days_ago, self.editors[spec.owner], do_decline_request, req,
                                  reason=spec.answer_text)
            DataRequest.objects.filter(pk=req.pk).update(answered_at=moment)

    # -- SHR-7

    def high_frequency(self) -> None:
        for name, days_ago, note in HIGH_FREQUENCY:
            mark, moment = self.do(days_ago, self.admin, do_mark_high_frequency, self.entries[name], note=note)
            HighFrequencyMark.objects.filter(pk=mark.pk).update(marked_at=moment)

    # -- SHR-8

    def report(self, spec: Report) -> None:
        reporter = self.editors[spec.consumer]
        entry = self.entries[spec.entry]
        provider = self.editors[entry.provider.code]
        report, reported = self.do(spec.days_ago, reporter, do_report_error, entry=entry,
                                   record_keys=spec.record_keys, field=spec.field, description=spec.description)
        rewrite = ClockRewrite(self.past.calendar)
        rewrite.reopen(report.deadline_id, reported)
        ErrorReport.objects.filter(pk=report.pk).update(reported_at=reported)
        if spec.acknowledge_days_ago is not None:
            report, moment = self.do(spec.acknowledge_days_ago, provider, do_acknowledge_error, report)
            ErrorReport.objects.filter(pk=report.pk).update(acknowledged_at=moment)
        if spec.outcome == "withdrawn":
            report, moment = self.do(spec.resolve_days_ago, reporter, do_withdraw_error, report)
            rewrite.close(report.deadline_id, moment)
            ErrorReport.objects.filter(pk=report.pk).update(resolved_at=moment)
        elif spec.outcome:
            report, moment = self.do(spec.resolve_days_ago, provider, do_resolve_error, report, outcome=spec.outcome,
                                     resolution=spec.resolution)
            rewrite.close(report.deadline_id, moment)
            ErrorReport.objects.filter(pk=report.pk).update(
                resolved_at=moment, acknowledged_at=report.acknowledged_at if spec.acknowledge_days_ago is not None
                else moment)
        rewrite.retext(report)


# ------------------------------------------------------------------ back-dating


def _specialist(code: str, username: str) -> Any:
    """The data specialist who acts for a department (as in the catalog demo: the named account, else
    the department's first data specialist)."""
    user = User.objects.filter(username=username, is_active=True).first()
    if user is not None:
        return user
    row = (RoleAssignment.objects.filter(role=Role.DATA_SPECIALIST, user__department__code=code, user__is_active=True)
           .select_related("user").order_by("user__username").first())
    return row.user if row else None


def _last_notification() -> int:
    return Notification.objects.aggregate(last=Max("pk"))["last"] or 0


class ClockRewrite:
    """Re-open deadlines from an earlier start (demo back-dating) and remember old → new due dates,
    so that the due dates quoted in the object's notifications can follow."""

    def __init__(self, calendar: WorkCalendar) -> None:
        self.calendar = calendar
        self.dates: dict[str, str] = {}

    def reopen(self, deadline_id: int | None, start: dt.datetime) -> Deadline | None:
        deadline = Deadline.objects.filter(pk=deadline_id).first() if deadline_id is not None else None
        if deadline is None:
            return None
        start_date = timezone.localdate(start)
        due = compute_due(start_date, get_profile(deadline.profile).deadline(deadline.kind), calendar=self.calendar)
        self.dates[deadline.due_date.isoformat()] = due.due_date.isoformat()
        Deadline.objects.filter(pk=deadline.pk).update(start_date=start_date, due_date=due.due_date, due_at=due.due_at,
                                                       provisional=due.provisional)
        deadline.start_date, deadline.due_date, deadline.due_at = start_date, due.due_date, due.due_at
        return deadline

    def close(self, deadline_id: int | None, at: dt.datetime) -> None:
        if deadline_id is not None:
            Deadline.objects.filter(pk=deadline_id, closed_at__isnull=False).update(closed_at=at)

    def retext(self, obj: Any) -> None:
        changed = {old: new for old, new in self.dates.items() if old != new}
        if not changed:
            return
        from govshare.core.notify import replace_in_notifications

        replace_in_notifications(Notification.objects.filter(object_type=obj._meta.label_lower,
                                                             object_id=str(obj.pk)), changed)


OPENS = {ApplicationStep.Step.SUBMITTED, ApplicationStep.Step.RESUBMITTED}
CLOSES = {ApplicationStep.Step.RETURNED, ApplicationStep.Step.REJECTED, ApplicationStep.Step.APPROVED,
          ApplicationStep.Step.REFUSED, ApplicationStep.Step.WITHDRAWN}


def backdate_application(app_pk: int, moments: list[dt.datetime], calendar: WorkCalendar) -> None:
    """Give an application's steps (in the order they were written) the ``moments`` of the demo story,
    re-open its clocks from those days and recompute each step's working days and punctuality."""
    app = Application.objects.get(pk=app_pk)
    steps = list(ApplicationStep.objects.filter(application_id=app_pk).order_by("id"))
    if len(steps) != len(moments):
        raise RuntimeError(f"{app}: {len(steps)} steps, {len(moments)} moments")
    content_type = ContentType.objects.get_for_model(Application)
    clocks = iter(Deadline.objects.filter(content_type=content_type, object_id=str(app_pk)).order_by("id"))
    rewrite = ClockRewrite(calendar)
    current: Deadline | None = None
    fields: dict[str, Any] = {"created_at": moments[0], "period_start": timezone.localdate(moments[0])}
    for step, at in zip(steps, moments, strict=True):
        related: Deadline | None = None
        if step.step in OPENS:
            current = related = rewrite.reopen(next(clocks).pk, at)
            fields["submitted_at"] = at
        elif step.step == ApplicationStep.Step.PASSED:
            related = current
            rewrite.close(current.pk if current else None, at)
            current = rewrite.reopen(next(clocks).pk, at)
            fields["first_reviewed_at"] = at
        elif step.step in CLOSES:
            related = current
            rewrite.close(current.pk if current else None, at)
            current = None
            if step.step in (ApplicationStep.Step.RETURNED, ApplicationStep.Step.REJECTED):
                fields["first_reviewed_at"] = at
            if step.step in (ApplicationStep.Step.APPROVED, ApplicationStep.Step.REFUSED):
                fields["answered_at"] = at
            if step.step != ApplicationStep.Step.RETURNED:  # a return leaves the application open
                fields["decided_at"] = at
        elif step.step == ApplicationStep.Step.GRANTED:
            fields["submitted_at"] = fields["decided_at"] = at
        update: dict[str, Any] = {"at": at}
        if related is not None:
            day = timezone.localdate(at)
            update.update(due_date=related.due_date, on_time=at <= related.due_at,
                          working_days_used=calendar.between(related.start_date, day)[0]
                          if day >= related.start_date else 0)
        ApplicationStep.objects.filter(pk=step.pk).update(**update)
    Application.objects.filter(pk=app_pk).update(**fields)
    decided = fields.get("decided_at", moments[-1])
    Grant.objects.filter(application_id=app_pk, case__isnull=True).update(
        granted_at=decided, valid_from=timezone.localdate(decided))
    rewrite.retext(app)
