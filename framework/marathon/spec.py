"""Our strict model of a Marathon app definition, and Marathon's defaults.

``parse_app(text)`` reads JSON and checks its shape with pydantic (unknown
fields rejected, no type coercion); every problem becomes an `Issue` with the
JSON path, the rule broken and how to fix it. ``with_defaults(raw)`` fills in
what Marathon fills in, so two definitions can be compared field by field and
a PUT carries the whole definition (a field removed from the file goes back
to its default instead of silently keeping the running value).

Invariants: pure (no I/O); the accepted fields are a subset of what
marathon-python's ``MarathonApp`` accepts (wire-protocols 2.11);
``with_defaults`` is idempotent and never drops a key it was given.
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Issue:
    """One finding: where (``$.healthChecks[0].portIndex``), what, and the fix."""

    path: str
    rule: str
    message: str
    fix: str
    severity: Literal["error", "note"] = "error"

    def line(self) -> str:
        head = f"{self.severity}: {self.path}: {self.message}"
        return f"{head} [{self.rule}] fix: {self.fix}"


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, alias_generator=to_camel, populate_by_name=True
    )


class PortDefinition(_Strict):
    port: int = Field(0, ge=0, le=65535)
    protocol: Literal["tcp", "udp", "udp,tcp"] = "tcp"
    name: str | None = None
    labels: dict[str, str] = {}


class HealthCommand(_Strict):
    value: str = Field(min_length=1)


class HealthCheck(_Strict):
    protocol: Literal[
        "HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"
    ] = "HTTP"
    path: str | None = None
    port_index: int | None = Field(None, ge=0)
    port: int | None = Field(None, ge=0, le=65535)
    command: HealthCommand | None = None
    grace_period_seconds: int = Field(300, ge=0)
    interval_seconds: int = Field(60, ge=0)
    timeout_seconds: int = Field(20, ge=0)
    max_consecutive_failures: int = Field(3, ge=0)
    delay_seconds: int = Field(15, ge=0)
    ignore_http1xx: bool = False
    ip_protocol: Literal["IPv4", "IPv6"] = "IPv4"

    @field_validator("command", mode="before")
    @classmethod
    def _command_string(cls, value: Any) -> Any:
        return {"value": value} if isinstance(value, str) else value


class UpgradeStrategy(_Strict):
    minimum_health_capacity: float = Field(1.0, ge=0, le=1)
    maximum_over_capacity: float = Field(1.0, ge=0, le=1)


class DockerParameter(_Strict):
    key: str
    value: str


class Docker(_Strict):
    image: str = Field(min_length=1)
    force_pull_image: bool = False
    privileged: bool = False
    parameters: list[DockerParameter] = []


class PortMapping(_Strict):
    container_port: int = Field(0, ge=0, le=65535)
    host_port: int | None = Field(None, ge=0, le=65535)
    service_port: int = Field(0, ge=0, le=65535)
    protocol: Literal["tcp", "udp", "udp,tcp"] = "tcp"
    name: str | None = None
    labels: dict[str, str] = {}


class Volume(_Strict):
    container_path: str = Field(min_length=1)
    host_path: str = Field(min_length=1)
    mode: Literal["RO", "RW"]


class Container(_Strict):
    type: Literal["DOCKER", "MESOS"] = "DOCKER"
    docker: Docker | None = None
    port_mappings: list[PortMapping] | None = None
    volumes: list[Volume] = []


class Network(_Strict):
    mode: Literal["host", "container", "container/bridge"] = "host"
    name: str | None = None


class Fetch(_Strict):
    uri: str = Field(min_length=1)
    executable: bool = False
    extract: bool = True
    cache: bool = False


class AppSpec(_Strict):
    """The fields of a Marathon app we accept (Marathon's names, camelCase)."""

    id: str = Field(min_length=1)
    cmd: str | None = Field(None, min_length=1)
    args: list[str] | None = None
    container: Container | None = None
    instances: int = Field(1, ge=0)
    cpus: float = Field(1.0, ge=0.001)
    mem: float = Field(128.0, ge=0)
    disk: float = Field(0.0, ge=0)
    gpus: int = Field(0, ge=0)
    env: dict[str, str] = {}
    labels: dict[str, str] = {}
    constraints: list[list[str]] = []
    port_definitions: list[PortDefinition] | None = None
    require_ports: bool = False
    health_checks: list[HealthCheck] = []
    upgrade_strategy: UpgradeStrategy = UpgradeStrategy(
        minimum_health_capacity=1.0, maximum_over_capacity=1.0
    )
    backoff_seconds: float = Field(1.0, ge=0)
    backoff_factor: float = Field(1.15, ge=1.0)
    max_launch_delay_seconds: float = Field(300.0, ge=0)
    fetch: list[Fetch] = []
    user: str | None = None
    task_kill_grace_period_seconds: float | None = Field(None, ge=0)
    accepted_resource_roles: list[str] | None = Field(None, min_length=1)
    role: str | None = None
    kill_selection: Literal["YOUNGEST_FIRST", "OLDEST_FIRST"] = "YOUNGEST_FIRST"
    unreachable_strategy: Any = None
    networks: list[Network] | None = None
    dependencies: list[str] = []
    executor: str = ""

    @field_validator("unreachable_strategy")
    @classmethod
    def _unreachable(cls, value: Any) -> Any:
        if value is None or value == "disabled":
            return value
        keys = {"inactiveAfterSeconds", "expungeAfterSeconds"}
        numbers = isinstance(value, dict) and all(
            isinstance(value.get(k), int) and value[k] >= 0 for k in keys
        )
        if not numbers or set(value) != keys:
            raise ValueError(
                'expected "disabled" or {"inactiveAfterSeconds": N, '
                '"expungeAfterSeconds": M} with whole seconds >= 0'
            )
        return value


# Fields Marathon adds to what it returns; a file copied from GET carries them.
READ_ONLY = frozenset(
    {
        "version",
        "versionInfo",
        "tasks",
        "tasksRunning",
        "tasksStaged",
        "tasksHealthy",
        "tasksUnhealthy",
        "deployments",
        "lastTaskFailure",
        "readinessCheckResults",
        "taskStats",
        "tasksStats",
    }
)
FIELDS = tuple(
    (info.alias or name) for name, info in AppSpec.model_fields.items()
)  # camelCase names, in declaration order
HEALTH_DEFAULTS: JsonDict = {
    "gracePeriodSeconds": 300,
    "intervalSeconds": 60,
    "timeoutSeconds": 20,
    "maxConsecutiveFailures": 3,
    "delaySeconds": 15,
    "ipProtocol": "IPv4",
}
HTTP_KINDS = frozenset({"HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"})


class SpecInvalid(Exception):
    """The definition cannot be used; ``issues`` says where and how to fix it."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(i.line() for i in issues))
        self.issues = issues


def parse_app(text: str) -> tuple[JsonDict, AppSpec]:
    """The raw JSON object and its model; `SpecInvalid` on any shape error."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise SpecInvalid(
            [Issue("$", "json", f"invalid JSON at {where}: {exc.msg}", _JSON_FIX)]
        ) from exc
    if not isinstance(raw, dict):
        raise SpecInvalid(
            [Issue("$", "json", "expected a JSON object {...}", "write one app")]
        )
    try:
        return raw, AppSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecInvalid([_issue(e) for e in exc.errors()]) from exc


