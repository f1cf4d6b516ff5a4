"""App definitions: type checks, validation and defaults, as Marathon 1.x has them.

Pure functions. ``normalize_app`` turns a request body into the normalised
definition the stand-in stores and echoes back, or raises ``AppInvalid``
with Marathon's error shape: type mismatches are **400** ``Invalid JSON``
(``error.expected.jsstring`` ...), semantic errors **422** ``Object is not
valid``; both carry ``details[{path, errors}]``.

Invariants: the output holds only keys marathon-python's ``MarathonApp``
accepts (wire-protocols 2.11) and never ``version``/``versionInfo`` (the core
stamps those); read-only fields of a body (``tasks``, ``deployments``,
counts...) are dropped, as Marathon ignores them, so an app read with
``get_app`` can be sent back unchanged.

Defaults chosen (Marathon's RAML): instances 1, cpus 1, mem 128, disk 0,
backoffSeconds 1, backoffFactor 1.15, maxLaunchDelaySeconds 300 (the RAML
value; some docs show 3600, which would make a crash-looping local app wait an
hour), upgradeStrategy 1.0/1.0, health checks grace 300 / interval 60 /
timeout 20 / maxConsecutiveFailures 3 / portIndex 0 / path "/".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from framework.local.marathon.model import JsonDict

SEGMENT = re.compile(
    r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*"
    r"([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$"
)
RESERVED_LAST = {"restart", "tasks", "versions", ".", ".."}
OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "MAX_PER", "UNLIKE", "IS")
HEALTH_PROTOCOLS = {
    "HTTP",
    "HTTPS",
    "TCP",
    "COMMAND",
    "MESOS_HTTP",
    "MESOS_HTTPS",
    "MESOS_TCP",
}
NO_CMD = (
    "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
)
PORT_INDEX = (
    "Health check port indices must address an element of the ports array "
    "or container port mappings."
)
OPERATOR_LIST = (
    "Constraint operator must be one of the following UNIQUE, CLUSTER, "
    "GROUP_BY, LIKE, MAX_PER, UNLIKE or IS"
)

# JSON type expected per top-level field (None: accepted as given).
STR, NUM, INT, BOOL, LIST, OBJ = "str", "num", "int", "bool", "list", "obj"
FIELD_TYPES: dict[str, str | None] = {
    "id": STR,
    "cmd": STR,
    "args": LIST,
    "user": STR,
    "env": OBJ,
    "instances": INT,
    "cpus": NUM,
    "mem": NUM,
    "disk": NUM,
    "gpus": INT,
    "executor": STR,
    "constraints": LIST,
    "uris": LIST,
    "fetch": LIST,
    "storeUrls": LIST,
    "ports": LIST,
    "portDefinitions": LIST,
    "requirePorts": BOOL,
    "backoffSeconds": NUM,
    "backoffFactor": NUM,
    "maxLaunchDelaySeconds": NUM,
    "container": OBJ,
    "healthChecks": LIST,
    "readinessChecks": LIST,
    "dependencies": LIST,
    "upgradeStrategy": OBJ,
    "labels": OBJ,
    "acceptedResourceRoles": LIST,
    "killSelection": STR,
    "unreachableStrategy": None,
    "taskKillGracePeriodSeconds": NUM,
    "networks": LIST,
    "secrets": OBJ,
    "residency": OBJ,
    "role": STR,
    "ipAddress": OBJ,
    "taskRateLimit": NUM,
}
EXPECTED = {
    STR: "error.expected.jsstring",
    NUM: "error.expected.jsnumber",
    INT: "error.expected.jsnumber",
    BOOL: "error.expected.jsboolean",
    LIST: "error.expected.jsarray",
    OBJ: "error.expected.jsobject",
}
HC_DEFAULTS: JsonDict = {
    "gracePeriodSeconds": 300,
    "intervalSeconds": 60,
    "timeoutSeconds": 20,
    "maxConsecutiveFailures": 3,
    "delaySeconds": 15,
}


class AppInvalid(Exception):
    """A request body Marathon would refuse: HTTP status, message, details."""

    def __init__(self, status: int, message: str, details: list[JsonDict]) -> None:
        super().__init__(f"{message}: {details}")
        self.status = status
        self.message = message
        self.details = details

    def body(self) -> JsonDict:
        return {"message": self.message, "details": self.details}


def invalid(path: str, error: str) -> AppInvalid:
    """A 422 with one detail."""
    return AppInvalid(422, "Object is not valid", [{"path": path, "errors": [error]}])


def absolute_id(raw: str) -> str:
    """``web`` -> ``/web``; trailing slashes dropped."""
    text = raw.strip()
    text = text if text.startswith("/") else "/" + text
    return text.rstrip("/") or "/"


def id_errors(app_id: str) -> list[str]:
    """Marathon's path checks of an absolute app id (empty when valid)."""
    if app_id == "/":
        return ["Path must contain at least one path element"]
    segments = app_id.strip("/").split("/")
    bad = [s for s in segments if not SEGMENT.fullmatch(s)]
    if bad:
        return [f"must fully match regular expression '{SEGMENT.pattern}'"]
    if segments[-1] in RESERVED_LAST:
        return [f"must not end with {segments[-1]!r}"]
    return []


