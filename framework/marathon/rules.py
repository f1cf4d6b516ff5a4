"""Marathon's own semantic rules and our lint rules over a parsed app.

``check_app(raw, spec, options)`` returns every `Issue` at once (never stops
at the first), errors and notes. Marathon's rules (ids, cmd/args/container,
ports, health checks, upgradeStrategy, constraints) mirror what Marathon
answers 422 to, so a file that passes here is not refused there. Lint rules
go further: a service whose ports have no HTTP/TCP health check, a health
check on a port that does not exist, a grace period shorter than the check
interval, an instance larger than the largest agent.

Invariant: pure; the caller passes the agents' totals (or None when the
master was unreachable, which turns the size rule into a note).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from framework.marathon.spec import AppSpec, HealthCheck, Issue, JsonDict

SEGMENT = re.compile(
    r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*"
    r"([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$"
)
RESERVED = frozenset({"restart", "tasks", "versions"})
OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "MAX_PER", "UNLIKE", "IS")
SERVICE_CHECKS = frozenset(
    {"HTTP", "HTTPS", "TCP", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"}
)
MESOS_LEVEL = frozenset({"COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"})


@dataclass(frozen=True)
class AgentTotals:
    """One agent's total resources (from the operator API's GET_AGENTS)."""

    agent_id: str
    cpus: float
    mem: float
    disk: float
    gpus: float = 0.0


@dataclass(frozen=True)
class CheckOptions:
    allow_no_health_check: bool = False
    agents: Sequence[AgentTotals] | None = None
    agents_note: str = "Mesos master not reachable"


def check_app(raw: JsonDict, spec: AppSpec, options: CheckOptions) -> list[Issue]:
    """Every Marathon rule and lint rule ``spec`` breaks, in file order."""
    issues: list[Issue] = []
    issues += id_issues(spec.id)
    issues += command_issues(spec)
    issues += port_issues(spec)
    issues += health_issues(spec, raw, options.allow_no_health_check)
    issues += strategy_issues(spec)
    issues += constraint_issues(spec.constraints)
    issues += size_issues(spec, options)
    return issues


def id_issues(app_id: str) -> list[Issue]:
    """Marathon's path rules for an app id (``/team/web``)."""
    fix = "use lowercase letters, digits and '-' per segment, e.g. /team/web"
    segments = [s for s in app_id.strip("/").split("/")]
    if app_id.strip("/") == "":
        return [Issue("$.id", "id-root", "the root group is not an app id", fix)]
    out = []
    for segment in segments:
        if not SEGMENT.match(segment):
            message = f"segment {segment!r} is not a valid Marathon path segment"
            out.append(Issue("$.id", "id-pattern", message, fix))
    if segments[-1] in RESERVED:
        out.append(
            Issue(
                "$.id",
                "id-reserved",
                f"the last segment {segments[-1]!r} is reserved by the API",
                "rename the app, e.g. append '-app'",
            )
        )
    return out


def command_issues(spec: AppSpec) -> list[Issue]:
    """Exactly one of cmd/args, or a container; Docker needs an image."""
    out = []
    if spec.cmd is not None and spec.args is not None:
        out.append(
            Issue(
                "$.cmd",
                "cmd-xor-args",
                "both 'cmd' and 'args' are set",
                "keep one: 'cmd' runs in a shell, 'args' runs directly",
            )
        )
    if spec.cmd is None and spec.args is None and spec.container is None:
        out.append(
            Issue(
                "$",
                "cmd-or-container",
                "the app has no 'cmd', no 'args' and no 'container'",
                "add 'cmd' (shell command) or a 'container' with an image",
            )
        )
    container = spec.container
    if container and container.type == "DOCKER" and container.docker is None:
        out.append(
            Issue(
                "$.container.docker",
                "docker-image",
                "a DOCKER container needs 'docker': {'image': ...}",
                "add container.docker.image",
            )
        )
    if container and container.type == "DOCKER" and spec.gpus > 0:
        out.append(
            Issue(
                "$.gpus",
                "gpus-docker",
                "GPUs are not supported with the Docker containerizer",
                "use container.type MESOS with a docker image, or gpus 0",
            )
        )
    return out


def port_count(spec: AppSpec) -> int:
    """How many ports an instance gets (Marathon's default: one on host)."""
    if _host(spec):
        return 1 if spec.port_definitions is None else len(spec.port_definitions)
    mappings = spec.container.port_mappings if spec.container else None
    return 1 if mappings is None else len(mappings)


