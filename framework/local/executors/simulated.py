"""`SimulatedBackend`: tasks that only take time, for big local clusters.

A simulated task has no process. It reports TASK_STARTING and TASK_RUNNING
when launched, then, after the seconds in its label ``local.duration``,
TASK_FINISHED, or TASK_FAILED when its label ``local.exit_code`` is non-zero.
Without a duration it runs until killed. Each task costs one small record and
one timer in the clock's heap (no asyncio Task), so 100,000 of them fit on one
event loop.

Invariants: as in `framework.local.executor_api`; a kill cancels the task's
timer before reporting TASK_KILLED, so a task is never both killed and
finished. Per-task lines are logged at debug level (the agent logs the state
changes), because there may be 100,000 of them.
"""

from __future__ import annotations

import logging
import math

from framework.ids import TaskId
from framework.local.executor_api import LaunchSpec, ReportSink, TaskReport
from framework.local.executors.clock import Clock, LoopClock, Timer
from framework.local.executors.command import exit_message, labels_of

log = logging.getLogger(__name__)

DURATION_LABEL = "local.duration"
EXIT_CODE_LABEL = "local.exit_code"

# Shared, immutable: a launch should cost as little as possible.
_STARTING = TaskReport("TASK_STARTING")
_RUNNING = TaskReport("TASK_RUNNING")
_FINISHED = TaskReport("TASK_FINISHED", None, exit_message(0))


class _SimTask:
    __slots__ = ("exit_code", "report", "spec", "timer")

    def __init__(self, spec: LaunchSpec, report: ReportSink, exit_code: int) -> None:
        self.spec = spec
        self.report = report
        self.exit_code = exit_code
        self.timer: Timer | None = None


class SimulatedBackend:
    """An `ExecutorBackend` whose tasks only wait (see module doc)."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or LoopClock()
        self._tasks: dict[TaskId, _SimTask] = {}

    def running(self) -> int:
        """How many simulated tasks are running."""
        return len(self._tasks)

    async def launch(self, spec: LaunchSpec, report: ReportSink) -> None:
        """Report STARTING and RUNNING now; schedule the end if it has one.

        Bad labels end the task at once as TASK_ERROR (REASON_TASK_INVALID).
        Raises ValueError when ``spec.task_id`` is still running here.
        """
        if spec.task_id in self._tasks:
            raise ValueError(f"task {spec.task_id} is already running on this agent")
        parsed = _parse_labels(spec)
        if isinstance(parsed, TaskReport):
            log.debug(
                "Task %s of framework %s rejected: %s; reporting TASK_ERROR",
                spec.task_id,
                spec.framework_id,
                parsed.message,
            )
            _send(spec, report, parsed)
            return
        duration, exit_code = parsed
        task = _SimTask(spec, report, exit_code)
        self._tasks[spec.task_id] = task
        _send(spec, report, _STARTING)
        _send(spec, report, _RUNNING)
        if duration is not None:
            task.timer = self._clock.call_later(duration, lambda: self._end(task))
        log.debug(
            "Task %s of framework %s simulated for %s s (None: until killed); "
            "waiting for its end",
            spec.task_id,
            spec.framework_id,
            duration,
        )

    async def kill(self, task_id: TaskId, grace_period: float | None = None) -> None:
        """Cancel the task's timer and report TASK_KILLED; grace is not waited."""
        task = self._tasks.pop(task_id, None)
        if task is None:
            log.debug("Kill of task %s ignored: it is not running here", task_id)
            return
        if task.timer is not None:
            task.timer.cancel()
        self._report(task, TaskReport("TASK_KILLED", None, exit_message(-15)))

    async def shutdown(self) -> None:
        """Kill every task at once (TASK_KILLED, like a SIGKILL)."""
        tasks, self._tasks = self._tasks, {}
        log.info(
            "Shutting down %d simulated task(s): reporting them killed", len(tasks)
        )
        for task in tasks.values():
            if task.timer is not None:
                task.timer.cancel()
            message = f"{exit_message(-9)} (agent shutting down)"
            self._report(task, TaskReport("TASK_KILLED", None, message))

    def _end(self, task: _SimTask) -> None:
        """The timer fired: the task finishes or fails with its exit code."""
        if self._tasks.get(task.spec.task_id) is not task:
            return
        del self._tasks[task.spec.task_id]
        if task.exit_code == 0:
            self._report(task, _FINISHED)
        else:
            reason = "REASON_COMMAND_EXECUTOR_FAILED"
            message = exit_message(task.exit_code)
            self._report(task, TaskReport("TASK_FAILED", reason, message))

    @staticmethod
    def _report(task: _SimTask, report: TaskReport) -> None:
        log.debug(
            "Task %s of framework %s ended: %s; reporting %s to the agent",
            task.spec.task_id,
            task.spec.framework_id,
            report.message,
            report.state,
        )
        _send(task.spec, task.report, report)


def _send(spec: LaunchSpec, sink: ReportSink, report: TaskReport) -> None:
    """Deliver one report; a failing sink is logged and never stops the backend."""
    try:
        sink(spec.task_id, report)
    except Exception:
        log.exception(
            "Report sink failed on %s for task %s of framework %s; carrying on",
            report.state,
            spec.task_id,
            spec.framework_id,
        )


def _parse_labels(spec: LaunchSpec) -> tuple[float | None, int] | TaskReport:
    """(duration or None, exit code) from the labels, or the TASK_ERROR report."""
    labels = labels_of(spec.task_info)
    duration: float | None = None
    try:
        if DURATION_LABEL in labels:
            duration = float(labels[DURATION_LABEL])
            if not math.isfinite(duration) or duration < 0:
                raise ValueError(labels[DURATION_LABEL])
        exit_code = int(labels.get(EXIT_CODE_LABEL, "0"))
    except ValueError:
        return TaskReport(
            "TASK_ERROR",
            "REASON_TASK_INVALID",
            f"Task is invalid: labels {DURATION_LABEL}={labels.get(DURATION_LABEL)!r}, "
            f"{EXIT_CODE_LABEL}={labels.get(EXIT_CODE_LABEL)!r}; the duration must be "
            "a non-negative number of seconds and the exit code an integer",
        )
    return duration, exit_code
