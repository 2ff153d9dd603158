# Issue 9 (SEC-4, LN-§23): the access log — reads, queries, downloads, exports and access checks,
# hash-chained like the audit log but in its own table, chain and anchor.  Rows can never be
# updated (a trigger on SQLite and PostgreSQL, as for the audit log in 0002).
from django.db import migrations, models


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute(
            "CREATE TRIGGER core_accessevent_no_update BEFORE UPDATE ON core_accessevent "
            "BEGIN SELECT RAISE(ABORT, 'access events are append-only'); END;"
        )
    elif vendor == "postgresql":
        schema_editor.execute(
            "CREATE OR REPLACE FUNCTION core_accessevent_no_update() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'access events are append-only'; END; $$ LANGUAGE plpgsql;"
        )
        schema_editor.execute(
            "CREATE TRIGGER core_accessevent_no_update BEFORE UPDATE ON core_accessevent "
            "FOR EACH ROW EXECUTE FUNCTION core_accessevent_no_update();"
        )


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    schema_editor.execute("DROP TRIGGER IF EXISTS core_accessevent_no_update" +
                          (" ON core_accessevent" if vendor == "postgresql" else ""))
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS core_accessevent_no_update()")


class Migration(migrations.Migration):
    dependencies = [("core", "0006_login_protection")]

    operations = [
        migrations.CreateModel(
            name="AccessAnchor",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("last_purged_id", models.BigIntegerField(default=0)),
                ("last_purged_hash", models.CharField(default="0" * 64, max_length=64)),
                ("purged_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name="AccessEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("occurred_at", models.DateTimeField(db_index=True)),
                ("code", models.PositiveIntegerField()),
                ("action", models.CharField(max_length=60)),
                ("outcome", models.CharField(choices=[("success", "Success"), ("denied", "Denied"),
                                                      ("failure", "Failure")], max_length=10)),
                ("actor_id", models.BigIntegerField(blank=True, db_index=True, null=True)),
                ("actor_username", models.CharField(blank=True, default="", max_length=150)),
                ("actor_name", models.CharField(blank=True, default="", max_length=100)),
                ("department_id", models.BigIntegerField(blank=True, null=True)),
                ("department_name", models.CharField(blank=True, default="", max_length=200)),
                ("token_id", models.BigIntegerField(blank=True, null=True)),
                ("object_department_id", models.BigIntegerField(blank=True, null=True)),
                ("object_department_name", models.CharField(blank=True, default="", max_length=200)),
                ("object_type", models.CharField(blank=True, default="", max_length=60)),
                ("object_id", models.CharField(blank=True, db_index=True, default="", max_length=64)),
                ("object_repr", models.CharField(blank=True, default="", max_length=200)),
                ("detail", models.JSONField(blank=True, default=dict)),
                ("results", models.IntegerField(blank=True, null=True)),
                ("ip", models.CharField(blank=True, default="", max_length=45)),
                ("request_id", models.CharField(blank=True, db_index=True, default="", max_length=36)),
                ("method", models.CharField(blank=True, default="", max_length=8)),
                ("path", models.CharField(blank=True, default="", max_length=300)),
                ("status", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("prev_hash", models.CharField(max_length=64, unique=True)),
                ("row_hash", models.CharField(max_length=64, unique=True)),
            ],
            options={"ordering": ["id"]},
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
