"""The Spark example job really runs with spark-submit --master local[N]."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from framework.cli.jobs import resolve_spark_app
from framework.clients import mesos_files
from framework.clients.mesos_operator import OperatorClient
from framework.local.cluster import LocalCluster
from tests.batch.conftest import InProcessScheduler, wait_final

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "spark-pi.yaml"

pytestmark = pytest.mark.skipif(
    shutil.which("spark-submit") is None,
    reason="spark-submit not installed: pip install 'mesos-adapter[spark]'",
)


@pytest.mark.timeout(300)
def test_spark_pi_example_succeeds_on_the_local_cluster(
    cluster: LocalCluster, scheduler: InProcessScheduler
) -> None:
    spec = resolve_spark_app(EXAMPLE.read_text(), str(EXAMPLE))
    response = requests.post(f"{scheduler.url}/v1/jobs", data=spec, timeout=10)
    assert response.status_code == 201, response.text
    job = wait_final(scheduler.url, "spark-pi", timeout=240)
    assert job["state"] == "SUCCEEDED", job

    master = OperatorClient(cluster.address)
    sandbox = mesos_files.find_sandbox(master, job["attempts"][-1]["task_id"])
    stdout = "".join(mesos_files.read(sandbox, "stdout"))
    master.close()
    assert "pi is roughly 3.1" in stdout