def _type_ok(value: Any, kind: str) -> bool:
    if kind == NUM:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == INT:
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and float(value).is_integer()
        )
    python = {STR: str, BOOL: bool, LIST: list, OBJ: dict}[kind]
    return isinstance(value, python)


def check_types(body: Mapping[str, Any]) -> None:
    """Raise a 400 ``Invalid JSON`` for top-level fields of the wrong JSON type."""
    details = []
    for name, value in body.items():
        kind = FIELD_TYPES.get(name)
        if kind is None or value is None or _type_ok(value, kind):
            continue
        details.append({"path": f"/{name}", "errors": [EXPECTED[kind]]})
    if details:
        raise AppInvalid(400, "Invalid JSON", details)


def _minimum(spec: JsonDict, name: str, low: float, errors: list[JsonDict]) -> None:
    value = spec[name]
    if value < low:
        errors.append(
            {"path": f"/{name}", "errors": [f"got {value}, expected {low} or more"]}
        )


def normalize_app(body: Any) -> JsonDict:
    """Validate ``body`` and fill Marathon's defaults (raises ``AppInvalid``)."""
    if not isinstance(body, dict):
        raise AppInvalid(
            400, "Invalid JSON", [{"path": "", "errors": ["error.expected.jsobject"]}]
        )
    check_types(body)
    raw = {k: v for k, v in body.items() if k in FIELD_TYPES and v is not None}
    if "id" not in raw:
        raise invalid("/id", "error.path.missing")
    spec = _with_defaults(raw)
    errors: list[JsonDict] = []
    _check_scalars(spec, errors)
    _check_command(spec, errors)
    errors += _constraint_errors(spec["constraints"])
    errors += _port_errors(spec["portDefinitions"])
    errors += _health_errors(spec["healthChecks"], len(spec["portDefinitions"]))
    errors += _strategy_errors(spec["upgradeStrategy"])
    if errors:
        raise AppInvalid(422, "Object is not valid", errors)
    return spec


# TODO(readiness): readinessChecks are stored and echoed, never run.
def _with_defaults(raw: JsonDict) -> JsonDict:
    spec: JsonDict = {
        "id": absolute_id(str(raw["id"])),
        "instances": 1,
        "cpus": 1.0,
        "mem": 128.0,
        "disk": 0.0,
        "gpus": 0,
        "executor": "",
        "env": {},
        "labels": {},
        "constraints": [],
        "fetch": [],
        "dependencies": [],
        "healthChecks": [],
        "readinessChecks": [],
        "backoffSeconds": 1,
        "backoffFactor": 1.15,
        "maxLaunchDelaySeconds": 300,
        "killSelection": "YOUNGEST_FIRST",
        "requirePorts": False,
        "networks": [{"mode": "host"}],
        "secrets": {},
        "role": "*",
        "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
    }
    skip = {"id", "ports", "upgradeStrategy", "healthChecks", "portDefinitions"}
    spec.update({k: v for k, v in raw.items() if k not in skip})
    spec["upgradeStrategy"] = {
        "minimumHealthCapacity": 1.0,
        "maximumOverCapacity": 1.0,
        **raw.get("upgradeStrategy", {}),
    }
    spec["portDefinitions"] = _port_definitions(raw)
    spec["healthChecks"] = [_health_defaults(hc) for hc in raw.get("healthChecks", [])]
    spec["fetch"] = spec["fetch"] or [{"uri": u} for u in raw.get("uris", [])]
    spec.pop("uris", None)
    return spec


