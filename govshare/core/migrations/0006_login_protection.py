# Issue 9 slot: login protection (throttles per address and per user name + address; known addresses).
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "0005_job_title_meaning_audit_department_boundary")]

    operations: list = [
        migrations.CreateModel(
            name="LoginThrottle",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("scope", models.CharField(choices=[("address", "client address"),
                                                    ("account_address", "user name and client address")],
                                           max_length=20)),
                ("key", models.CharField(max_length=200)),
                ("failures", models.PositiveIntegerField(default=0)),
                ("last_failure_at", models.DateTimeField()),
                ("blocked_until", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "indexes": [models.Index(fields=["last_failure_at"], name="login_throttle_last_failure")],
                "constraints": [models.UniqueConstraint(fields=("scope", "key"), name="login_throttle_scope_key")],
            },
        ),
        migrations.CreateModel(
            name="LoginAddress",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("ip", models.CharField(max_length=45)),
                ("first_seen_at", models.DateTimeField()),
                ("last_seen_at", models.DateTimeField()),
                ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                           related_name="login_addresses", to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("user", "ip"), name="login_address_user_ip")],
            },
        ),
    ]
