"""ACL denial, restart on the same data dir, and the CLI in a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import consul
import pytest
import requests

from framework.local.consul import LocalConsul
from tests.local_consul.conftest import FAST, Clients
from tests.support import real_consul

TOKEN = "s3cret-master"


@pytest.fixture(params=["local", f"consul-{real_consul.VERSION}"])
def acl_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """ACLs on, default deny, one master token: the stand-in, then real Consul."""
    if request.param != "local":
        yield from real_consul.agent_for(request, acl_master_token=TOKEN)
        return
    local = LocalConsul(
        port=0, data_dir=tmp_path / "acl", acl_master_token=TOKEN, timing=FAST
    )
    local.start_in_thread()
    yield local
    local.stop_in_thread()


@pytest.fixture
def acl_clients(acl_server: Any) -> Iterator[Clients]:
    made = Clients(acl_server.port)
    yield made
    made.close()


def test_writes_without_or_with_a_wrong_token_are_denied_and_change_nothing(
    acl_clients: Clients,
) -> None:
    anonymous, wrong, master = (
        acl_clients.new(),
        acl_clients.new("wrong"),
        acl_clients.new(TOKEN),
    )

    for client in (anonymous, wrong):
        with pytest.raises(consul.ACLPermissionDenied):
            client.agent.service.register("web")
        with pytest.raises(consul.ACLPermissionDenied):
            client.kv.put("k", "v")

    assert master.agent.services() == {}
    assert master.kv.get("k")[1] is None
    assert master.agent.service.register("web") is True
    assert master.kv.put("k", "v") is True
    assert "web" in master.agent.services()


def test_anonymous_list_reads_are_filtered_and_key_reads_denied(
    acl_clients: Clients, acl_server: Any
) -> None:
    master, anonymous = acl_clients.new(TOKEN), acl_clients.new()
    master.agent.service.register("web")
    master.kv.put("k", "v")

    assert anonymous.health.service("web")[1] == []
    assert anonymous.agent.services() == {}
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.kv.get("k")
    response = requests.get(f"http://{acl_server.address}/v1/kv/k", timeout=10)
    assert (response.status_code, response.text) == (403, "Permission denied")


def test_status_needs_no_token_and_anonymous_members_and_self_are_hidden(
    acl_server: Any,
) -> None:
    base = f"http://{acl_server.address}"
    with requests.Session() as anonymous:
        assert anonymous.get(f"{base}/v1/status/leader", timeout=10).json()
        assert anonymous.get(f"{base}/v1/status/peers", timeout=10).json()
        assert anonymous.get(f"{base}/v1/agent/members", timeout=10).json() == []
        denied = anonymous.get(f"{base}/v1/agent/self", timeout=10)
        assert (denied.status_code, denied.text) == (403, "Permission denied")


def test_token_is_also_read_from_bearer_and_query(acl_server: Any) -> None:
    url = f"http://{acl_server.address}/v1/kv/t"
    with requests.Session() as session:
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert session.put(url, data="1", headers=bearer, timeout=10).json() is True
        assert session.put(url, data="2", params={"token": TOKEN}, timeout=10).ok


def test_restart_on_the_same_data_dir_keeps_state(tmp_path: Path) -> None:
    data_dir = tmp_path / "persist"
    first = LocalConsul(port=0, data_dir=data_dir, node_name="n1", timing=FAST)
    first.start_in_thread()
    clients = Clients(first.port)
    c = clients.new()
    c.agent.service.register(
        "web", service_id="w", tags=["t"], check=consul.Check.ttl("1h")
    )
    c.agent.check.ttl_pass("service:w")
    c.catalog.register("other", "10.0.0.2", service={"Service": "task", "ID": "t1"})
    c.kv.put("config", "kept")
    session = c.session.create(lock_delay=0)
    index_before, _ = c.health.service("web")
    clients.close()
    first.stop_in_thread()

    second = LocalConsul(port=0, data_dir=data_dir, node_name="n1", timing=FAST)
    second.start_in_thread()
    clients = Clients(second.port)
    try:
        c = clients.new()
        assert c.agent.services()["w"]["Tags"] == ["t"]
        assert c.agent.checks()["service:w"]["Status"] == "passing"
        assert c.catalog.service("task")[1][0]["Node"] == "other"
        assert c.kv.get("config")[1]["Value"] == b"kept"
        assert c.session.info(session)[1]["ID"] == session
        assert int(c.health.service("web")[0]) >= int(index_before)
    finally:
        clients.close()
        second.stop_in_thread()


def test_many_registrations_are_all_on_disk_after_a_clean_stop(tmp_path: Path) -> None:
    data_dir = tmp_path / "bulk"
    with LocalConsul(port=0, data_dir=data_dir, timing=FAST) as local:
        clients = Clients(local.port)
        c = clients.new()
        for number in range(50):
            c.agent.service.register("bulk", service_id=f"b{number}")
        clients.close()

    with LocalConsul(port=0, data_dir=data_dir, timing=FAST) as local:
        clients = Clients(local.port)
        assert len(clients.new().agent.services()) == 50
        clients.close()


def test_cli_serves_until_sigterm_and_saves_state(tmp_path: Path) -> None:
    env = {**os.environ, "MESOS_ADAPTER_CONSUL_ACL_MASTER_TOKEN": TOKEN}
    command = [
        sys.executable,
        "-c",
        "from framework.cli.dev_consul import consul; consul()",
    ]
    process = subprocess.Popen(
        [*command, "--port", "0", "--data-dir", str(tmp_path / "cli")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]
        export = next(line for line in lines if line.startswith("export"))
        address = export.strip().split("=", 1)[1]
        headers = {"X-Consul-Token": TOKEN}
        url = f"http://{address}/v1/kv/cli"
        assert requests.put(url, data="x", headers=headers, timeout=10).json() is True
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0
    assert TOKEN not in stderr
    assert (tmp_path / "cli" / "state.json").exists()
    assert "cli" in (tmp_path / "cli" / "state.json").read_text()