def _port_definitions(raw: JsonDict) -> list[JsonDict]:
    if "portDefinitions" in raw:
        given = raw["portDefinitions"]
    elif "ports" in raw:
        given = [{"port": p} for p in raw["ports"]]
    else:
        given = [{"port": 0, "name": "default"}]
    out = []
    for item in given:
        entry = dict(item) if isinstance(item, dict) else {"port": item}
        entry.setdefault("port", 0)
        entry.setdefault("protocol", "tcp")
        out.append(entry)
    return out


def _health_defaults(raw: Any) -> JsonDict:
    hc: JsonDict = dict(raw) if isinstance(raw, dict) else {"invalid": raw}
    protocol = str(hc.get("protocol", "HTTP")).upper()
    hc["protocol"] = protocol
    for name, default in HC_DEFAULTS.items():
        hc.setdefault(name, default)
    if protocol in ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"):
        hc.setdefault("path", "/")
        hc.setdefault("ignoreHttp1xx", False)
    if protocol != "COMMAND" and "port" not in hc:
        hc.setdefault("portIndex", 0)
    if isinstance(hc.get("command"), str):
        hc["command"] = {"value": hc["command"]}
    return hc


def _check_scalars(spec: JsonDict, errors: list[JsonDict]) -> None:
    problems = id_errors(spec["id"])
    if problems:
        errors.append({"path": "/id", "errors": problems})
    _minimum(spec, "instances", 0, errors)
    _minimum(spec, "cpus", 0.001, errors)
    for name in ("mem", "disk", "gpus", "backoffSeconds", "maxLaunchDelaySeconds"):
        _minimum(spec, name, 0, errors)
    _minimum(spec, "backoffFactor", 1.0, errors)
    if spec["killSelection"] not in ("YOUNGEST_FIRST", "OLDEST_FIRST"):
        errors.append(
            {
                "path": "/killSelection",
                "errors": ["must be one of YOUNGEST_FIRST, OLDEST_FIRST"],
            }
        )
    bad_labels = [k for k, v in spec["labels"].items() if not isinstance(v, str)]
    for key in bad_labels:
        errors.append({"path": f"/labels/{key}", "errors": ["error.expected.jsstring"]})


def _check_command(spec: JsonDict, errors: list[JsonDict]) -> None:
    has_cmd, has_args = "cmd" in spec, "args" in spec
    container = spec.get("container")
    if (has_cmd and has_args) or not (has_cmd or has_args or container):
        errors.append({"path": "/", "errors": [NO_CMD]})
    if has_cmd and len(spec["cmd"]) < 1:
        errors.append({"path": "/cmd", "errors": ["error.minLength"]})
    if container is not None:
        kind = container.get("type", "DOCKER")
        if kind not in ("DOCKER", "MESOS"):
            errors.append(
                {"path": "/container/type", "errors": ["must be DOCKER or MESOS"]}
            )
        image = (container.get("docker") or {}).get("image")
        if kind == "DOCKER" and not image:
            errors.append(
                {"path": "/container/docker/image", "errors": ["must not be empty"]}
            )


def _constraint_errors(constraints: list[Any]) -> list[JsonDict]:
    errors = []
    for index, item in enumerate(constraints):
        problem = constraint_problem(item)
        if problem:
            errors.append({"path": f"/constraints({index})", "errors": [problem]})
    return errors


