"""A local Mesos agent: its identity, resources, sandboxes and backend.

The master's state machine owns what Mesos shows of an agent (free
resources, tasks, update streams); this object owns what runs: it lays out the
sandbox like a real agent, adds the ``MESOS_*`` environment, and hands the task
to its `ExecutorBackend`. Backend reports go to ``on_report`` untouched; the
master turns them into status updates.

Invariants:

* One backend per agent; ``launch`` never raises: a backend that fails to
  start a task yields a ``TASK_FAILED`` / ``REASON_CONTAINER_LAUNCH_FAILED``
  report instead.
* Sandbox path, as in Mesos:
  ``<work_dir>/slaves/<agent>/frameworks/<fw>/executors/<executor>/runs/<uuid>``
  with a ``latest`` symlink next to the runs; directories are created only
  when ``make_sandboxes`` (simulated agents skip the disk entirely).
* No asyncio task lives per agent; memory per agent is a few slots.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from framework.ids import AgentId, FrameworkId, TaskId
from framework.local.executor_api import (
    ExecutorBackend,
    LaunchSpec,
    ReportSink,
    TaskReport,
)
from framework.local.mesos_wire import JsonDict, Resources

logger = logging.getLogger(__name__)

Attributes = tuple[tuple[str, str | float], ...]
AgentReport = Callable[[AgentId, TaskId, TaskReport], None]


@dataclass(frozen=True)
class AgentConfig:
    agent_id: AgentId
    hostname: str
    resources: Resources
    attributes: Attributes = ()


class LocalAgent:
    """Runs one agent's tasks through its backend (see module docstring)."""

    __slots__ = ("_sink", "backend", "config", "endpoint", "make_sandboxes", "work_dir")

    def __init__(
        self,
        config: AgentConfig,
        backend: ExecutorBackend,
        work_dir: Path,
        on_report: AgentReport,
        *,
        make_sandboxes: bool = True,
    ) -> None:
        self.config = config
        self.backend = backend
        self.work_dir = work_dir
        self.make_sandboxes = make_sandboxes
        self.endpoint = ""
        agent_id = config.agent_id
        self._sink: ReportSink = lambda task_id, report: on_report(
            agent_id, task_id, report
        )

    @property
    def agent_id(self) -> AgentId:
        return self.config.agent_id

    def executor_dir(self, framework_id: FrameworkId, executor_id: str) -> Path:
        return (
            self.work_dir
            / "slaves"
            / self.agent_id
            / "frameworks"
            / framework_id
            / "executors"
            / executor_id
        )

    def prepare_sandbox(self, framework_id: FrameworkId, executor_id: str) -> Path:
        """The run directory of a new container (created unless simulated)."""
        runs = self.executor_dir(framework_id, executor_id) / "runs"
        sandbox = runs / str(uuid.uuid4())
        if self.make_sandboxes:
            sandbox.mkdir(parents=True, exist_ok=True)
            latest = runs / "latest"
            if latest.is_symlink():
                latest.unlink()
            os.symlink(sandbox.name, latest)
        return sandbox

    async def launch(
        self,
        framework_id: FrameworkId,
        task_id: TaskId,
        executor_id: str,
        task_info: JsonDict,
    ) -> None:
        """Start one task; every failure becomes a terminal report."""
        try:
            sandbox = self.prepare_sandbox(framework_id, executor_id)
        except OSError as exc:
            logger.error(
                "cannot create the sandbox of task %s of framework %s (%s); "
                "reporting TASK_FAILED",
                task_id,
                framework_id,
                exc,
            )
            self._sink(task_id, _launch_failed(f"Failed to create sandbox: {exc}"))
            return
        env = {
            "MESOS_TASK_ID": task_id,
            "MESOS_FRAMEWORK_ID": framework_id,
            "MESOS_AGENT_ID": self.agent_id,
            "MESOS_EXECUTOR_ID": executor_id,
            "MESOS_SANDBOX": str(sandbox),
            "MESOS_DIRECTORY": str(sandbox),
            "MESOS_AGENT_ENDPOINT": self.endpoint,
        }
        spec = LaunchSpec(task_id, framework_id, self.agent_id, task_info, sandbox, env)
        try:
            await self.backend.launch(spec, self._sink)
        except Exception as exc:
            logger.warning(
                "backend failed to launch task %s of framework %s (%s); "
                "reporting TASK_FAILED",
                task_id,
                framework_id,
                exc,
            )
            self._sink(task_id, _launch_failed(f"Failed to launch container: {exc}"))

    async def kill(self, task_id: TaskId, grace: float) -> None:
        try:
            await self.backend.kill(task_id, grace)
        except Exception:
            logger.exception(
                "backend failed to kill task %s on agent %s; it may linger until "
                "the agent shuts down",
                task_id,
                self.agent_id,
            )

    async def shutdown(self) -> None:
        await self.backend.shutdown()


def _launch_failed(message: str) -> TaskReport:
    return TaskReport("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED", message)
