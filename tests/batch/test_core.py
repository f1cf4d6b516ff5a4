"""BatchCore turns offers and status updates into Mesos instructions (no sockets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework.batch import core, placement, taskinfo
from framework.batch.core import BatchCore, TeamPolicy
from framework.batch.resources import Resources
from framework.batch.spec import JobSpec, parse_job_spec
from framework.batch.store import DuplicateJobError, JobStore
from framework.errors import SpecError
from framework.ids import AgentId, JobId, TaskId, TeamName


def spec(**fields: Any) -> JobSpec:
    base: dict[str, Any] = {
        "id": "job",
        "team": "data",
        "command": "true",
        "resources": {"cpus": 1, "mem": 128},
    }
    base.update(fields)
    return parse_job_spec(json.dumps(base), source="test")


def offer(
    n: int, *, agent: str = "a1", cpus: float = 4, mem: float = 1024
) -> dict[str, Any]:
    return {
        "id": {"value": f"o{n}"},
        "framework_id": {"value": "fw"},
        "agent_id": {"value": agent},
        "hostname": f"host-{agent}",
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}, "role": "*"},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}, "role": "*"},
            {
                "name": "ports",
                "type": "RANGES",
                "ranges": {"range": [{"begin": 31000, "end": 31010}]},
                "role": "*",
            },
        ],
        "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": "r1"}}],
    }


def status(task_id: str, state: str, reason: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "task_id": {"value": task_id},
        "state": state,
        "agent_id": {"value": "a1"},
    }
    if reason:
        out["reason"] = reason
    return out


def launched(instructions: list[core.Instruction]) -> list[dict[str, Any]]:
    return [
        info
        for i in instructions
        if isinstance(i, core.LaunchTasks)
        for info in i.task_infos
    ]


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "s.sqlite")


@pytest.fixture
def batch(store: JobStore) -> BatchCore:
    return BatchCore(store)


def test_array_job_is_packed_onto_one_offer_with_env_and_ports(
    batch: BatchCore,
) -> None:
    batch.submit(spec(instances=3, resources={"cpus": 1, "mem": 100, "ports": 1}), 0)
    out = batch.on_offers([offer(1)], now=1)

    infos = launched(out)
    assert [i["task_id"]["value"] for i in infos] == ["job.0.1", "job.1.1", "job.2.1"]
    env = {
        v["name"]: v["value"] for v in infos[1]["command"]["environment"]["variables"]
    }
    assert env["MESOS_ADAPTER_INSTANCE"] == "1"
    assert env["MESOS_ADAPTER_ATTEMPT"] == "1"
    ports = [r for r in infos[0]["resources"] if r["name"] == "ports"]
    assert ports[0]["ranges"]["range"][0]["begin"] in range(31000, 31011)
    assert isinstance(out[-1], core.SuppressOffers)
    batch.check_invariants()


def test_tasks_are_stored_before_mesos_is_told(
    batch: BatchCore, store: JobStore
) -> None:
    batch.submit(spec(), 0)
    batch.on_offers([offer(1)], now=1)
    stored = store.tasks_for(JobId("job"))
    assert [(t.task_id, t.state) for t in stored] == [("job.0.1", "TASK_STAGING")]


def test_finished_task_makes_the_job_succeed(batch: BatchCore, store: JobStore) -> None:
    batch.submit(spec(), 0)
    batch.on_offers([offer(1)], now=1)
    batch.on_status(status("job.0.1", "TASK_RUNNING"), 2)
    assert batch.jobs[JobId("job")].state == "RUNNING"
    batch.on_status(status("job.0.1", "TASK_FINISHED"), 3)
    job = store.job(JobId("job"))
    assert job is not None and job.state == "SUCCEEDED" and job.finished_at == 3
    batch.check_invariants()


def test_failure_is_retried_after_backoff_with_a_new_attempt_id(
    batch: BatchCore,
) -> None:
    batch.submit(spec(retries={"max_attempts": 3, "backoff_seconds": 10}), 0)
    batch.on_offers([offer(1)], now=1)
    out = batch.on_status(status("job.0.1", "TASK_FAILED"), 5)
    assert isinstance(out[0], core.ReviveOffers)

    early = batch.on_offers([offer(2)], now=10)
    assert launched(early) == []
    assert "backing off" in (batch.jobs[JobId("job")].pending_reason or "")

    late = batch.on_offers([offer(3)], now=15)
    assert [i["task_id"]["value"] for i in launched(late)] == ["job.0.2"]
    batch.check_invariants()


def test_job_fails_after_max_attempts(batch: BatchCore) -> None:
    batch.submit(spec(retries={"max_attempts": 2, "backoff_seconds": 0}), 0)
    for attempt, now in ((1, 1), (2, 3)):
        batch.on_offers([offer(now)], now=now)
        batch.on_status(status(f"job.0.{attempt}", "TASK_FAILED"), now + 1)
    job = batch.jobs[JobId("job")]
    assert job.state == "FAILED"
    assert "failed 2 times" in (job.instances[0].final_reason or "")


def test_agent_loss_does_not_count_against_retries(batch: BatchCore) -> None:
    batch.submit(spec(retries={"max_attempts": 1, "backoff_seconds": 0}), 0)
    batch.on_offers([offer(1)], now=1)
    batch.on_status(status("job.0.1", "TASK_LOST", "REASON_AGENT_REMOVED"), 2)
    out = batch.on_offers([offer(2)], now=100)
    assert [i["task_id"]["value"] for i in launched(out)] == ["job.0.2"]
    batch.on_status(status("job.0.2", "TASK_FINISHED"), 101)
    assert batch.jobs[JobId("job")].state == "SUCCEEDED"


def test_max_runtime_kills_and_counts_as_a_failure(batch: BatchCore) -> None:
    batch.submit(spec(max_runtime=30, retries={"max_attempts": 1}), 0)
    batch.on_offers([offer(1)], now=1)
    batch.on_status(status("job.0.1", "TASK_RUNNING"), 2)
    assert batch.on_tick(20) == []
    kills = batch.on_tick(33)
    assert kills == [core.KillTask(TaskId("job.0.1"), AgentId("a1"))]
    batch.on_status(status("job.0.1", "TASK_KILLED"), 34)
    job = batch.jobs[JobId("job")]
    assert job.state == "FAILED"
    assert "max_runtime" in (job.instances[0].final_reason or "")


def test_user_kill_stops_live_tasks_and_drops_waiting_ones(batch: BatchCore) -> None:
    batch.submit(spec(instances=2, resources={"cpus": 3, "mem": 100}), 0)
    batch.on_offers([offer(1)], now=1)  # room for one instance only
    out = batch.kill(JobId("job"), 2)
    assert out == [core.KillTask(TaskId("job.0.1"), AgentId("a1"))]
    batch.on_status(status("job.0.1", "TASK_KILLED"), 3)
    job = batch.jobs[JobId("job")]
    assert job.state == "KILLED"
    assert [i.state for i in job.instances] == ["KILLED", "KILLED"]
    batch.check_invariants()


def test_unknown_running_task_is_killed(batch: BatchCore) -> None:
    out = batch.on_status(status("stray.0.1", "TASK_RUNNING"), 1)
    assert out == [core.KillTask(TaskId("stray.0.1"), AgentId("a1"))]


def test_job_larger_than_every_agent_is_rejected_at_submit(
    batch: BatchCore, store: JobStore
) -> None:
    batch.on_offers([offer(1, cpus=4, mem=1024)], now=0)
    with pytest.raises(SpecError) as err:
        batch.submit(spec(resources={"cpus": 1, "mem": 999999}), 1)
    assert err.value.path == "resources.mem"
    assert "largest agent" in err.value.message
    assert store.jobs() == []


def test_duplicate_job_id_is_refused(batch: BatchCore) -> None:
    batch.submit(spec(), 0)
    with pytest.raises(DuplicateJobError):
        batch.submit(spec(), 1)


def test_pending_job_says_which_resource_is_short(batch: BatchCore) -> None:
    batch.on_offers([offer(1, cpus=8, mem=4096)], now=0)
    batch.submit(spec(id="big", resources={"cpus": 6, "mem": 100}), 1)
    batch.on_offers([offer(2, cpus=2, mem=4096)], now=2)
    reason = batch.jobs[JobId("big")].pending_reason or ""
    assert "cpus" in reason and "best offer" in reason


def test_small_team_goes_before_a_team_that_already_holds_the_cluster(
    store: JobStore,
) -> None:
    batch = BatchCore(store)
    batch.submit(spec(id="hog", team="big", instances=3), 0)
    batch.on_offers([offer(1, cpus=3, mem=3000)], now=1)
    batch.submit(spec(id="hog2", team="big"), 2)
    batch.submit(spec(id="small", team="tiny"), 3)
    out = batch.on_offers([offer(2, agent="a2", cpus=1, mem=1000)], now=4)
    assert [i["task_id"]["value"] for i in launched(out)] == ["small.0.1"]


def test_team_running_task_quota_holds_tasks_back(store: JobStore) -> None:
    teams = {TeamName("data"): TeamPolicy(max_running_tasks=1)}
    batch = BatchCore(store, teams=teams)
    batch.submit(spec(instances=3), 0)
    out = batch.on_offers([offer(1)], now=1)
    assert len(launched(out)) == 1
    assert "quota reached" in (batch.jobs[JobId("job")].pending_reason or "")


def test_team_cpu_quota_is_honoured(store: JobStore) -> None:
    teams = {TeamName("data"): TeamPolicy(quota=placement.Quota(cpus=2))}
    batch = BatchCore(store, teams=teams)
    batch.submit(spec(instances=3), 0)
    assert len(launched(batch.on_offers([offer(1)], now=1))) == 2


def test_submit_revives_offers_after_suppression(batch: BatchCore) -> None:
    batch.on_offers([offer(1)], now=0)
    assert batch.suppressed
    out = batch.submit(spec(), 1)
    assert out == [core.ReviveOffers()]


def test_recovery_after_a_crash_mid_launch_reconciles_and_never_relaunches(
    tmp_path: Path,
) -> None:
    path = tmp_path / "crash.sqlite"
    first = BatchCore(JobStore(path))
    first.submit(spec(instances=2), 0)
    first.on_offers([offer(1)], now=1)  # stored, then "crashed" before ACCEPT
    first.on_status(status("job.1.1", "TASK_RUNNING"), 2)

    second = BatchCore(JobStore(path))
    second.recover(lambda data: JobSpec.model_validate(data))
    second.check_invariants()
    reconcile = second.reconcile()
    explicit = reconcile[0]
    assert isinstance(explicit, core.ReconcileTasks)
    assert sorted(t for t, _ in explicit.tasks) == ["job.0.1", "job.1.1"]
    assert reconcile[1] == core.ReconcileTasks(())

    # Offers before Mesos answers launch nothing: both tasks may be running.
    assert launched(second.on_offers([offer(2)], now=3)) == []

    # Mesos never heard of job.0.1: relaunched as attempt 2, not counted.
    lost = status("job.0.1", "TASK_LOST", "REASON_RECONCILIATION")
    second.on_status(lost, 4)
    second.on_status(status("job.1.1", "TASK_RUNNING"), 4)
    out = second.on_offers([offer(3)], now=100)
    assert [i["task_id"]["value"] for i in launched(out)] == ["job.0.2"]
    second.check_invariants()


def test_recovery_keeps_finished_jobs_final(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    first = BatchCore(JobStore(path))
    first.submit(spec(), 0)
    first.on_offers([offer(1)], now=1)
    first.on_status(status("job.0.1", "TASK_FINISHED"), 2)
    second = BatchCore(JobStore(path))
    second.recover(lambda data: JobSpec.model_validate(data))
    assert second.jobs[JobId("job")].state == "SUCCEEDED"
    assert second.reconcile() == [core.ReconcileTasks(())]
    second.check_invariants()


def test_to_offer_reads_scalars_ports_and_attributes() -> None:
    converted = taskinfo.to_offer(offer(7, cpus=2.5))
    assert converted.cpus == 2.5 and converted.port_ranges == ((31000, 31010),)
    assert converted.attributes == {"rack": "r1"}
    assert converted.free().ports == 11
    assert Resources(cpus=1).cpus == 1


def test_offers_come_back_when_a_backoff_ends(batch: BatchCore) -> None:
    batch.submit(spec(retries={"max_attempts": 3, "backoff_seconds": 10}), 0)
    batch.on_offers([offer(1)], now=1)
    batch.on_status(status("job.0.1", "TASK_FAILED"), 5)

    declined = batch.on_offers([offer(2)], now=6)
    decline = next(i for i in declined if isinstance(i, core.DeclineOffers))
    assert decline.refuse_seconds == pytest.approx(9)

    assert batch.on_tick(10) == []
    assert batch.on_tick(15) == [core.ReviveOffers()]
    assert batch.on_tick(16) == []
