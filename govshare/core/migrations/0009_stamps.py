# Issue 11 (the data API's speed): stamps (govshare.core.stamps) — and the access stamp's watch on departments
# (a deactivated department's systems receive nothing from the next request on).
from django.db import migrations, models

from govshare.core import stamps


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0008_backup_keys'),
    ]

    operations = [
        migrations.CreateModel(
            name='Stamp',
            fields=[
                ('name', models.CharField(max_length=40, primary_key=True, serialize=False)),
                ('value', models.BigIntegerField()),
            ],
        ),
        stamps.watch(stamps.ACCESS, {"core_department": ()}),
    ]
