"""Cross-source checks (一数一源、多元校核; EXC-7, issue 10 item 9): the centre declares that two entries of
different providers hold the same datum for the same key, and compares them in the data resource centre.

``do_declare_cross_check`` checks the entries and items and records the check; ``run_cross_check`` compares the
two tables of the centre (one query each side: :func:`govshare.datastore.engine.profile.cross_compare`),
keeps the result on the check, audits it and — when values differ — tells both providers' data specialists and
administrators.  The worker runs every active check once a day (``exchange.cross_checks``)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.models import CatalogEntry
from govshare.core import audit, messages, periodic
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import GovshareError, ManyProblems, ValidationFailed
from govshare.core.notify import notify
from govshare.core.permissions import get_for, require
from govshare.core.roles import Capability
from govshare.datastore.centre import open_store, table_for
from govshare.datastore.engine.profile import cross_compare
from govshare.datastore.engine.store import StoreError
from govshare.exchange import bindings
from govshare.exchange.models import CrossCheck
from govshare.exchange.permissions import CHANGE
from govshare.exchange.runs import staff_of

log = logging.getLogger("govshare.exchange")


def _item_problems(entry: CatalogEntry, side: str, key: str, item: str) -> tuple[list[GovshareError], dict[str, Any]]:
    problems: list[GovshareError] = []
    version = entry.current_version
    if entry.status != CatalogEntry.Status.PUBLISHED or version is None:
        return [ValidationFailed("entry_not_published", _("Only a published entry can be checked."),
                                 field=f"{side}_entry")], {}
    items = {i.name: i for i in bindings.items_of(version)}
    for field, name in ((f"{side}_key", key), (f"{side}_item", item)):
        if name not in items:
            problems.append(ValidationFailed("no_such_item", _("Entry %(code)s has no item %(item)s."), field=field,
                                             code=entry.code, item=name))
    return problems, items


def do_declare_cross_check(actor: Any, *, name: str, left_entry: CatalogEntry, left_key: str, left_item: str,
                           right_entry: CatalogEntry, right_key: str, right_item: str) -> CrossCheck:
    """Declare a check (the centre: SUPERVISE_QUALITY).  The entries are published and of different providers;
    the key items have the same data type, and so have the compared items."""
    require(actor, Capability.SUPERVISE_QUALITY)
    name = (name or "").strip()
    problems: list[GovshareError] = []
    if not name:
        problems.append(ValidationFailed("required", _("Give the check a name."), field="name"))
    left_entry = CatalogEntry.objects.select_related("current_version", "provider").get(pk=left_entry.pk)
    right_entry = CatalogEntry.objects.select_related("current_version", "provider").get(pk=right_entry.pk)
    if left_entry.provider_id == right_entry.provider_id:
        problems.append(ValidationFailed("same_provider", _("Compare entries of two different providers: one datum, "
                                                           "one source."), field="right_entry"))
    left_problems, left_items = _item_problems(left_entry, "left", left_key, left_item)
    right_problems, right_items = _item_problems(right_entry, "right", right_key, right_item)
    problems += left_problems + right_problems
    for side, a, b in (("key", left_key, right_key), ("item", left_item, right_item)):
        if a in left_items and b in right_items and left_items[a].data_type != right_items[b].data_type:
            problems.append(ValidationFailed(
                "types_differ", _("%(left)s (%(lt)s) and %(right)s (%(rt)s) have different data types."),
                field=f"right_{side}", left=a, lt=left_items[a].data_type, right=b, rt=right_items[b].data_type))
    if problems:
        raise problems[0] if len(problems) == 1 else ManyProblems(problems)
    with transaction.atomic():
        check = CrossCheck.objects.create(name=name, left_entry=left_entry, left_key=left_key, left_item=left_item,
                                          right_entry=right_entry, right_key=right_key, right_item=right_item,
                                          created_by=actor)
        audit.record(AuditCode.CROSS_CHECK_DECLARED, actor=actor, obj=check,
                     detail={"left": f"{left_entry.code}:{left_key}→{left_item}",
                             "right": f"{right_entry.code}:{right_key}→{right_item}"})
    return check


@transaction.atomic
def do_set_cross_check_active(actor: Any, check: CrossCheck, active: bool) -> CrossCheck:
    require(actor, Capability.SUPERVISE_QUALITY)
    check = get_for(actor, CHANGE, CrossCheck.objects.select_for_update(), pk=check.pk)
    if check.is_active != active:
        audit.record(AuditCode.CROSS_CHECK_CHANGED, actor=actor, obj=check, changes={"is_active": [check.is_active, active]})
        check.is_active = active
        check.save(update_fields=["is_active"])
    return check


def do_run_cross_check(actor: Any, check: CrossCheck, *, operator: bool = False) -> CrossCheck:
    """Compare the two entries in the centre now (the centre, or the machine operator / the daily hook)."""
    if not operator:
        require(actor, Capability.SUPERVISE_QUALITY)
        check = get_for(actor, CHANGE, CrossCheck.objects.all(), pk=check.pk)
    else:
        actor = None
    check = CrossCheck.objects.select_related("left_entry__provider", "right_entry__provider").get(pk=check.pk)
    left, right = check.left_entry, check.right_entry
    error: GovshareError | None = None
    result = None
    try:
        with open_store() as store:
            error = _not_comparable(store, check)
            if error is None:
                result = cross_compare(store, table_for(left), check.left_key, check.left_item, table_for(right),
                                       check.right_key, check.right_item)
    except StoreError as exc:  # the store's own words are for the log, not for the reader (review of the 22nd session)
        log.warning("cross-source check %s: %s: %s", check.pk, exc.code, exc.detail)
        error = GovshareError(f"store_{exc.code}", _("The data resource centre could not compare the entries now "
                                                     "(%(code)s); the check runs again tomorrow."), code=exc.code)
    with transaction.atomic():
        before = CrossCheck.objects.select_for_update().get(pk=check.pk)
        values: dict[str, Any] = {"checked_at": timezone.now()}
        if result is not None:
            values.update(compared=result.compared, differing=result.differing, left_only=result.left_only,
                          right_only=result.right_only, sample=result.sample, error=None)
        else:
            assert error is not None
            # a check that cannot be made has no result: the last one described the tables as they were, and would
            # go on counting in the entries' scores (review of the 22nd session)
            values.update(compared=None, differing=None, left_only=None, right_only=None, sample=[],
                          error={"zh": error.render("zh-hans"), "en": error.render("en")})
        CrossCheck.objects.filter(pk=check.pk).update(**values)
        check.refresh_from_db()
        # the providers are told of a mismatch once, not every day it stays the same
        news = result is not None and bool(result.differing) and not (
            before.error is None and before.differing == result.differing and before.compared == result.compared
            and before.sample == result.sample)
        audit.record(AuditCode.CROSS_CHECKED, actor=actor, obj=check,
                     outcome="success" if result is not None and not result.differing else "failure",
                     detail={"compared": check.compared, "differing": check.differing, "left_only": check.left_only,
                             "right_only": check.right_only, **({"error": error.code} if error else {})})
        if result is not None and news:
            recipients = staff_of(left.provider_id, right.provider_id)
            subject = messages.message(_("Cross-source check %(name)s: %(n)s values differ"), name=check.name,
                                       n=result.differing)
            body = messages.message(_("%(left)s (%(left_item)s) and %(right)s (%(right_item)s) hold different "
                                      "values for %(n)s of the %(compared)s keys they share. One datum has one "
                                      "source: please check which is right and correct it at its source."),
                                    left=left.code, left_item=check.left_item, right=right.code,
                                    right_item=check.right_item, n=result.differing, compared=result.compared)
            transaction.on_commit(lambda: notify(recipients, "exchange.cross_check", subject, body,
                                                 url=f"/exchange/cross-checks/{check.pk}/", obj=check))
    return check


def _not_comparable(store: Any, check: CrossCheck) -> GovshareError | None:
    """Why the centre cannot compare the check's entries now (None: it can): an entry not copied into it yet, or an
    item no longer in its table (a new version of the entry dropped it) — in the reader's words."""
    for entry, items in ((check.left_entry, (check.left_key, check.left_item)),
                         (check.right_entry, (check.right_key, check.right_item))):
        try:
            columns, _key = store.describe(table_for(entry))
        except StoreError as exc:
            if "no store table" not in exc.detail:
                raise
            return GovshareError("not_copied", _("%(code)s has not been copied into the data resource centre yet: the "
                                                 "check can be made once both entries have been."), code=entry.code)
        names = {column.name for column in columns}
        for item in items:
            if item not in names:
                return GovshareError("item_gone", _("%(code)s has no item %(item)s in the data resource centre any "
                                                    "more (a new version of the entry?): change or end the check."),
                                     code=entry.code, item=item)
    return None


@periodic.register("exchange.cross_checks", every_seconds=24 * 3600)
def run_all() -> dict[str, int]:
    """Every active check, once a day (the worker)."""
    done = failed = 0
    for check in CrossCheck.objects.filter(is_active=True):
        try:
            result = do_run_cross_check(None, check, operator=True)
        except Exception:  # one check must not stop the others
            log.exception("cross-source check %s", check.pk)
            failed += 1
            continue
        done += 1 if result.error is None else 0
        failed += 1 if result.error is not None else 0
    return {"checked": done, "failed": failed}
