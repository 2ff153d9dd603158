"""Pages of the exchange area (``/exchange/``): the front-end databases (EXC-6).

* ``home`` — the sources the user sees; department administrators register new ones here;
* ``source_detail`` — one source: its settings (never the password), the last connection test, "test
  connection" (its answer in words), the tables the source's user sees and one table's columns;
  administrators change it or deactivate it here;
* ``bindings_list``, ``binding_new``, ``binding_detail`` — table bindings: which column holds each item
  of a published 库表 entry (proposed, corrected, checked), paused and resumed; its copies (runs);
* ``run_detail`` — one copy into the centre: progress while it runs, totals, receipts, quarantined values.
Writes go through :mod:`govshare.exchange.actions`; reads through the permission chokepoint."""

from __future__ import annotations

import contextlib
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from govshare.catalog.models import CatalogEntry
from govshare.catalog.web.common import apply_errors, catalog_view, form_status, require_government
from govshare.core.errors import GovshareError, ManyProblems
from govshare.core.permissions import Action, can, get_for, has_capability, restrict
from govshare.core.roles import Capability
from govshare.datastore.centre import open_store
from govshare.datastore.engine.store import StoreError
from govshare.exchange import actions, bindings, schedule
from govshare.exchange.api import run_out
from govshare.exchange.engine.copy import GUARD_SAMPLE, decode_key
from govshare.exchange.forms import SourceChangeForm, SourceForm
from govshare.exchange.models import DataSource, ExchangeRun, TableBinding
from govshare.exchange.permissions import CHANGE, USE, VIEW
from govshare.exchange.runs import run_receipts
from govshare.exchange.sources import propose_for, shape_of, tables_of
from govshare.sharing.web.common import after, digits

exchange_view = catalog_view  # login required; an uncaught GovshareError becomes its page


def _fields(form: SourceForm) -> dict[str, Any]:
    data = dict(form.cleaned_data)
    data.pop("remove_password", None)
    for name in ("connect_timeout", "statement_timeout"):  # empty: the default
        if data.get(name) in ("", None):
            data.pop(name, None)
    return data


def _home_page(request: HttpRequest, form: SourceForm | None = None, status: int = 200) -> HttpResponse:
    user: Any = request.user
    sources = list(restrict(DataSource.objects.select_related("department"), user, VIEW)
                   .order_by("department__code", "name", "pk"))
    may_register = has_capability(user, Capability.MANAGE_SOURCES) and user.department_id is not None
    return render(request, "exchange/home.html", {
        "sources": sources, "may_register": may_register, "form": form or SourceForm(),
    }, status=status)


