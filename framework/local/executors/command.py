"""What to execute for a TaskInfo: pure decisions, no processes, no I/O.

`plan_launch` turns the TaskInfo JSON a framework sent (v1, snake case) into an
`ExecPlan` (program, argv, environment), or into the terminal `TaskReport` the
task gets instead when it cannot run. The process backend only carries plans
out, so every rule about CommandInfo, ContainerInfo and KillPolicy lives here
and is tested without spawning anything.

Rules (Mesos semantics unless marked as a local choice):

* ``command.shell`` true or absent: ``/bin/sh -c value``. False: exec ``value``
  (looked up in ``PATH``) with ``arguments`` as the whole argv, so
  ``arguments[0]`` is argv[0]; with no arguments, argv is ``[value]``.
* Environment, later layers winning: the base environment (local choice, see
  `base_environment`), the agent's variables (``LaunchSpec.environment``),
  then ``command.environment.variables``.
* ``container.type == "DOCKER"``: ``docker run --rm --name mesos-<task id>``
  with the sandbox mounted at ``/mnt/mesos/sandbox``. A shell command overrides
  the image's entrypoint with ``/bin/sh -c value``; otherwise ``value`` (if
  any) and ``arguments`` follow the image name.
* Kill grace period: see `effective_grace_period`.
* Invalid input (missing value, wrong types) ends as ``TASK_ERROR`` with
  ``REASON_TASK_INVALID``; valid input the local agent cannot honour (custom
  executors, Mesos container images, secrets) as ``TASK_FAILED`` with
  ``REASON_CONTAINER_LAUNCH_FAILED``. Both messages name the field and the fix.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from framework.errors import SpecError
from framework.local.executor_api import LaunchSpec, TaskReport

DEFAULT_GRACE_PERIOD = 3.0
"""Seconds between SIGTERM and SIGKILL when nobody says otherwise (Mesos's)."""

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""PATH for tasks when the agent itself has none (Mesos's host default)."""

INHERITED_VARIABLES = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "JAVA_HOME")
"""Agent variables a task sees by default; everything else stays private."""

CONTAINER_SANDBOX = "/mnt/mesos/sandbox"
"""Where a Docker task sees its sandbox, as under the Mesos docker containerizer."""

_DOCKER_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")
_DOCKER_NETWORKS = {"HOST": "host", "BRIDGE": "bridge", "NONE": "none"}


@dataclass(frozen=True)
class ExecPlan:
    """One process to start: ``program`` is exec'd with ``argv`` and ``env``."""

    program: str
    argv: tuple[str, ...]
    env: Mapping[str, str] | None  # None: inherit the agent's environment
    docker_name: str | None = None  # set for `docker run` plans

    def describe(self) -> str:
        """A short human form for logs: the argv, cut at 200 characters."""
        text = " ".join(self.argv)
        return text if len(text) <= 200 else text[:197] + "..."


class _Unsupported(Exception):
    """Valid TaskInfo the local agent cannot run; becomes TASK_FAILED."""


def base_environment(
    agent_env: Mapping[str, str], sandbox: str, *, inherit_all: bool = False
) -> dict[str, str]:
    """The variables every task starts from, before the agent's and its own.

    Local choice: by default only `INHERITED_VARIABLES` pass from the agent's
    environment (a real Mesos agent passes its whole environment unless
    ``--executor_environment_variables`` is set), so the adapter's credentials
    never leak into tasks and tests do not depend on the developer's shell.
    ``HOME`` is the sandbox, so tools that write to ``~`` stay inside it.
    ``inherit_all`` gives Mesos's behaviour instead.
    """
    if inherit_all:
        env = dict(agent_env)
    else:
        env = {k: agent_env[k] for k in INHERITED_VARIABLES if k in agent_env}
        env["HOME"] = sandbox
    env.setdefault("PATH", DEFAULT_PATH)
    return env


def plan_launch(
    spec: LaunchSpec, base_env: Mapping[str, str], docker_binary: str = "docker"
) -> ExecPlan | TaskReport:
    """The plan for ``spec``, or the terminal report the task gets instead."""
    info = spec.task_info
    try:
        if info.get("executor") is not None:
            raise _Unsupported(
                "custom executors (TaskInfo.executor) are not supported by the "
                "local agent; send a TaskInfo with `command` instead"
            )
        command = _mapping(info.get("command"), "command")
        container = _mapping(info.get("container"), "container")
        if container.get("type") == "DOCKER":
            return _docker_plan(spec, command, container, docker_binary)
        _reject_mesos_image(container)
        return _command_plan(spec, command, base_env)
    except SpecError as error:
        return TaskReport(
            "TASK_ERROR", "REASON_TASK_INVALID", f"Task is invalid: {error}"
        )
    except _Unsupported as error:
        return TaskReport(
            "TASK_FAILED",
            "REASON_CONTAINER_LAUNCH_FAILED",
            f"Failed to launch container: {error}",
        )


def effective_grace_period(
    task_info: Mapping[str, Any], requested: float | None
) -> float:
    """Seconds between SIGTERM and SIGKILL for a kill.

    The one rule: a non-negative ``requested`` (the caller's override, like the
    ``kill_policy`` of a Mesos KILL call) wins; ``None`` or a negative value
    means "no override", and the task's own ``kill_policy.grace_period`` applies,
    or `DEFAULT_GRACE_PERIOD` when the task has none.
    """
    if requested is not None and requested >= 0:
        return float(requested)
    policy = task_info.get("kill_policy")
    grace = policy.get("grace_period") if isinstance(policy, Mapping) else None
    nanos = grace.get("nanoseconds") if isinstance(grace, Mapping) else None
    # Protobuf's JSON mapping writes int64 as a string; accept both forms.
    if isinstance(nanos, str) and nanos.lstrip("-").isdigit():
        nanos = int(nanos)
    if isinstance(nanos, int) and not isinstance(nanos, bool) and nanos >= 0:
        return nanos / 1e9
    return DEFAULT_GRACE_PERIOD


def exit_message(returncode: int) -> str:
    """Mesos's wording for how a command ended (negative = killed by a signal)."""
    if returncode < 0:
        try:
            name = signal.strsignal(-returncode) or f"signal {-returncode}"
        except ValueError:
            name = f"signal {-returncode}"
        return f"Command terminated with signal {name}"
    return f"Command exited with status {returncode}"


def labels_of(task_info: Mapping[str, Any]) -> dict[str, str]:
    """The task's ``labels.labels`` as a dict; malformed entries are skipped."""
    labels = task_info.get("labels")
    entries = labels.get("labels") if isinstance(labels, Mapping) else None
    if not isinstance(entries, list):
        return {}
    return {
        str(e["key"]): str(e.get("value", ""))
        for e in entries
        if isinstance(e, Mapping) and "key" in e
    }


def docker_container_name(task_id: str) -> str:
    """``mesos-<task id>`` with characters Docker refuses replaced by ``-``."""
    return "mesos-" + _DOCKER_NAME_UNSAFE.sub("-", task_id)


def _command_plan(
    spec: LaunchSpec, command: Mapping[str, Any], base_env: Mapping[str, str]
) -> ExecPlan:
    value = _string(command.get("value"), "command.value")
    if not value:
        raise SpecError(
            "command.value",
            "is missing; set it to the shell line (or, with shell: false, the "
            "program) the task runs",
        )
    env = {**base_env, **spec.environment, **_variables(command)}
    arguments = _strings(command.get("arguments"), "command.arguments")
    if _shell(command):
        return ExecPlan("/bin/sh", ("sh", "-c", value), env)
    return ExecPlan(value, tuple(arguments) or (value,), env)


def _docker_plan(
    spec: LaunchSpec,
    command: Mapping[str, Any],
    container: Mapping[str, Any],
    docker_binary: str,
) -> ExecPlan:
    docker = _mapping(container.get("docker"), "container.docker")
    image = _string(docker.get("image"), "container.docker.image")
    if not image:
        raise SpecError("container.docker.image", "is missing; name the image to run")
    name = docker_container_name(spec.task_id)
    argv = [docker_binary, "run", "--rm", f"--name={name}"]
    argv += _docker_options(spec, docker, command)
    argv += _docker_volumes(spec, container)
    argv += _docker_network(docker)
    argv += _docker_command(command, image)
    # The docker client keeps the agent's environment (DOCKER_HOST, its config);
    # the container gets only the agent's and the task's variables, via -e.
    return ExecPlan(docker_binary, tuple(argv), None, docker_name=name)


def _docker_options(
    spec: LaunchSpec, docker: Mapping[str, Any], command: Mapping[str, Any]
) -> list[str]:
    options: list[str] = []
    if docker.get("force_pull_image") is True:
        options.append("--pull=always")
    if docker.get("privileged") is True:
        options.append("--privileged")
    options += _docker_resources(spec.task_info.get("resources"))
    env = {**spec.environment, **_variables(command)}
    env["MESOS_SANDBOX"] = CONTAINER_SANDBOX
    for key, value in env.items():
        options += ["-e", f"{key}={value}"]
    options += ["-v", f"{spec.sandbox}:{CONTAINER_SANDBOX}", "-w", CONTAINER_SANDBOX]
    for i, parameter in enumerate(
        _list(docker.get("parameters"), "container.docker.parameters")
    ):
        where = f"container.docker.parameters[{i}]"
        item = _mapping(parameter, where)
        key = _string(item.get("key"), f"{where}.key")
        options.append(f"--{key}={_string(item.get('value'), f'{where}.value')}")
    return options


def _docker_resources(resources: Any) -> list[str]:
    options: list[str] = []
    for resource in resources if isinstance(resources, list) else []:
        scalar = resource.get("scalar") if isinstance(resource, Mapping) else None
        amount = scalar.get("value") if isinstance(scalar, Mapping) else None
        if not isinstance(amount, int | float):
            continue
        if resource.get("name") == "cpus":
            options.append(f"--cpu-shares={max(2, int(amount * 1024))}")
        elif resource.get("name") == "mem":
            options.append(f"--memory={max(4, int(amount))}m")
    return options


def _docker_volumes(spec: LaunchSpec, container: Mapping[str, Any]) -> list[str]:
    options: list[str] = []
    for i, volume in enumerate(_list(container.get("volumes"), "container.volumes")):
        where = f"container.volumes[{i}]"
        item = _mapping(volume, where)
        target = _string(item.get("container_path"), f"{where}.container_path")
        source = _string(item.get("host_path"), f"{where}.host_path")
        if not target or not source:
            # TODO(no volume sources): SANDBOX_PATH/secret/CSI volume sources.
            raise _Unsupported(
                f"{where}: only volumes with host_path and container_path are "
                "supported by the local agent"
            )
        host = source if os.path.isabs(source) else str(spec.sandbox / source)
        mode = "ro" if item.get("mode") == "RO" else "rw"
        options += ["-v", f"{host}:{target}:{mode}"]
    return options


def _docker_network(docker: Mapping[str, Any]) -> list[str]:
    network = docker.get("network", "HOST")
    if network not in _DOCKER_NETWORKS:
        # TODO(no user networks): USER needs the network_infos name.
        raise _Unsupported(
            f"container.docker.network {network!r} is not supported by the local "
            "agent; use HOST, BRIDGE or NONE"
        )
    options = [f"--net={_DOCKER_NETWORKS[network]}"]
    mappings = _list(docker.get("port_mappings"), "container.docker.port_mappings")
    for i, mapping in enumerate(mappings):
        where = f"container.docker.port_mappings[{i}]"
        item = _mapping(mapping, where)
        host, inner = item.get("host_port"), item.get("container_port")
        if not isinstance(host, int) or not isinstance(inner, int):
            raise SpecError(where, "needs integer host_port and container_port")
        protocol = _string(item.get("protocol"), f"{where}.protocol") or "tcp"
        options += ["-p", f"{host}:{inner}/{protocol.lower()}"]
    return options


def _docker_command(command: Mapping[str, Any], image: str) -> list[str]:
    value = _string(command.get("value"), "command.value")
    arguments = _strings(command.get("arguments"), "command.arguments")
    if not command:
        # No CommandInfo at all: run the image's own entrypoint and command.
        return [image]
    if _shell(command):
        if not value:
            raise SpecError(
                "command.value",
                "is missing while command.shell is true; set a value or shell: false "
                "to run the image's entrypoint",
            )
        return ["--entrypoint=/bin/sh", image, "-c", value]
    return [image, *([value] if value else []), *arguments]


def _reject_mesos_image(container: Mapping[str, Any]) -> None:
    mesos = container.get("mesos")
    if isinstance(mesos, Mapping) and mesos.get("image") is not None:
        # TODO(no image provisioner): container.mesos.image would need one.
        raise _Unsupported(
            "container.mesos.image is not supported by the local agent; use a "
            "DOCKER container or drop the image to run on the host"
        )


def _variables(command: Mapping[str, Any]) -> dict[str, str]:
    environment = _mapping(command.get("environment"), "command.environment")
    variables: dict[str, str] = {}
    entries = _list(environment.get("variables"), "command.environment.variables")
    for i, entry in enumerate(entries):
        where = f"command.environment.variables[{i}]"
        item = _mapping(entry, where)
        name = _string(item.get("name"), f"{where}.name")
        if not name:
            raise SpecError(f"{where}.name", "is missing; name the variable")
        if item.get("type", "VALUE") != "VALUE":
            # TODO(no secret resolver): SECRET variables need one.
            raise _Unsupported(
                f"{where} ({name}) has type {item.get('type')!r}; the local agent "
                "only supports VALUE variables"
            )
        variables[name] = _string(item.get("value"), f"{where}.value")
    return variables


def _shell(command: Mapping[str, Any]) -> bool:
    shell = command.get("shell", True)
    if not isinstance(shell, bool):
        raise SpecError("command.shell", f"must be true or false, not {shell!r}")
    return shell


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(where, f"must be an object, not {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> Sequence[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(where, f"must be a list, not {type(value).__name__}")
    return value


def _string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SpecError(where, f"must be a string, not {type(value).__name__}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    return [_string(v, f"{where}[{i}]") for i, v in enumerate(_list(value, where))]
