"""Pure pieces of the stand-in: durations, filters, store indexes (no sockets)."""

from __future__ import annotations

import pytest

from framework.local.consul.filters import compile_filter
from framework.local.consul.model import Service
from framework.local.consul.store import Store
from framework.local.consul.wire import DecodeError, format_duration, go_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20ms", 0.02), ("10s", 10.0), ("5m", 300.0), ("1m30s", 90.0), ("1h", 3600.0)],
)
def test_go_durations_parse(text: str, seconds: float) -> None:
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "soon", "5 m", "1x"])
def test_malformed_durations_are_rejected(text: str) -> None:
    assert go_duration(text) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.25, "250ms"), (10, "10s"), (90, "1m30s"), (3600, "1h0m0s")],
)
def test_durations_format_like_go(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_filter_combines_operators() -> None:
    keep = compile_filter('(Service == "web" and "v2" in Tags) or Meta.env != "prod"')

    assert keep({"Service": "web", "Tags": ["v2"], "Meta": {"env": "prod"}})
    assert not keep({"Service": "web", "Tags": ["v1"], "Meta": {"env": "prod"}})
    assert keep({"Service": "db", "Tags": [], "Meta": {"env": "dev"}})


def test_filter_syntax_errors_are_decode_errors() -> None:
    with pytest.raises(DecodeError, match="boolean expression"):
        compile_filter("Service ==")


def test_prefix_index_counts_tombstones() -> None:
    store = Store()
    store.kv_set("a/1", b"x")
    store.kv_set("b/1", b"x")
    store.kv_delete("a/1")
    deleted_at = store.index

    store.kv_set("b/2", b"x")

    assert store.kv_prefix_index("a/") == deleted_at
    assert store.kv_prefix_index("b/") == store.index
    assert store.kv_prefix_index("zzz/") == store.table_index("kvs")


def test_identical_service_write_raises_only_the_raft_index() -> None:
    store = Store()
    with store.write() as change:
        store.ensure_service(change, Service(node="n", id="w", name="web"))
    services_index = store.table_index("services")

    with store.write() as change:
        store.ensure_service(change, Service(node="n", id="w", name="web"))

    assert store.table_index("services") == services_index
    assert store.index == services_index + 1
    assert store.service_index("web") == services_index
