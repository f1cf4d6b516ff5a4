"""The sync loop end to end: a real local Mesos, a real local Consul, py-consul."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from framework.cli.main import main
from framework.local.cluster import LocalCluster
from framework.local.consul import LocalConsul
from tests.consul_sync.conftest import (
    FAST_CONSUL,
    FAST_OPTIONS,
    WAIT,
    Framework,
    RunningSync,
)
from tests.support.real_consul import RealConsul
from tests.support.waiting import wait_for

WEB = {"consul.name": "web", "consul.tags": "http", "mesos-adapter/job": "job-web"}


def passing(c: Any, name: str) -> dict[str, Any]:
    """Passing instances of ``name``, by service id."""
    _, rows = c.health.service(name, passing=True)
    return {row["Service"]["ID"]: row["Service"] for row in rows}


def ours(c: Any) -> dict[str, Any]:
    return {
        sid: svc
        for sid, svc in c.agent.services().items()
        if svc["Meta"].get("managed-by") == "mesos-adapter"
    }


def test_a_running_task_appears_passing_and_disappears_when_killed(
    start_sync: Any, framework: Framework, c: Any
) -> None:
    start_sync()
    offer = framework.launch("web.1", WEB, ports=2)

    found = wait_for(lambda: len(passing(c, "web")) == 2 and passing(c, "web"))
    svc = found["web.1:0"]
    assert svc["Address"] == offer["hostname"]
    assert svc["Tags"] == ["http", "stable"]
    assert svc["Meta"]["cluster"] == "test"
    assert svc["Meta"]["task-id"] == "web.1"
    assert {s["Port"] for s in found.values()} == {31000, 31001}

    framework.kill("web.1")
    wait_for(lambda: not ours(c))


def test_a_task_without_a_name_label_or_ports_is_not_registered(
    start_sync: Any, framework: Framework, c: Any
) -> None:
    running = start_sync()
    framework.launch("nolabel.1", {"other": "x"})
    framework.launch("web.2", WEB)
    wait_for(lambda: "web.2:0" in ours(c))
    running.call(running.loop.full_pass())
    assert set(ours(c)) == {"web.2:0"}


def test_agent_loss_removes_the_entries_here_and_on_other_nodes(
    start_sync: Any, framework: Framework, cluster: LocalCluster, c: Any
) -> None:
    running = start_sync()
    offer = framework.launch("web.3", WEB)
    wait_for(lambda: "web.3:0" in ours(c))
    # The same instance as a per-host Consul agent would have registered it.
    meta = {**ours(c)["web.3:0"]["Meta"]}
    running.loop.consul.catalog_register(
        {
            "Node": "mesos-host-1",
            "Address": "127.0.0.2",
            "Service": {"ID": "web.3:0", "Service": "web", "Port": 31000, "Meta": meta},
        }
    )
    running.call(running.loop.full_pass())
    assert "mesos-host-1" in _nodes_of(c, "web")  # a live task's entry stays

    cluster.remove_agent(offer["agent_id"]["value"])
    wait_for(lambda: not ours(c))
    wait_for(lambda: "mesos-host-1" not in _nodes_of(c, "web"))


def _nodes_of(c: Any, name: str) -> set[str]:
    _, rows = c.catalog.service(name)
    return {row["Node"] for row in rows}


def test_foreign_entries_are_left_untouched(
    start_sync: Any, framework: Framework, c: Any
) -> None:
    c.agent.service.register("web", service_id="ghost.1:0", port=1, tags=["mine"])
    c.agent.service.register(
        "web",
        service_id="ghost.2:0",
        port=2,
        meta={"managed-by": "mesos-adapter", "cluster": "another"},
    )
    before = {k: v for k, v in c.agent.services().items() if k.startswith("ghost")}
    running = start_sync()
    framework.launch("web.4", WEB)
    wait_for(lambda: "web.4:0" in ours(c))
    running.call(running.loop.full_pass())
    after = {k: v for k, v in c.agent.services().items() if k.startswith("ghost")}
    assert after == before


def test_an_unchanged_cluster_makes_zero_writes_per_pass(
    start_sync: Any, framework: Framework, c: Any
) -> None:
    running = start_sync()
    framework.launch("web.5", WEB, ports=3)
    wait_for(lambda: len(ours(c)) == 3)
    running.call(running.loop.full_pass())
    writes = sum(running.loop.metrics.writes.values())
    plan = running.call(running.loop.full_pass())
    assert plan.instructions == ()
    assert sum(running.loop.metrics.writes.values()) == writes


def test_drift_is_repaired_by_the_anti_entropy_pass(
    start_sync: Any, framework: Framework, c: Any
) -> None:
    running = start_sync()
    framework.launch("web.6", WEB)
    wait_for(lambda: "web.6:0" in ours(c))
    c.agent.service.deregister("web.6:0")  # someone removed it behind our back
    wait_for(lambda: "web.6:0" in ours(c))
    assert running.loop.metrics.drift_repaired_total >= 1


def test_metrics_are_served_as_prometheus_text(
    start_sync: Any, framework: Framework, c: Any
) -> None:
    options = FAST_OPTIONS.__class__(**{**FAST_OPTIONS.__dict__, "metrics_port": 0})
    running = start_sync(options)
    framework.launch("web.7", WEB)
    wait_for(lambda: "web.7:0" in ours(c))
    port = wait_for(lambda: running.loop.metrics_port)
    with requests.Session() as http:
        text = http.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert "mesos_adapter_sync_register_lag_seconds_count 1" in text
    assert 'mesos_adapter_sync_writes_total{kind="register"} 1' in text


def test_consul_down_then_back_converges(
    start_sync: Any,
    framework: Framework,
    consul_server: Any,
    consul_dir: Path,
    c: Any,
) -> None:
    start_sync()
    framework.launch("web.8", WEB)
    wait_for(lambda: "web.8:0" in ours(c))

    if isinstance(consul_server, RealConsul):  # comes back empty (dev mode)
        consul_server.halt()
        framework.kill("web.8")
        framework.launch("web.9", WEB)
        consul_server.resume()
        wait_for(lambda: set(ours(c)) == {"web.9:0"})
        return
    consul_server.stop_in_thread()
    framework.kill("web.8")
    framework.launch("web.9", WEB)
    again = LocalConsul(
        port=consul_server.port, data_dir=consul_dir, node_name="n1", timing=FAST_CONSUL
    )
    again.start_in_thread()
    try:
        wait_for(lambda: set(ours(c)) == {"web.9:0"})
    finally:
        again.stop_in_thread()
        consul_server._loop = consul_server._thread = None


def test_a_second_loop_takes_over_when_the_leader_dies(
    start_sync: Any, framework: Framework, c: Any
) -> None:
    first: RunningSync = start_sync()
    wait_for(lambda: first.loop.metrics.leader)
    second: RunningSync = start_sync(leads=False)
    framework.launch("web.10", WEB)
    wait_for(lambda: "web.10:0" in ours(c))
    assert not second.loop.metrics.leader

    first.stop(release=False)  # a crash: the session lapses on its own
    # Consul lets a session live up to twice its TTL (10 s here) past its last
    # renewal; the guard leaves room for that on a real agent.
    wait_for(lambda: second.loop.metrics.leader, timeout=3 * 10 + WAIT)
    framework.kill("web.10")
    framework.launch("web.11", WEB)
    wait_for(lambda: set(ours(c)) == {"web.11:0"})


def test_sync_plan_prints_the_changes_and_makes_none(
    cluster: LocalCluster,
    consul_server: LocalConsul,
    framework: Framework,
    c: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    framework.launch("web.12", WEB)
    flags = ["--mesos-master", cluster.address, "--consul-addr", consul_server.address]
    command = [*flags, "--set", "sync.cluster_name=test", "sync", "plan"]
    assert main([*command, "--no-marathon"]) == 0
    assert "1 to add, 0 to update, 0 to remove" in capsys.readouterr().out
    assert main([*command, "--no-marathon", "--output", "json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert [row["service_id"] for row in body["add"]] == ["web.12:0"]
    assert body["remove"] == [] and body["update"] == []
    assert ours(c) == {}


def test_a_master_failover_is_followed_by_resubscribing(
    start_sync: Any, framework: Framework, cluster: LocalCluster, c: Any
) -> None:
    start_sync()
    framework.launch("web.13", WEB)
    wait_for(lambda: "web.13:0" in ours(c))
    cluster.restart_master()  # every stream closes; tasks survive
    framework.recorder.wait("reregistered")
    framework.launch("web.14", WEB)
    wait_for(lambda: set(ours(c)) == {"web.13:0", "web.14:0"})
