"""``mesos-adapter sync run`` as real processes: leadership survives a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import consul
import pytest

from framework.local.cluster import LocalCluster
from framework.local.consul import LocalConsul
from tests.consul_sync.conftest import FAST_CONSUL, Framework
from tests.consul_sync.test_sync_e2e import WEB, ours
from tests.support.waiting import wait_for

KEY = "mesos-adapter/cli/sync-leader"
FLAGS = ["--metrics-port", "0", "--lock-delay", "0"]


@pytest.fixture
def slow_session_consul(tmp_path: Path) -> Iterator[LocalConsul]:
    # Sessions lapse after 5 s (TTL 10 s x 0.5), so the CLI's default renewal
    # every 3.3 s keeps its lock; a killed leader's lock lapses within 5 s.
    timing = replace(FAST_CONSUL, session_ttl_multiplier=0.5)
    local = LocalConsul(
        port=0, data_dir=tmp_path / "consul-cli", node_name="n1", timing=timing
    )
    local.start_in_thread()
    yield local
    local.stop_in_thread()


def _start(cluster: LocalCluster, consul_addr: str, tmp_path: Path, n: int) -> Any:
    env = {
        **os.environ,
        "MESOS_MASTER": cluster.address,
        "CONSUL_HTTP_ADDR": consul_addr,
        "MESOS_ADAPTER_SYNC_CLUSTER_NAME": "cli",
        "MESOS_ADAPTER_SYNC_ANTI_ENTROPY_SECONDS": "1",
        "XDG_CONFIG_HOME": str(tmp_path / "no-config"),
    }
    script = Path(sys.executable).parent / "mesos-adapter"
    log = (tmp_path / f"sync-{n}.log").open("ab")
    try:
        return subprocess.Popen(
            [str(script), "sync", "run", "--no-marathon", *FLAGS],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    finally:
        log.close()


def _holder_pid(c: Any) -> int | None:
    _, entry = c.kv.get(KEY)
    if not entry or not entry.get("Session") or not entry.get("Value"):
        return None
    return int(entry["Value"].decode().rsplit(":", 1)[1])


def test_the_standby_process_takes_over_when_the_leader_is_killed(
    cluster: LocalCluster,
    slow_session_consul: LocalConsul,
    framework: Framework,
    tmp_path: Path,
) -> None:
    c = consul.Consul(host="127.0.0.1", port=slow_session_consul.port)
    procs = [_start(cluster, slow_session_consul.address, tmp_path, n) for n in (1, 2)]
    try:
        framework.launch("web.20", WEB)
        wait_for(lambda: "web.20:0" in ours(c))
        leader = wait_for(lambda: _holder_pid(c))
        assert leader in {p.pid for p in procs}

        os.kill(leader, signal.SIGKILL)
        survivor = next(p for p in procs if p.pid != leader)
        wait_for(lambda: _holder_pid(c) == survivor.pid)
        framework.kill("web.20")
        wait_for(lambda: not ours(c))

        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(20) == 0
        wait_for(lambda: _holder_pid(c) is None)  # released on a clean stop
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        c.http.session.close()
