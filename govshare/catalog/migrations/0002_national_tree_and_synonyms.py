"""Seed the national top of the classification tree and the default search synonyms
(see govshare/catalog/seed.py)."""

from django.db import migrations


def seed(apps, schema_editor):
    from govshare.catalog.seed import ensure_defaults

    ensure_defaults(apps.get_model("catalog", "Classification"), apps.get_model("catalog", "Synonym"))


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
