"""ProcessBackend and SimulatedBackend against the executor contract.

ProcessBackend tests run real subprocesses (sh, sleep) in a temporary sandbox;
a fake ``docker`` script stands in for the Docker client, since this machine has
no engine. Grace periods that matter are driven by a FakeClock, so no test
depends on how long anything takes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from framework.ids import AgentId, FrameworkId, TaskId
from framework.local.executor_api import LaunchSpec, TaskReport
from framework.local.executors import (
    FakeClock,
    ProcessBackend,
    SimulatedBackend,
    probe_docker_engine,
)

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR"}
ORDER = {"TASK_STARTING": 0, "TASK_RUNNING": 1}
GUARD = 20.0  # seconds before a wait gives up: a hang guard, not an assertion


class Recorder:
    """A ReportSink that checks the contract's ordering rules as reports come."""

    def __init__(self) -> None:
        self.reports: dict[TaskId, list[TaskReport]] = {}
        self._ended: dict[TaskId, asyncio.Future[TaskReport]] = {}

    def __call__(self, task_id: TaskId, report: TaskReport) -> None:
        asyncio.get_running_loop()  # raises unless called on the loop's thread
        seen = self.reports.setdefault(task_id, [])
        assert not any(r.state in TERMINAL for r in seen), (task_id, seen, report)
        rank = ORDER.get(report.state, 2)
        assert all(ORDER.get(r.state, 2) < rank for r in seen), (seen, report)
        seen.append(report)
        if report.state in TERMINAL:
            self._future(task_id).set_result(report)

    def states(self, task_id: str) -> list[str]:
        return [r.state for r in self.reports.get(TaskId(task_id), [])]

    async def ended(self, task_id: str) -> TaskReport:
        return await asyncio.wait_for(self._future(TaskId(task_id)), GUARD)

    def _future(self, task_id: TaskId) -> asyncio.Future[TaskReport]:
        if task_id not in self._ended:
            self._ended[task_id] = asyncio.get_running_loop().create_future()
        return self._ended[task_id]


def spec(
    tmp_path: Path,
    task_id: str,
    *,
    command: Mapping[str, Any] | None = None,
    environment: Mapping[str, str] | None = None,
    **task_info: Any,
) -> LaunchSpec:
    info = dict(task_info)
    if command is not None:
        info["command"] = command
    return LaunchSpec(
        task_id=TaskId(task_id),
        framework_id=FrameworkId("fw-1"),
        agent_id=AgentId("agent-1"),
        task_info=info,
        sandbox=tmp_path / "sandboxes" / task_id,
        environment=dict(environment or {"MESOS_TASK_ID": task_id}),
    )


def shell(line: str, **extra: Any) -> dict[str, Any]:
    return {"shell": True, "value": line, **extra}


def labels(**pairs: str) -> dict[str, Any]:
    return {"labels": [{"key": k, "value": v} for k, v in pairs.items()]}


async def wait_for_file(path: Path) -> str:
    """The file's content once it exists and is non-empty (hang-guarded)."""
    for _ in range(int(GUARD / 0.01)):
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path} never appeared")


