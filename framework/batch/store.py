"""Durable state of the batch framework: jobs, task attempts, the framework id.

SQLite in WAL mode at a configurable path. The scheduler writes here *before*
it acts on Mesos, so that a crash at any point can be recovered from:

* a job is stored before ``submit`` answers, so an acknowledged job is never
  lost;
* a task attempt is stored (state ``TASK_STAGING``) before the ACCEPT that
  launches it is sent, so after a restart every task Mesos may be running is
  known by id and is reconciled, never launched a second time under a new id;
* a status update is stored before ``statusUpdate`` returns, which is when
  pymesos acknowledges it; an update lost in a crash is therefore re-sent by
  Mesos, never dropped;
* the framework id is stored as soon as Mesos assigns it, so a restarted
  scheduler re-subscribes as the same framework and keeps its tasks.

The store is shared by the pymesos callback thread and the HTTP API thread:
one connection guarded by a lock, every write a single transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framework import taskstates
from framework.ids import AgentId, FrameworkId, JobId, TaskId, TeamName

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    team TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    finished_at REAL,
    kill_requested INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    instance INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    message TEXT,
    agent_id TEXT,
    hostname TEXT,
    resources TEXT NOT NULL,
    ports TEXT NOT NULL,
    launched_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    ended_at REAL,
    killed_by TEXT,
    UNIQUE (job_id, instance, attempt)
);
CREATE INDEX IF NOT EXISTS tasks_by_job ON tasks (job_id);
CREATE INDEX IF NOT EXISTS tasks_open ON tasks (ended_at) WHERE ended_at IS NULL;
"""

TERMINAL_STATES = taskstates.TERMINAL_STATES

#: Job states, in the order a job moves through them.
JOB_STATES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "KILLED")
FINAL_JOB_STATES = frozenset({"SUCCEEDED", "FAILED", "KILLED"})


class DuplicateJobError(Exception):
    """A job with this id is already stored."""


@dataclass(frozen=True)
class JobRecord:
    id: JobId
    team: TeamName
    spec: dict[str, Any]
    state: str
    submitted_at: float
    finished_at: float | None = None
    kill_requested: bool = False


@dataclass(frozen=True)
class TaskRecord:
    task_id: TaskId
    job_id: JobId
    instance: int
    attempt: int
    state: str
    resources: dict[str, float]
    launched_at: float
    updated_at: float
    agent_id: AgentId | None = None
    hostname: str | None = None
    ports: list[int] = field(default_factory=list)
    reason: str | None = None
    message: str | None = None
    ended_at: float | None = None
    killed_by: str | None = None  # "user" or "max_runtime" when we asked

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