_JSON_FIX = "fix the syntax there (trailing commas and comments are not JSON)"


def json_path(loc: tuple[int | str, ...]) -> str:
    """``('healthChecks', 0, 'portIndex')`` -> ``$.healthChecks[0].portIndex``."""
    out = "$"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.replace("_", "").isalnum():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _issue(error: Any) -> Issue:
    loc = tuple(error["loc"])
    kind = str(error["type"])
    return Issue(json_path(loc), kind, _message(error), _fix(kind, loc, error))


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return str(error["msg"])


def _fix(kind: str, loc: tuple[int | str, ...], error: Any) -> str:
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return _unknown_fix(str(loc[-1]), top_level=len(loc) == 1)
    if kind == "missing":
        return f"add {loc[-1]!r}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than"):
        return f"use a value that is {error['msg'].split('be ', 1)[-1]}"
    if kind == "literal_error":
        return f"use one of {ctx.get('expected', 'the listed values')}"
    if kind == "string_too_short":
        return "give a non-empty string"
    if kind == "too_short":
        return "give at least one element, or leave the field out"
    if kind.endswith(("_type", "_parsing")):
        return f"write a {kind.removesuffix('_type').removesuffix('_parsing')}"
    return "see Marathon's app definition reference for this field"


def _unknown_fix(name: str, *, top_level: bool) -> str:
    if top_level and name in READ_ONLY:
        return "remove it: Marathon sets it and returns it from GET, never accepts it"
    candidates = list(FIELDS) if top_level else []
    close = difflib.get_close_matches(name, candidates, n=1)
    if close:
        return f"did you mean {close[0]!r}? Otherwise remove it"
    return "remove it (mesos-adapter accepts Marathon's documented app fields only)"


