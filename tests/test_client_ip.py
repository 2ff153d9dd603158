"""The client's address behind a reverse proxy (issue 9, SEC-4): ``X-Forwarded-For`` is believed only
when the request comes from one of GOVSHARE_TRUSTED_PROXIES, read from the right, skipping trusted hops."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory

from govshare.core.audit_codes import AuditCode
from govshare.core.middleware import client_ip
from govshare.core.models import AuditEvent

PROXY = "10.0.0.5"


def _ip(remote: str, forwarded: str | None = None) -> str:
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **meta))


@pytest.fixture
def trusted(settings: Any) -> None:
    settings.GOVSHARE_TRUSTED_PROXIES = ["10.0.0.0/24", "192.168.9.9"]


def test_without_trusted_proxies_the_header_is_ignored(settings: Any) -> None:
    settings.GOVSHARE_TRUSTED_PROXIES = []
    assert _ip("203.0.113.7", "198.51.100.1") == "203.0.113.7"


def test_a_header_from_an_untrusted_peer_is_ignored(trusted: None) -> None:
    """A client talking to the server directly cannot choose the address its rows record."""
    assert _ip("203.0.113.7", "198.51.100.1") == "203.0.113.7"


def test_a_trusted_proxy_names_the_client(trusted: None) -> None:
    assert _ip(PROXY, "198.51.100.1") == "198.51.100.1"


def test_a_spoofed_left_part_of_the_header_is_not_believed(trusted: None) -> None:
    """The client sent "X-Forwarded-For: 1.1.1.1"; the proxy appended the address it saw."""
    assert _ip(PROXY, "1.1.1.1, 198.51.100.1") == "198.51.100.1"


def test_trusted_hops_are_skipped_from_the_right(trusted: None) -> None:
    assert _ip(PROXY, "1.1.1.1, 198.51.100.1, 192.168.9.9, 10.0.0.7") == "198.51.100.1"


def test_ports_and_ipv6_brackets_are_understood(trusted: None) -> None:
    assert _ip(PROXY, "[2001:db8::1]:443") == "2001:db8::1"
    assert _ip(PROXY, "198.51.100.1:5555") == "198.51.100.1"


def test_garbage_in_the_header_falls_back_to_the_last_trusted_hop(trusted: None) -> None:
    assert _ip(PROXY, "<script>") == PROXY
    assert _ip(PROXY, "") == PROXY
    assert _ip(PROXY, "198.51.100.1, not-an-ip, 10.0.0.7") == "10.0.0.7"


def test_audit_rows_record_the_client_behind_a_trusted_proxy(org: Any, trusted: None) -> None:
    Client(REMOTE_ADDR=PROXY).post("/login/", {"username": "nobody-a", "password": "x" * 12},
                                   HTTP_X_FORWARDED_FOR="1.1.1.1, 198.51.100.1")
    Client(REMOTE_ADDR="203.0.113.7").post("/login/", {"username": "nobody-b", "password": "x" * 12},
                                           HTTP_X_FORWARDED_FOR="198.51.100.1")
    rows = AuditEvent.objects.filter(code=int(AuditCode.LOGIN_FAILED))
    assert rows.get(detail__username="nobody-a").ip == "198.51.100.1"
    assert rows.get(detail__username="nobody-b").ip == "203.0.113.7"


def test_a_bad_trusted_proxy_setting_stops_the_start(monkeypatch: Any) -> None:
    from govshare.config import ConfigError, _networks

    monkeypatch.setenv("GOVSHARE_TRUSTED_PROXIES", "10.0.0.0/24, proxy.example")
    with pytest.raises(ConfigError, match="proxy.example"):
        _networks("GOVSHARE_TRUSTED_PROXIES")
