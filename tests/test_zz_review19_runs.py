"""review19 probes (temporary)."""
from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from govshare.core.errors import GovshareError
from govshare.exchange import bindings
from govshare.exchange.actions import do_rebuild_centre_table, do_start_run
from govshare.exchange.models import ExchangeRun
from tests.test_exchange_runs import _retyped_version, bound, start  # noqa: F401

pytestmark = pytest.mark.django_db


def test_r19_verify_inside_the_rebuilds_transaction(bound: Any, monkeypatch: Any) -> None:
    depths: list[int] = []
    real = bindings.verify

    def spy(binding: Any, **kw: Any) -> Any:
        depths.append(len(connection.atomic_blocks))
        return real(binding, **kw)

    monkeypatch.setattr(bindings, "verify", spy)
    base = len(connection.atomic_blocks)
    do_start_run(bound.org.police_specialist, bound.binding)
    ExchangeRun.objects.update(status=ExchangeRun.Status.STOPPED)
    do_rebuild_centre_table(bound.org.police_specialist, bound.binding, confirm=True)
    print("test depth", base, "verify depth: start_run", depths[0], "rebuild", depths[1])


def test_r19_held_run_message(bound: Any, start: Any) -> None:
    run = start(bound.org.police_specialist, bound.binding)
    ExchangeRun.objects.filter(pk=run.pk).update(status=ExchangeRun.Status.HELD)
    for fn in (lambda: do_start_run(bound.org.police_specialist, bound.binding),
               lambda: do_rebuild_centre_table(bound.org.police_specialist, bound.binding, confirm=True)):
        try:
            fn()
        except GovshareError as exc:
            print(exc.code, "|", exc.render("en"))
