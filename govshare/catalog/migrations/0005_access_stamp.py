# Issue 11 (the data API's speed): what a consuming system's access check reads of the catalog — the entry, its
# versions and their items — changes the access stamp (govshare.core.stamps) with every write.
from django.db import migrations

from govshare.core import stamps


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0004_searchword'),
        ('core', '0009_stamps'),
    ]

    operations = [
        stamps.watch(stamps.ACCESS, {"catalog_catalogentry": (), "catalog_entryversion": (),
                                     "catalog_informationitem": ()}),
    ]
