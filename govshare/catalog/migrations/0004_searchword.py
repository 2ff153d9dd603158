"""CAT-9 (issue 8): the centre's search word list (words segmentation keeps whole), with its
defaults, and the synonyms users expect (法人 → 市场主体 | 企业 | 单位 …) added to existing
databases (see govshare/catalog/seed.py)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def add_defaults(apps, schema_editor):
    from govshare.catalog.seed import add_more_synonyms, add_search_words

    add_more_synonyms(apps.get_model("catalog", "Synonym"))
    add_search_words(apps.get_model("catalog", "SearchWord"))


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0003_version_editors"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SearchWord",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("word", models.CharField(max_length=40, unique=True, verbose_name="word")),
                ("note", models.CharField(blank=True, max_length=200, verbose_name="note")),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT,
                                                 related_name="+", to=settings.AUTH_USER_MODEL)),
            ],
            options={"ordering": ["word"]},
        ),
        migrations.RunPython(add_defaults, migrations.RunPython.noop),
    ]
