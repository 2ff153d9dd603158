"""The data API in the demo (issue 11 item 10; SHR-4 grants that deliver, SHR-9 联机查询): 公安局's 警务综合信息平台 gets a key for its grant on 市场主体登记信息
over the api, and ``govshare demo`` prints the call to try — with the key kept, readable by its owner only, for the
next start (a key's secret is otherwise shown once)."""

from __future__ import annotations

import re
import stat
from typing import Any

import pytest
from django.test import Client

from govshare.core.demo import DEMO_NOTES
from govshare.datastore import demo
from govshare.sharing.models import SystemKey

pytestmark = pytest.mark.django_db


def test_the_demo_system_gets_a_key_and_the_demo_prints_a_call_that_authenticates(demo_data: Any) -> None:
    assert SystemKey.objects.filter(system__code=demo.SYSTEM, name=demo.KEY_NAME, revoked_at__isnull=True).exists()
    SystemKey.objects.filter(system__code=demo.SYSTEM).delete()  # as on a fresh data dir
    DEMO_NOTES.clear()
    demo.load_data_api_demo()
    path = demo.key_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().strip()
    assert len(DEMO_NOTES) == 1 and secret in DEMO_NOTES[0]
    url = re.search(r'"(http://127\.0\.0\.1:8000(/api/v1/data/[^"]+))"', DEMO_NOTES[0])
    assert url is not None
    answer = Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get(url.group(2))
    # the key and the grant are accepted; this test's centre is empty (the demo site's holds the rows)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "no_data"
    DEMO_NOTES.clear()
    demo.load_data_api_demo()  # a second start: the same key, printed again
    assert secret in DEMO_NOTES[0] and SystemKey.objects.filter(system__code=demo.SYSTEM).count() == 1


def test_the_demo_has_a_file_grant_with_a_download_asked_for(demo_data: Any) -> None:
    """Every channel has data behind it in the demo: 交通运输局's file grant on the market register, and its data
    specialist's CSV download, which the worker builds when the demo starts."""
    from govshare.datastore.models import Download
    from govshare.sharing.models import Grant

    grant = Grant.objects.get(consumer__code="LNJT", channel="file", entry__current_version__name=demo.ENTRY)
    download = Download.objects.get(grant=grant)
    assert download.requested_by is not None and download.requested_by.username == "transport_specialist"
    assert download.format == "csv" and download.job is not None
