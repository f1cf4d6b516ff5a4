"""Turning TaskInfo into what to execute: pure rules, no processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from framework.ids import AgentId, FrameworkId, TaskId
from framework.local.executor_api import LaunchSpec, TaskReport
from framework.local.executors import (
    DEFAULT_GRACE_PERIOD,
    ExecPlan,
    base_environment,
    effective_grace_period,
    plan_launch,
)
from framework.local.executors.command import docker_container_name, exit_message

SANDBOX = Path("/var/lib/mesos/sandbox/t1")
BASE = {"PATH": "/bin", "HOME": str(SANDBOX)}


def plan(**task_info: Any) -> ExecPlan | TaskReport:
    spec = LaunchSpec(
        TaskId("t1"),
        FrameworkId("fw"),
        AgentId("agent-1"),
        task_info,
        SANDBOX,
        {"MESOS_TASK_ID": "t1", "SHARED": "agent"},
    )
    return plan_launch(spec, BASE, "docker")


def exec_plan(**task_info: Any) -> ExecPlan:
    result = plan(**task_info)
    assert isinstance(result, ExecPlan), result
    return result


def report(**task_info: Any) -> TaskReport:
    result = plan(**task_info)
    assert isinstance(result, TaskReport), result
    return result


def test_shell_is_the_default_and_runs_sh_dash_c() -> None:
    result = exec_plan(command={"value": "echo $HOME"})
    assert (result.program, result.argv) == ("/bin/sh", ("sh", "-c", "echo $HOME"))


def test_argv_form_uses_arguments_as_argv_and_value_as_program() -> None:
    command = {"shell": False, "value": "/usr/bin/env", "arguments": ["env", "-i"]}
    result = exec_plan(command=command)
    assert (result.program, result.argv) == ("/usr/bin/env", ("env", "-i"))


def test_argv_form_without_arguments_passes_the_value_as_argv0() -> None:
    result = exec_plan(command={"shell": False, "value": "true"})
    assert result.argv == ("true",)


def test_environment_layers_base_then_agent_then_task() -> None:
    variables = [{"name": "SHARED", "value": "task"}, {"name": "PATH", "value": "/x"}]
    command = {"value": "true", "environment": {"variables": variables}}
    result = exec_plan(command=command)
    assert result.env == {
        "PATH": "/x",
        "HOME": str(SANDBOX),
        "MESOS_TASK_ID": "t1",
        "SHARED": "task",
    }


def test_base_environment_keeps_only_safe_agent_variables() -> None:
    agent = {"PATH": "/opt/bin", "LANG": "C.UTF-8", "AWS_SECRET_ACCESS_KEY": "k"}
    assert base_environment(agent, "/sb") == {
        "PATH": "/opt/bin",
        "LANG": "C.UTF-8",
        "HOME": "/sb",
    }
    assert base_environment({}, "/sb")["PATH"].startswith("/usr/local/sbin")
    assert base_environment(agent, "/sb", inherit_all=True)["AWS_SECRET_ACCESS_KEY"]


@pytest.mark.parametrize(
    ("task_info", "field"),
    [
        ({"command": {"shell": True}}, "command.value"),
        ({}, "command.value"),
        ({"command": {"value": 3}}, "command.value"),
        ({"command": {"value": "x", "shell": "yes"}}, "command.shell"),
        ({"command": {"value": "x", "arguments": "a b"}}, "command.arguments"),
        (
            {"command": {"value": "x", "environment": {"variables": [{"value": "v"}]}}},
            "command.environment.variables[0].name",
        ),
        ({"container": {"type": "DOCKER", "docker": {}}}, "container.docker.image"),
    ],
    ids=[
        "no-value",
        "no-command",
        "value-not-string",
        "shell-not-bool",
        "arguments-not-list",
        "variable-without-name",
        "docker-without-image",
    ],
)
def test_invalid_task_info_is_a_task_error_naming_the_field(
    task_info: dict[str, Any], field: str
) -> None:
    result = report(**task_info)
    assert (result.state, result.reason) == ("TASK_ERROR", "REASON_TASK_INVALID")
    assert result.message is not None
    assert result.message.startswith(f"Task is invalid: {field}:")


@pytest.mark.parametrize(
    "task_info",
    [
        {"executor": {"executor_id": {"value": "e"}}, "command": {"value": "x"}},
        {
            "command": {"value": "x"},
            "container": {"type": "MESOS", "mesos": {"image": {}}},
        },
        {
            "command": {
                "value": "x",
                "environment": {"variables": [{"name": "S", "type": "SECRET"}]},
            }
        },
    ],
    ids=["custom-executor", "mesos-image", "secret-variable"],
)
def test_unsupported_features_fail_the_launch(task_info: dict[str, Any]) -> None:
    result = report(**task_info)
    assert (result.state, result.reason) == (
        "TASK_FAILED",
        "REASON_CONTAINER_LAUNCH_FAILED",
    )
    assert result.message is not None
    assert result.message.startswith("Failed to launch container:")


def test_mesos_container_without_image_runs_on_the_host() -> None:
    result = exec_plan(command={"value": "true"}, container={"type": "MESOS"})
    assert result.docker_name is None


def test_docker_plan_maps_every_supported_option() -> None:
    container = {
        "type": "DOCKER",
        "docker": {
            "image": "redis:7",
            "network": "HOST",
            "force_pull_image": True,
            "privileged": True,
            "parameters": [{"key": "label", "value": "team=a"}],
        },
        "volumes": [
            {"container_path": "/data", "host_path": "data", "mode": "RW"},
            {"container_path": "/etc/x", "host_path": "/etc/x", "mode": "RO"},
        ],
    }
    resources = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 256}},
    ]
    command = {"shell": False, "arguments": ["--port", "7000"]}
    result = exec_plan(command=command, container=container, resources=resources)
    assert result.docker_name == "mesos-t1"
    assert result.env is None  # the docker client keeps the agent's environment
    assert result.argv == (
        "docker",
        "run",
        "--rm",
        "--name=mesos-t1",
        "--pull=always",
        "--privileged",
        "--cpu-shares=512",
        "--memory=256m",
        "-e",
        "MESOS_TASK_ID=t1",
        "-e",
        "SHARED=agent",
        "-e",
        "MESOS_SANDBOX=/mnt/mesos/sandbox",
        "-v",
        f"{SANDBOX}:/mnt/mesos/sandbox",
        "-w",
        "/mnt/mesos/sandbox",
        "--label=team=a",
        "-v",
        f"{SANDBOX}/data:/data:rw",
        "-v",
        "/etc/x:/etc/x:ro",
        "--net=host",
        "redis:7",
        "--port",
        "7000",
    )


def test_docker_without_command_runs_the_image_entrypoint() -> None:
    result = exec_plan(container={"type": "DOCKER", "docker": {"image": "busybox"}})
    assert result.argv[-2:] == ("--net=host", "busybox")


def test_docker_argv_form_puts_value_before_arguments() -> None:
    command = {"shell": False, "value": "nginx", "arguments": ["-g", "daemon off;"]}
    container = {"type": "DOCKER", "docker": {"image": "nginx"}}
    result = exec_plan(command=command, container=container)
    assert result.argv[-4:] == ("nginx", "nginx", "-g", "daemon off;")


def test_docker_user_network_is_not_supported() -> None:
    container = {"type": "DOCKER", "docker": {"image": "x", "network": "USER"}}
    assert report(command={"shell": False}, container=container).state == "TASK_FAILED"


def test_docker_container_names_only_keep_safe_characters() -> None:
    assert docker_container_name("app/web:1 2") == "mesos-app-web-1-2"


@pytest.mark.parametrize(
    ("requested", "kill_policy", "expected"),
    [
        (1.5, {"grace_period": {"nanoseconds": 9_000_000_000}}, 1.5),
        (0.0, {"grace_period": {"nanoseconds": 9_000_000_000}}, 0.0),
        (None, {"grace_period": {"nanoseconds": 9_000_000_000}}, 9.0),
        (-1.0, {"grace_period": {"nanoseconds": "250000000"}}, 0.25),
        (None, None, DEFAULT_GRACE_PERIOD),
        (None, {"grace_period": {"nanoseconds": "soon"}}, DEFAULT_GRACE_PERIOD),
    ],
    ids=[
        "caller-wins",
        "caller-zero-wins",
        "none-uses-policy",
        "negative-uses-policy-string-nanos",
        "default",
        "malformed-policy",
    ],
)
def test_grace_period_rule(
    requested: float | None, kill_policy: dict[str, Any] | None, expected: float
) -> None:
    task_info = {} if kill_policy is None else {"kill_policy": kill_policy}
    assert effective_grace_period(task_info, requested) == expected


def test_exit_messages_use_mesos_wording() -> None:
    assert exit_message(0) == "Command exited with status 0"
    assert exit_message(127) == "Command exited with status 127"
    assert exit_message(-15) == "Command terminated with signal Terminated"
    assert exit_message(-9) == "Command terminated with signal Killed"