class JobStore:
    """Jobs, attempts and the framework id in one SQLite file (WAL)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(path) if str(path) == ":memory:" else str(self.path),
            check_same_thread=False,
            isolation_level=None,
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- framework id ---------------------------------------------------------

    def framework_id(self) -> FrameworkId | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM meta WHERE key = 'framework_id'"
            ).fetchone()
        return FrameworkId(row["value"]) if row else None

    def set_framework_id(self, framework_id: FrameworkId) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('framework_id', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (framework_id,),
            )

    # -- jobs -----------------------------------------------------------------

    def add_job(self, job: JobRecord) -> None:
        """Store a new job; raises DuplicateJobError if the id is taken."""
        try:
            with self._tx() as db:
                seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs")
                db.execute(
                    "INSERT INTO jobs (id, team, spec, state, submitted_at, "
                    "finished_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        job.id,
                        job.team,
                        json.dumps(job.spec, sort_keys=True),
                        job.state,
                        job.submitted_at,
                        job.finished_at,
                        seq.fetchone()[0],
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise DuplicateJobError(job.id) from exc

    def set_job_state(
        self, job_id: JobId, state: str, *, finished_at: float | None = None
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state = ?, finished_at = ? WHERE id = ?",
                (state, finished_at, job_id),
            )

    def request_kill(self, job_id: JobId) -> None:
        """Remember that the user wants ``job_id`` gone, across restarts."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET kill_requested = 1 WHERE id = ?", (job_id,))

    def job(self, job_id: JobId) -> JobRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
            found = row.fetchone()
        return _job(found) if found else None

    def jobs(self, states: Sequence[str] | None = None) -> list[JobRecord]:
        """Jobs in submission order, optionally only those in ``states``."""
        query = "SELECT * FROM jobs"
        args: tuple[str, ...] = ()
        if states is not None:
            query += f" WHERE state IN ({','.join('?' * len(states))})"
            args = tuple(states)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY seq", args).fetchall()
        return [_job(row) for row in rows]

    # -- tasks ----------------------------------------------------------------

    def add_tasks(self, tasks: Sequence[TaskRecord]) -> None:
        """Store attempts about to be launched, all or none."""
        with self._tx() as db:
            db.executemany(
                "INSERT INTO tasks (task_id, job_id, instance, attempt, state, "
                "reason, message, agent_id, hostname, resources, ports, "
                "launched_at, updated_at, ended_at, killed_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_task_row(task) for task in tasks],
            )

    def update_task(
        self,
        task_id: TaskId,
        *,
        state: str,
        now: float,
        reason: str | None = None,
        message: str | None = None,
        agent_id: AgentId | None = None,
    ) -> TaskRecord | None:
        """Record a task's new state; returns the updated record, or None if unknown."""
        ended = now if state in TERMINAL_STATES else None
        with self._tx() as db:
            db.execute(
                "UPDATE tasks SET state = ?, reason = ?, message = ?, "
                "agent_id = COALESCE(?, agent_id), updated_at = ?, "
                "ended_at = COALESCE(ended_at, ?) WHERE task_id = ?",
                (state, reason, message, agent_id, now, ended, task_id),
            )
            row = db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,))
            found = row.fetchone()
        return _task(found) if found else None

    def mark_kill(self, task_id: TaskId, cause: str) -> None:
        """Remember why we asked Mesos to kill ``task_id`` (for retry decisions)."""
        with self._tx() as db:
            db.execute(
                "UPDATE tasks SET killed_by = COALESCE(killed_by, ?) WHERE task_id = ?",
                (cause, task_id),
            )

    def task(self, task_id: TaskId) -> TaskRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,))
            found = row.fetchone()
        return _task(found) if found else None

    def tasks_for(self, job_id: JobId) -> list[TaskRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM tasks WHERE job_id = ? ORDER BY instance, attempt",
                (job_id,),
            ).fetchall()
        return [_task(row) for row in rows]

    def open_tasks(self) -> list[TaskRecord]:
        """Every attempt not known to have ended: what a restart must reconcile."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM tasks WHERE ended_at IS NULL ORDER BY launched_at"
            ).fetchall()
        return [_task(row) for row in rows]


def _job(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=JobId(row["id"]),
        team=TeamName(row["team"]),
        spec=json.loads(row["spec"]),
        state=row["state"],
        submitted_at=row["submitted_at"],
        finished_at=row["finished_at"],
        kill_requested=bool(row["kill_requested"]),
    )


def _task(row: sqlite3.Row) -> TaskRecord:
    return TaskRecord(
        task_id=TaskId(row["task_id"]),
        job_id=JobId(row["job_id"]),
        instance=row["instance"],
        attempt=row["attempt"],
        state=row["state"],
        reason=row["reason"],
        message=row["message"],
        agent_id=AgentId(row["agent_id"]) if row["agent_id"] else None,
        hostname=row["hostname"],
        resources=json.loads(row["resources"]),
        ports=json.loads(row["ports"]),
        launched_at=row["launched_at"],
        updated_at=row["updated_at"],
        ended_at=row["ended_at"],
        killed_by=row["killed_by"],
    )


def _task_row(task: TaskRecord) -> tuple[Any, ...]:
    return (
        task.task_id,
        task.job_id,
        task.instance,
        task.attempt,
        task.state,
        task.reason,
        task.message,
        task.agent_id,
        task.hostname,
        json.dumps(task.resources, sort_keys=True),
        json.dumps(task.ports),
        task.launched_at,
        task.updated_at,
        task.ended_at,
        task.killed_by,
    )
