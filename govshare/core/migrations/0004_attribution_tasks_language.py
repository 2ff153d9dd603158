"""Issue 8: audit attribution (SEC-4), notifications that store their meaning, task notices, and
the user's language.

* ``AuditEvent``: ``on_behalf_of_*`` (someone acted for another person) and ``object_department_*``
  (the object's department; ``department_*`` is always the actor's).  Old rows keep empty values,
  which the hash chain leaves out of the canonical row, so ``govshare audit verify`` still passes.
* ``Notification.message`` (msgid + params, rendered per reader).  Old rows keep their texts.
* ``Notification.task`` is added as NULL on existing rows ("not classified yet"); after
  ``migrate`` the post_migrate hook (``govshare.core.apps``) classifies them with the task rules the
  apps register and resolves those whose object waits for nothing any more.
"""

from django.conf import settings
from django.db import migrations, models


def _sqlite_trigger(apps, schema_editor):
    """Adding columns may rebuild the table on SQLite; the append-only trigger must stay."""
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            "CREATE TRIGGER IF NOT EXISTS core_auditevent_no_update BEFORE UPDATE ON core_auditevent "
            "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;"
        )


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0003_notification'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='on_behalf_of_id',
            field=models.BigIntegerField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='on_behalf_of_username',
            field=models.CharField(blank=True, default='', max_length=150),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='on_behalf_of_name',
            field=models.CharField(blank=True, default='', max_length=100),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='object_department_id',
            field=models.BigIntegerField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='object_department_name',
            field=models.CharField(blank=True, default='', max_length=200),
        ),
        migrations.RunPython(_sqlite_trigger, migrations.RunPython.noop),
        migrations.AddField(
            model_name='notification',
            name='message',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name='notification',
            name='resolved_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        # NULL on existing rows (not classified yet), False by default on new ones
        migrations.AddField(
            model_name='notification',
            name='task',
            field=models.BooleanField(null=True),
        ),
        migrations.AlterField(
            model_name='notification',
            name='task',
            field=models.BooleanField(default=False, null=True),
        ),
        migrations.AddField(
            model_name='notification',
            name='task_state',
            field=models.CharField(blank=True, default='', max_length=120),
        ),
        migrations.AddField(
            model_name='user',
            name='language',
            field=models.CharField(blank=True, choices=settings.LANGUAGES, default='', max_length=10,
                                   verbose_name='language'),
        ),
        migrations.AddIndex(
            model_name='notification',
            index=models.Index(fields=['object_type', 'object_id'], name='core_notif_object'),
        ),
        migrations.AddIndex(
            model_name='notification',
            index=models.Index(fields=['recipient', 'task', 'resolved_at'], name='core_notif_todo'),
        ),
    ]
