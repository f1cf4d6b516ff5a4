"""KV semantics and blocking queries, with a writer in another thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from framework.local.consul import LocalConsul
from tests.local_consul.conftest import FAST, Clients
from tests.support.waiting import wait_for


def test_put_get_roundtrip_with_flags_and_indexes(c: Any) -> None:
    assert c.kv.put("app/config", "v1", flags=42) is True

    _, entry = c.kv.get("app/config")

    assert entry["Value"] == b"v1"
    assert entry["Flags"] == 42
    assert entry["CreateIndex"] == entry["ModifyIndex"] >= 1
    assert entry["LockIndex"] == 0


def test_empty_value_reads_back_as_none(c: Any) -> None:
    c.kv.put("empty", "")

    assert c.kv.get("empty")[1]["Value"] is None


def test_missing_key_is_404_with_an_index(
    c: Any, http: Callable[..., requests.Response]
) -> None:
    index, entry = c.kv.get("nope")

    assert entry is None
    assert int(index) >= 1
    response = http("GET", "/v1/kv/nope")
    assert response.status_code == 404
    assert response.text == ""
    assert int(response.headers["X-Consul-Index"]) >= 1


def test_cas_zero_creates_only_and_cas_mismatch_is_refused(c: Any) -> None:
    assert c.kv.put("k", "first", cas=0) is True
    assert c.kv.put("k", "second", cas=0) is False
    _, entry = c.kv.get("k")

    assert c.kv.put("k", "third", cas=entry["ModifyIndex"] + 100) is False
    assert c.kv.put("k", "third", cas=entry["ModifyIndex"]) is True
    assert c.kv.get("k")[1]["Value"] == b"third"


def test_delete_with_cas_and_recurse(c: Any) -> None:
    for key in ("a/1", "a/2", "b/1"):
        c.kv.put(key, "x")
    modify = c.kv.get("b/1")[1]["ModifyIndex"]

    assert c.kv.delete("b/1", cas=modify + 1) is False
    assert c.kv.delete("b/1", cas=modify) is True
    assert c.kv.delete("a", recurse=True) is True

    assert c.kv.get("", recurse=True)[1] is None


def test_recurse_keys_and_separator(c: Any) -> None:
    for key in ("base/base/x", "base/foo", "base/zed/y", "other"):
        c.kv.put(key, key)

    _, entries = c.kv.get("base/", recurse=True)
    _, keys = c.kv.get("base/", keys=True)
    _, shallow = c.kv.get("base/", keys=True, separator="/")

    assert [e["Key"] for e in entries] == ["base/base/x", "base/foo", "base/zed/y"]
    assert keys == ["base/base/x", "base/foo", "base/zed/y"]
    assert shallow == ["base/base/", "base/foo", "base/zed/"]


def test_recurse_index_is_the_highest_modify_index_under_the_prefix(c: Any) -> None:
    c.kv.put("p/a", "1")
    c.kv.put("q/a", "1")
    p_index = c.kv.get("p/a")[1]["ModifyIndex"]

    index, _ = c.kv.get("p/", recurse=True)

    assert int(index) == p_index


def test_unchanged_write_keeps_the_modify_index(c: Any) -> None:
    c.kv.put("same", "v")
    before = c.kv.get("same")[1]["ModifyIndex"]

    c.kv.put("same", "v")

    assert c.kv.get("same")[1]["ModifyIndex"] == before


def test_held_get_returns_when_another_thread_writes(clients: Clients) -> None:
    reader, writer = clients.new(), clients.new()
    reader.kv.put("watched", "old")
    index, _ = reader.kv.get("watched")
    result: dict[str, Any] = {}

    def watch() -> None:
        result["answer"] = reader.kv.get("watched", index=index, wait="30s")

    thread = threading.Thread(target=watch)
    thread.start()
    writer.kv.put("watched", "new")
    thread.join(timeout=20)

    new_index, entry = result["answer"]
    assert int(new_index) > int(index)
    assert entry["Value"] == b"new"


def test_wait_elapses_returning_the_same_index(c: Any) -> None:
    c.kv.put("quiet", "v")
    index, _ = c.kv.get("quiet")

    again, entry = c.kv.get("quiet", index=index, wait="50ms")

    assert again == index
    assert entry["Value"] == b"v"


def test_held_health_query_wakes_on_a_check_change(clients: Clients) -> None:
    reader, writer = clients.new(), clients.new()
    writer.agent.service.register("web", check={"CheckID": "t", "TTL": "1h"})
    index, _ = reader.health.service("web", passing=True)
    result: dict[str, Any] = {}

    def watch() -> None:
        result["answer"] = reader.health.service(
            "web", passing=True, index=index, wait="30s"
        )

    thread = threading.Thread(target=watch)
    thread.start()
    writer.agent.check.ttl_pass("t")
    thread.join(timeout=20)

    new_index, entries = result["answer"]
    assert int(new_index) > int(index)
    assert [e["Service"]["ID"] for e in entries] == ["web"]


def test_bad_wait_is_400(http: Callable[..., requests.Response]) -> None:
    response = http("GET", "/v1/kv/x?index=1&wait=soon")

    assert response.status_code == 400


def test_reads_carry_consul_headers(http: Callable[..., requests.Response]) -> None:
    response = http("GET", "/v1/catalog/services")

    assert response.headers["X-Consul-KnownLeader"] == "true"
    assert response.headers["X-Consul-LastContact"] == "0"
    assert response.headers["Content-Type"].startswith("application/json")


def test_stop_answers_a_held_query_with_the_current_index(tmp_path: Path) -> None:
    local = LocalConsul(port=0, data_dir=tmp_path / "stop", timing=FAST)
    local.start_in_thread()
    clients = Clients(local.port)
    reader = clients.new()
    reader.kv.put("k", "v")
    index, _ = reader.kv.get("k")
    result: dict[str, Any] = {}

    def watch() -> None:
        result["answer"] = reader.kv.get("k", index=index, wait="5m")

    thread = threading.Thread(target=watch)
    thread.start()
    wait_for(lambda: local.held_queries == 1)
    local.stop_in_thread()
    thread.join(timeout=20)
    clients.close()

    assert result["answer"][0] == index