def _host(spec: AppSpec) -> bool:
    return all(n.mode == "host" for n in spec.networks or [])


def port_issues(spec: AppSpec) -> list[Issue]:
    """Unique names and numbers; portDefinitions only on host networking."""
    out: list[Issue] = []
    ports = spec.port_definitions or []
    if ports and not _host(spec):
        out.append(
            Issue(
                "$.portDefinitions",
                "ports-network",
                "portDefinitions are only for host networking",
                "use container.portMappings on container/bridge networks",
            )
        )
    names = [p.name for p in ports if p.name]
    if len(names) != len(set(names)):
        out.append(
            Issue("$.portDefinitions", "ports-unique", "port names repeat", _UNIQUE)
        )
    numbers = [p.port for p in ports if p.port]
    if len(numbers) != len(set(numbers)):
        out.append(
            Issue("$.portDefinitions", "ports-unique", "port numbers repeat", _UNIQUE)
        )
    mappings = spec.container.port_mappings if spec.container else None
    if mappings and _host(spec):
        out.append(
            Issue(
                "$.container.portMappings",
                "mappings-network",
                "portMappings need a container or container/bridge network",
                'add "networks": [{"mode": "container/bridge"}]',
            )
        )
    return out


_UNIQUE = "give each port its own name and number (0 lets Marathon pick)"


def health_issues(spec: AppSpec, raw: JsonDict, allow_none: bool) -> list[Issue]:
    """Marathon's health-check rules and our lint rules about them."""
    out: list[Issue] = []
    count = port_count(spec)
    for index, check in enumerate(spec.health_checks):
        out += _one_check(index, check, count)
    mesos_level = [c for c in spec.health_checks if c.protocol in MESOS_LEVEL]
    if len(mesos_level) > 1:
        out.append(
            Issue(
                "$.healthChecks",
                "one-mesos-check",
                "Marathon allows at most one COMMAND/MESOS_* health check",
                "keep one Mesos-level check; HTTP/TCP checks can be added freely",
            )
        )
    if count and not allow_none and not _has_service_check(spec):
        out.append(_no_health_check(spec, raw))
    return out


def _has_service_check(spec: AppSpec) -> bool:
    return any(c.protocol in SERVICE_CHECKS for c in spec.health_checks)


def _no_health_check(spec: AppSpec, raw: JsonDict) -> Issue:
    implicit = "portDefinitions" not in raw and _host(spec)
    where = "Marathon's default port" if implicit else "ports"
    return Issue(
        "$.healthChecks",
        "service-health-check",
        f"the app has {where} but no HTTP or TCP health check, so a broken "
        "instance stays in service and a bad deploy cannot be detected",
        'add {"protocol": "HTTP", "path": "/health", "portIndex": 0}; '
        'for a worker set "portDefinitions": []; or pass --allow-no-health-check',
    )


def _one_check(index: int, check: HealthCheck, ports: int) -> list[Issue]:
    path = f"$.healthChecks[{index}]"
    out = []
    uses_port = check.protocol != "COMMAND" and check.port is None
    port_index = check.port_index if check.port_index is not None else 0
    if uses_port and port_index >= ports:
        out.append(
            Issue(
                f"{path}.portIndex",
                "health-port-index",
                f"portIndex {port_index} but the app has {ports} port(s)",
                f"use a portIndex from 0 to {ports - 1}, or add a port"
                if ports
                else "add a port definition, or use a COMMAND check",
            )
        )
    if check.protocol == "COMMAND" and check.command is None:
        out.append(
            Issue(
                f"{path}.command",
                "health-command",
                "a COMMAND health check needs a command",
                'add "command": {"value": "curl -f localhost:$PORT0/health"}',
            )
        )
    if check.path is not None and check.protocol not in {"HTTP", "HTTPS"} | {
        "MESOS_HTTP",
        "MESOS_HTTPS",
    }:
        out.append(
            Issue(
                f"{path}.path",
                "health-path",
                f"'path' is ignored by {check.protocol} checks",
                "remove 'path', or use protocol HTTP",
            )
        )
    out += _timing_issues(path, check)
    return out


def _timing_issues(path: str, check: HealthCheck) -> list[Issue]:
    out = []
    if check.grace_period_seconds < check.interval_seconds:
        out.append(
            Issue(
                f"{path}.gracePeriodSeconds",
                "health-grace",
                f"grace period {check.grace_period_seconds}s is shorter than the "
                f"interval {check.interval_seconds}s, so a starting instance can "
                "be counted as failing before its first check",
                f"set gracePeriodSeconds >= {check.interval_seconds}",
            )
        )
    if check.timeout_seconds >= check.interval_seconds > 0:
        out.append(
            Issue(
                f"{path}.timeoutSeconds",
                "health-timeout",
                "the timeout is not shorter than the interval; checks overlap",
                f"set timeoutSeconds < {check.interval_seconds}",
            )
        )
    return out


