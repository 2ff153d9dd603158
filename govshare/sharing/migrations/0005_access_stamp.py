# Issue 11 (the data API's speed): grants, consuming systems and their keys change the access stamp
# (govshare.core.stamps) with every write — a key's "last used" (written once a minute) excepted.
from django.db import migrations

from govshare.core import stamps


class Migration(migrations.Migration):

    dependencies = [
        ('sharing', '0004_system_keys'),
        ('core', '0009_stamps'),
    ]

    operations = [
        stamps.watch(stamps.ACCESS, {
            "sharing_grant": (),
            "sharing_consumingsystem": (),
            "sharing_systemkey": ("id", "system_id", "name", "prefix", "secret_hash", "created_by_id", "created_at",
                                  "expires_at", "revoked_at", "revoked_by_id"),
        }),
    ]
