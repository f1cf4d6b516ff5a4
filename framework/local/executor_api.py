"""The contract between a local agent and the thing that runs its tasks.

The local master keeps the Mesos-visible state of every agent (resources,
tasks, status-update streams). What actually runs a task is an *executor
backend*: real subprocesses (`ProcessBackend`), simulated tasks that only wait
(`SimulatedBackend`), or `docker run` where an engine answers. This module is
the seam between the two halves, so either side can be tested alone.

Invariants a backend keeps:

* Every ``launch`` ends in exactly one terminal report (``TASK_FINISHED``,
  ``TASK_FAILED``, ``TASK_KILLED`` or ``TASK_ERROR``), after zero or more of
  ``TASK_STARTING`` and ``TASK_RUNNING``, in that order.
* Reports are delivered by calling ``report`` on the event loop's thread; the
  agent turns them into Mesos status updates (uuid, retries, acks).
* ``shutdown`` leaves no process behind: everything a backend started is gone
  when it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from framework.ids import AgentId, FrameworkId, TaskId


@dataclass(frozen=True)
class TaskReport:
    """One state change of a task, as the backend saw it."""

    state: str  # a Mesos TaskState name, e.g. "TASK_RUNNING"
    reason: str | None = None  # a Mesos TaskStatus.Reason name
    message: str | None = None


ReportSink = Callable[[TaskId, TaskReport], None]


@dataclass(frozen=True)
class LaunchSpec:
    """Everything a backend needs to start one task.

    ``task_info`` is the TaskInfo JSON exactly as the framework sent it (snake
    case, v1 API): ``command``, ``container``, ``labels``, ``kill_policy``,
    ``resources``. ``environment`` holds the variables the agent adds
    (``MESOS_TASK_ID``, ``MESOS_SANDBOX``, ``MESOS_AGENT_ENDPOINT``...); the
    task's own CommandInfo environment is applied on top by the backend.
    """

    task_id: TaskId
    framework_id: FrameworkId
    agent_id: AgentId
    task_info: Mapping[str, Any]
    sandbox: Path
    environment: Mapping[str, str] = field(default_factory=dict)


class ExecutorBackend(Protocol):
    """Runs the tasks of one agent. All methods run on the event loop."""

    async def launch(self, spec: LaunchSpec, report: ReportSink) -> None:
        """Start the task; return once it is started (or has failed to start)."""

    async def kill(self, task_id: TaskId, grace_period: float) -> None:
        """SIGTERM, then SIGKILL after ``grace_period`` seconds; reports KILLED."""

    async def shutdown(self) -> None:
        """Kill every task at once and wait until no process is left."""
