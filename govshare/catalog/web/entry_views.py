"""One catalog entry: detail, create/edit form, lifecycle buttons, review, subscriptions, version
diff and feedback (CAT-1 … CAT-4, CAT-6, CAT-8, CAT-10).

Reads go through ``get_for`` / ``restrict``; every button posts to a view that calls one action and
shows its error on the entry page (or next to the form field it names).  What a button offers is
computed here only to hide buttons that would be refused — the actions decide.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from govshare.catalog import actions
from govshare.catalog.actions._common import profile_of
from govshare.catalog.diff import FIELD_LABELS, ITEM_FIELDS, diff_versions, previous_version
from govshare.catalog.entry_actions import entry_actions
from govshare.catalog.forms import (
    BLANK_ITEM_ROWS,
    ENTRY_REQUIRED,
    AnswerForm,
    AttachProjectForm,
    CommentForm,
    EntryForm,
    FeedbackForm,
    WithdrawForm,
    data_type_choices,
    initial_from_content,
    parse_items,
)
from govshare.catalog.models import (
    CatalogEntry,
    EntryVersion,
    Feedback,
    InformationItem,
    Project,
    Subscription,
    version_content,
)
from govshare.catalog.permissions import is_government
from govshare.catalog.web.common import (
    OPEN_BADGE,
    SHARE_BADGE,
    apply_errors,
    catalog_view,
    form_status,
    label,
    public_view,
    split_item_errors,
)
from govshare.core import access_log
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, GovshareError, ManyProblems
from govshare.core.models import Department
from govshare.core.permissions import Action, can, deny, get_for, has_capability, require, restrict
from govshare.core.policy import ProfileError
from govshare.core.roles import Capability, Role
from govshare.core.web.org_views import id_param

STATE_BADGE: dict[str, str] = {
    EntryVersion.State.DRAFT: "", EntryVersion.State.SUBMITTED: "warn", EntryVersion.State.RETURNED: "bad",
    EntryVersion.State.APPROVED: "warn", EntryVersion.State.PUBLISHED: "ok", EntryVersion.State.SUPERSEDED: "",
    EntryVersion.State.DISCARDED: "",
}
STATUS_BADGE: dict[str, str] = {CatalogEntry.Status.DRAFT: "", CatalogEntry.Status.PUBLISHED: "ok",
                CatalogEntry.Status.WITHDRAWN: "bad"}


def entry_queryset() -> Any:
    # what the pages read of the entry itself; the versions' people come with the version list
    return CatalogEntry.objects.select_related("provider", "project", "current_version__classification",
                                               "open_version__classification")


def _problems(exc: GovshareError) -> list[str]:
    if isinstance(exc, ManyProblems):
        return [p.render() for p in exc.problems]
    return [exc.render()]


def _domains(department: Department | None) -> tuple[str, ...]:
    if department is None:
        return ()
    try:
        return profile_of(department).list("open_data_domains")
    except ProfileError:
        return ()


# ------------------------------------------------------------------ detail


def _guide_fields(entry: CatalogEntry, version: EntryVersion) -> list[dict[str, Any]]:
    """The entry's fields in the guide's order, as (label, value) rows."""
    c = version.classification
    cycle = label("update_cycle", version.update_cycle)
    if version.update_cycle_note:
        cycle = f"{cycle}（{version.update_cycle_note}）"
    fmt = label("format_class", version.format_class)
    if version.format:
        fmt = f"{fmt} · {version.format}"
    rows = [
        (FIELD_LABELS["classification"], f"{c.code} {c.name}"),
        (gettext_lazy("resource code"), entry.code),
        (gettext_lazy("provider"), entry.provider.name),
        (gettext_lazy("provider code"), entry.provider.uscc),
        (FIELD_LABELS["name"], version.name),
        (FIELD_LABELS["summary"], version.summary),
        (FIELD_LABELS["keywords"], "、".join(version.keywords or [])),
        (FIELD_LABELS["format_class"], fmt),
        (FIELD_LABELS["share_type"], label("share_type", version.share_type)),
        (FIELD_LABELS["share_condition"], version.share_condition),
        (FIELD_LABELS["share_methods"], label("share_methods", list(version.share_methods or []))),
        (FIELD_LABELS["share_basis"], version.share_basis),
        (FIELD_LABELS["open_attribute"], label("open_attribute", version.open_attribute)),
        (FIELD_LABELS["open_condition"], version.open_condition),
        (FIELD_LABELS["domain"], version.domain),
        (FIELD_LABELS["update_cycle"], cycle),
        (gettext_lazy("publish date"), entry.first_published_at.date().isoformat()
         if entry.first_published_at else ""),
        (gettext_lazy("last published"), entry.published_at.date().isoformat() if entry.published_at else ""),
        (FIELD_LABELS["related_codes"], "、".join(version.related_codes or [])),
        (gettext_lazy("IT project"), entry.project.name if entry.project_id and entry.project else ""),
    ]
    return [{"label": lbl, "value": value, "key": key} for (lbl, value), key in zip(
        rows, ["classification", "code", "provider", "provider_code", "name", "summary", "keywords", "format_class",
               "share_type", "share_condition", "share_methods", "share_basis", "open_attribute", "open_condition",
               "domain", "update_cycle", "publish_date", "published_at", "related_codes", "project"], strict=True)]


def _feedback(user: Any, entry: CatalogEntry) -> list[Feedback]:
    rows = list(restrict(Feedback, user, Action.VIEW).filter(entry=entry)
                .select_related("raised_by", "department", "answered_by", "closed_by").order_by("-raised_at"))
    changeable = set(restrict(Feedback, user, Action.CHANGE).filter(entry=entry).values_list("pk", flat=True))
    provider_member = getattr(user, "department_id", None) == entry.provider_id
    for fb in rows:
        fb.may_answer = (fb.pk in changeable and provider_member  # type: ignore[attr-defined]
                         and fb.status == Feedback.Status.OPEN)
        fb.may_close = fb.pk in changeable and fb.status != Feedback.Status.CLOSED and (  # type: ignore[attr-defined]
            fb.raised_by_id == user.pk or fb.status == Feedback.Status.ANSWERED)
    return rows


def detail_context(request: HttpRequest, entry: CatalogEntry, **extra: Any) -> dict[str, Any]:
    user: Any = request.user
    versions = list(restrict(EntryVersion, user, Action.VIEW).filter(entry=entry)
                    .select_related("classification", "created_by", "submitted_by", "reviewed_by")
                    .order_by("-number"))
    by_number = {v.number: v for v in versions}
    open_v = next((v for v in versions if v.pk == entry.open_version_id), None)
    current = next((v for v in versions if v.pk == entry.current_version_id), None)
    default: EntryVersion | None
    if open_v is not None and open_v.kind == EntryVersion.Kind.CONTENT:
        default = open_v  # the provider and the centre look at the version being worked on
    else:
        default = current or open_v or (versions[0] if versions else None)
    assert default is not None  # a visible entry has a visible version
    requested = id_param(request, "version")
    shown = by_number[requested] if requested is not None and requested in by_number else default
    may_change = can(user, Action.CHANGE, entry) and has_capability(user, Capability.EDIT_CATALOG)
    published = entry.status == CatalogEntry.Status.PUBLISHED
    withdrawn = entry.status == CatalogEntry.Status.WITHDRAWN
    submitted = open_v is not None and open_v.state == EntryVersion.State.SUBMITTED
    subscriptions = restrict(Subscription, user, Action.VIEW).filter(entry=entry)
    attach_form = extra.pop("attach_form", None)
    if may_change and attach_form is None:
        attach_form = AttachProjectForm(initial={"project": entry.project_id})
    if attach_form is not None:
        projects = restrict(Project, user, Action.CHANGE).filter(department=entry.provider_id).order_by("code")
        attach_form.fields["project"].queryset = projects  # type: ignore[attr-defined]
        if not attach_form.is_bound and entry.project_id is None and not projects.exists():
            attach_form = None  # no project to put the entry in
    context: dict[str, Any] = {
        "entry": entry,
        "version": shown,
        "current": current,
        "open_version": open_v,
        # the announced change (CAT-4): its kind and dates are told to every subscriber, so whoever
        # sees the entry sees them too — not the content of a version they may not see
        "notice": entry.open_version if entry.open_version_id and entry.open_version
        and entry.open_version.notice_started_at else None,
        "viewing_other": shown.pk != default.pk,
        "default_version": default,
        "fields": _guide_fields(entry, shown),
        "items": list(restrict(InformationItem, user, Action.VIEW).filter(version=shown).order_by("position")),
        "versions": versions,
        "status_badge": STATUS_BADGE.get(entry.status, ""),
        "state_badge": STATE_BADGE.get(shown.state, ""),
        "share_badge": SHARE_BADGE.get(shown.share_type, ""),
        "open_badge": OPEN_BADGE.get(shown.open_attribute, ""),
        "may_change": may_change,
        "can_edit": may_change and not withdrawn and (
            (open_v is None and published) or (open_v is not None and open_v.is_editable)),
        "can_submit": may_change and open_v is not None and open_v.state in EntryVersion.EDITABLE_STATES
        and open_v.kind == EntryVersion.Kind.CONTENT,
        "can_discard": may_change and open_v is not None and open_v.is_editable,
        "can_withdraw": may_change and published and open_v is None,
        "can_review": has_capability(user, Capability.REVIEW_CATALOG) and submitted,
        "own_submission": open_v is not None and open_v.is_own_work(user),
        "can_subscribe": is_government(user) and not user.has_role(Role.AUDITOR) and published,
        "subscribed": is_government(user) and subscriptions.filter(user_id=user.pk).exists(),
        "subscriber_count": subscriptions.count() if may_change or has_capability(user, Capability.REVIEW_CATALOG)
        else None,
        "feedback": _feedback(user, entry) if user.is_authenticated else [],
        "can_raise_feedback": published and has_capability(user, Capability.RAISE_FEEDBACK)
        and getattr(user, "department_id", None) is not None,
        "review_form": extra.pop("review_form", None) or CommentForm(),
        "withdraw_form": extra.pop("withdraw_form", None) or WithdrawForm(),
        "feedback_form": extra.pop("feedback_form", None) or FeedbackForm(),
        "answer_form": extra.pop("answer_form", None),
        "answer_for": extra.pop("answer_for", None),
        "attach_form": attach_form,
        "action_errors": extra.pop("action_errors", []),
        "entry_actions": entry_actions(request, entry) if user.is_authenticated else [],
    }
    context.update(extra)
    return context


def _entry_page(request: HttpRequest, entry: CatalogEntry, status: int = 200, *, reread: bool = True,
                **extra: Any) -> HttpResponse:
    if reread:
        entry = entry_queryset().get(pk=entry.pk)  # fresh after a failed action
    return render(request, "catalog/entry_detail.html", detail_context(request, entry, **extra), status=status)


@public_view
@require_safe
def entry_detail(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_for(request.user, Action.VIEW, entry_queryset(), pk=pk)
    access_log.note(request, AuditCode.READ_ENTRY, entry)
    return _entry_page(request, entry, reread=False)  # just read with entry_queryset()


def _visible_entry(request: HttpRequest, pk: int) -> CatalogEntry:
    return get_for(request.user, Action.VIEW, entry_queryset(), pk=pk)


def _after(request: HttpRequest, entry: CatalogEntry, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("catalog:entry_detail", pk=entry.pk)


def _refused(request: HttpRequest, entry: CatalogEntry, exc: GovshareError, **forms: Any) -> HttpResponse:
    if exc.status == 404:
        raise exc
    return _entry_page(request, entry, status=exc.status, action_errors=[] if forms else _problems(exc), **forms)


@catalog_view
@require_POST
def entry_submit(request: HttpRequest, pk: int) -> HttpResponse:
    entry = _visible_entry(request, pk)
    try:
        actions.do_submit(request.user, entry)
    except GovshareError as exc:
        return _refused(request, entry, exc)
    return _after(request, entry, _("Submitted to the centre for review."))


@catalog_view
@require_POST
def entry_discard(request: HttpRequest, pk: int) -> HttpResponse:
    entry = _visible_entry(request, pk)
    try:
        kept = actions.do_discard_draft(request.user, entry)
    except GovshareError as exc:
        return _refused(request, entry, exc)
    if kept is None:
        messages.success(request, _("The draft %(code)s is discarded.") % {"code": entry.code})
        return redirect("catalog:mine")
    return _after(request, entry, _("The version in progress is discarded."))


@catalog_view
@require_POST
def entry_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    entry = _visible_entry(request, pk)
    form = WithdrawForm(request.POST)
    if form.is_valid():
        try:
            actions.do_request_withdrawal(request.user, entry, reason=form.cleaned_data["reason"])
        except GovshareError as exc:
            if exc.field not in form.fields:
                return _refused(request, entry, exc)
            apply_errors(form, exc)
        else:
            return _after(request, entry, _("The withdrawal is submitted to the centre for review."))
    return _entry_page(request, entry, status=form_status(form), withdraw_form=form)


@catalog_view
@require_POST
def entry_review(request: HttpRequest, pk: int) -> HttpResponse:
    """The centre approves or returns (with a comment) the submitted version (CAT-3)."""
    entry = _visible_entry(request, pk)
    form = CommentForm(request.POST)
    decision = request.POST.get("decision", "")
    if form.is_valid():
        comment = form.cleaned_data["comment"]
        try:
            if decision == "approve":
                version = actions.do_approve(request.user, entry, comment=comment)
                if version.state == EntryVersion.State.APPROVED:
                    done = _("Approved; it takes effect when the notice period ends.")
                else:
                    done = _("Approved and published.")
            elif decision == "return":
                actions.do_return(request.user, entry, comment=comment)
                done = _("Returned to the department with your comment.")
            else:
                form.add_error(None, _("Choose approve or return."))
                return _entry_page(request, entry, status=form_status(form), review_form=form)
        except GovshareError as exc:
            if exc.field not in form.fields:
                return _refused(request, entry, exc)
            apply_errors(form, exc)
        else:
            return _after(request, entry, done)
    return _entry_page(request, entry, status=form_status(form), review_form=form)


@catalog_view
@require_POST
def entry_subscribe(request: HttpRequest, pk: int) -> HttpResponse:
    entry = _visible_entry(request, pk)
    try:
        if request.POST.get("subscribe") == "0":
            actions.do_unsubscribe(request.user, entry)
            done = _("You no longer receive change notices of this entry.")
        else:
            actions.do_subscribe(request.user, entry)
            done = _("You will be told in advance when this entry changes.")
    except GovshareError as exc:
        return _refused(request, entry, exc)
    return _after(request, entry, done)


@catalog_view
@require_POST
def entry_attach_project(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_for(request.user, Action.CHANGE, entry_queryset(), pk=pk)
    form = AttachProjectForm(request.POST)
    form.fields["project"].queryset = (  # type: ignore[attr-defined]
        restrict(Project, request.user, Action.CHANGE).filter(department=entry.provider_id))
    if form.is_valid():
        try:
            actions.do_attach_entry(request.user, entry, form.cleaned_data["project"])
        except GovshareError as exc:
            if exc.status == 404:
                raise
            apply_errors(form, exc)
        else:
            return _after(request, entry, _("The IT project of the entry is saved."))
    return _entry_page(request, entry, status=form_status(form), attach_form=form)


# ------------------------------------------------------------------ feedback (CAT-10)


@catalog_view
@require_POST
def feedback_raise(request: HttpRequest, pk: int) -> HttpResponse:
    entry = _visible_entry(request, pk)
    form = FeedbackForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            actions.do_raise_feedback(request.user, entry, kind=data["kind"], description=data["description"],
                                      field_name=data["field_name"])
        except GovshareError as exc:
            if exc.field not in form.fields:
                return _refused(request, entry, exc)
            apply_errors(form, exc)
        else:
            return _after(request, entry, _("Your feedback is sent to the provider department."))
    return _entry_page(request, entry, status=form_status(form), feedback_form=form)


def _feedback_for(request: HttpRequest, pk: int) -> Feedback:
    return get_for(request.user, Action.VIEW, Feedback.objects.select_related("entry"), pk=pk)


@catalog_view
@require_POST
def feedback_answer(request: HttpRequest, pk: int) -> HttpResponse:
    fb = _feedback_for(request, pk)
    form = AnswerForm(request.POST)
    if form.is_valid():
        try:
            actions.do_answer_feedback(request.user, fb, answer=form.cleaned_data["answer"])
        except GovshareError as exc:
            if exc.field not in form.fields:
                return _refused(request, fb.entry, exc)
            apply_errors(form, exc)
        else:
            return _after(request, fb.entry, _("Your answer is sent."))
    return _entry_page(request, fb.entry, status=form_status(form), answer_form=form, answer_for=fb.pk)


@catalog_view
@require_POST
def feedback_close(request: HttpRequest, pk: int) -> HttpResponse:
    fb = _feedback_for(request, pk)
    try:
        actions.do_close_feedback(request.user, fb)
    except GovshareError as exc:
        return _refused(request, fb.entry, exc)
    return _after(request, fb.entry, _("The feedback is closed."))


# ------------------------------------------------------------------ create / edit


def _item_rows(items: list[dict[str, Any]], errors: dict[int, dict[str, list[str]]] | None = None
               ) -> list[dict[str, Any]]:
    errors = errors or {}
    rows = [{"index": i, "item": item, "errors": errors.get(i, {})} for i, item in enumerate(items)]
    start = len(items)
    rows += [{"index": start + i, "item": {}, "errors": {}} for i in range(BLANK_ITEM_ROWS)]
    return rows


def _form_page(request: HttpRequest, form: EntryForm, items: list[dict[str, Any]], *,
               item_errors: dict[int, dict[str, list[str]]] | None = None, entry: CatalogEntry | None = None,
               status: int = 200) -> HttpResponse:
    return render(request, "catalog/entry_form.html", {
        "form": form,
        "entry": entry,
        "rows": _item_rows(items, item_errors),
        "next_index": len(items) + BLANK_ITEM_ROWS,
        "data_types": data_type_choices(),
        "required": ENTRY_REQUIRED,
        "item_errors": bool(item_errors),
    }, status=status)


def _save_entry(request: HttpRequest, form: EntryForm, entry: CatalogEntry | None) -> HttpResponse:
    """Call the action with the posted content; on failure show every problem in its place."""
    user: Any = request.user
    items = parse_items(request.POST)
    if not form.is_valid():
        return _form_page(request, form, items, entry=entry, status=400)
    content = form.content(items)
    try:
        if entry is None:
            entry = actions.do_create_entry(user, content)
            messages.success(request, _("Entry %(code)s saved as a draft.") % {"code": entry.code})
        else:
            actions.do_edit_entry(user, entry, content, change_reason=form.cleaned_data.get("change_reason") or "")
            messages.success(request, _("Entry %(code)s saved.") % {"code": entry.code})
    except GovshareError as exc:
        if exc.status == 404:
            raise
        item_errors = split_item_errors(form, exc)
        return _form_page(request, form, items, item_errors=item_errors, entry=entry, status=exc.status)
    return redirect("catalog:entry_detail", pk=entry.pk)


@catalog_view
@require_http_methods(["GET", "POST"])
def entry_create(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require(user, Capability.EDIT_CATALOG)
    department = user.department
    if department is None:
        deny(user, "no_department", gettext_lazy("Only members of a department compile catalog entries."))
    form = EntryForm(request.POST if request.method == "POST" else None, department=department,
                     domains=_domains(department))
    if request.method == "POST":
        return _save_entry(request, form, None)
    return _form_page(request, form, [])


@catalog_view
@require_http_methods(["GET", "POST"])
def entry_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    entry = get_for(user, Action.CHANGE, entry_queryset(), pk=pk)
    if entry.status == CatalogEntry.Status.WITHDRAWN:
        raise Conflict("entry_withdrawn", gettext_lazy("%(code)s is withdrawn and can no longer be edited."),
                       code=entry.code)
    open_v = entry.open_version
    if open_v is not None and not open_v.is_editable:
        raise Conflict("not_editable", gettext_lazy("%(code)s has no draft to edit (state: %(state)s)."),
                       code=entry.code, state=open_v.get_state_display())
    base = open_v or entry.current_version
    assert base is not None
    content = version_content(base)
    initial = initial_from_content(content)
    if open_v is not None:
        initial["change_reason"] = open_v.change_reason
    form = EntryForm(request.POST if request.method == "POST" else None, initial=initial,
                     department=entry.provider, domains=_domains(entry.provider),
                     editing_published=entry.status == CatalogEntry.Status.PUBLISHED,
                     current_classification=content["classification"])
    if request.method == "POST":
        return _save_entry(request, form, entry)
    return _form_page(request, form, content["items"], entry=entry)


# ------------------------------------------------------------------ version diff (CAT-3)


def _value(field: str, value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if field in ("share_type", "open_attribute", "format_class", "update_cycle", "share_methods", "data_type"):
        return label(field, value)
    if isinstance(value, (list, tuple)):
        return "、".join(str(v) for v in value)
    return str(value)


ITEM_FIELD_LABELS = {
    "name": gettext_lazy("item name"), "data_type": gettext_lazy("data type"), "length": gettext_lazy("length"),
    "description": gettext_lazy("description"), "is_primary_key": gettext_lazy("primary key"),
    "is_sensitive": gettext_lazy("sensitive"), "masking_rule": gettext_lazy("masking rule"),
}


def _item_text(item: dict[str, Any] | None, keys: list[str]) -> list[dict[str, str]]:
    if not item:
        return []
    return [{"label": str(ITEM_FIELD_LABELS.get(k, k)), "value": _value(k, item.get(k))} for k in keys if k in item]


def diff_rows(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for change in changes:
        field = change["field"]
        if field == "items":
            keys = ["data_type", "length", "description", "is_primary_key", "is_sensitive", "masking_rule"]
            if change["change"] == "changed":
                keys = [k for k in ITEM_FIELDS if k in (change["after"] or {})]
            rows.append({"field": _("information item %(name)s") % {"name": change["item"]},
                         "change": change["change"], "before_item": _item_text(change["before"], keys),
                         "after_item": _item_text(change["after"], keys)})
        elif field == "items_order":
            rows.append({"field": _("order of the information items"), "change": "changed",
                         "before": "、".join(change["before"]), "after": "、".join(change["after"])})
        else:
            rows.append({"field": str(FIELD_LABELS.get(field, field)), "change": "changed",
                         "before": _value(field, change["before"]), "after": _value(field, change["after"])})
    return rows


@public_view
@require_safe
def version_diff(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    user: Any = request.user
    entry = get_for(user, Action.VIEW, entry_queryset(), pk=pk)
    versions = restrict(EntryVersion, user, Action.VIEW).filter(entry=entry).select_related("classification")
    version = get_for(user, Action.VIEW, versions.prefetch_related(Prefetch("items")), number=number)
    against_number = id_param(request, "against")
    base: EntryVersion | None
    if against_number is not None:
        base = get_for(user, Action.VIEW, versions, number=against_number)
    else:
        base = previous_version(version)
        if base is not None and not can(user, Action.VIEW, base):
            base = None
    changes = diff_rows(diff_versions(base, version))
    return render(request, "catalog/version_diff.html", {
        "entry": entry, "version": version, "base": base, "changes": changes,
        "others": [v for v in versions.order_by("-number") if v.pk != version.pk],
        "detail_url": reverse("catalog:entry_detail", args=[entry.pk]),
    })
