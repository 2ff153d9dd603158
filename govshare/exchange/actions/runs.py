"""Starting a copy of a bound table into the data resource centre (issue 10 items 4, 8; EXC-1).

``do_start_run`` checks the binding against the entry and the table first (outside the transaction: it
reads the source), then records the run and its job in one transaction; the worker runs it
(:mod:`govshare.exchange.runs`).  One open run per binding: a second start while one is queued or running is
refused (409), also when two requests arrive at once (a partial unique index decides)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from govshare.core import audit, jobs, messages
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, ManyProblems, ValidationFailed
from govshare.core.permissions import get_for, require
from govshare.core.roles import Capability
from govshare.datastore.centre import table_for
from govshare.exchange import bindings
from govshare.exchange.models import ExchangeRun, TableBinding
from govshare.exchange.permissions import CHANGE
from govshare.exchange.runs import RUN_JOB


def do_start_run(actor: Any, binding: TableBinding, *, operator: bool = False) -> ExchangeRun:
    """Queue a full copy of ``binding``'s table.  ``operator``: the machine operator at the console."""
    if operator:
        actor = None
        binding = TableBinding.objects.select_related("entry__provider", "entry__current_version",
                                                      "source").get(pk=binding.pk)
    else:
        require(actor, Capability.BIND_TABLES)
        binding = get_for(actor, CHANGE, TableBinding.objects.select_related(
            "entry__provider", "entry__current_version", "source"), pk=binding.pk)
    if not binding.is_active:
        raise ValidationFailed("binding_paused", _("The binding is paused: resume it first."), field="binding")
    if not binding.source.is_active:
        raise ValidationFailed("source_inactive", _("Front-end database %(name)s is deactivated."), field="binding",
                               name=binding.source.name)
    judgement = bindings.verify(binding)
    if not judgement.ok:
        raise judgement.problems[0] if len(judgement.problems) == 1 else ManyProblems(judgement.problems)
    entry = binding.entry
    try:
        with transaction.atomic():
            run = ExchangeRun.objects.create(binding=binding, kind=ExchangeRun.Kind.FULL, target=table_for(entry),
                                             started_by=actor)
            job = jobs.create_job(RUN_JOB, messages.message(_("Full copy of %(entry)s into the data resource "
                                                              "centre"), entry=entry.code),
                                  {"run": run.pk}, user=actor, department=entry.provider)
            ExchangeRun.objects.filter(pk=run.pk).update(job=job)
            run.job = job
            audit.record(AuditCode.RUN_STARTED, actor=actor, obj=run, object_department=entry.provider,
                         detail={"entry": entry.code, "run": run.run_id, "kind": run.kind,
                                 "source": binding.source.code, "table": binding.table_text()})
    except IntegrityError:
        raise Conflict("run_open", _("A copy of %(entry)s is already queued or running."), field="binding",
                       entry=entry.code) from None
    return run
