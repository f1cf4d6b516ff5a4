"""The job store keeps jobs, attempts and the framework id across crashes."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from framework.batch.store import DuplicateJobError, JobRecord, JobStore, TaskRecord
from framework.ids import AgentId, FrameworkId, JobId, TaskId, TeamName


def job(job_id: str, *, state: str = "PENDING", at: float = 1.0) -> JobRecord:
    return JobRecord(
        id=JobId(job_id),
        team=TeamName("data"),
        spec={"id": job_id, "command": "true"},
        state=state,
        submitted_at=at,
    )


def attempt(job_id: str, instance: int, n: int) -> TaskRecord:
    return TaskRecord(
        task_id=TaskId(f"{job_id}.{instance}.{n}"),
        job_id=JobId(job_id),
        instance=instance,
        attempt=n,
        state="TASK_STAGING",
        resources={"cpus": 1.0, "mem": 64.0},
        launched_at=10.0,
        updated_at=10.0,
        agent_id=AgentId("agent-1"),
        ports=[31000],
    )


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "state.sqlite")


def test_jobs_come_back_in_submission_order_with_their_spec(store: JobStore) -> None:
    store.add_job(job("b", at=5.0))
    store.add_job(job("a", at=1.0))
    assert [j.id for j in store.jobs()] == ["b", "a"]
    found = store.job(JobId("a"))
    assert found is not None and found.spec == {"id": "a", "command": "true"}


def test_duplicate_job_id_is_refused_and_changes_nothing(store: JobStore) -> None:
    store.add_job(job("a"))
    with pytest.raises(DuplicateJobError):
        store.add_job(job("a", state="RUNNING"))
    assert [j.state for j in store.jobs()] == ["PENDING"]


def test_job_state_filter_and_finish_time(store: JobStore) -> None:
    store.add_job(job("a"))
    store.add_job(job("b"))
    store.set_job_state(JobId("a"), "SUCCEEDED", finished_at=9.0)
    assert [j.id for j in store.jobs(["PENDING"])] == ["b"]
    done = store.job(JobId("a"))
    assert done is not None and done.finished_at == 9.0


def test_open_tasks_are_those_without_a_terminal_update(store: JobStore) -> None:
    store.add_job(job("a"))
    store.add_tasks([attempt("a", 0, 1), attempt("a", 1, 1)])
    updated = store.update_task(
        TaskId("a.0.1"), state="TASK_FAILED", now=20.0, reason="REASON_X"
    )
    assert updated is not None and updated.terminal and updated.ended_at == 20.0
    assert [t.task_id for t in store.open_tasks()] == ["a.1.1"]
    assert store.update_task(TaskId("nope"), state="TASK_RUNNING", now=1.0) is None


def test_attempts_of_a_job_are_ordered_and_unique(store: JobStore) -> None:
    store.add_job(job("a"))
    store.add_tasks([attempt("a", 0, 2), attempt("a", 0, 1)])
    assert [t.attempt for t in store.tasks_for(JobId("a"))] == [1, 2]
    with pytest.raises(Exception, match="UNIQUE"):
        store.add_tasks([attempt("a", 0, 1)])


def test_framework_id_survives_reopening(tmp_path: Path) -> None:
    first = JobStore(tmp_path / "s.sqlite")
    assert first.framework_id() is None
    first.set_framework_id(FrameworkId("fw-1"))
    first.close()
    assert JobStore(tmp_path / "s.sqlite").framework_id() == "fw-1"


def test_a_killed_process_loses_nothing_it_stored(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from framework.batch.store import JobRecord, JobStore
        store = JobStore({str(path)!r})
        for i in range(50):
            store.add_job(JobRecord(id=f"j{{i}}", team="t", spec={{}},
                                    state="PENDING", submitted_at=float(i)))
        store.set_framework_id("fw-crash")
        sys.stdout.write("stored\\n"); sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == -signal.SIGKILL
    assert result.stdout == "stored\n"

    reopened = JobStore(path)
    assert len(reopened.jobs()) == 50
    assert reopened.framework_id() == "fw-crash"


def test_kill_intent_and_cause_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "k.sqlite"
    first = JobStore(path)
    first.add_job(job("a"))
    first.add_tasks([attempt("a", 0, 1)])
    first.request_kill(JobId("a"))
    first.mark_kill(TaskId("a.0.1"), "user")
    first.mark_kill(TaskId("a.0.1"), "max_runtime")  # the first cause sticks
    first.close()
    again = JobStore(path)
    found = again.job(JobId("a"))
    assert found is not None and found.kill_requested
    task = again.task(TaskId("a.0.1"))
    assert task is not None and task.killed_by == "user"
