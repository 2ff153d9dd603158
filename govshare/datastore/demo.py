"""Demo of delivery (issue 11).  The data API: 公安局's 警务综合信息平台 (GA-JWZH) holds a grant on
市场主体登记信息（营业执照） over the api (purpose 业务协同, the sharing demo) and gets a key; ``govshare demo`` prints the
call to try.  Batch download: 交通运输局 holds a grant on the same entry over the file channel, and its data
specialist (``transport_specialist``) has asked for it as CSV — the worker builds it when the demo starts, and the
page 批量下载 offers it.  The key is kept in the data dir (``GOVSHARE_DEMO_DIR``: ``system-key-GA-JWZH.txt``,
readable by its owner only) so that every later start prints it again (a key's secret is otherwise shown once)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, urlencode

from django.conf import settings

from govshare.core import context
from govshare.core.demo import DEMO_NOTES, DEMO_ORIGIN, register_loader

SYSTEM = "GA-JWZH"
KEY_NAME = "演示密钥"
ENTRY = "市场主体登记信息（营业执照）"


def key_file() -> Path:
    return Path(settings.GOVSHARE_DEMO_DIR) / f"system-key-{SYSTEM}.txt"


@register_loader
def load_data_api_demo() -> None:
    from govshare.catalog.models import CatalogEntry
    from govshare.core.models import User
    from govshare.sharing.actions import do_issue_system_key
    from govshare.sharing.models import ConsumingSystem, Grant

    system = ConsumingSystem.objects.filter(code=SYSTEM).first()
    entry = CatalogEntry.objects.filter(current_version__name=ENTRY).first()
    if system is None or entry is None:
        return
    grant = Grant.objects.usable().filter(entry=entry, system=system, channel="api").first()
    if grant is None:
        return
    path = key_file()
    if not system.keys.filter(name=KEY_NAME, revoked_at__isnull=True).exists():
        admin = User.objects.get(username="police_admin")
        with context.bind(ip="demo"):
            issued = do_issue_system_key(admin, system, name=KEY_NAME, days=365)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(issued.secret + "\n")
    if not path.exists():  # issued by an earlier load whose file is gone: its secret was shown once
        DEMO_NOTES.append(f"数据接口 / data API: {system.name} {SYSTEM} 的演示密钥已签发，但 {path} 不存在 — "
                          "请在“使用系统”页面签发新密钥 / issue a new key on the systems page")
        return
    secret = path.read_text(encoding="utf-8").strip()
    query = urlencode({"purpose": grant.purpose, "limit": 5}, quote_via=quote)
    DEMO_NOTES.append(f"数据接口 / data API ({system.name} {SYSTEM}, {grant.number}):\n"
                      f'  curl -H "Authorization: Bearer {secret}" '
                      f'"{DEMO_ORIGIN}/api/v1/data/{entry.code}/rows?{query}"')


@register_loader
def load_download_demo() -> None:
    """交通运输局's file grant on the market register, and its data specialist's CSV download (asked once)."""
    from govshare.catalog.models import CatalogEntry
    from govshare.core.models import User
    from govshare.datastore.actions import do_request_download
    from govshare.datastore.models import Download
    from govshare.sharing.models import Grant

    entry = CatalogEntry.objects.filter(current_version__name=ENTRY).first()
    user = User.objects.filter(username="transport_specialist").first()
    if entry is None or user is None:
        return
    grant = Grant.objects.usable().filter(entry=entry, consumer_id=user.department_id, channel="file").first()
    if grant is None or Download.objects.filter(grant=grant).exists():
        return
    with context.bind(user=user, ip="demo"):
        do_request_download(user=user, entry=entry, purpose=grant.purpose, items=None, filters=[], fmt="csv")


@register_loader
def load_query_index_demo() -> None:
    """市场监管局 indexes 登记状态 and 成立日期 of its market register — the items consumers filter and sort the register
    on; the worker builds them once the first copy has filled the centre."""
    from govshare.catalog.models import CatalogEntry
    from govshare.core.models import User
    from govshare.datastore.actions import do_set_query_indexes
    from govshare.datastore.models import QueryIndex

    entry = CatalogEntry.objects.filter(current_version__name=ENTRY).select_related("current_version").first()
    user = User.objects.filter(username="market_admin").first()
    if entry is None or user is None or entry.current_version is None or QueryIndex.objects.filter(
            entry=entry).exists():
        return
    names = set(entry.current_version.items.values_list("name", flat=True))
    wanted = [name for name in ("登记状态", "成立日期") if name in names]
    if wanted:
        with context.bind(user=user, ip="demo"):
            do_set_query_indexes(user, entry, wanted)
