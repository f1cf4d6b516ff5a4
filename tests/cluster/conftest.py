"""Where the cluster scenarios run: the local cluster always, a real one when set.

Every scenario in tests/cluster takes the ``target`` fixture, which has these
params:

* ``local``: a throwaway local cluster (Mesos stand-in, real processes) started
  by the fixture; runs in every test run, so the scenarios never rot;
* ``local-consul-1.8.7``: for scenarios marked ``discovery`` only, the same
  local Mesos and Marathon with a real Consul agent of the release vagrant/
  installs, ACLs on (default deny) and the token passed as
  ``CONSUL_HTTP_TOKEN``, as on the VMs; skipped when that Consul is not
  installed;
* ``remote``: whatever ``MESOS_ADAPTER_CLUSTER`` names, e.g. the vagrant/
  cluster after ``source vagrant/.cluster-env``; skipped with one line when it
  is not set.

A scenario sees only a ``Target``: addresses and settings, the same code path
for both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from framework.local.cluster import ClusterConfig, LocalCluster
from framework.local.consul import LocalConsul
from framework.settings import Settings, load_settings
from tests.support import real_consul

REMOTE_ENV = "MESOS_ADAPTER_CLUSTER"


@dataclass(frozen=True)
class Target:
    name: str
    settings: Settings
    local: LocalCluster | None = None
    consul: LocalConsul | None = None
    marathon: Any = None  # LocalMarathon, imported lazily (pymesos SIGINT)


REAL_CONSUL = f"local-consul-{real_consul.VERSION}"
# ACLs are on in every local target, as on the VMs: the scenarios then prove
# that every Consul call carries the token.
CONSUL_TOKEN = "cluster-test-management-token"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" not in metafunc.fixturenames:
        return
    params = ["local", "remote"]
    if metafunc.definition.get_closest_marker("discovery"):
        params.insert(1, REAL_CONSUL)
    metafunc.parametrize("target", params, indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture
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
    stop_consul, consul_env = _consul(request.param, tmp_path)
    cluster.start_in_thread()
    marathon = _local_marathon(cluster)
    env |= consul_env | {
        "MARATHON_URL": marathon.url,
        "MESOS_MASTER": cluster.address,
        "MESOS_ADAPTER_SYNC_CLUSTER_NAME": "local-test",
        "MESOS_ADAPTER_SYNC_ANTI_ENTROPY_SECONDS": "1",
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    try:
        settings = load_settings(env=env).settings
        yield Target(request.param, settings, cluster, marathon=marathon)
    finally:
        marathon.stop_in_thread()
        stop_consul()
        cluster.stop()


def _consul(param: str, tmp_path: Path) -> tuple[Callable[[], None], dict[str, str]]:
    """Start the Consul of a local target: how to stop it, and its environment."""
    if param == REAL_CONSUL:
        executable = real_consul.binary()
        if executable is None:
            pytest.skip(real_consul.SKIP_REASON)
        agent = real_consul.RealConsul.start(executable, acl_master_token=CONSUL_TOKEN)
        env = {"CONSUL_HTTP_ADDR": agent.address, "CONSUL_HTTP_TOKEN": CONSUL_TOKEN}
        return agent.stop, env
    local = LocalConsul(
        port=0, data_dir=tmp_path / "consul", acl_master_token=CONSUL_TOKEN
    )
    local.start_in_thread()
    env = {"CONSUL_HTTP_ADDR": local.address, "CONSUL_HTTP_TOKEN": CONSUL_TOKEN}
    return local.stop_in_thread, env


def _local_marathon(cluster: LocalCluster) -> Any:
    from framework.local.marathon import LocalMarathon, MarathonTiming

    timing = MarathonTiming(
        tick_interval=0.05, revive_interval=0.5, refuse_seconds=0.3, time_scale=0.1
    )
    marathon = LocalMarathon(master=cluster.address, port=0, timing=timing)
    marathon.start_in_thread()
    return marathon