@exchange_view
@require_http_methods(["GET", "POST"])
def home(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_government(user)
    if request.method == "GET":
        return _home_page(request)
    form = SourceForm(request.POST)
    if form.is_valid():
        try:
            source = actions.do_register_source(user, **_fields(form))
        except GovshareError as exc:
            if exc.status in (403, 404):
                raise
            apply_errors(form, exc)
        else:
            return after(request, _("Front-end database %(name)s is registered. Test its connection now.")
                         % {"name": source.name}, "exchange:source_detail", source.pk)
    form.forget_private_key()  # refused by name, never written back into the page
    return _home_page(request, form, status=form_status(form))


def _detail_page(request: HttpRequest, source: DataSource, *, form: SourceForm | None = None, status: int = 200,
                 **extra: Any) -> HttpResponse:
    user: Any = request.user
    may_change = restrict(DataSource, user, CHANGE).filter(pk=source.pk).exists()
    may_use = may_change or restrict(DataSource, user, USE).filter(pk=source.pk).exists()
    if form is None and may_change:
        form = SourceChangeForm(initial={name: getattr(source, name) for name in actions.sources.EDITABLE})
    return render(request, "exchange/source_detail.html", {
        "source": source, "may_change": may_change, "may_use": may_use, "form": form, **extra,
    }, status=status)


def _visible(request: HttpRequest, pk: int) -> DataSource:
    return get_for(request.user, Action.VIEW, DataSource.objects.select_related("department", "created_by"), pk=pk)


@exchange_view
@require_http_methods(["GET", "POST"])
def source_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the source (``?tables=1`` also lists its tables; ``?schema=…&table=…`` describes one).
    POST: change it (administrators)."""
    user: Any = request.user
    source = _visible(request, pk)
    if request.method == "POST":
        form = SourceChangeForm(request.POST)
        if form.is_valid():
            data = _fields(form)
            password = data.pop("password", "") or None
            if form.cleaned_data.get("remove_password"):
                password = ""
            try:
                actions.do_change_source(user, source, password=password, **data)
            except GovshareError as exc:
                if exc.status == 404:
                    raise
                apply_errors(form, exc)
            else:
                return after(request, _("Front-end database %(name)s is changed.") % {"name": source.name},
                             "exchange:source_detail", source.pk)
        form.forget_private_key()  # refused by name, never written back into the page
        return _detail_page(request, source, form=form, status=form_status(form))
    extra: dict[str, Any] = {}
    status = 200
    try:
        if request.GET.get("table"):
            extra["shape"] = shape_of(user, source.pk, request.GET.get("schema", ""), request.GET["table"])[1]
        elif request.GET.get("tables"):
            extra["tables"] = tables_of(user, source.pk)[1]
    except GovshareError as exc:
        if exc.status == 404 and exc.code == "not_found":
            raise
        extra["read_error"] = exc.render()
        status = exc.status
    return _detail_page(request, source, status=status, **extra)


@exchange_view
@require_POST
def source_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Test the connection and show the answer on the source's page."""
    source = _visible(request, pk)
    result = actions.do_test_source(request.user, source)
    return _detail_page(request, result.source, test=result,
                        test_message=result.error.render() if result.error else "")


@exchange_view
@require_POST
def source_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Deactivate (``active=0``) or reactivate (``active=1``) a source."""
    source = _visible(request, pk)
    active = request.POST.get("active") == "1"
    actions.do_set_source_active(request.user, source, active)
    done = _("%(name)s is active again.") if active else _("%(name)s is deactivated: nothing is read from it.")
    return after(request, done % {"name": source.name}, "exchange:source_detail", source.pk)


# ------------------------------------------------------------------ table bindings (issue 10 item 2)

_binding_qs = schedule.bindings_shown


@exchange_view
@require_safe
def bindings_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_government(user)
    rows = list(restrict(_binding_qs(), user, VIEW).order_by("entry__code", "pk"))
    for row in rows:
        row.stale = schedule.is_stale(row)
    return render(request, "exchange/bindings.html", {
        "bindings": rows, "may_bind": has_capability(user, Capability.EDIT_CATALOG) and user.department_id,
    })


def _own_choices(user: Any) -> tuple[list[Any], list[DataSource]]:
    """The entries the user may bind (own, published, shared as a table) and the sources they may use."""
    entries = [e for e in restrict(CatalogEntry.objects.select_related("current_version"), user, Action.CHANGE)
               .filter(status=CatalogEntry.Status.PUBLISHED).order_by("code") if actions.bindable(e) is None]
    sources = list(restrict(DataSource.objects.select_related("department"), user, USE)
                   .filter(is_active=True).order_by("name"))
    return entries, sources


@exchange_view
@require_http_methods(["GET", "POST"])
def binding_new(request: HttpRequest) -> HttpResponse:
    """Step 1 (GET): the entry, the source, the table.  Step 2 (GET with all three): the proposed column of
    each item and the key, to correct.  POST: bind."""
    user: Any = request.user
    require_government(user)
    params = request.POST if request.method == "POST" else request.GET
    entries, sources = _own_choices(user)
    context: dict[str, Any] = {"entries": entries, "sources": sources, "chosen": params, "errors": {}}
    entry_id, source_id, table = digits(params.get("entry")), digits(params.get("source")), params.get("table", "")
    if not (entry_id and source_id and table):
        return render(request, "exchange/binding_new.html", context)
    schema, _dot, name = table.rpartition(".")
    entry = get_for(user, Action.VIEW, CatalogEntry.objects.select_related("current_version"), pk=entry_id)
    source = get_for(user, VIEW, DataSource, pk=source_id)
    status = 200
    if request.method == "POST":
        mapping = {key.removeprefix("item:"): str(request.POST.get(key, "")) for key in request.POST
                   if key.startswith("item:")}
        # the key is ticked per item (a checkbox beside every item, whatever column is chosen for it — before, one
        # appeared only beside a column already proposed: QA walk-through, 21st session) and taken as its column
        keys = list(dict.fromkeys([*request.POST.getlist("key"),
                                   *[mapping[item] for item in request.POST.getlist("key_item")
                                     if mapping.get(item)]]))
        try:
            binding = actions.do_bind_table(user, entry, source=source, schema=schema, table=name, mapping=mapping,
                                            key_columns=keys)
        except GovshareError as exc:
            if exc.status == 404:
                raise
            context["errors"] = _by_field(exc)
            context["posted"] = {"mapping": mapping, "keys": keys}
            status = exc.status
        else:
            return after(request, _("Table %(table)s is bound to %(entry)s.")
                         % {"table": binding.table_text(), "entry": entry.code}, "exchange:binding_detail",
                         binding.pk)
    try:
        proposal = propose_for(user, entry, source, schema, name)
    except GovshareError as exc:
        if exc.status == 404 and exc.code == "not_found":
            raise
        context["errors"] = {**context["errors"], "": [exc.render()]}
        return render(request, "exchange/binding_new.html", context, status=exc.status if status == 200 else status)
    posted = context.get("posted")
    chosen_map = posted["mapping"] if posted else {k: v or "" for k, v in proposal.mapping.items()}
    chosen_keys = posted["keys"] if posted else proposal.key_columns
    rows = []
    version = entry.current_version
    assert version is not None  # propose_for answered: the entry is published
    for item in bindings.items_of(version):
        rows.append({"item": item, "column": chosen_map.get(item.name, ""),
                     "errors": context["errors"].get(f"mapping.{item.name}", [])})
    context.update(entry=entry, source=source, table=table, proposal=proposal, rows=rows, keys=chosen_keys)
    return render(request, "exchange/binding_new.html", context, status=status)


def _by_field(exc: GovshareError) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in exc.problems if isinstance(exc, ManyProblems) else [exc]:
        found.setdefault(problem.field or "", []).append(problem.render())
    return found


@exchange_view
@require_safe
def binding_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The binding; ``?part=reconciliation``: only the last comparison's block (htmx, while it runs)."""
    binding = get_for(request.user, VIEW, _binding_qs(), pk=pk)
    if request.GET.get("part") == "reconciliation":
        may_change = restrict(TableBinding, request.user, CHANGE).filter(pk=binding.pk).exists()
        return render(request, "exchange/_reconciliation.html", {"binding": binding, "may_change": may_change,
                                                                 "report": binding.reconciliations.first()})
    return _binding_page(request, binding)


def _binding_page(request: HttpRequest, binding: TableBinding, *, status: int = 200, **extra: Any) -> HttpResponse:
    user: Any = request.user
    may_change = restrict(TableBinding, user, CHANGE).filter(pk=binding.pk).exists()
    runs = list(restrict(ExchangeRun.objects.select_related("job"), user, VIEW).filter(binding=binding)
                .order_by("-created_at", "-pk")[:20])
    mode_form = extra.pop("mode_form", None) or {
        "mode": binding.mode, "update_column": binding.update_column, "overlap_seconds": binding.overlap_seconds,
        "plugin": binding.plugin,
        "sweep_hours": binding.sweep_hours, "delete_guard_percent": binding.delete_guard_percent}
    held_run = next((r for r in runs if r.status == ExchangeRun.Status.HELD), None)
    version = binding.entry.current_version
    items = bindings.items_of(version) if version is not None else []
    return render(request, "exchange/binding_detail.html", {
        "binding": binding, "may_change": may_change, "runs": runs, "stale_copy": schedule.is_stale(binding),
        "mode_form": mode_form, "held_run": held_run, "items": items, "rule_kinds": RULE_KINDS,
        "report": binding.reconciliations.first(),
        "rules_shown": [rule_shown(row) for row in binding.rules if isinstance(row, dict)],
        "last_success": schedule.last_success(binding), "interval": schedule.interval_of(binding),
        "stale": binding.entry.current_version_id != binding.version_id,
        "shape_changed": bool(runs) and runs[0].error_code == "store_shape_changed", **extra}, status=status)


@exchange_view
@require_POST
def binding_check(request: HttpRequest, pk: int) -> HttpResponse:
    """Check the binding against the entry's current version and the table as it is now."""
    binding = get_for(request.user, CHANGE, _binding_qs(), pk=pk)
    judgement = bindings.verify(binding)
    return _binding_page(request, binding, judgement=judgement,
                         problems=[p.render() for p in judgement.problems],
                         warnings=[w.render() for w in judgement.warnings])


@exchange_view
@require_POST
def binding_active(request: HttpRequest, pk: int) -> HttpResponse:
    binding = get_for(request.user, VIEW, _binding_qs(), pk=pk)
    active = request.POST.get("active") == "1"
    actions.do_set_binding_active(request.user, binding, active)
    done = _("The binding runs again.") if active else _("The binding is paused: it is not run until resumed.")
    return after(request, done, "exchange:binding_detail", binding.pk)


# ------------------------------------------------------------------ runs (copies into the centre)

@exchange_view
@require_POST
def binding_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a full copy; the run's page follows it."""
    binding = get_for(request.user, VIEW, _binding_qs(), pk=pk)
    try:
        run = actions.do_start_run(request.user, binding, kind=request.POST.get("kind", ""))
    except GovshareError as exc:
        if exc.status == 404:
            raise
        return _binding_page(request, binding, start_errors=[p.render() for p in (
            exc.problems if isinstance(exc, ManyProblems) else [exc])], status=exc.status)
    return after(request, _("The copy is queued: a worker runs it now."), "exchange:run_detail", run.pk)


@exchange_view
@require_POST
def binding_rebuild(request: HttpRequest, pk: int) -> HttpResponse:
    """Make the centre's table again for the entry's current version; the full copy's page follows it."""
    binding = get_for(request.user, VIEW, _binding_qs(), pk=pk)
    try:
        run = actions.do_rebuild_centre_table(request.user, binding, confirm=request.POST.get("confirm") == "1")
    except GovshareError as exc:
        if exc.status == 404:
            raise
        return _binding_page(request, binding, rebuild_errors=[p.render() for p in (
            exc.problems if isinstance(exc, ManyProblems) else [exc])], status=exc.status)
    return after(request, _("The centre's table is made again when the full copy starts: a worker runs it now."),
                 "exchange:run_detail", run.pk)


@exchange_view
@require_safe
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A run: totals, progress (the page refreshes itself while it runs), receipts, quarantined values.
    ``?part=progress``: only the progress block (htmx)."""
    run = get_for(request.user, VIEW, ExchangeRun.objects.select_related(
        "binding__entry", "binding__version", "binding__source", "job"), pk=pk)
    data = run_out(run)
    if request.GET.get("part") == "progress":
        return render(request, "exchange/_run_progress.html", {"run": run, "data": data})
    receipts, quarantine = run_receipts(run)
    provider = restrict(TableBinding, request.user, CHANGE).filter(pk=run.binding_id).exists()
    may_stop = run.status in ExchangeRun.OPEN_STATUSES and provider
    may_decide = run.status == ExchangeRun.Status.HELD and provider
    if not provider:  # quarantined values are the provider's data as it came (ID numbers, names)
        quarantine = []
    pending_sample: list[str] = []
    if may_decide and run.kind in (ExchangeRun.Kind.FULL, ExchangeRun.Kind.INCREMENTAL) and run.pending_deletes:
        # what the person is asked to confirm: the first rows it would delete (the run's key list is still there)
        with contextlib.suppress(StoreError), open_store() as store:
            pending_sample = [", ".join(str(v) for v in key)
                              for key in store.unseen(run.target, run.run_id, GUARD_SAMPLE)]
    since_text = ""
    if isinstance(run.since, dict) and run.since.get("value"):
        with contextlib.suppress(Exception):
            since_text = str(decode_key(run.since["value"])[0])
    # the job's page only for whom may open it (the one who started it, the centre): an auditor got a 404 and an
    # audited denial for each click (QA walk-through, 21st session)
    job_visible = run.job is not None and can(request.user, Action.VIEW, run.job)
    return render(request, "exchange/run_detail.html", {"run": run, "data": data, "receipts": receipts,
                                                        "quarantine": quarantine, "may_stop": may_stop,
                                                        "may_decide": may_decide, "since_text": since_text,
                                                        "pending_sample": pending_sample, "job_visible": job_visible})


def _whole(value: str | None) -> int | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return -1  # out of every range: the action words it


@exchange_view
@require_POST
def binding_mode(request: HttpRequest, pk: int) -> HttpResponse:
    """How copies read the source (full, or by an update-time column) and the mass-delete guard."""
    binding = get_for(request.user, VIEW, _binding_qs(), pk=pk)
    post = request.POST
    try:
        actions.do_set_binding_mode(request.user, binding, mode=post.get("mode", ""),
                                    update_column=post.get("update_column", ""),
                                    overlap_seconds=_whole(post.get("overlap_seconds")),
                                    sweep_hours=_whole(post.get("sweep_hours")),
                                    delete_guard_percent=_whole(post.get("delete_guard_percent")),
                                    plugin=post.get("plugin", ""))
    except GovshareError as exc:
        if exc.status == 404:
            raise
        errors = _by_field(exc)
        known = {"mode", "update_column", "overlap_seconds", "sweep_hours", "delete_guard_percent", "plugin"}
        errors["other"] = [m for field, messages in errors.items() if field not in known for m in messages]
        form = {name: post.get(name, "") for name in known}
        return _binding_page(request, binding, mode_form=form, mode_errors=errors, status=exc.status)
    return after(request, _("The copy mode is saved."), "exchange:binding_detail", binding.pk)


RULE_KINDS = [("id_number", gettext_lazy("Citizen ID number (GB 11643)")), ("uscc", gettext_lazy("Unified social credit code (GB 32100)")),
              ("phone", gettext_lazy("Telephone number")), ("enum", gettext_lazy("One of these values")),
              ("range", gettext_lazy("Within a range")), ("regex", gettext_lazy("Matches a pattern"))]


def rule_shown(row: dict[str, Any]) -> dict[str, Any]:
    """A stored rule as the page lists it (a template must not look up ``values`` on a dict: that is its
    method)."""
    found = row.get("rule")
    rule: dict[str, Any] = found if isinstance(found, dict) else {}
    return {"item": row.get("item", ""), "kind": rule.get("kind", ""),
            "label": dict(RULE_KINDS).get(str(rule.get("kind")), rule.get("kind", "")),
            "allowed": ", ".join(map(str, rule.get("values") or [])), "min": rule.get("min"), "max": rule.get("max"),
            "pattern": rule.get("pattern", "")}


def rule_from(post: Any) -> dict[str, Any]:
    """A value rule as the page's form gives it (values one per line)."""
    kind = post.get("kind", "")
    rule: dict[str, Any] = {"kind": kind}
    if kind == "enum":
        rule["values"] = [line.strip() for line in post.get("values", "").splitlines() if line.strip()]
    elif kind == "range":
        for bound in ("min", "max"):
            if post.get(bound, "").strip():
                rule[bound] = post.get(bound).strip()
    elif kind == "regex":
        rule["pattern"] = post.get("pattern", "")
    return rule


@exchange_view
@require_POST
def binding_rules(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a value rule (``item``, ``kind`` and its fields), remove one (``remove``: its position), or set the
    quarantine limit (``reject_limit_percent``)."""
    binding = get_for(request.user, VIEW, _binding_qs(), pk=pk)
    post = request.POST
    rules = list(binding.rules)
    if post.get("remove", "").isdigit() and int(post["remove"]) < len(rules):
        del rules[int(post["remove"])]
    elif post.get("action") == "add":
        rules.append({"item": post.get("item", ""), "rule": rule_from(post)})
    try:
        actions.do_set_binding_rules(request.user, binding, rules=rules,
                                     reject_limit_percent=_whole(post.get("reject_limit_percent")))
    except GovshareError as exc:
        if exc.status == 404:
            raise
        return _binding_page(request, binding, rule_errors=[p.render() for p in (
            exc.problems if isinstance(exc, ManyProblems) else [exc])], rule_form=post, status=exc.status)
    return after(request, _("The value rules are saved."), "exchange:binding_detail", binding.pk)


@exchange_view
@require_POST
def run_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm the deletions the mass-delete guard held (the number the person saw)."""
    run = get_for(request.user, VIEW, ExchangeRun, pk=pk)
    seen = _whole(request.POST.get("pending"))
    actions.do_confirm_deletes(request.user, run, pending=seen)
    return after(request, _("Confirmed: the copy goes on and deletes those rows."), "exchange:run_detail", run.pk)


@exchange_view
@require_POST
def run_refuse(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_for(request.user, VIEW, ExchangeRun, pk=pk)
    actions.do_refuse_deletes(request.user, run)
    return after(request, _("Refused: nothing was deleted. The next copy waits a whole cycle."),
                 "exchange:run_detail", run.pk)


@exchange_view
@require_POST
def binding_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    binding = get_for(request.user, VIEW, _binding_qs(), pk=pk)
    try:
        actions.do_set_binding_schedule(request.user, binding, request.POST.get("schedule", ""))
    except GovshareError as exc:
        if exc.status == 404:
            raise
        return _binding_page(request, binding, start_errors=[exc.render()], status=exc.status)
    return after(request, _("The schedule is saved."), "exchange:binding_detail", binding.pk)


@exchange_view
@require_POST
def run_stop(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_for(request.user, VIEW, ExchangeRun, pk=pk)
    actions.do_stop_run(request.user, run)
    return after(request, _("The copy is stopping: what was committed stays."), "exchange:run_detail", run.pk)


@exchange_view
@require_POST
def binding_reconcile(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a comparison of the source table and the centre's copy; the binding's page follows it."""
    binding = get_for(request.user, VIEW, _binding_qs(), pk=pk)
    try:
        actions.do_reconcile(request.user, binding)
    except GovshareError as exc:
        if exc.status == 404:
            raise
        return _binding_page(request, binding, start_errors=[exc.render()], status=exc.status)
    return after(request, _("The comparison is queued: a worker reads both tables now."), "exchange:binding_detail",
                 binding.pk)