async def wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(int(GUARD / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def run(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(main())  # type: ignore[arg-type]


# -- ProcessBackend: commands, environment, exit codes -----------------------


def test_shell_command_runs_in_its_sandbox_and_finishes(tmp_path: Path) -> None:
    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        task = spec(tmp_path, "t1", command=shell("echo out; echo err >&2; pwd"))
        await backend.launch(task, reports)
        end = await reports.ended("t1")
        await backend.shutdown()

        assert reports.states("t1") == [
            "TASK_STARTING",
            "TASK_RUNNING",
            "TASK_FINISHED",
        ]
        assert end == TaskReport("TASK_FINISHED", None, "Command exited with status 0")
        lines = (task.sandbox / "stdout").read_text().splitlines()
        assert lines == ["out", str(task.sandbox)]
        assert (task.sandbox / "stderr").read_text() == "err\n"

    run(main)


def test_output_reaches_the_sandbox_files_while_the_task_runs(tmp_path: Path) -> None:
    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        line = "echo first; while [ ! -f go ]; do sleep 0.02; done; echo second"
        task = spec(tmp_path, "t1", command=shell(line))
        await backend.launch(task, reports)
        assert await wait_for_file(task.sandbox / "stdout") == "first"
        assert reports.states("t1") == ["TASK_STARTING", "TASK_RUNNING"]

        (task.sandbox / "go").touch()
        assert (await reports.ended("t1")).state == "TASK_FINISHED"
        await backend.shutdown()

        assert (task.sandbox / "stdout").read_text() == "first\nsecond\n"

    run(main)


def test_argv_form_passes_arguments_as_the_whole_argv(tmp_path: Path) -> None:
    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        script = 'tr "\\0" " " < /proc/$$/cmdline'
        command = {
            "shell": False,
            "value": "/bin/sh",
            "arguments": ["my-sh", "-c", script],
        }
        task = spec(tmp_path, "t1", command=command)
        await backend.launch(task, reports)
        assert (await reports.ended("t1")).state == "TASK_FINISHED"
        await backend.shutdown()

        assert (task.sandbox / "stdout").read_text().startswith(f"my-sh -c {script}")

    run(main)


def test_argv_form_finds_the_program_on_path(tmp_path: Path) -> None:
    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        command = {"shell": False, "value": "echo", "arguments": ["echo", "a b", "c"]}
        task = spec(tmp_path, "t1", command=command)
        await backend.launch(task, reports)
        assert (await reports.ended("t1")).state == "TASK_FINISHED"
        await backend.shutdown()

        assert (task.sandbox / "stdout").read_text() == "a b c\n"

    run(main)


def test_task_sees_agent_variables_then_its_own_but_not_agent_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADAPTER_SECRET_TOKEN", "hunter2")

    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        variables = [
            {"name": "OVERRIDDEN", "value": "by-task"},
            {"name": "OWN", "value": "mine", "type": "VALUE"},
        ]
        line = (
            'echo "$MESOS_TASK_ID"; echo "$OVERRIDDEN $OWN $FROM_AGENT";'
            'echo "${ADAPTER_SECRET_TOKEN:-unset}"; echo "$HOME"; command -v sh'
        )
        agent_env = {"MESOS_TASK_ID": "t1", "FROM_AGENT": "a", "OVERRIDDEN": "agent"}
        task = spec(
            tmp_path,
            "t1",
            command=shell(line, environment={"variables": variables}),
            environment=agent_env,
        )
        await backend.launch(task, reports)
        assert (await reports.ended("t1")).state == "TASK_FINISHED"
        await backend.shutdown()

        lines = (task.sandbox / "stdout").read_text().splitlines()
        assert lines[:4] == ["t1", "by-task mine a", "unset", str(task.sandbox)]
        assert lines[4].endswith("/sh")  # PATH came through

    run(main)


def test_inherit_environment_passes_the_agent_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_ONLY", "visible")

    async def main() -> None:
        backend, reports = ProcessBackend(inherit_environment=True), Recorder()
        task = spec(tmp_path, "t1", command=shell('echo "$AGENT_ONLY"'))
        await backend.launch(task, reports)
        await reports.ended("t1")
        await backend.shutdown()

        assert (task.sandbox / "stdout").read_text() == "visible\n"

    run(main)


def test_non_zero_exit_reports_failed_with_the_status(tmp_path: Path) -> None:
    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        await backend.launch(spec(tmp_path, "t1", command=shell("exit 3")), reports)
        end = await reports.ended("t1")
        await backend.shutdown()

        assert reports.states("t1") == ["TASK_STARTING", "TASK_RUNNING", "TASK_FAILED"]
        assert end == TaskReport(
            "TASK_FAILED",
            "REASON_COMMAND_EXECUTOR_FAILED",
            "Command exited with status 3",
        )

    run(main)


def test_task_killed_by_someone_else_fails_naming_the_signal(tmp_path: Path) -> None:
    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        await backend.launch(spec(tmp_path, "t1", command=shell("sleep 1000")), reports)
        os.kill(backend.pids()[TaskId("t1")], 9)
        end = await reports.ended("t1")
        await backend.shutdown()

        assert end.state == "TASK_FAILED"
        assert end.message == "Command terminated with signal Killed"

    run(main)


def test_missing_executable_fails_the_launch_without_starting(tmp_path: Path) -> None:
    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        command = {"shell": False, "value": "/no/such/program"}
        await backend.launch(spec(tmp_path, "t1", command=command), reports)
        end = await reports.ended("t1")
        await backend.shutdown()

        assert reports.states("t1") == ["TASK_FAILED"]
        assert end.reason == "REASON_CONTAINER_LAUNCH_FAILED"
        assert end.message is not None
        assert "'/no/such/program'" in end.message
        assert "No such file or directory" in end.message

    run(main)


def test_command_without_value_is_a_task_error(tmp_path: Path) -> None:
    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        await backend.launch(spec(tmp_path, "t1", command={"shell": True}), reports)
        end = await reports.ended("t1")
        await backend.shutdown()

        assert reports.states("t1") == ["TASK_ERROR"]
        assert end.reason == "REASON_TASK_INVALID"
        assert end.message is not None and "command.value" in end.message

    run(main)


def test_launching_a_running_task_id_again_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        task = spec(tmp_path, "t1", command=shell("sleep 1000"))
        await backend.launch(task, reports)
        with pytest.raises(ValueError, match="already running"):
            await backend.launch(task, reports)
        await backend.shutdown()

        assert reports.states("t1") == ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLED"]

    run(main)


# -- ProcessBackend: kill and shutdown ---------------------------------------

TRAPS_TERM = "trap 'echo bye; exit 0' TERM; touch ready; while :; do sleep 0.05; done"
IGNORES_TERM = "trap '' TERM; touch ready; while :; do sleep 0.05; done"


def test_kill_lets_a_task_that_handles_sigterm_exit_cleanly(tmp_path: Path) -> None:
    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        task = spec(tmp_path, "t1", command=shell(TRAPS_TERM))
        await backend.launch(task, reports)
        await wait_until((task.sandbox / "ready").exists)
        await backend.kill(TaskId("t1"), 60.0)
        await backend.shutdown()

        assert reports.states("t1") == ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLED"]
        assert (
            reports.reports[TaskId("t1")][-1].message == "Command exited with status 0"
        )
        assert (task.sandbox / "stdout").read_text() == "bye\n"

    run(main)


def test_kill_sends_sigkill_after_the_grace_to_a_task_ignoring_sigterm(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        task = spec(tmp_path, "t1", command=shell(IGNORES_TERM))
        await backend.launch(task, reports)
        await wait_until((task.sandbox / "ready").exists)
        await backend.kill(TaskId("t1"), 0.1)
        await backend.shutdown()

        end = reports.reports[TaskId("t1")][-1]
        assert end == TaskReport(
            "TASK_KILLED", None, "Command terminated with signal Killed"
        )

    run(main)


def test_kill_without_grace_uses_the_task_kill_policy(tmp_path: Path) -> None:
    async def main() -> None:
        clock = FakeClock()
        backend, reports = ProcessBackend(clock=clock), Recorder()
        policy = {"grace_period": {"nanoseconds": 7_000_000_000}}
        task = spec(tmp_path, "t1", command=shell(IGNORES_TERM), kill_policy=policy)
        await backend.launch(task, reports)
        await wait_until((task.sandbox / "ready").exists)
        killing = asyncio.create_task(backend.kill(TaskId("t1"), None))
        await wait_until(lambda: clock.pending() == [7.0])
        assert reports.states("t1") == ["TASK_STARTING", "TASK_RUNNING"]

        clock.advance(7.0)
        await killing
        await backend.shutdown()

        end = reports.reports[TaskId("t1")][-1]
        assert end.message == "Command terminated with signal Killed"

    run(main)


def test_kill_without_grace_or_policy_waits_three_seconds(tmp_path: Path) -> None:
    async def main() -> None:
        clock = FakeClock()
        backend, reports = ProcessBackend(clock=clock), Recorder()
        task = spec(tmp_path, "t1", command=shell(IGNORES_TERM))
        await backend.launch(task, reports)
        await wait_until((task.sandbox / "ready").exists)
        killing = asyncio.create_task(backend.kill(TaskId("t1"), -1))
        await wait_until(lambda: clock.pending() == [3.0])
        clock.advance(3.0)
        await killing
        await backend.shutdown()

        assert reports.states("t1")[-1] == "TASK_KILLED"

    run(main)


def test_second_kill_with_shorter_grace_brings_sigkill_forward_once(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        clock = FakeClock()
        backend, reports = ProcessBackend(clock=clock), Recorder()
        task = spec(tmp_path, "t1", command=shell(IGNORES_TERM))
        await backend.launch(task, reports)
        await wait_until((task.sandbox / "ready").exists)
        first = asyncio.create_task(backend.kill(TaskId("t1"), 60.0))
        await wait_until(lambda: clock.pending() == [60.0])
        second = asyncio.create_task(backend.kill(TaskId("t1"), 1.0))
        await wait_until(lambda: clock.pending() == [1.0])

        clock.advance(1.0)
        await asyncio.gather(first, second)
        await backend.shutdown()

        assert reports.states("t1") == ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLED"]

    run(main)


def test_kill_of_an_unknown_task_is_ignored(tmp_path: Path) -> None:
    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        await backend.kill(TaskId("nobody"), 0.0)
        await backend.shutdown()

        assert reports.reports == {}

    run(main)


def test_task_exit_kills_the_children_it_left_behind(tmp_path: Path) -> None:
    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        task = spec(tmp_path, "t1", command=shell("sleep 1000 & echo $! > child"))
        await backend.launch(task, reports)
        assert (await reports.ended("t1")).state == "TASK_FINISHED"
        child = int(await wait_for_file(task.sandbox / "child"))
        await wait_until(lambda: not alive(child))
        await backend.shutdown()

    run(main)


def test_shutdown_kills_every_task_and_its_children(tmp_path: Path) -> None:
    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        line = "sleep 1000 & echo $! > child; echo $$ > pid; " + IGNORES_TERM
        tasks = [spec(tmp_path, f"t{i}", command=shell(line)) for i in range(3)]
        for task in tasks:
            await backend.launch(task, reports)
        pids = []
        for task in tasks:
            pids.append(int(await wait_for_file(task.sandbox / "pid")))
            pids.append(int(await wait_for_file(task.sandbox / "child")))
        await backend.shutdown()

        assert backend.running() == 0
        for task in tasks:
            assert reports.states(task.task_id)[-1] == "TASK_KILLED"
        await wait_until(lambda: not any(alive(pid) for pid in pids))

    run(main)


def test_launch_after_shutdown_fails_the_task(tmp_path: Path) -> None:
    async def main() -> None:
        backend, reports = ProcessBackend(), Recorder()
        await backend.shutdown()
        await backend.launch(spec(tmp_path, "t1", command=shell("true")), reports)

        assert reports.states("t1") == ["TASK_FAILED"]
        assert "shutting down" in (reports.reports[TaskId("t1")][0].message or "")

    run(main)


# -- ProcessBackend: Docker ---------------------------------------------------

NO_ENGINE = (
    "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?' >&2; exit 1"
)


def fake_docker(tmp_path: Path, body: str) -> str:
    """An executable standing in for the docker client; returns its path."""
    path = tmp_path / "bin" / "docker"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def docker_task(tmp_path: Path, task_id: str = "web.1") -> LaunchSpec:
    container = {
        "type": "DOCKER",
        "docker": {
            "image": "nginx:1",
            "network": "BRIDGE",
            "port_mappings": [{"host_port": 31000, "container_port": 80}],
        },
    }
    return spec(tmp_path, task_id, command=shell("echo hi"), container=container)


def test_docker_task_fails_naming_the_agent_when_no_engine_answers(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        docker = fake_docker(tmp_path, NO_ENGINE)
        backend, reports = ProcessBackend(docker_binary=docker), Recorder()
        await backend.launch(docker_task(tmp_path), reports)
        end = await reports.ended("web.1")
        await backend.shutdown()

        assert reports.states("web.1") == ["TASK_FAILED"]
        assert end.reason == "REASON_CONTAINER_LAUNCH_FAILED"
        assert end.message is not None
        assert end.message.startswith(
            "Failed to launch container: no Docker engine is reachable on agent "
            "agent-1 (docker info: Cannot connect to the Docker daemon"
        )

    run(main)


def test_docker_task_fails_with_the_real_client_and_no_engine(tmp_path: Path) -> None:
    async def main() -> None:
        if shutil.which("docker") is None:
            pytest.skip("no docker client installed")
        if await probe_docker_engine("docker") is None:
            pytest.skip("a Docker engine answers here; this test needs none")
        backend, reports = ProcessBackend(), Recorder()
        await backend.launch(docker_task(tmp_path), reports)
        end = await reports.ended("web.1")
        await backend.shutdown()

        assert end.reason == "REASON_CONTAINER_LAUNCH_FAILED"
        assert "no Docker engine is reachable on agent agent-1" in (end.message or "")

    run(main)


def test_docker_task_runs_docker_run_with_the_built_argv(tmp_path: Path) -> None:
    async def reachable() -> str | None:
        return None

    async def main() -> None:
        record = tmp_path / "argv"
        docker = fake_docker(tmp_path, f"printf '%s\\n' \"$@\" > {record}")
        backend = ProcessBackend(docker_binary=docker, docker_probe=reachable)
        reports = Recorder()
        task = docker_task(tmp_path)
        await backend.launch(task, reports)
        end = await reports.ended("web.1")
        await backend.shutdown()

        assert end.state == "TASK_FINISHED"
        assert record.read_text().splitlines() == [
            "run",
            "--rm",
            "--name=mesos-web.1",
            "-e",
            "MESOS_TASK_ID=web.1",
            "-e",
            "MESOS_SANDBOX=/mnt/mesos/sandbox",
            "-v",
            f"{task.sandbox}:/mnt/mesos/sandbox",
            "-w",
            "/mnt/mesos/sandbox",
            "--net=bridge",
            "-p",
            "31000:80/tcp",
            "--entrypoint=/bin/sh",
            "nginx:1",
            "-c",
            "echo hi",
        ]

    run(main)


def test_kill_during_launch_never_starts_the_task(tmp_path: Path) -> None:
    async def main() -> None:
        release = asyncio.Event()

        async def slow_probe() -> str | None:
            await release.wait()
            return None

        backend, reports = ProcessBackend(docker_probe=slow_probe), Recorder()
        launching = asyncio.create_task(backend.launch(docker_task(tmp_path), reports))
        await wait_until(lambda: backend.running() == 1)
        killing = asyncio.create_task(backend.kill(TaskId("web.1"), 0.0))
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(launching, killing)
        await backend.shutdown()

        assert reports.reports[TaskId("web.1")] == [
            TaskReport(
                "TASK_KILLED",
                "REASON_TASK_KILLED_DURING_LAUNCH",
                "Task killed before it was launched",
            )
        ]

    run(main)


def test_docker_probe_answer_is_shared_by_launches(tmp_path: Path) -> None:
    probes = []

    async def unreachable() -> str | None:
        probes.append(1)
        return "nothing listens"

    async def main() -> None:
        backend = ProcessBackend(docker_probe=unreachable, clock=FakeClock())
        reports = Recorder()
        for i in range(3):
            await backend.launch(docker_task(tmp_path, f"web.{i}"), reports)
        await backend.shutdown()

        assert len(probes) == 1
        assert all(reports.states(f"web.{i}") == ["TASK_FAILED"] for i in range(3))

    run(main)


def test_killing_a_docker_task_removes_its_container(tmp_path: Path) -> None:
    async def reachable() -> str | None:
        return None

    async def main() -> None:
        removed = tmp_path / "removed"
        body = (
            f'if [ "$1" = rm ]; then echo "$@" > {removed}; exit 0; fi\n'
            "trap '' TERM; touch ready; while :; do sleep 0.05; done"
        )
        docker = fake_docker(tmp_path, body)
        backend = ProcessBackend(docker_binary=docker, docker_probe=reachable)
        reports = Recorder()
        task = docker_task(tmp_path)
        await backend.launch(task, reports)
        await wait_until((task.sandbox / "ready").exists)
        await backend.kill(TaskId("web.1"), 0.0)
        await backend.shutdown()

        assert reports.states("web.1")[-1] == "TASK_KILLED"
        assert removed.read_text() == "rm --force mesos-web.1\n"

    run(main)


# -- SimulatedBackend ----------------------------------------------------------


def test_simulated_task_finishes_after_its_duration() -> None:
    async def main() -> None:
        clock = FakeClock()
        backend, reports = SimulatedBackend(clock=clock), Recorder()
        task = spec(
            Path("/nonexistent"), "s1", labels=labels(**{"local.duration": "5"})
        )
        await backend.launch(task, reports)
        clock.advance(4.9)
        assert reports.states("s1") == ["TASK_STARTING", "TASK_RUNNING"]

        clock.advance(0.1)
        assert reports.states("s1") == [
            "TASK_STARTING",
            "TASK_RUNNING",
            "TASK_FINISHED",
        ]
        assert backend.running() == 0

    run(main)


def test_simulated_task_fails_with_its_exit_code() -> None:
    async def main() -> None:
        clock = FakeClock()
        backend, reports = SimulatedBackend(clock=clock), Recorder()
        pairs = {"local.duration": "1.5", "local.exit_code": "2"}
        await backend.launch(spec(Path("/x"), "s1", labels=labels(**pairs)), reports)
        clock.advance(1.5)

        assert reports.reports[TaskId("s1")][-1] == TaskReport(
            "TASK_FAILED",
            "REASON_COMMAND_EXECUTOR_FAILED",
            "Command exited with status 2",
        )

    run(main)


def test_simulated_task_without_duration_runs_until_killed() -> None:
    async def main() -> None:
        clock = FakeClock()
        backend, reports = SimulatedBackend(clock=clock), Recorder()
        pairs = {"local.duration": "10"}
        await backend.launch(spec(Path("/x"), "forever"), reports)
        await backend.launch(spec(Path("/x"), "timed", labels=labels(**pairs)), reports)
        clock.advance(1e9)
        assert reports.states("forever") == ["TASK_STARTING", "TASK_RUNNING"]

        await backend.kill(TaskId("forever"), 3.0)
        await backend.kill(TaskId("forever"), 3.0)
        assert reports.states("forever")[-1] == "TASK_KILLED"
        assert len(reports.states("forever")) == 3

    run(main)


def test_killing_a_simulated_task_cancels_its_timer() -> None:
    async def main() -> None:
        clock = FakeClock()
        backend, reports = SimulatedBackend(clock=clock), Recorder()
        pairs = {"local.duration": "10"}
        await backend.launch(spec(Path("/x"), "s1", labels=labels(**pairs)), reports)
        await backend.kill(TaskId("s1"), None)

        assert clock.pending() == []
        assert clock.advance(20) == 0
        assert reports.states("s1") == ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLED"]

    run(main)


def test_simulated_task_with_a_bad_duration_is_a_task_error() -> None:
    async def main() -> None:
        backend, reports = SimulatedBackend(clock=FakeClock()), Recorder()
        pairs = {"local.duration": "soon"}
        await backend.launch(spec(Path("/x"), "s1", labels=labels(**pairs)), reports)

        end = reports.reports[TaskId("s1")][-1]
        assert (end.state, end.reason) == ("TASK_ERROR", "REASON_TASK_INVALID")
        assert "local.duration" in (end.message or "")

    run(main)


def test_simulated_backend_shutdown_kills_every_task() -> None:
    async def main() -> None:
        backend, reports = SimulatedBackend(clock=FakeClock()), Recorder()
        for i in range(5):
            await backend.launch(spec(Path("/x"), f"s{i}"), reports)
        await backend.shutdown()

        assert all(reports.states(f"s{i}")[-1] == "TASK_KILLED" for i in range(5))
        assert backend.running() == 0

    run(main)


def test_simulated_backend_runs_100k_tasks_on_one_loop() -> None:
    infos = [{"labels": labels(**{"local.duration": str(d)})} for d in range(1, 101)]
    sandbox = Path("/unused")

    async def main() -> None:
        clock = FakeClock()
        backend = SimulatedBackend(clock=clock)
        ends: list[str] = []

        def sink(task_id: TaskId, report: TaskReport) -> None:
            if report.state in TERMINAL:
                ends.append(report.state)

        for i in range(100_000):
            ids = TaskId(f"s{i}"), FrameworkId("fw"), AgentId("a")
            await backend.launch(LaunchSpec(*ids, infos[i % 100], sandbox), sink)
        assert backend.running() == 100_000

        clock.advance(50)
        assert len(ends) == 50_000
        clock.advance(50)
        assert ends == ["TASK_FINISHED"] * 100_000

    run(main)


def test_simulated_backend_works_on_the_real_loop_clock() -> None:
    async def main() -> None:
        backend, reports = SimulatedBackend(), Recorder()
        pairs = {"local.duration": "0"}
        await backend.launch(spec(Path("/x"), "s1", labels=labels(**pairs)), reports)
        assert (await reports.ended("s1")).state == "TASK_FINISHED"

    run(main)
