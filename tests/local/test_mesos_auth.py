"""Framework authentication on the local master (HTTP basic, like Mesos)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from framework.local.cluster import ClusterConfig, LocalCluster
from framework.settings import load_settings
from tests.batch.conftest import InProcessScheduler, wait_final
from tests.support.cluster import FAST_CLUSTER

SUBSCRIBE = {
    "type": "SUBSCRIBE",
    "subscribe": {"framework_info": {"user": "u", "name": "n", "principal": "ops"}},
}


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(
        ClusterConfig(
            **FAST_CLUSTER,
            work_dir=tmp_path / "work",
            credentials=(("batch", "s3cret"), ("ops", "0ps")),
        )
    )
    cluster.start_in_thread()
    yield cluster
    cluster.stop()


def post(cluster: LocalCluster, auth: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    return requests.post(
        f"http://{cluster.address}/api/v1/scheduler",
        data=json.dumps(SUBSCRIBE),
        headers=headers,
        timeout=10,
        stream=True,
    )


@pytest.mark.parametrize("auth", [None, "batch:wrong", "nobody:s3cret"])
def test_scheduler_calls_without_valid_credentials_get_401(
    guarded: LocalCluster, auth: str | None
) -> None:
    with post(guarded, auth) as response:
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Basic realm="mesos"'


def test_principal_must_match_the_framework_info(guarded: LocalCluster) -> None:
    with post(guarded, "batch:s3cret") as response:
        assert response.status_code == 400
        assert "does not match principal 'ops'" in response.text


def test_batch_framework_authenticates_with_principal_and_secret(
    guarded: LocalCluster, tmp_path: Path
) -> None:
    env = {
        "MESOS_MASTER": guarded.address,
        "MESOS_ADAPTER_MESOS_PRINCIPAL": "batch",
        "MESOS_ADAPTER_MESOS_SECRET": "s3cret",
        "MESOS_ADAPTER_SCHEDULER_STATE_PATH": str(tmp_path / "s.sqlite"),
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
    }
    scheduler = InProcessScheduler(load_settings(env=env).settings)
    try:
        spec = "id: authed\nteam: t\ncommand: 'true'\nresources: {cpus: 0.1, mem: 8}\n"
        requests.post(f"{scheduler.url}/v1/jobs", data=spec, timeout=10)
        assert wait_final(scheduler.url, "authed")["state"] == "SUCCEEDED"
    finally:
        scheduler.stop()
