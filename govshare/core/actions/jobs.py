"""Actions on background jobs: cancelling one (issue 2 §8)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.core import audit, messages
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import Conflict, choice_label
from govshare.core.models import Job
from govshare.core.permissions import Action, require_object


@transaction.atomic
def do_cancel_job(actor: Any, job: Job) -> Job:
    """Cancel a queued or running job.  A conditional UPDATE, so a job that finished meanwhile is
    not touched; a running handler notices at its next progress report and stops."""
    require_object(actor, Action.CHANGE, job)
    message, node = messages.stored(messages.message(_("Cancelled by %(user)s."), user=str(actor)))
    moved = Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
        status=Job.Status.CANCELLED, finished_at=timezone.now(), message=message, message_node=node)
    if not moved:
        job.refresh_from_db()
        raise Conflict("job_finished", _("The job has already finished (%(status)s)."),
                       status=choice_label(job))
    job.refresh_from_db()
    audit.record(AuditCode.JOB_CANCELLED, actor=actor, obj=job, department=job.department,
                 changes={"status": ["running/queued", job.status]}, detail={"kind": job.kind})
    return job
