"""Where the cluster scenarios run: the local cluster always, a real one when set.

Every scenario in tests/cluster takes the ``target`` fixture, which has two
params:

* ``local``: a throwaway local cluster (Mesos stand-in, real processes) started
  by the fixture; runs in every test run, so the scenarios never rot;
* ``remote``: whatever ``MESOS_ADAPTER_CLUSTER`` names, e.g. the vagrant/
  cluster after ``source vagrant/.cluster-env``; skipped with one line when it
  is not set.

A scenario sees only a ``Target``: addresses and settings, the same code path
for both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from framework.local.cluster import ClusterConfig, LocalCluster
from framework.local.consul import LocalConsul
from framework.settings import Settings, load_settings

REMOTE_ENV = "MESOS_ADAPTER_CLUSTER"


@dataclass(frozen=True)
class Target:
    name: str
    settings: Settings
    local: LocalCluster | None = None
    consul: LocalConsul | None = None
    marathon: Any = None  # LocalMarathon, imported lazily (pymesos SIGINT)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(params=["local", "remote"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    env = {"MESOS_ADAPTER_SCHEDULER_STATE_PATH": str(tmp_path / "state.sqlite")}
    if request.param == "remote":
        if not os.environ.get(REMOTE_ENV):
            pytest.skip(
                f"no real cluster configured: set {REMOTE_ENV}=1 after "
                "'source vagrant/.cluster-env'"
            )
        yield Target("remote", load_settings(env={**os.environ, **env}).settings)
        return
    cluster = LocalCluster(
        ClusterConfig(
            port=0,
            agents=2,
            agent_cpus=2,
            agent_mem=2048,
            allocation_interval=0.1,
            update_backoff=0.3,
            work_dir=tmp_path / "work",
            attributes=(("rack", "r1,r2"), ("zone", "z1,z2")),
        )
    )
    cluster.start_in_thread()
    consul = LocalConsul(port=0, data_dir=tmp_path / "consul")
    consul.start_in_thread()
    marathon = _local_marathon(cluster)
    env |= {
        "MARATHON_URL": marathon.url,
        "MESOS_MASTER": cluster.address,
        "CONSUL_HTTP_ADDR": consul.address,
        "MESOS_ADAPTER_SYNC_CLUSTER_NAME": "local-test",
        "MESOS_ADAPTER_SYNC_ANTI_ENTROPY_SECONDS": "1",
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    try:
        settings = load_settings(env=env).settings
        yield Target("local", settings, cluster, consul, marathon)
    finally:
        marathon.stop_in_thread()
        consul.stop_in_thread()
        cluster.stop()


def _local_marathon(cluster: LocalCluster) -> Any:
    from framework.local.marathon import LocalMarathon, MarathonTiming

    timing = MarathonTiming(
        tick_interval=0.05, revive_interval=0.5, refuse_seconds=0.3, time_scale=0.1
    )
    marathon = LocalMarathon(master=cluster.address, port=0, timing=timing)
    marathon.start_in_thread()
    return marathon
