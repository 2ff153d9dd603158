"""review19 probes (temporary)."""
from __future__ import annotations

import sqlite3
import datetime as dt
from typing import Any

import pytest

from govshare.datastore.centre import open_store, table_for
from govshare.datastore.engine.store import StoreColumn
from govshare.exchange import deliveries
from govshare.exchange.models import DeliveryRun
from tests.test_data_api import data  # noqa: F401
from tests.test_exchange_deliveries import _bind, _rows, tabled  # noqa: F401

pytestmark = pytest.mark.django_db


def test_r19_delivery_racing_a_rebuild(tabled: Any, django_capture_on_commit_callbacks: Any,
                                       monkeypatch: Any) -> None:
    items = list(tabled.entry.current_version.items.order_by("position"))
    print("items:", [(i.name, i.data_type, i.length) for i in items])
    print("grant items:", tabled.grant.items)
    real = deliveries.prepare
    table = table_for(tabled.entry)

    def racing(binding: Any, store: Any) -> Any:
        prepared = real(binding, store)
        # a rebuild (another worker) lands now: the new version put 出生日期 (now text) before 姓名
        with open_store() as other:
            # the new version: an item 服刑起始日期 (not granted) inserted before 出生日期
            other.rebuild_table(table, [StoreColumn("公民身份号码", "C", 18), StoreColumn("姓名", "C", 50),
                                        StoreColumn("服刑起始日期", "D"), StoreColumn("出生日期", "D")],
                                ["公民身份号码"])
            other.apply(table, [["360783199001011234", "张三", dt.date(2015, 3, 3), dt.date(1990, 1, 1)]],
                        run_id="rebuilt", batch=1, position={}, rows_read=1, read_hash="")
        return prepared

    monkeypatch.setattr(deliveries, "prepare", racing)
    binding = _bind(tabled, django_capture_on_commit_callbacks)
    run = DeliveryRun.objects.get(binding=binding)
    print("run:", run.status, run.error_code, run.written)
    with sqlite3.connect(tabled.path) as db:
        print("delivered:", db.execute('SELECT * FROM "户籍人口"').fetchall())


def test_r19_delivery_racing_log(tabled: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    from govshare.core.models import Job
    real = deliveries.prepare
    table = table_for(tabled.entry)

    def racing(binding: Any, store: Any) -> Any:
        prepared = real(binding, store)
        with open_store() as other:
            # the new version: an item 服刑起始日期 (not granted) inserted before 出生日期
            other.rebuild_table(table, [StoreColumn("公民身份号码", "C", 18), StoreColumn("姓名", "C", 50),
                                        StoreColumn("服刑起始日期", "D"), StoreColumn("出生日期", "D")],
                                ["公民身份号码"])
            other.apply(table, [["360783199001011234", "张三", dt.date(2015, 3, 3), dt.date(1990, 1, 1)]],
                        run_id="rebuilt", batch=1, position={}, rows_read=1, read_hash="")
        return prepared

    monkeypatch.setattr(deliveries, "prepare", racing)
    binding = _bind(tabled, django_capture_on_commit_callbacks)
    for job in Job.objects.all():
        print(job.kind, job.status, job.log, job.error if hasattr(job, "error") else "")
    run = DeliveryRun.objects.get(binding=binding)
    print({k: v for k, v in run.__dict__.items() if not k.startswith("_")})


def test_r19_private_key_echoed_when_the_form_itself_is_invalid(tabled: Any) -> None:
    from django.test import Client
    from tests.conftest import login
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    client = login(Client(), tabled.org.police_admin)
    post = {"name": "x", "code": "R19", "kind": "postgresql", "host": "db.example.test", "database": "d",
            "username": "u", "tls": "verify-full", "tls_ca": key, "port": "123456789012"}
    page = client.post("/exchange/", post)
    print("form-invalid:", page.status_code, "PRIVATE KEY" in page.content.decode(),
          "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" in page.content.decode())
    post["port"] = "5432"
    page = client.post("/exchange/", post)
    print("action-invalid:", page.status_code, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" in page.content.decode())


def test_r19_certificate_messages(tabled: Any, source_ca: str) -> None:
    from govshare.core.errors import GovshareError
    from govshare.exchange.actions import do_register_source
    cases = {"not_certificate": source_ca + "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n",
             "private_key": "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
             "too_many": source_ca * 21, "unreadable": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}
    for name, pem in cases.items():
        try:
            do_register_source(tabled.org.police_admin, name="x", code="R19", kind="postgresql",
                               host="db.example.test", database="d", username="u", tls="verify-full", tls_ca=pem)
        except GovshareError as exc:
            problems = getattr(exc, "problems", [exc])
            for p in problems:
                if p.field == "tls_ca":
                    print(name, "|", p.render("zh-hans"), "|", p.render("en"))
