# Issue 9 (SEC-5): the fingerprint of the key the audit chain and the encrypted ID numbers are written
# with (govshare.core.keys).  Written here for existing databases, once the key is shown to fit them.
import django.utils.timezone
from django.db import migrations, models


def record_fingerprint(apps, schema_editor):  # type: ignore[no-untyped-def]
    from govshare.core import keys

    if schema_editor.connection.alias != "default":
        return
    reason = keys.check_against_data()
    if reason:
        raise keys._refusal(reason)
    KeyFingerprint = apps.get_model("core", "KeyFingerprint")
    KeyFingerprint.objects.get_or_create(pk=1, defaults={"fingerprint": keys.fingerprint()})


class Migration(migrations.Migration):
    dependencies = [("core", "0007_access_log")]

    operations: list = [
        migrations.CreateModel(
            name="KeyFingerprint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("fingerprint", models.CharField(max_length=64)),
                ("recorded_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.RunPython(record_fingerprint, migrations.RunPython.noop),
    ]
