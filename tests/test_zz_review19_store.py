"""review19 probes (temporary)."""
from __future__ import annotations

from typing import Any

import pytest

from govshare.datastore.engine.store import Store, StoreColumn, StoreError
from tests.test_datastore_store import store, store_url  # noqa: F401


def test_r19_key_staging_after_rebuild(store: Store) -> None:
    store.ensure_table("e_1", [StoreColumn("编号", "C", 18), StoreColumn("金额", "N")], ["编号"])
    store.remember("e_1", [[f"k{i}"] for i in range(60)], run_id="r1", batch=1, position={}, rows_read=60)
    store.rebuild_table("e_1", [StoreColumn("编号", "I"), StoreColumn("金额", "N")], ["编号"])
    try:
        store.remember("e_1", [[i] for i in range(60)], run_id="r2", batch=1, position={}, rows_read=60)
        print(store.kind, "remember after rebuild: ok")
    except StoreError as exc:
        print(store.kind, "remember after rebuild:", exc.code, exc.detail[:200])


def test_r19_reader_after_rebuild_elsewhere(store: Store) -> None:
    import datetime as dt
    from govshare.datastore.engine import reader
    store.ensure_table("e_2", [StoreColumn("编号", "C", 18), StoreColumn("姓名", "C", 50), StoreColumn("出生日期", "D")], ["编号"])
    store.apply("e_2", [["1", "张三", dt.date(1990, 1, 1)]], run_id="r1", batch=1, position={}, rows_read=1, read_hash="")
    query = reader.RowQuery("e_2", ["编号", "出生日期"], [], limit=10)
    print("before:", reader.read_rows(store, query).rows if hasattr(reader.read_rows(store, query), "rows") else reader.read_rows(store, query))
    with Store.open(store.url) as other:
        other.rebuild_table("e_2", [StoreColumn("编号", "C", 18), StoreColumn("姓名", "C", 50),
                                    StoreColumn("服刑起始日期", "D"), StoreColumn("出生日期", "D")], ["编号"])
        other.apply("e_2", [["1", "张三", dt.date(2015, 3, 3), dt.date(1990, 1, 1)]], run_id="r2", batch=1,
                    position={}, rows_read=1, read_hash="")
    page = reader.read_rows(store, query)
    print(store.kind, "after rebuild elsewhere:", getattr(page, "rows", page))
