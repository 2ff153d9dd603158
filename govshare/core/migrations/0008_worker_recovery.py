# Issue 9 slot: filled in by hand by the helper who owns it (operations stay empty if unused).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("core", "0007_access_log")]

    operations: list = []
