"""HTTP clients find the leading master through ZooKeeper, as pymesos does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from framework.clients.mesos_events import OperatorApi
from framework.clients.mesos_leader import leading_master
from framework.clients.mesos_operator import OperatorClient
from framework.errors import PermanentError, TemporaryError
from framework.local.cluster import LocalCluster


def test_plain_addresses_pass_through_with_the_default_port() -> None:
    assert leading_master("10.0.0.1:5050") == "10.0.0.1:5050"
    assert leading_master("mesos-a") == "mesos-a:5050"


def test_a_malformed_zk_url_is_permanent() -> None:
    with pytest.raises(PermanentError):
        leading_master("zk://")


@pytest.mark.zookeeper
def test_zk_master_url_resolves_to_the_registered_leader(
    make_cluster: Callable[..., LocalCluster], zookeeper: object
) -> None:
    hosts = zookeeper.hosts  # type: ignore[attr-defined]
    cluster = make_cluster(zk=f"zk://{hosts}/mesos-leader-test")
    url = f"zk://{hosts}/mesos-leader-test"
    assert leading_master(url) == cluster.address

    client = OperatorClient(url)
    try:
        assert len(client.agents()) == 2
    finally:
        client.close()

    async def state() -> dict[str, object]:
        api = OperatorApi(url)
        try:
            return await api.get_state()
        finally:
            await api.close()

    assert "get_agents" in asyncio.run(state())


@pytest.mark.zookeeper
def test_no_registered_master_is_a_temporary_error(zookeeper: object) -> None:
    hosts = zookeeper.hosts  # type: ignore[attr-defined]
    with pytest.raises(TemporaryError, match="no Mesos master registered"):
        leading_master(f"zk://{hosts}/nobody-here")
