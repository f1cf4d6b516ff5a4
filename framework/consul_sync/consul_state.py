"""Consul JSON ↔ our values: entries from agent/catalog reads, bodies for writes.

Pure. Both directions use the same normal forms (durations as whole seconds
``"10s"``, tags in order, Meta as sorted pairs) so that an entry we wrote
reads back equal to the registration it came from: that equality is what lets
an anti-entropy pass over an unchanged cluster plan zero writes.

Invariants: our instance's only check has the id ``service:<service id>``
(Consul's own default for a single check); maintenance mode shows as the
check ``_service_maintenance:<service id>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from framework.consul_sync.model import (
    CLUSTER_KEY,
    OWNER,
    OWNER_KEY,
    CheckSpec,
    Entry,
    Registration,
)
from framework.ids import ServiceId

JsonDict = dict[str, Any]
MAINTENANCE_PREFIX = "_service_maintenance:"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def check_id(sid: str) -> str:
    return f"service:{sid}"


def normal_duration(text: str) -> str:
    """A Go duration (``10s``, ``1m30s``, ``500ms``) in our form: ``90s``, ``0.5s``."""
    seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text or ""))
    return f"{seconds:g}s"


def entries_from_agent(
    services: Mapping[str, JsonDict], checks: Mapping[str, JsonDict], node: str
) -> list[Entry]:
    """Every instance on our agent, with its mirrored check and drain state."""
    return [
        Entry(
            service_id=ServiceId(sid),
            node=node,
            name=str(svc.get("Service", "")),
            address=str(svc.get("Address", "")),
            port=int(svc.get("Port") or 0),
            tags=tuple(svc.get("Tags") or ()),
            meta=tuple(sorted((svc.get("Meta") or {}).items())),
            weights=_weights(svc.get("Weights")),
            check=_check_spec(checks.get(check_id(sid))),
            drained=MAINTENANCE_PREFIX + sid in checks,
        )
        for sid, svc in services.items()
    ]


def entries_from_catalog(rows: Iterable[JsonDict]) -> list[Entry]:
    """Instances from ``/v1/catalog/service/<name>`` (checks are not compared)."""
    return [
        Entry(
            service_id=ServiceId(str(row.get("ServiceID", ""))),
            node=str(row.get("Node", "")),
            name=str(row.get("ServiceName", "")),
            address=str(row.get("ServiceAddress", "")),
            port=int(row.get("ServicePort") or 0),
            tags=tuple(row.get("ServiceTags") or ()),
            meta=tuple(sorted((row.get("ServiceMeta") or {}).items())),
            weights=_weights(row.get("ServiceWeights")),
            check=None,
        )
        for row in rows
    ]


def owner_filter(cluster: str) -> str:
    """A Consul ``filter`` expression matching our catalog entries."""
    return (
        f'ServiceMeta["{OWNER_KEY}"] == "{OWNER}" and '
        f'ServiceMeta["{CLUSTER_KEY}"] == "{cluster}"'
    )


def _weights(raw: Any) -> tuple[int, int]:
    raw = raw or {}
    return (int(raw.get("Passing", 1)), int(raw.get("Warning", 1)))


def _check_spec(raw: JsonDict | None) -> CheckSpec | None:
    if raw is None:
        return None
    definition = raw.get("Definition") or {}
    kind = str(raw.get("Type", "")).lower()
    target = definition.get("HTTP") if kind == "http" else definition.get("TCP")
    interval = definition.get("Interval") or raw.get("Interval") or ""
    timeout = definition.get("Timeout") or raw.get("Timeout") or ""
    return CheckSpec(
        kind, str(target or ""), normal_duration(interval), normal_duration(timeout)
    )


def entry_of(reg: Registration, node: str) -> Entry:
    """What Consul holds once ``reg`` is registered on ``node``."""
    return Entry(
        service_id=reg.service_id,
        node=node,
        name=reg.name,
        address=reg.address,
        port=reg.port,
        tags=reg.tags,
        meta=reg.meta,
        weights=reg.weights,
        check=reg.check,
    )


def register_kwargs(reg: Registration) -> dict[str, Any]:
    """Keyword arguments of `ConsulApi.register` for ``reg``."""
    return {
        "service_id": reg.service_id,
        "name": reg.name,
        "address": reg.address,
        "port": reg.port,
        "tags": list(reg.tags),
        "meta": reg.meta_dict(),
        "weights": {"Passing": reg.weights[0], "Warning": reg.weights[1]},
        "check": _check_body(reg),
    }


def _check_body(reg: Registration) -> JsonDict | None:
    spec = reg.check
    if spec is None:
        return None
    return {
        "CheckID": check_id(reg.service_id),
        "Name": f"{reg.name} health (mirrors Marathon)",
        "HTTP" if spec.kind == "http" else "TCP": spec.target,
        "Interval": spec.interval,
        "Timeout": spec.timeout,
        # Registered only once Marathon reports the task healthy.
        "Status": "passing",
    }
