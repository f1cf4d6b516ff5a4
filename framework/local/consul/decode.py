"""Decoding of registration bodies into store records, with Consul's checks.

Pure functions: a JSON body in, ``Service``/``Check``/``Session`` records out,
or a ``DecodeError`` (HTTP 400) / ``StoreError`` carrying Consul's message.

Invariants:

* Defaults are Consul's: ``ID`` is the service ``Name``; a service check
  without ``CheckID`` is ``service:<ID>`` (``service:<ID>:<n>`` when the
  service has several); checks start ``critical`` unless ``Status`` is given;
  HTTP/TCP/gRPC ``Timeout`` is 10 s.
* ``Limits`` raise a too-short ``Interval`` or ``DeregisterCriticalServiceAfter``
  to Consul's minimum (1 s, 1 min) like Consul does, unless a test lowered it.
* Script and Docker checks are refused the way an agent without
  ``enable_script_checks`` refuses them; gRPC, H2PING, UDP, OS-service and
  alias checks are accepted but not run (see ``checks``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from framework.local.consul.model import (
    CRITICAL,
    STATUSES,
    Check,
    CheckSpec,
    Node,
    Service,
    Session,
)
from framework.local.consul.store import StoreError
from framework.local.consul.wire import DecodeError, Fields, JsonDict, parse_duration

DEFAULT_CHECK_TIMEOUT = 10.0
SESSION_TTL_MIN, SESSION_TTL_MAX = 10.0, 86400.0
SCRIPTS_DISABLED = (
    "Scripts are disabled on this agent; to enable, configure "
    "'enable_script_checks' or 'enable_local_script_checks' to true"
)
INTERVAL_KINDS = ("http", "tcp", "grpc", "h2ping", "udp", "osservice")


@dataclass(frozen=True)
class Limits:
    """Minimums Consul enforces on check timings (tests may lower them)."""

    min_check_interval: float = 1.0
    min_deregister_after: float = 60.0


def decode_service(
    body: Any, *, node: str, limits: Limits
) -> tuple[Service, list[Check]]:
    """An ``agent/service/register`` body → the service and its checks."""
    f = Fields(body)
    name = f.text("Name")
    if not name:
        raise DecodeError("Missing service name")
    address = f.text("Address")
    if address in ("0.0.0.0", "::", "[::]"):
        raise DecodeError("Invalid service address")
    svc = Service(
        node=node,
        id=f.text("ID") or name,
        name=name,
        tags=f.strings("Tags"),
        address=address,
        port=f.integer("Port"),
        meta=f.string_map("Meta"),
        weights=_weights(f),
        enable_tag_override=f.boolean("EnableTagOverride"),
        tagged_addresses=_tagged_addresses(f, address, f.integer("Port")),
        kind=f.text("Kind"),
        proxy=f.get("Proxy") or None,
        connect=f.get("Connect") or None,
        socket_path=f.text("SocketPath"),
        locality=f.get("Locality") or None,
        agent=True,
    )
    return svc, _service_checks(f, svc, limits)


def _weights(f: Fields) -> dict[str, int]:
    if not f.has("Weights"):
        return {"Passing": 1, "Warning": 1}
    w = f.obj("Weights")
    passing, warning = w.integer("Passing"), w.integer("Warning")
    if passing < 1:
        raise DecodeError("Passing must be greater than 0")
    return {"Passing": passing, "Warning": warning}


def _tagged_addresses(f: Fields, address: str, port: int) -> dict[str, JsonDict]:
    tagged: dict[str, JsonDict] = {}
    raw = f.get("TaggedAddresses", {})
    if not isinstance(raw, dict):
        raise DecodeError("Request decode failed: TaggedAddresses must be an object")
    for tag, value in raw.items():
        entry = Fields(value, what=f"TaggedAddresses.{tag}")
        tagged[str(tag)] = {
            "Address": entry.text("Address"),
            "Port": entry.integer("Port"),
        }
    for tag, value in _default_tagged(address, port).items():
        tagged.setdefault(tag, value)
    return tagged


def _default_tagged(address: str, port: int) -> dict[str, JsonDict]:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return {}
    family = "ipv4" if ip.version == 4 else "ipv6"
    value = {"Address": address, "Port": port}
    return {f"lan_{family}": dict(value), f"wan_{family}": dict(value)}


def _service_checks(f: Fields, svc: Service, limits: Limits) -> list[Check]:
    raw: list[Any] = []
    if f.has("Check"):
        raw.append(f.get("Check"))
    checks_field = f.get("Checks", [])
    if not isinstance(checks_field, list):
        raise DecodeError("Request decode failed: Checks must be a list")
    raw.extend(checks_field)
    checks = []
    for number, item in enumerate(raw, start=1):
        c = Fields(item, what="Check")
        default_id = f"service:{svc.id}" + (f":{number}" if len(raw) > 1 else "")
        status = c.text("Status")
        if status and status not in STATUSES:
            raise DecodeError("Status for checks must 'passing', 'warning', 'critical'")
        checks.append(
            Check(
                node=svc.node,
                check_id=c.text("CheckID") or c.text("ID") or default_id,
                name=c.text("Name") or f"Service '{svc.name}' check",
                status=status or CRITICAL,
                notes=c.text("Notes"),
                service_id=svc.id,
                service_name=svc.name,
                service_tags=list(svc.tags),
                spec=decode_spec(c, limits),
                agent=True,
            )
        )
    return checks


def decode_check(body: Any, *, node: str, limits: Limits) -> Check:
    """An ``agent/check/register`` body → the check (its service is resolved later)."""
    c = Fields(body)
    name = c.text("Name")
    if not name:
        raise DecodeError("Missing check name")
    status = c.text("Status")
    if status and status not in STATUSES:
        raise DecodeError("Bad check status")
    return Check(
        node=node,
        check_id=c.text("CheckID") or c.text("ID") or name,
        name=name,
        status=status or CRITICAL,
        notes=c.text("Notes"),
        service_id=c.text("ServiceID"),
        spec=decode_spec(c, limits),
        agent=True,
    )


def decode_spec(c: Fields, limits: Limits) -> CheckSpec:
    """The runnable part of a check, validated like ``CheckType.Validate``."""
    if any(c.has(k) for k in ("Args", "ScriptArgs", "Script", "DockerContainerID")):
        raise StoreError(SCRIPTS_DISABLED, status=500)
    kind = _check_kind(c)
    interval, ttl = c.duration("Interval"), c.duration("TTL")
    if interval > 0 and ttl > 0:
        raise DecodeError("Invalid check: Interval and TTL cannot both be specified")
    if kind in INTERVAL_KINDS and interval <= 0:
        raise DecodeError(
            "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, "
            "UDP or gRPC checks"
        )
    if kind == "ttl" and ttl <= 0:
        raise DecodeError("Invalid check: TTL must be > 0 for TTL checks")
    return CheckSpec(
        kind=kind,
        interval=max(interval, limits.min_check_interval) if interval else 0.0,
        timeout=(c.duration("Timeout") or DEFAULT_CHECK_TIMEOUT)
        if kind in INTERVAL_KINDS
        else 0.0,
        ttl=ttl,
        http=c.text("HTTP"),
        method=c.text("Method"),
        header=_header(c),
        body=c.text("Body"),
        tls_skip_verify=c.boolean("TLSSkipVerify"),
        tcp=c.text("TCP"),
        grpc=c.text("GRPC"),
        deregister_after=_deregister_after(c, limits),
        success_before_passing=c.integer("SuccessBeforePassing"),
        failures_before_warning=c.integer("FailuresBeforeWarning"),
        failures_before_critical=c.integer("FailuresBeforeCritical"),
    )


def _check_kind(c: Fields) -> str:
    for field, kind in (
        ("HTTP", "http"),
        ("TCP", "tcp"),
        ("GRPC", "grpc"),
        ("H2PING", "h2ping"),
        ("UDP", "udp"),
        ("OSService", "osservice"),
        ("AliasService", "alias"),
        ("AliasNode", "alias"),
    ):
        if c.has(field) and c.get(field) != "":
            return kind
    return "ttl"


def _header(c: Fields) -> dict[str, list[str]]:
    raw = c.get("Header", {})
    if not isinstance(raw, dict):
        raise DecodeError("Request decode failed: Header must be a map of lists")
    header = {}
    for name, values in raw.items():
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise DecodeError("Request decode failed: Header must be a map of lists")
        header[str(name)] = list(values)
    return header


def _deregister_after(c: Fields, limits: Limits) -> float:
    after = c.duration("DeregisterCriticalServiceAfter")
    return max(after, limits.min_deregister_after) if after > 0 else 0.0


def decode_session(body: Any, *, default_node: str) -> Session:
    """A ``session/create`` body → an unsaved session (Consul's defaults)."""
    f = Fields(body)
    behavior = f.text("Behavior") or "release"
    if behavior not in ("release", "delete"):
        raise DecodeError(f"Invalid Behavior setting '{behavior}'")
    ttl = f.duration("TTL")
    if ttl and not SESSION_TTL_MIN <= ttl <= SESSION_TTL_MAX:
        raise DecodeError(
            f"Invalid Session TTL '{f.get('TTL')}', must be between [10s=24h0m0s]"
        )
    node_checks = f.strings("NodeChecks") + f.strings("Checks")
    service_checks = f.get("ServiceChecks", [])
    if not isinstance(service_checks, list):
        raise DecodeError("Request decode failed: ServiceChecks must be a list")
    if not any(f.has(k) for k in ("Checks", "NodeChecks", "ServiceChecks")):
        node_checks = ["serfHealth"]
    return Session(
        id="",
        name=f.text("Name"),
        node=f.text("Node") or default_node,
        node_checks=sorted(set(node_checks)),
        service_checks=[
            {"ID": Fields(s).text("ID"), "Namespace": ""} for s in service_checks
        ],
        lock_delay=_lock_delay(f.get("LockDelay")),
        behavior=behavior,
        ttl=ttl,
    )


def _lock_delay(raw: Any) -> float:
    """Consul reads a bare number below 1000 as seconds, else as nanoseconds."""
    if raw is None:
        return 15.0
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw < 1000:
        return float(raw)
    return parse_duration(raw, field="LockDelay")


@dataclass
class CatalogRegistration:
    """A decoded ``catalog/register`` body."""

    node: Node
    skip_node_update: bool
    service: Service | None
    checks: list[Check]


def decode_catalog_register(body: Any) -> CatalogRegistration:
    """A ``catalog/register`` body → node, optional service and checks."""
    f = Fields(body)
    name, address = f.text("Node"), f.text("Address")
    skip = f.boolean("SkipNodeUpdate")
    if not name or (not address and not skip):
        raise DecodeError("Must provide node and address")
    node = Node(
        name=name,
        address=address,
        id=f.text("ID"),
        tagged_addresses=f.string_map("TaggedAddresses"),
        meta=f.string_map("NodeMeta"),
    )
    service = _catalog_service(f.obj("Service"), name) if f.has("Service") else None
    raw_checks = ([f.get("Check")] if f.has("Check") else []) + list(
        f.get("Checks", [])
    )
    checks = [_catalog_check(Fields(raw, what="Check"), name) for raw in raw_checks]
    return CatalogRegistration(node, skip, service, checks)


def _catalog_service(s: Fields, node: str) -> Service:
    name = s.text("Service")
    if not name:
        raise DecodeError("Must provide service name (Service.Service)")
    return Service(
        node=node,
        id=s.text("ID") or name,
        name=name,
        tags=s.strings("Tags"),
        address=s.text("Address"),
        port=s.integer("Port"),
        meta=s.string_map("Meta"),
        weights=_weights(s),
        enable_tag_override=s.boolean("EnableTagOverride"),
        tagged_addresses=_tagged_addresses(s, "", 0),
        kind=s.text("Kind"),
        proxy=s.get("Proxy") or None,
        connect=s.get("Connect") or None,
        socket_path=s.text("SocketPath"),
    )


def _catalog_check(c: Fields, node: str) -> Check:
    check_id = c.text("CheckID") or c.text("Name")
    if not check_id:
        raise DecodeError("Must provide a CheckID or Name for each check")
    status = c.text("Status") or CRITICAL
    if status not in STATUSES:
        raise DecodeError("Status for checks must 'passing', 'warning', 'critical'")
    definition = c.obj("Definition")
    return Check(
        node=c.text("Node") or node,
        check_id=check_id,
        name=c.text("Name") or check_id,
        status=status,
        notes=c.text("Notes"),
        output=c.text("Output"),
        service_id=c.text("ServiceID"),
        spec=CheckSpec(
            kind=c.text("Type"),
            interval=definition.duration("Interval"),
            timeout=definition.duration("Timeout"),
            http=definition.text("HTTP"),
            tcp=definition.text("TCP"),
            deregister_after=definition.duration("DeregisterCriticalServiceAfter"),
        ),
    )
