"""`ProcessBackend`: runs each task as a real local process (or `docker run`).

Each task runs in its own session, so its process group holds the shell and
everything it starts; signals go to the whole group. stdout and stderr go
straight from the process to the files ``stdout`` and ``stderr`` in the sandbox
(opened for append), so the files API can tail them while the task runs.

Invariants (on top of those in `framework.local.executor_api`):

* A task is in ``_runs`` from the start of ``launch`` until its terminal report;
  `_finish` is the only place that sends a terminal report and it sends at
  most one per launch.
* When a task's main process exits, what is left of its process group gets
  SIGKILL (like Mesos destroying the container), so no task leaves orphans in
  its group.
* ``kill`` returns once the task's terminal report has been sent; a second kill
  can only shorten the grace period. ``shutdown`` SIGKILLs every group and
  returns once every launch has ended.
* Reports are only ever sent from the event loop's thread.

TODO(no cgroups): a process that calls setsid() itself leaves the group and
escapes kill and shutdown; Mesos catches it with cgroups.
TODO(no resource limits): cpus/mem/disk are not enforced for plain processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framework.ids import TaskId
from framework.local.executor_api import LaunchSpec, ReportSink, TaskReport
from framework.local.executors.clock import Clock, LoopClock, Timer
from framework.local.executors.command import (
    ExecPlan,
    base_environment,
    effective_grace_period,
    exit_message,
    plan_launch,
)

log = logging.getLogger(__name__)

DockerProbe = Callable[[], Coroutine[Any, Any, str | None]]
"""Answers None when a Docker engine is reachable, else why not (one line)."""

DOCKER_PROBE_TIMEOUT = 3.0
DOCKER_PROBE_TTL = 5.0
DOCKER_CLI_TIMEOUT = 10.0


@dataclass(eq=False)
class _Run:
    """One launch, from `launch` until its terminal report."""

    spec: LaunchSpec
    report: ReportSink
    finished: asyncio.Future[None]
    plan: ExecPlan | None = None
    process: asyncio.subprocess.Process | None = None
    kill_requested: bool = False
    shutting_down: bool = False
    grace: float = 0.0
    kill_deadline: float | None = None
    escalation: Timer | None = None
    terminal_sent: bool = False
    removing: bool = False  # `docker rm -f` already started
    waiter: asyncio.Task[None] | None = field(default=None, repr=False)


class ProcessBackend:
    """An `ExecutorBackend` that runs tasks as local processes (see module doc)."""

    def __init__(
        self,
        *,
        docker_binary: str = "docker",
        clock: Clock | None = None,
        docker_probe: DockerProbe | None = None,
        inherit_environment: bool = False,
    ) -> None:
        """``docker_probe`` replaces the ``docker info`` check (for tests);
        ``inherit_environment`` passes the agent's whole environment to tasks
        (Mesos's default) instead of the minimal base of `base_environment`."""
        self._docker_binary = docker_binary
        self._clock: Clock = clock or LoopClock()
        self._docker_probe = docker_probe or (
            lambda: probe_docker_engine(docker_binary)
        )
        self._inherit_environment = inherit_environment
        self._runs: dict[TaskId, _Run] = {}
        self._helpers: set[asyncio.Task[None]] = set()
        self._probe_cache: tuple[float, str | None] | None = None
        self._probe_task: asyncio.Task[str | None] | None = None
        self._closed = False

    def running(self) -> int:
        """How many launches have not ended yet (starting or running)."""
        return len(self._runs)

    def pids(self) -> dict[TaskId, int]:
        """Task id → pid of its main process (also its process group id)."""
        return {t: r.process.pid for t, r in self._runs.items() if r.process}

    async def launch(self, spec: LaunchSpec, report: ReportSink) -> None:
        """Start the task; STARTING and RUNNING are reported before returning.

        Raises ValueError when ``spec.task_id`` is still running here (the
        master must never reuse a live task id).
        """
        if spec.task_id in self._runs:
            raise ValueError(f"task {spec.task_id} is already running on this agent")
        run = _Run(spec, report, asyncio.get_running_loop().create_future())
        self._runs[spec.task_id] = run
        try:
            failure = await self._start(run)
        except BaseException:
            self._abandon(run)
            raise
        if failure is not None:
            self._finish(run, failure)
            return
        self._send(run, TaskReport("TASK_STARTING"))
        self._send(run, TaskReport("TASK_RUNNING"))
        run.waiter = asyncio.get_running_loop().create_task(self._wait(run))
        if run.kill_requested:
            self._terminate(run)

    async def kill(self, task_id: TaskId, grace_period: float | None = None) -> None:
        """SIGTERM the task's group, SIGKILL it after the grace period.

        The grace period follows `effective_grace_period`: a non-negative
        ``grace_period`` wins, otherwise the task's ``kill_policy``, otherwise
        3 s. Returns once TASK_KILLED (or the terminal state the task reached
        first) has been reported; an unknown or finished task is ignored.
        """
        run = self._runs.get(task_id)
        if run is None:
            log.debug("Kill of task %s ignored: it is not running here", task_id)
            return
        grace = effective_grace_period(run.spec.task_info, grace_period)
        if not run.kill_requested:
            run.kill_requested, run.grace = True, grace
            if run.process is not None:
                self._terminate(run)
        elif run.process is not None:
            self._shorten_grace(run, grace)
        await asyncio.shield(run.finished)

    async def shutdown(self) -> None:
        """SIGKILL every task's group at once and wait until every launch ended."""
        self._closed = True
        runs = list(self._runs.values())
        log.info(
            "Shutting down %d task(s): killing their process groups now", len(runs)
        )
        for run in runs:
            run.kill_requested = run.shutting_down = True
            if run.process is not None:
                self._kill_now(run)
        await asyncio.gather(*(asyncio.shield(r.finished) for r in runs))
        if self._probe_task is not None:
            await asyncio.gather(self._probe_task, return_exceptions=True)
        await asyncio.gather(*self._helpers, return_exceptions=True)

    # -- launching -----------------------------------------------------------

    async def _start(self, run: _Run) -> TaskReport | None:
        """Plan, probe and spawn; returns the terminal report if that failed."""
        spec = run.spec
        if self._closed:
            return _launch_failed(f"agent {spec.agent_id} is shutting down")
        base = base_environment(
            os.environ, str(spec.sandbox), inherit_all=self._inherit_environment
        )
        plan = plan_launch(spec, base, self._docker_binary)
        if isinstance(plan, TaskReport):
            return plan
        run.plan = plan
        _warn_ignored_fields(spec)
        if plan.docker_name is not None:
            unreachable = await self._docker_unreachable()
            if unreachable is not None:
                return _launch_failed(
                    f"no Docker engine is reachable on agent {spec.agent_id} "
                    f"(docker info: {unreachable}); start Docker on this machine "
                    "or run the task without a DOCKER container"
                )
        if run.kill_requested:
            return TaskReport(
                "TASK_KILLED",
                "REASON_TASK_KILLED_DURING_LAUNCH",
                "Task killed before it was launched",
            )
        return await self._spawn(run, plan)

    async def _spawn(self, run: _Run, plan: ExecPlan) -> TaskReport | None:
        spec = run.spec
        try:
            spec.sandbox.mkdir(parents=True, exist_ok=True)
            stdout = _open_log(spec.sandbox / "stdout")
        except OSError as error:
            return _launch_failed(f"cannot prepare sandbox {spec.sandbox}: {error}")
        stderr = -1
        try:
            stderr = _open_log(spec.sandbox / "stderr")
            run.process = await asyncio.create_subprocess_exec(
                plan.argv[0],
                *plan.argv[1:],
                executable=plan.program,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                cwd=spec.sandbox,
                env=plan.env,
                start_new_session=True,
            )
        except OSError as error:
            return _launch_failed(
                f"cannot execute {plan.program!r} on agent {spec.agent_id}: "
                f"{error.strerror or error}"
            )
        finally:
            # The child holds its own copies; ours are not needed any more.
            os.close(stdout)
            if stderr >= 0:
                os.close(stderr)
        log.info(
            "Task %s of framework %s started as pid %d (%s); watching it until it "
            "exits",
            spec.task_id,
            spec.framework_id,
            run.process.pid,
            plan.describe(),
        )
        return None

    async def _docker_unreachable(self) -> str | None:
        """The probe's answer, shared by concurrent launches, kept for a while."""
        now = self._clock.time()
        if self._probe_cache is not None and now < self._probe_cache[0]:
            return self._probe_cache[1]
        if self._probe_task is None:
            self._probe_task = asyncio.get_running_loop().create_task(
                self._docker_probe()
            )
        task = self._probe_task
        try:
            answer = await asyncio.shield(task)
        except Exception as error:  # a probe must answer, not raise
            answer = f"the probe failed: {error!r}"
        finally:
            if task.done() and self._probe_task is task:
                self._probe_task = None
        self._probe_cache = (self._clock.time() + DOCKER_PROBE_TTL, answer)
        return answer

    # -- running and ending --------------------------------------------------

    async def _wait(self, run: _Run) -> None:
        """Wait for the main process, clean up its group, report how it ended."""
        assert run.process is not None
        returncode = await run.process.wait()
        _signal_group(run, signal.SIGKILL)
        if run.escalation is not None:
            run.escalation.cancel()
        self._finish(run, _exit_report(run, returncode))

    def _terminate(self, run: _Run) -> None:
        """Start a kill: SIGTERM now, SIGKILL when the grace period is over."""
        spec = run.spec
        if run.shutting_down:
            self._kill_now(run)
            return
        log.info(
            "Killing task %s of framework %s: SIGTERM now, SIGKILL in %.1fs if it "
            "is still running",
            spec.task_id,
            spec.framework_id,
            run.grace,
        )
        _signal_group(run, signal.SIGTERM)
        run.kill_deadline = self._clock.time() + run.grace
        run.escalation = self._clock.call_later(run.grace, lambda: self._kill_now(run))

    def _shorten_grace(self, run: _Run, grace: float) -> None:
        """A second kill may bring SIGKILL forward, never push it back."""
        deadline = self._clock.time() + grace
        if run.kill_deadline is None or deadline >= run.kill_deadline:
            return
        if run.escalation is not None:
            run.escalation.cancel()
        run.kill_deadline = deadline
        run.escalation = self._clock.call_later(grace, lambda: self._kill_now(run))

    def _kill_now(self, run: _Run) -> None:
        """SIGKILL the group (and, for Docker, the container) if still running."""
        if run.terminal_sent or run.process is None:
            return
        if run.process.returncode is None and not run.shutting_down:
            log.warning(
                "Task %s of framework %s outlived its %.1fs grace period; sending "
                "SIGKILL",
                run.spec.task_id,
                run.spec.framework_id,
                run.grace,
            )
        if run.plan is not None and run.plan.docker_name and not run.removing:
            run.removing = True
            self._remove_container(run, run.plan.docker_name)
        _signal_group(run, signal.SIGKILL)

    def _remove_container(self, run: _Run, name: str) -> None:
        """`docker rm -f` in the background; shutdown waits for it."""
        argv = (self._docker_binary, "rm", "--force", name)
        task = asyncio.get_running_loop().create_task(_run_cli(run, argv))
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    def _finish(self, run: _Run, report: TaskReport) -> None:
        """Send the one terminal report of a launch and forget the task."""
        if run.terminal_sent:
            return
        run.terminal_sent = True
        if self._runs.get(run.spec.task_id) is run:
            del self._runs[run.spec.task_id]
        level = logging.INFO if report.state != "TASK_FAILED" else logging.WARNING
        log.log(
            level,
            "Task %s of framework %s ended: %s; reporting %s to the agent",
            run.spec.task_id,
            run.spec.framework_id,
            report.message,
            report.state,
        )
        try:
            self._send(run, report)
        finally:
            if not run.finished.done():
                run.finished.set_result(None)

    def _abandon(self, run: _Run) -> None:
        """``launch`` was cancelled or broke: end the task so invariants hold."""
        if run.process is not None and run.waiter is None:
            _signal_group(run, signal.SIGKILL)
            run.waiter = asyncio.get_running_loop().create_task(self._wait(run))
            run.kill_requested = True
            return
        self._finish(run, _launch_failed("the launch was interrupted"))

    @staticmethod
    def _send(run: _Run, report: TaskReport) -> None:
        try:
            run.report(run.spec.task_id, report)
        except Exception:
            log.exception(
                "Report sink failed on %s for task %s of framework %s; carrying on",
                report.state,
                run.spec.task_id,
                run.spec.framework_id,
            )


async def probe_docker_engine(
    docker_binary: str = "docker", timeout: float = DOCKER_PROBE_TIMEOUT
) -> str | None:
    """None when ``docker info`` reaches an engine within ``timeout``, else why not."""
    try:
        process = await asyncio.create_subprocess_exec(
            docker_binary,
            "info",
            "--format",
            "{{.ServerVersion}}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as error:
        return f"cannot run {docker_binary!r}: {error.strerror or error}"
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.communicate()
        return f"no answer within {timeout:g}s"
    lines = [line for line in err.decode(errors="replace").splitlines() if line]
    if process.returncode != 0:
        return lines[-1] if lines else f"exited with status {process.returncode}"
    if not out.strip():
        return "the engine reported no server version"
    return None


async def _run_cli(run: _Run, argv: tuple[str, ...]) -> None:
    """Run a docker CLI command for a task; failures are logged, not raised."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as error:
        _log_cli_failure(run, argv, str(error))
        return
    try:
        _, err = await asyncio.wait_for(process.communicate(), DOCKER_CLI_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.communicate()
        _log_cli_failure(run, argv, f"no answer within {DOCKER_CLI_TIMEOUT:g}s")
        return
    if process.returncode != 0:
        _log_cli_failure(run, argv, err.decode(errors="replace").strip())


def _log_cli_failure(run: _Run, argv: tuple[str, ...], why: str) -> None:
    log.warning(
        "%s for task %s of framework %s failed (%s); the container may be left "
        "behind, remove it with `docker rm -f`",
        " ".join(argv[1:]),
        run.spec.task_id,
        run.spec.framework_id,
        why,
    )


def _exit_report(run: _Run, returncode: int) -> TaskReport:
    message = exit_message(returncode)
    if run.shutting_down:
        return TaskReport("TASK_KILLED", None, f"{message} (agent shutting down)")
    if run.kill_requested:
        return TaskReport("TASK_KILLED", None, message)
    if returncode == 0:
        return TaskReport("TASK_FINISHED", None, message)
    return TaskReport("TASK_FAILED", "REASON_COMMAND_EXECUTOR_FAILED", message)


def _launch_failed(why: str) -> TaskReport:
    return TaskReport(
        "TASK_FAILED",
        "REASON_CONTAINER_LAUNCH_FAILED",
        f"Failed to launch container: {why}",
    )


def _signal_group(run: _Run, signum: signal.Signals) -> None:
    """Signal the task's process group; a group already gone is fine."""
    if run.process is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(run.process.pid, signum)


def _open_log(path: Path) -> int:
    """A descriptor appending to ``path``, created if missing (rw-r--r--)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)


def _warn_ignored_fields(spec: LaunchSpec) -> None:
    command = spec.task_info.get("command")
    if not isinstance(command, Mapping):
        return
    # TODO(no fetcher): command.uris are not downloaded into the sandbox.
    if command.get("uris"):
        log.warning(
            "Task %s of framework %s lists command.uris; the local agent does not "
            "fetch them, starting the task without them",
            spec.task_id,
            spec.framework_id,
        )
    # TODO(no user switching): tasks run as the agent's user.
    if command.get("user"):
        log.info(
            "Task %s of framework %s asks for user %r; running it as the agent's "
            "user instead",
            spec.task_id,
            spec.framework_id,
            command["user"],
        )