def strategy_issues(spec: AppSpec) -> list[Issue]:
    """MARATHON_SINGLE_INSTANCE_APP forces 0/0 and at most one instance."""
    if spec.labels.get("MARATHON_SINGLE_INSTANCE_APP") != "true":
        return []
    strategy = spec.upgrade_strategy
    out = []
    if strategy.minimum_health_capacity or strategy.maximum_over_capacity:
        out.append(
            Issue(
                "$.upgradeStrategy",
                "single-instance",
                "a single-instance app must use upgradeStrategy 0/0",
                "set minimumHealthCapacity 0 and maximumOverCapacity 0",
            )
        )
    if spec.instances > 1:
        out.append(
            Issue(
                "$.instances",
                "single-instance",
                "a single-instance app runs at most 1 instance",
                "set instances to 0 or 1, or drop the label",
            )
        )
    return out


def constraint_issues(constraints: list[list[str]]) -> list[Issue]:
    """Marathon's constraint grammar: [field, OPERATOR, value?]."""
    out = []
    for index, item in enumerate(constraints):
        problem = constraint_problem(item)
        if problem:
            message, fix = problem
            out.append(Issue(f"$.constraints[{index}]", "constraint", message, fix))
    return out


def constraint_problem(item: list[str]) -> tuple[str, str] | None:
    """(message, fix) when one constraint is malformed."""
    if not 2 <= len(item) <= 3:
        return ("a constraint has 2 or 3 strings", '["hostname", "UNIQUE"]')
    operator = item[1].upper()
    value = item[2] if len(item) == 3 else None
    if operator not in OPERATORS:
        return (f"unknown operator {item[1]!r}", f"use one of {', '.join(OPERATORS)}")
    if operator == "UNIQUE" and value is not None:
        return ("UNIQUE takes no value", "drop the third element")
    number = value is not None and value.isdigit()
    if operator == "GROUP_BY" and value not in (None, "") and not number:
        return ("GROUP_BY's value must be a number", '["rack", "GROUP_BY", "3"]')
    if operator == "MAX_PER" and not number:
        return ("MAX_PER needs a number", '["rack", "MAX_PER", "2"]')
    if operator in ("LIKE", "UNLIKE"):
        return _regex_problem(value)
    if operator == "IS" and (value is None or not re.fullmatch(r"[\w/.-]*", value)):
        return ("IS needs a value of [a-zA-Z0-9_/.-]", '["rack", "IS", "r1"]')
    return None


def _regex_problem(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return ("LIKE/UNLIKE need a regular expression", '["rack", "LIKE", "r[12]"]')
    try:
        re.compile(value)
    except re.error as exc:
        return (f"{value!r} is not a valid regular expression ({exc})", "fix it")
    return None


def size_issues(spec: AppSpec, options: CheckOptions) -> list[Issue]:
    """An instance must fit on at least one agent (totals, not free)."""
    if options.agents is None:
        return [
            Issue(
                "$",
                "fits-agent",
                f"skipped the agent-size check: {options.agents_note}",
                "set MESOS_MASTER (or --mesos-master) to check sizes",
                "note",
            )
        ]
    out = []
    for name in ("cpus", "mem", "disk", "gpus"):
        want = float(getattr(spec, name))
        largest = max((float(getattr(a, name)) for a in options.agents), default=0.0)
        if want > largest:
            out.append(
                Issue(
                    f"$.{name}",
                    "fits-agent",
                    f"{name} {want:g} per instance is more than the largest "
                    f"agent has ({largest:g}); it can never start",
                    f"use {name} <= {largest:g}, or add a bigger agent",
                )
            )
    return out


def agent_totals(agents: list[JsonDict]) -> list[AgentTotals]:
    """`AgentTotals` from the operator API's GET_AGENTS ``agents`` list."""
    out = []
    for agent in agents:
        totals = {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}
        for resource in agent.get("total_resources", []):
            name = resource.get("name")
            if name in totals:
                totals[name] += float(resource.get("scalar", {}).get("value", 0.0))
        agent_id = str(agent.get("agent_info", {}).get("id", {}).get("value", "?"))
        out.append(AgentTotals(agent_id, **totals))
    return out
