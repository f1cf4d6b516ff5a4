"""Executor backends of the local agent, and the files API over their sandboxes.

* `ProcessBackend` runs tasks as local processes (or ``docker run`` where an
  engine answers); `SimulatedBackend` runs tasks that only take time.
* `files_routes` serves Mesos's ``/files/*`` endpoints over sandboxes.
* `LoopClock` / `FakeClock` drive their timers (grace periods, durations).

Both backends implement `framework.local.executor_api.ExecutorBackend`, with
one widening: ``kill``'s ``grace_period`` may be None (or negative) to mean
"use the task's kill_policy, else 3 s" (see `effective_grace_period`).
"""

from typing import TYPE_CHECKING

from framework.local.executors.clock import Clock, FakeClock, LoopClock, Timer
from framework.local.executors.command import (
    DEFAULT_GRACE_PERIOD,
    ExecPlan,
    base_environment,
    effective_grace_period,
    plan_launch,
)
from framework.local.executors.files import DEFAULT_MAX_LENGTH, files_routes
from framework.local.executors.process import (
    DockerProbe,
    ProcessBackend,
    probe_docker_engine,
)
from framework.local.executors.simulated import SimulatedBackend

__all__ = [
    "DEFAULT_GRACE_PERIOD",
    "DEFAULT_MAX_LENGTH",
    "Clock",
    "DockerProbe",
    "ExecPlan",
    "FakeClock",
    "LoopClock",
    "ProcessBackend",
    "SimulatedBackend",
    "Timer",
    "base_environment",
    "effective_grace_period",
    "files_routes",
    "plan_launch",
    "probe_docker_engine",
]

if TYPE_CHECKING:
    from framework.local.executor_api import ExecutorBackend

    def _conforms(p: ProcessBackend, s: SimulatedBackend) -> list[ExecutorBackend]:
        """mypy proves here that both backends satisfy the protocol."""
        return [p, s]
