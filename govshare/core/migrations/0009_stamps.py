# Issue 11 (the data API's speed): stamps (govshare.core.stamps, docs/decisions/0006).  The triggers on the watched
# tables are made after every migrate (stamps.ensure_triggers, post_migrate), since they span apps; going back
# drops them before the table they write to.
from django.db import migrations, models


def drop_triggers(apps, schema_editor):  # type: ignore[no-untyped-def]
    from govshare.core import stamps

    stamps.drop_triggers(schema_editor.connection.alias)


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0008_backup_keys'),
    ]

    operations = [
        migrations.CreateModel(
            name='Stamp',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=40)),
                ('weight', models.BigIntegerField(default=1)),
            ],
            options={
                'indexes': [models.Index(fields=['name', 'id'], name='core_stamp_name_id')],
            },
        ),
        migrations.RunPython(migrations.RunPython.noop, drop_triggers, elidable=False),
    ]
