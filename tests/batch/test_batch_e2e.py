"""The batch framework end to end: real pymesos, the local master, real processes."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import requests

from framework.cli.main import main
from framework.local.cluster import ClusterConfig, LocalCluster
from framework.settings import load_settings
from tests.batch.conftest import (
    InProcessScheduler,
    SubprocessScheduler,
    job_state,
    wait_final,
)
from tests.support.cluster import FAST_CLUSTER
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)


def submit(url: str, spec: str) -> requests.Response:
    return requests.post(f"{url}/v1/jobs", data=spec.encode(), timeout=10)


def spec(job_id: str, command: str, **extra: str) -> str:
    lines = [
        f"id: {job_id}",
        "team: data",
        f"command: {command!r}",
        "resources: {cpus: 0.5, mem: 64}",
    ]
    lines += [f"{key}: {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_array_job_runs_every_instance_to_success(
    scheduler: InProcessScheduler,
) -> None:
    response = submit(
        scheduler.url,
        spec("array", 'echo "i=$MESOS_ADAPTER_INSTANCE"', instances="5"),
    )
    assert response.status_code == 201, response.text
    job = wait_final(scheduler.url, "array")
    assert job["state"] == "SUCCEEDED"
    assert sorted(a["instance"] for a in job["attempts"]) == [0, 1, 2, 3, 4]
    assert {a["state"] for a in job["attempts"]} == {"TASK_FINISHED"}


def test_failing_attempt_is_retried_and_then_succeeds(
    scheduler: InProcessScheduler,
) -> None:
    command = '[ "$MESOS_ADAPTER_ATTEMPT" -ge 2 ] || exit 3'
    retries = "{max_attempts: 3, backoff_seconds: 0.2}"
    submit(scheduler.url, spec("flaky", command, retries=retries))
    job = wait_final(scheduler.url, "flaky")
    assert job["state"] == "SUCCEEDED"
    assert [a["state"] for a in job["attempts"]] == ["TASK_FAILED", "TASK_FINISHED"]
    assert job["attempts"][0]["message"] == "Command exited with status 3"


def test_job_gives_up_after_max_attempts(scheduler: InProcessScheduler) -> None:
    retries = "{max_attempts: 2, backoff_seconds: 0.1}"
    submit(scheduler.url, spec("doomed", "exit 1", retries=retries))
    job = wait_final(scheduler.url, "doomed")
    assert job["state"] == "FAILED"
    assert len(job["attempts"]) == 2
    assert "failed 2 times" in job["failure_reasons"][0]


def test_job_larger_than_every_agent_is_rejected_with_the_field(
    scheduler: InProcessScheduler,
) -> None:
    wait_for(lambda: scheduler.running.service.core.agent_totals, what="agents known")
    too_big = spec("huge", "true").replace("mem: 64", "mem: 999999")
    response = submit(scheduler.url, too_big)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["path"] == "resources.mem"
    assert "largest agent" in error["message"]
    assert requests.get(f"{scheduler.url}/v1/jobs/huge", timeout=5).status_code == 404


def test_invalid_spec_is_refused_naming_the_field(
    scheduler: InProcessScheduler,
) -> None:
    response = submit(scheduler.url, spec("bad", "true", colour="blue"))
    assert response.status_code == 400
    assert response.json()["error"]["path"] == "colour"
    assert requests.get(f"{scheduler.url}/v1/jobs", timeout=5).json()["jobs"] == []


def test_kill_stops_a_running_job(scheduler: InProcessScheduler) -> None:
    submit(scheduler.url, spec("sleeper", "sleep 60"))
    wait_for(
        lambda: (
            job_state(scheduler.url, "sleeper")["state"] == "RUNNING"
            and job_state(scheduler.url, "sleeper")["attempts"][0]["state"]
            == "TASK_RUNNING"
        ),
        what="sleeper running",
    )
    killed = requests.delete(f"{scheduler.url}/v1/jobs/sleeper", timeout=10)
    assert killed.status_code == 200
    job = wait_final(scheduler.url, "sleeper")
    assert job["state"] == "KILLED"
    assert [a["state"] for a in job["attempts"]] == ["TASK_KILLED"]


def test_max_runtime_kills_a_task_that_runs_too_long(
    scheduler: InProcessScheduler,
) -> None:
    retries = "{max_attempts: 1}"
    submit(
        scheduler.url,
        spec("slow", "sleep 60", max_runtime="1", retries=retries),
    )
    job = wait_final(scheduler.url, "slow")
    assert job["state"] == "FAILED"
    assert job["attempts"][0]["killed_by"] == "max_runtime"
    assert "max_runtime" in job["failure_reasons"][0]


def test_pending_job_explains_why(scheduler: InProcessScheduler) -> None:
    wait_for(lambda: scheduler.running.service.core.agent_totals, what="agents known")
    constrained = spec("picky", "true", constraints='[["rack", "IS", "r9"]]')
    assert submit(scheduler.url, constrained).status_code == 201

    def reasons() -> list[str]:
        body = requests.get(f"{scheduler.url}/v1/jobs/picky/why", timeout=5).json()
        return [r for r in body["reasons"] if "constraint" in r]

    assert wait_for(reasons, what="a constraint reason")
    missing = requests.get(f"{scheduler.url}/v1/jobs/nope/why", timeout=5)
    assert missing.status_code == 404 and "'nope'" in missing.json()["error"]["message"]


def test_agent_loss_is_retried_without_counting(
    cluster: LocalCluster, scheduler: InProcessScheduler
) -> None:
    retries = "{max_attempts: 1, backoff_seconds: 0.1}"
    submit(scheduler.url, spec("survivor", "sleep 2", retries=retries))
    first = wait_for(
        lambda: [
            a
            for a in job_state(scheduler.url, "survivor")["attempts"]
            if a["state"] == "TASK_RUNNING"
        ],
        what="first attempt running",
    )[0]
    assert cluster.remove_agent(first["agent_id"])
    job = wait_final(scheduler.url, "survivor")
    assert job["state"] == "SUCCEEDED"
    assert job["attempts"][0]["reason"] == "REASON_AGENT_REMOVED"
    assert job["attempts"][-1]["state"] == "TASK_FINISHED"


def test_metrics_are_prometheus_text(scheduler: InProcessScheduler) -> None:
    submit(scheduler.url, spec("metered", "true"))
    wait_final(scheduler.url, "metered")
    text = requests.get(f"{scheduler.url}/metrics", timeout=5).text
    assert "mesos_adapter_batch_tasks_launched_total 1" in text
    assert 'mesos_adapter_batch_jobs{state="SUCCEEDED"} 1' in text
    assert "mesos_adapter_batch_placement_seconds_count" in text


def test_scheduler_crash_loses_nothing_and_launches_nothing_twice(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    state = tmp_path / "crash.sqlite"
    first = SubprocessScheduler(cluster, state, free_port())
    try:
        submit(first.url, spec("long", "sleep 4"))
        submit(first.url, spec("queued", "true", instances="3"))
        wait_for(
            lambda: (
                job_state(first.url, "long")["attempts"]
                and job_state(first.url, "long")["attempts"][0]["state"]
                == "TASK_RUNNING"
            ),
            what="long running",
        )
    finally:
        first.kill()

    second = SubprocessScheduler(cluster, state, free_port())
    try:
        long_job = wait_final(second.url, "long")
        queued = wait_final(second.url, "queued")
    finally:
        second.stop()
    assert long_job["state"] == "SUCCEEDED"
    assert [a["task_id"] for a in long_job["attempts"]] == ["long.0.1"]
    assert queued["state"] == "SUCCEEDED"
    launched = [a["task_id"] for a in queued["attempts"]]
    assert len(launched) == len(set(launched))
    assert all(a["state"] == "TASK_FINISHED" for a in queued["attempts"][-3:])


def test_jobs_logs_prints_the_task_stdout_from_its_sandbox(
    cluster: LocalCluster,
    scheduler: InProcessScheduler,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    submit(scheduler.url, spec("talker", 'echo "hello from $MESOS_TASK_ID"'))
    wait_final(scheduler.url, "talker")
    monkeypatch.setenv("MESOS_MASTER", cluster.address)
    monkeypatch.setenv("MESOS_ADAPTER_SCHEDULER_API_URL", scheduler.url)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent")

    assert main(["jobs", "logs", "talker"]) == 0
    assert capsys.readouterr().out == "hello from talker.0.1\n"


def test_jobs_commands_read_the_api_as_tables_and_json(
    scheduler: InProcessScheduler,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("MESOS_ADAPTER_SCHEDULER_API_URL", scheduler.url)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent")
    spec_file = tmp_path / "job.yaml"
    spec_file.write_text(spec("cli-job", "true"))

    assert main(["jobs", "submit", str(spec_file)]) == 0
    assert "job cli-job submitted" in capsys.readouterr().out
    wait_final(scheduler.url, "cli-job")
    assert main(["jobs", "list", "--output", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [job["id"] for job in listed] == ["cli-job"]
    assert main(["jobs", "status", "cli-job"]) == 0
    assert "cli-job.0.1" in capsys.readouterr().out
    assert main(["jobs", "why", "cli-job"]) == 0
    assert "job is SUCCEEDED" in capsys.readouterr().out

    assert main(["jobs", "status", "ghost"]) == 2
    assert "no job with id 'ghost'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec("bad", "true", instances="0"))
    assert main(["jobs", "submit", str(bad)]) == 2
    assert "instances" in capsys.readouterr().err


def test_master_state_counts_running_tasks_as_used_and_offers_apart(
    cluster: LocalCluster, scheduler: InProcessScheduler
) -> None:
    submit(scheduler.url, spec("holder", "sleep 30"))
    wait_for(
        lambda: (
            job_state(scheduler.url, "holder")["attempts"]
            and job_state(scheduler.url, "holder")["attempts"][0]["state"]
            == "TASK_RUNNING"
        ),
        what="holder running",
    )
    state = requests.get(f"http://{cluster.address}/master/state", timeout=5).json()
    used = sum(agent["used_resources"]["cpus"] for agent in state["slaves"])
    offered = sum(agent["offered_resources"]["cpus"] for agent in state["slaves"])
    total = sum(agent["resources"]["cpus"] for agent in state["slaves"])
    assert used == pytest.approx(0.5)
    assert 0 <= offered <= total - used
    requests.delete(f"{scheduler.url}/v1/jobs/holder", timeout=10)
    wait_final(scheduler.url, "holder")


def test_jobs_stay_queued_while_the_master_is_down_then_run(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "MESOS_MASTER": f"127.0.0.1:{port}",
        "MESOS_ADAPTER_SCHEDULER_STATE_PATH": str(tmp_path / "s.sqlite"),
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
    }
    running = InProcessScheduler(load_settings(env=env).settings)
    cluster = LocalCluster(ClusterConfig(**{**FAST_CLUSTER, "port": port}))
    try:
        assert submit(running.url, spec("patient", "true")).status_code == 201
        why = requests.get(f"{running.url}/v1/jobs/patient/why", timeout=5).json()
        assert why["state"] == "PENDING" and why["reasons"]

        cluster.start_in_thread()
        assert wait_final(running.url, "patient", timeout=90)["state"] == "SUCCEEDED"
    finally:
        running.stop()
        cluster.stop()