def absolute_id(app_id: str) -> str:
    """``team/web`` -> ``/team/web`` (Marathon makes relative ids absolute)."""
    return "/" + app_id.strip("/")


def host_networking(raw: JsonDict) -> bool:
    networks = raw.get("networks") or [{"mode": "host"}]
    return all(n.get("mode", "host") == "host" for n in networks)


def with_defaults(raw: JsonDict) -> JsonDict:
    """``raw`` with every default Marathon would fill in made explicit."""
    app = copy.deepcopy(raw)
    app["id"] = absolute_id(str(app.get("id", "")))
    for key, value in _TOP_DEFAULTS.items():
        app.setdefault(key, copy.deepcopy(value))
    app["upgradeStrategy"] = {
        "minimumHealthCapacity": 1.0,
        "maximumOverCapacity": 1.0,
        **app["upgradeStrategy"],
    }
    if host_networking(app):
        app["portDefinitions"] = [_port_defaults(p) for p in _ports(app)]
    app["healthChecks"] = [_health_defaults(h) for h in app["healthChecks"]]
    app["fetch"] = [_fetch_defaults(f) for f in app["fetch"]]
    if isinstance(app.get("container"), dict):
        app["container"] = _container_defaults(app["container"])
    return app


_TOP_DEFAULTS: JsonDict = {
    "instances": 1,
    "cpus": 1.0,
    "mem": 128.0,
    "disk": 0.0,
    "gpus": 0,
    "env": {},
    "labels": {},
    "constraints": [],
    "requirePorts": False,
    "healthChecks": [],
    "upgradeStrategy": {},
    "backoffSeconds": 1.0,
    "backoffFactor": 1.15,
    "maxLaunchDelaySeconds": 300.0,
    "fetch": [],
    "killSelection": "YOUNGEST_FIRST",
    "networks": [{"mode": "host"}],
    "dependencies": [],
    "executor": "",
    "role": "*",  # Marathon: the group's role or --mesos_role; "*" by default
    "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
}


def _ports(app: JsonDict) -> list[Any]:
    if "portDefinitions" in app:
        return list(app["portDefinitions"])
    return [{"port": 0, "name": "default"}]


def _port_defaults(port: JsonDict) -> JsonDict:
    return {"port": 0, "protocol": "tcp", "labels": {}, **port}


def _health_defaults(check: JsonDict) -> JsonDict:
    out = {"protocol": "HTTP", **HEALTH_DEFAULTS, **check}
    if out["protocol"] in HTTP_KINDS:
        out.setdefault("path", "/")
        out.setdefault("ignoreHttp1xx", False)
    if out["protocol"] != "COMMAND" and "port" not in out:
        out.setdefault("portIndex", 0)
    if isinstance(out.get("command"), str):
        out["command"] = {"value": out["command"]}
    return out


def _fetch_defaults(item: JsonDict) -> JsonDict:
    return {"executable": False, "extract": True, "cache": False, **item}


def _container_defaults(container: JsonDict) -> JsonDict:
    out = {"type": "DOCKER", "volumes": [], **container}
    if isinstance(out.get("docker"), dict):
        docker = {"forcePullImage": False, "privileged": False, "parameters": []}
        out["docker"] = {**docker, **out["docker"]}
    if isinstance(out.get("portMappings"), list):
        out["portMappings"] = [
            {"containerPort": 0, "servicePort": 0, "protocol": "tcp", "labels": {}, **m}
            for m in out["portMappings"]
        ]
    return out
