"""Records of the local Consul's state store and their JSON views.

Each record is a mutable dataclass owned by ``store.Store``; only the store
changes them. ``to_json``/``from_json`` give the on-disk form (persisted by
``persist``); the ``*_view`` functions give the exact PascalCase shapes the
Consul HTTP API answers with (reference section 3.2).

Invariants:

* ``create_index``/``modify_index`` are raft-like indexes handed out by the
  store; ``modify_index`` changes only when an observable field changes.
* ``Tags`` and list fields are never ``None`` on the wire (``[]``), ``Meta`` is
  never ``None`` (``{}``), like Consul.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field, fields

from framework.local.consul.wire import DATACENTER, JsonDict, format_duration

PASSING, WARNING, CRITICAL = "passing", "warning", "critical"
STATUSES = (PASSING, WARNING, CRITICAL)
SERF_CHECK_ID = "serfHealth"


@dataclass
class Node:
    name: str
    address: str
    id: str = ""
    tagged_addresses: dict[str, str] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    create_index: int = 0
    modify_index: int = 0


@dataclass
class Service:
    node: str
    id: str
    name: str
    tags: list[str] = field(default_factory=list)
    address: str = ""
    port: int = 0
    meta: dict[str, str] = field(default_factory=dict)
    weights: dict[str, int] = field(
        default_factory=lambda: {"Passing": 1, "Warning": 1}
    )
    enable_tag_override: bool = False
    tagged_addresses: dict[str, JsonDict] = field(default_factory=dict)
    kind: str = ""
    proxy: JsonDict | None = None
    connect: JsonDict | None = None
    socket_path: str = ""
    locality: JsonDict | None = None
    agent: bool = False  # registered through /v1/agent: the local agent owns it
    create_index: int = 0
    modify_index: int = 0

    def same_definition(self, other: Service) -> bool:
        ignored = {"create_index", "modify_index"}
        return all(
            getattr(self, f.name) == getattr(other, f.name)
            for f in fields(self)
            if f.name not in ignored
        )


@dataclass
class CheckSpec:
    """How the agent runs a check; empty for catalog-only checks."""

    kind: str = ""  # ttl, http, tcp, grpc, h2ping, udp, alias, maintenance, ""
    interval: float = 0.0
    timeout: float = 0.0
    ttl: float = 0.0
    http: str = ""
    method: str = ""
    header: dict[str, list[str]] = field(default_factory=dict)
    body: str = ""
    tls_skip_verify: bool = False
    tcp: str = ""
    grpc: str = ""
    deregister_after: float = 0.0
    success_before_passing: int = 0
    failures_before_warning: int = 0
    failures_before_critical: int = 0


@dataclass
class Check:
    node: str
    check_id: str
    name: str
    status: str = CRITICAL
    notes: str = ""
    output: str = ""
    service_id: str = ""
    service_name: str = ""
    service_tags: list[str] = field(default_factory=list)
    spec: CheckSpec = field(default_factory=CheckSpec)
    agent: bool = False
    create_index: int = 0
    modify_index: int = 0
    critical_since: float | None = field(default=None, compare=False)


@dataclass
class KVEntry:
    key: str
    value: bytes | None = None
    flags: int = 0
    session: str = ""
    lock_index: int = 0
    create_index: int = 0
    modify_index: int = 0


@dataclass
class Session:
    id: str
    name: str = ""
    node: str = ""
    node_checks: list[str] = field(default_factory=list)
    service_checks: list[JsonDict] = field(default_factory=list)
    lock_delay: float = 15.0
    behavior: str = "release"
    ttl: float = 0.0
    create_index: int = 0
    modify_index: int = 0


# -- persistence forms ------------------------------------------------------


def to_json(record: Node | Service | Check | KVEntry | Session) -> JsonDict:
    """Shallow field copy, JSON-ready (fast: ``asdict`` is too slow at 1,000s)."""
    data = dict(vars(record))
    if isinstance(record, Check):
        data.pop("critical_since")
        data["spec"] = dict(vars(record.spec))
    if isinstance(record, KVEntry):
        data["value"] = None if record.value is None else _b64(record.value)
    return data


def node_from_json(data: JsonDict) -> Node:
    return Node(**data)


def service_from_json(data: JsonDict) -> Service:
    return Service(**data)


def check_from_json(data: JsonDict) -> Check:
    spec = CheckSpec(**data.pop("spec"))
    return Check(spec=spec, **data)


def kv_from_json(data: JsonDict) -> KVEntry:
    raw = data.pop("value")
    value = None if raw is None else base64.b64decode(raw)
    return KVEntry(value=value, **data)


def session_from_json(data: JsonDict) -> Session:
    return Session(**data)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


# -- HTTP views -------------------------------------------------------------


def node_view(node: Node) -> JsonDict:
    return {
        "ID": node.id,
        "Node": node.name,
        "Address": node.address,
        "Datacenter": DATACENTER,
        "TaggedAddresses": dict(node.tagged_addresses),
        "Meta": dict(node.meta),
        "CreateIndex": node.create_index,
        "ModifyIndex": node.modify_index,
    }


def _service_extras(svc: Service) -> JsonDict:
    out: JsonDict = {}
    if svc.kind:
        out["Kind"] = svc.kind
    if svc.socket_path:
        out["SocketPath"] = svc.socket_path
    if svc.locality:
        out["Locality"] = svc.locality
    return out


def node_service_view(svc: Service) -> JsonDict:
    """``structs.NodeService``: the ``Service`` of health and catalog/node."""
    out: JsonDict = {
        "ID": svc.id,
        "Service": svc.name,
        "Tags": list(svc.tags),
        "Address": svc.address,
        "Meta": dict(svc.meta),
        "Port": svc.port,
        "Weights": dict(svc.weights),
        "EnableTagOverride": svc.enable_tag_override,
        "Proxy": svc.proxy or {"Mode": "", "MeshGateway": {}, "Expose": {}},
        "Connect": svc.connect or {},
        "CreateIndex": svc.create_index,
        "ModifyIndex": svc.modify_index,
    }
    if svc.tagged_addresses:
        out["TaggedAddresses"] = _copy_tagged(svc.tagged_addresses)
    out.update(_service_extras(svc))
    return out


def agent_service_view(svc: Service) -> JsonDict:
    """``api.AgentService``: an entry of ``/v1/agent/services``."""
    out: JsonDict = {
        "ID": svc.id,
        "Service": svc.name,
        "Tags": list(svc.tags),
        "Meta": dict(svc.meta),
        "Port": svc.port,
        "Address": svc.address,
        "Weights": dict(svc.weights),
        "EnableTagOverride": svc.enable_tag_override,
        "Datacenter": DATACENTER,
    }
    if svc.tagged_addresses:
        out["TaggedAddresses"] = _copy_tagged(svc.tagged_addresses)
    if svc.proxy:
        out["Proxy"] = svc.proxy
    if svc.connect:
        out["Connect"] = svc.connect
    out.update(_service_extras(svc))
    return out


def content_hash(view: JsonDict) -> str:
    """The ``ContentHash`` of ``/v1/agent/service/{id}`` (16 hex digits)."""
    text = json.dumps(view, sort_keys=True).encode()
    return hashlib.blake2b(text, digest_size=8).hexdigest()


def catalog_service_view(node: Node, svc: Service) -> JsonDict:
    """``structs.ServiceNode``: an entry of ``/v1/catalog/service/{name}``."""
    out: JsonDict = {
        "ID": node.id,
        "Node": node.name,
        "Address": node.address,
        "Datacenter": DATACENTER,
        "TaggedAddresses": dict(node.tagged_addresses),
        "NodeMeta": dict(node.meta),
        "ServiceKind": svc.kind,
        "ServiceID": svc.id,
        "ServiceName": svc.name,
        "ServiceTags": list(svc.tags),
        "ServiceAddress": svc.address,
        "ServiceWeights": dict(svc.weights),
        "ServiceMeta": dict(svc.meta),
        "ServicePort": svc.port,
        "ServiceSocketPath": svc.socket_path,
        "ServiceEnableTagOverride": svc.enable_tag_override,
        "ServiceProxy": svc.proxy or {"Mode": "", "MeshGateway": {}, "Expose": {}},
        "ServiceConnect": svc.connect or {},
        "CreateIndex": svc.create_index,
        "ModifyIndex": svc.modify_index,
    }
    if svc.tagged_addresses:
        out["ServiceTaggedAddresses"] = _copy_tagged(svc.tagged_addresses)
    return out


def check_view(check: Check, *, with_indexes: bool = True) -> JsonDict:
    """``structs.HealthCheck`` as health, catalog and agent endpoints show it."""
    spec = check.spec
    out: JsonDict = {
        "Node": check.node,
        "CheckID": check.check_id,
        "Name": check.name,
        "Status": check.status,
        "Notes": check.notes,
        "Output": check.output,
        "ServiceID": check.service_id,
        "ServiceName": check.service_name,
        "ServiceTags": list(check.service_tags),
        "Type": spec.kind,
        "Interval": format_duration(spec.interval) if spec.interval else "",
        "Timeout": format_duration(spec.timeout) if spec.timeout else "",
        "ExposedPort": 0,
        "Definition": _definition_view(spec),
    }
    if with_indexes:
        out["CreateIndex"] = check.create_index
        out["ModifyIndex"] = check.modify_index
    return out


def _definition_view(spec: CheckSpec) -> JsonDict:
    if not spec.kind or spec.kind == "maintenance":
        return {}
    out: JsonDict = {
        "Interval": format_duration(spec.interval),
        "Timeout": format_duration(spec.timeout),
        "DeregisterCriticalServiceAfter": format_duration(spec.deregister_after),
        "HTTP": spec.http,
        "Header": spec.header or None,
        "Method": spec.method,
        "Body": spec.body,
        "TLSSkipVerify": spec.tls_skip_verify,
        "TCP": spec.tcp,
        "GRPC": spec.grpc,
    }
    if spec.kind == "ttl":
        out["TTL"] = format_duration(spec.ttl)
    return out


def kv_view(entry: KVEntry) -> JsonDict:
    out: JsonDict = {
        "LockIndex": entry.lock_index,
        "Key": entry.key,
        "Flags": entry.flags,
        "Value": None if entry.value is None else _b64(entry.value),
        "CreateIndex": entry.create_index,
        "ModifyIndex": entry.modify_index,
    }
    if entry.session:
        out["Session"] = entry.session
    return out


def session_view(session: Session) -> JsonDict:
    return {
        "ID": session.id,
        "Name": session.name,
        "Node": session.node,
        "LockDelay": round(session.lock_delay * 1e9),
        "Behavior": session.behavior,
        "TTL": format_duration(session.ttl) if session.ttl else "",
        "NodeChecks": list(session.node_checks),
        "ServiceChecks": list(session.service_checks) or None,
        "CreateIndex": session.create_index,
        "ModifyIndex": session.modify_index,
    }


def _copy_tagged(tagged: dict[str, JsonDict]) -> dict[str, JsonDict]:
    return {name: dict(addr) for name, addr in tagged.items()}
