"""Fixtures of the local-cluster tests: a real ZooKeeper and quick clusters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from framework.local.cluster import ClusterConfig, LocalCluster
from tests.support.zookeeper import ZooKeeperServer, zookeeper_skip_reason

# Short timers so that scenarios take a fraction of a second; the values only
# set how fast the cluster reacts, tests never assert durations.
FAST = {
    "port": 0,
    "allocation_interval": 0.05,
    "heartbeat_interval": 1.0,
    "update_backoff": 0.3,
    "tick_interval": 0.05,
}


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperServer]:
    reason = zookeeper_skip_reason()
    if reason:
        pytest.skip(reason)
    server = ZooKeeperServer(tmp_path_factory.mktemp("zookeeper"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., LocalCluster]]:
    """Start clusters in background threads; all are stopped after the test."""
    started: list[LocalCluster] = []

    def make(**overrides: Any) -> LocalCluster:
        options: dict[str, Any] = {**FAST, "work_dir": tmp_path / "work", **overrides}
        cluster = LocalCluster(ClusterConfig(**options))
        started.append(cluster)
        cluster.start_in_thread()
        return cluster

    yield make
    for cluster in reversed(started):
        cluster.stop()


@pytest.fixture
def cluster(make_cluster: Callable[..., LocalCluster]) -> LocalCluster:
    return make_cluster()
