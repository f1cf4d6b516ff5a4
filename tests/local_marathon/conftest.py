"""Fixtures of the local Marathon tests: a real local Mesos, the stand-in, a client.

Timers are short (``FAST``) and ``time_scale`` shrinks the durations of app
definitions (health checks, backoff) tenfold, so apps keep valid integer
JSON; tests wait for states with ``wait_for`` and never assert a duration.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from framework.clients.marathon_compat import marathon
from framework.local.cluster import LocalCluster
from framework.local.marathon import LocalMarathon, MarathonTiming
from tests.support.cluster import fast_cluster

FAST = MarathonTiming(
    tick_interval=0.05, revive_interval=0.2, refuse_seconds=0.3, time_scale=0.1
)


def free_port_range(size: int = 100) -> str:
    """A range of ports nobody listens on now (other suites share this host)."""
    for _ in range(50):
        base = random.randrange(40000, 60000 - size)
        if all(_free(port) for port in range(base, base + size)):
            return f"{base}-{base + size - 1}"
    raise RuntimeError("no free port range found")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    yield from fast_cluster(
        tmp_path,
        allocation_interval=0.05,
        default_kill_grace=0.5,
        agent_ports=free_port_range(),
        agents=2,
        agent_cpus=4,
        agent_mem=4096,
    )


class Stand:
    """Starts local Marathons over one data dir; stops them all at the end."""

    def __init__(self, cluster: LocalCluster, data_dir: Path) -> None:
        self.cluster = cluster
        self.data_dir = data_dir
        self.running: LocalMarathon | None = None

    def start(self, port: int = 0) -> LocalMarathon:
        server = LocalMarathon(
            master=self.cluster.address, port=port, timing=FAST, data_dir=self.data_dir
        )
        server.start_in_thread()
        self.running = server
        return server

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop_in_thread()
            self.running = None


@pytest.fixture
def stand(cluster: LocalCluster, tmp_path: Path) -> Iterator[Stand]:
    holder = Stand(cluster, tmp_path / "marathon")
    yield holder
    holder.stop()


@pytest.fixture
def server(stand: Stand) -> LocalMarathon:
    return stand.start()


@pytest.fixture
def client(server: LocalMarathon) -> Iterator[Any]:
    api = marathon.MarathonClient(server.url, timeout=10)
    yield api
    api.session.close()
    api.sse_session.close()


def app_of(client: Any, app_id: str) -> Any:
    return client.get_app(app_id, embed_tasks=True, embed_counts=True)


def settled(client: Any, app_id: str, instances: int) -> bool:
    """The app runs ``instances`` tasks and no deployment holds it."""
    app = app_of(client, app_id)
    return app.tasks_running == instances and not app.deployments


def raw(
    server: LocalMarathon, method: str, path: str, **kwargs: Any
) -> requests.Response:
    return requests.request(method, server.url + path, timeout=10, **kwargs)
