"""Batch scenarios, identical against the local cluster and a real one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from framework.cli.jobs import resolve_spark_app
from tests.batch.conftest import InProcessScheduler, wait_final
from tests.cluster.conftest import Target

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.timeout(300)


def submit(url: str, path: Path) -> requests.Response:
    text = resolve_spark_app(path.read_text(), str(path))
    return requests.post(f"{url}/v1/jobs", data=text.encode(), timeout=30)


def test_example_batch_jobs_run_to_their_expected_end(target: Target) -> None:
    scheduler = InProcessScheduler(target.settings)
    try:
        assert submit(scheduler.url, EXAMPLES / "array-job.yaml").status_code == 201
        assert submit(scheduler.url, EXAMPLES / "flaky-job.yaml").status_code == 201
        array = wait_final(scheduler.url, "thumbnails", timeout=180)
        flaky = wait_final(scheduler.url, "flaky-etl", timeout=180)
    finally:
        scheduler.stop()
    assert array["state"] == "SUCCEEDED"
    assert flaky["state"] == "SUCCEEDED" and len(flaky["attempts"]) == 2


def test_spread_over_racks_with_a_constraint(target: Target) -> None:
    scheduler = InProcessScheduler(target.settings)
    spec = (
        "id: racked\nteam: t\ncommand: 'true'\ninstances: 2\n"
        "resources: {cpus: 0.1, mem: 16}\nconstraints: [[rack, UNIQUE]]\n"
    )
    try:
        requests.post(f"{scheduler.url}/v1/jobs", data=spec, timeout=30)
        job = wait_final(scheduler.url, "racked", timeout=180)
    finally:
        scheduler.stop()
    assert job["state"] == "SUCCEEDED"
    agents = {a["agent_id"] for a in job["attempts"]}
    assert len(agents) == 2


def test_scheduler_restart_keeps_and_finishes_its_jobs(target: Target) -> None:
    first = InProcessScheduler(target.settings)
    spec = (
        "id: enduring\nteam: t\ncommand: 'sleep 2'\nresources: {cpus: 0.1, mem: 16}\n"
    )
    try:
        requests.post(f"{first.url}/v1/jobs", data=spec, timeout=30)
    finally:
        first.stop()
    second = InProcessScheduler(target.settings)
    try:
        job = wait_final(second.url, "enduring", timeout=180)
    finally:
        second.stop()
    assert job["state"] == "SUCCEEDED"
    assert len({a["task_id"] for a in job["attempts"]}) == len(job["attempts"])


@pytest.mark.skipif(
    shutil.which("spark-submit") is None,
    reason="spark-submit not installed: pip install 'mesos-adapter[spark]'",
)
def test_spark_example_runs(target: Target) -> None:
    scheduler = InProcessScheduler(target.settings)
    try:
        assert submit(scheduler.url, EXAMPLES / "spark-pi.yaml").status_code == 201
        job = wait_final(scheduler.url, "spark-pi", timeout=280)
    finally:
        scheduler.stop()
    assert job["state"] == "SUCCEEDED"
