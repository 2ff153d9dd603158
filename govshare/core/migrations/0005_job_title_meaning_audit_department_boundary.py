"""Issue 8: job titles that keep their meaning, and where the audit log's 部门 column changed meaning.

* ``Job.title_message``: the title's msgid + params (a :mod:`govshare.core.messages` node), shown in
  the reader's language.  Existing jobs keep their text (``title_message`` stays NULL).
* ``AuditAnchor.actor_department_from_id``: before issue 8 ``department_*`` of an audit row held the
  *object's* department; since then it is the *actor's* (the object's has ``object_department_*``).
  The hash chain forbids rewriting the old rows, so this migration notes the first row with the new
  meaning — the first row that has one of the new fields set, or else the row after the newest one —
  and the audit screens show a note on the rows before it.  On a database without audit rows
  nothing is noted: every row will have the new meaning.
"""

from django.db import migrations, models
from django.db.models import Max, Q


def note_boundary(apps, schema_editor):
    AuditEvent = apps.get_model("core", "AuditEvent")
    AuditAnchor = apps.get_model("core", "AuditAnchor")
    newest = AuditEvent.objects.aggregate(newest=Max("id"))["newest"]
    if newest is None:
        return
    first_new = (AuditEvent.objects.filter(Q(object_department_id__isnull=False) | Q(on_behalf_of_id__isnull=False))
                 .order_by("id").values_list("id", flat=True).first())
    anchor, _created = AuditAnchor.objects.get_or_create(pk=1)
    anchor.actor_department_from_id = first_new if first_new is not None else newest + 1
    anchor.save(update_fields=["actor_department_from_id"])


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0004_attribution_tasks_language'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditanchor',
            name='actor_department_from_id',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='job',
            name='title_message',
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.RunPython(note_boundary, migrations.RunPython.noop),
    ]