def constraint_problem(item: Any) -> str | None:
    """Marathon's check of one ``[field, OPERATOR, value?]`` constraint."""
    if not isinstance(item, list) or not 2 <= len(item) <= 3:
        return "Each constraint must have either 2 or 3 fields"
    if not all(isinstance(part, str) for part in item):
        return "Constraint fields must be strings"
    operator = item[1].upper()
    value = item[2] if len(item) == 3 else None
    if operator not in OPERATORS:
        return OPERATOR_LIST
    if operator == "UNIQUE" and value is not None:
        return "Value specified but not used"
    if operator == "GROUP_BY" and value not in (None, "") and not value.isdigit():
        return "Value was specified but is not a number"
    if operator == "MAX_PER" and (value is None or not value.isdigit()):
        return "Value was specified but is not a number"
    if operator in ("LIKE", "UNLIKE"):
        return _regex_problem(value)
    if operator == "IS" and (
        value is None or not re.fullmatch(r"[a-zA-Z0-9_/.-]*", value)
    ):
        return "IS requires a value matching ^[a-zA-Z0-9_/.-]*$"
    return None


def _regex_problem(value: str | None) -> str | None:
    if value is None:
        return "A regular expression value must be provided"
    try:
        re.compile(value)
    except re.error:
        return f"'{value}' is not a valid regular expression"
    return None


def _port_errors(ports: list[JsonDict]) -> list[JsonDict]:
    errors = []
    names = [p["name"] for p in ports if p.get("name")]
    if len(names) != len(set(names)):
        errors.append(
            {"path": "/portDefinitions", "errors": ["Port names must be unique."]}
        )
    numbers = [p["port"] for p in ports if p["port"]]
    if len(numbers) != len(set(numbers)):
        errors.append({"path": "/portDefinitions", "errors": ["Ports must be unique."]})
    for index, port in enumerate(ports):
        if not isinstance(port["port"], int) or not 0 <= port["port"] <= 65535:
            path = f"/portDefinitions({index})/port"
            errors.append({"path": path, "errors": ["must be between 0 and 65535"]})
        if port["protocol"] not in ("tcp", "udp", "udp,tcp"):
            path = f"/portDefinitions({index})/protocol"
            errors.append({"path": path, "errors": ["must be tcp, udp or udp,tcp"]})
    return errors


def _health_errors(checks: list[JsonDict], port_count: int) -> list[JsonDict]:
    errors: list[JsonDict] = []
    mesos_level = 0
    for index, hc in enumerate(checks):
        path = f"/healthChecks({index})"
        protocol = hc["protocol"]
        if protocol not in HEALTH_PROTOCOLS:
            errors.append({"path": f"{path}/protocol", "errors": ["is not valid"]})
            continue
        mesos_level += protocol == "COMMAND" or protocol.startswith("MESOS_")
        if protocol == "COMMAND" and not (hc.get("command") or {}).get("value"):
            errors.append({"path": f"{path}/command", "errors": ["is required"]})
        index_ = hc.get("portIndex")
        if index_ is not None and not 0 <= index_ < port_count:
            errors.append({"path": path, "errors": [PORT_INDEX]})
        for name in HC_DEFAULTS:
            if not _type_ok(hc[name], NUM) or hc[name] < 0:
                errors.append({"path": f"{path}/{name}", "errors": ["must be >= 0"]})
    if mesos_level > 1:
        errors.append(
            {
                "path": "/healthChecks",
                "errors": ["AppDefinition can contain at most one Mesos health check."],
            }
        )
    return errors


def _strategy_errors(strategy: JsonDict) -> list[JsonDict]:
    errors = []
    for name in ("minimumHealthCapacity", "maximumOverCapacity"):
        value: Any = strategy.get(name)
        path = f"/upgradeStrategy/{name}"
        if not _type_ok(value, NUM):
            errors.append({"path": path, "errors": ["error.expected.jsnumber"]})
        elif value > 1:
            errors.append({"path": path, "errors": ["is greater than 1"]})
        elif value < 0:
            errors.append({"path": path, "errors": ["is less than 0"]})
    return errors
