"""Mesos wire vocabulary for the local master: RecordIO, JSON shapes, resources.

Everything here is pure: builders return plain dicts in the v1 JSON encoding
(snake_case proto names, enums as strings, ids wrapped as ``{"value": ...}``,
``bytes`` as standard base64), and ``Resources`` does the resource arithmetic
the allocator and the task validation need.

Invariants:

* Scalars are kept rounded to 3 decimals, like Mesos's fixed-point
  ``Value::Scalar`` arithmetic, so repeated add/subtract never drifts.
* Port ranges are sorted, non-overlapping, non-adjacent ``(begin, end)`` pairs
  (inclusive), so equality and containment are plain comparisons.
* Event builders produce exactly the shapes pymesos 0.3.15 reads (offers nested
  under ``offers.offers``, ``error.message``, ``failure.agent_id``; a status
  with a ``uuid`` always carries ``agent_id``).
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from framework import taskstates
from framework.ids import AgentId, FrameworkId, OfferId, TaskId

MESOS_VERSION = "1.11.0"
JsonDict = dict[str, Any]

# Task states (mesos.proto TaskState) and the groups the master reasons about.
TERMINAL_STATES = taskstates.TERMINAL_STATES
PARTITION_AWARE_ONLY = frozenset(
    {
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
        "TASK_UNREACHABLE",
        "TASK_UNKNOWN",
    }
)

SCALAR_NAMES = ("cpus", "mem", "disk", "gpus")
MIN_CPUS = 0.01  # master/constants.hpp MIN_CPUS: smallest allocatable cpus
MIN_MEM = 32.0  # MIN_MEM in MB: smallest allocatable memory


def record(event: Mapping[str, Any]) -> bytes:
    """Frame one event as a RecordIO record: ``<length>\\n<json bytes>``."""
    data = json.dumps(event, separators=(",", ":")).encode()
    return b"%d\n%s" % (len(data), data)


def wrap(value: str) -> JsonDict:
    """An id message: ``{"value": ...}``."""
    return {"value": value}


def id_value(message: Any) -> str | None:
    """The ``value`` of an id message, or None when it is missing or not a string."""
    if isinstance(message, Mapping):
        value = message.get("value")
        if isinstance(value, str):
            return value
    return None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Decode standard base64; raises ValueError on bad input."""
    return base64.b64decode(text.encode("ascii"), validate=True)


# ---------------------------------------------------------------------------
# Resources


Ranges = tuple[tuple[int, int], ...]


def _round(value: float) -> float:
    return round(value, 3)


def normalize_ranges(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Sort and merge overlapping or adjacent inclusive ranges."""
    merged: list[list[int]] = []
    for begin, end in sorted(ranges):
        if merged and begin <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([begin, end])
    return tuple((b, e) for b, e in merged)


def subtract_ranges(left: Ranges, right: Ranges) -> Ranges:
    """The ports of ``left`` that are not in ``right``."""
    out: list[tuple[int, int]] = []
    for begin, end in left:
        pieces = [(begin, end)]
        for r_begin, r_end in right:
            next_pieces: list[tuple[int, int]] = []
            for b, e in pieces:
                if r_end < b or r_begin > e:
                    next_pieces.append((b, e))
                    continue
                if b < r_begin:
                    next_pieces.append((b, r_begin - 1))
                if e > r_end:
                    next_pieces.append((r_end + 1, e))
            pieces = next_pieces
        out.extend(pieces)
    return normalize_ranges(out)


def ranges_contain(outer: Ranges, inner: Ranges) -> bool:
    return not subtract_ranges(inner, outer)


@dataclass(slots=True)
class Resources:
    """The unreserved resources of an agent, offer or task (role ``*``)."""

    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0
    gpus: float = 0.0
    ports: Ranges = ()

    def copy(self) -> Resources:
        return Resources(self.cpus, self.mem, self.disk, self.gpus, self.ports)

    def is_empty(self) -> bool:
        return not (self.cpus or self.mem or self.disk or self.gpus or self.ports)

    def allocatable(self) -> bool:
        """Worth offering: Mesos's MIN_CPUS / MIN_MEM rule."""
        return self.cpus >= MIN_CPUS or self.mem >= MIN_MEM

    def contains(self, other: Resources) -> bool:
        return (
            other.cpus <= self.cpus
            and other.mem <= self.mem
            and other.disk <= self.disk
            and other.gpus <= self.gpus
            and ranges_contain(self.ports, other.ports)
        )

    def add(self, other: Resources) -> None:
        self.cpus = _round(self.cpus + other.cpus)
        self.mem = _round(self.mem + other.mem)
        self.disk = _round(self.disk + other.disk)
        self.gpus = _round(self.gpus + other.gpus)
        if other.ports:
            if self.ports:
                self.ports = normalize_ranges(self.ports + other.ports)
            else:
                self.ports = other.ports  # already normalised

    def subtract(self, other: Resources) -> None:
        self.cpus = _round(self.cpus - other.cpus)
        self.mem = _round(self.mem - other.mem)
        self.disk = _round(self.disk - other.disk)
        self.gpus = _round(self.gpus - other.gpus)
        if other.ports:
            if other.ports == self.ports:
                self.ports = ()
            else:
                self.ports = subtract_ranges(self.ports, other.ports)

    def key(self) -> tuple[float, float, float, float, Ranges]:
        return (self.cpus, self.mem, self.disk, self.gpus, self.ports)

    def scalars(self) -> tuple[float, float, float, float]:
        return (self.cpus, self.mem, self.disk, self.gpus)

    def describe(self) -> str:
        """Mesos-like text, e.g. ``cpus:1; mem:128; ports:[31000-31001]``."""
        parts = [
            f"{n}:{v:g}" for n, v in zip(SCALAR_NAMES, self.scalars(), strict=True) if v
        ]
        if self.ports:
            parts.append("ports:" + format_ranges(self.ports))
        return "; ".join(parts) or "{}"


def format_ranges(ranges: Ranges) -> str:
    """The v0 text form of port ranges: ``[31000-31000, 31005-31010]``."""
    return "[" + ", ".join(f"{b}-{e}" for b, e in ranges) + "]"


def parse_ranges(text: str) -> Ranges:
    """Parse ``31000-32000`` or ``31000-31005,31010-31020`` (CLI and config)."""
    out: list[tuple[int, int]] = []
    for part in text.strip().strip("[]").split(","):
        begin, _, end = part.strip().partition("-")
        first = int(begin)
        last = int(end) if end else first
        if last < first:
            raise ValueError(f"port range {part.strip()!r} ends before it begins")
        out.append((first, last))
    return normalize_ranges(out)


def parse_resources(items: Any) -> Resources:
    """Parse a v1 ``Resource`` list; raises ValueError naming the bad entry.

    Unknown names are refused: the local agents have nothing else to offer,
    so a task asking for them could never fit.
    """
    if not isinstance(items, list):
        raise ValueError("'resources' must be a list")
    out = Resources()
    for item in items:
        _add_resource(out, item)
    return out


def _add_resource(out: Resources, item: Any) -> None:
    if not isinstance(item, Mapping):
        raise ValueError("a resource must be an object")
    name, kind = item.get("name"), item.get("type")
    if name in SCALAR_NAMES:
        value = (item.get("scalar") or {}).get("value")
        if kind != "SCALAR" or not isinstance(value, int | float):
            raise ValueError(f"resource {name!r} must be SCALAR with scalar.value")
        if value < 0:
            raise ValueError(f"resource {name!r} is negative: {value}")
        setattr(out, name, _round(getattr(out, name) + float(value)))
        return
    if name == "ports":
        if kind != "RANGES":
            raise ValueError("resource 'ports' must be RANGES")
        ranges = []
        for rng in (item.get("ranges") or {}).get("range") or []:
            begin, end = rng.get("begin"), rng.get("end")
            if not isinstance(begin, int) or not isinstance(end, int) or end < begin:
                raise ValueError(f"invalid port range {rng!r}")
            ranges.append((begin, end))
        out.ports = normalize_ranges(out.ports + tuple(ranges))
        return
    raise ValueError(
        f"unknown resource {name!r} (offered: cpus, mem, disk, gpus, ports)"
    )


def resources_json(res: Resources, role: str | None = None) -> list[JsonDict]:
    """v1 ``Resource`` list; ``role`` adds ``allocation_info`` (offers, tasks)."""
    out: list[JsonDict] = []
    for name, value in zip(SCALAR_NAMES, res.scalars(), strict=True):
        if value or name in ("cpus", "mem"):
            out.append({"name": name, "type": "SCALAR", "scalar": {"value": value}})
    if res.ports:
        ranges = [{"begin": b, "end": e} for b, e in res.ports]
        out.append({"name": "ports", "type": "RANGES", "ranges": {"range": ranges}})
    for item in out:
        item["role"] = "*"
        if role is not None:
            item["allocation_info"] = {"role": role}
    return out


@functools.lru_cache(maxsize=4096)
def _resources_text(key: tuple[float, float, float, float, Ranges], role: str) -> str:
    return json.dumps(resources_json(Resources(*key), role), separators=(",", ":"))


def offer_text(
    offer_id: str,
    framework_id: str,
    agent_id: str,
    hostname: str,
    res: Resources,
    role: str,
    attributes_text: str,
) -> str:
    """One v1 ``Offer`` as JSON text.

    Built from cached fragments because an allocation cycle may encode ten
    thousand offers; the result is exactly what ``json.dumps`` of the offer
    dict would give (compact separators).
    """
    quote = json.dumps
    return (
        f'{{"id":{{"value":{quote(offer_id)}}},'
        f'"framework_id":{{"value":{quote(framework_id)}}},'
        f'"agent_id":{{"value":{quote(agent_id)}}},'
        f'"hostname":{quote(hostname)},'
        f'"resources":{_resources_text(res.key(), role)},'
        f'"attributes":{attributes_text},'
        f'"executor_ids":[],'
        f'"allocation_info":{{"role":{quote(role)}}}}}'
    )


def offers_record(offer_texts: list[str]) -> bytes:
    """The RecordIO record of an OFFERS event made of `offer_text` pieces."""
    data = (
        '{"type":"OFFERS","offers":{"offers":[' + ",".join(offer_texts) + "]}}"
    ).encode()
    return b"%d\n%s" % (len(data), data)


def resources_v0(res: Resources) -> JsonDict:
    """The flattened v0 form used by ``/master/state``."""
    out: JsonDict = {"cpus": res.cpus, "gpus": res.gpus, "mem": res.mem}
    out["disk"] = res.disk
    if res.ports:
        out["ports"] = format_ranges(res.ports)
    return out


def attributes_json(attributes: Sequence[tuple[str, str | float]]) -> list[JsonDict]:
    """Agent attributes as v1 ``Attribute`` (TEXT for strings, SCALAR numbers)."""
    out: list[JsonDict] = []
    for name, value in attributes:
        if isinstance(value, str):
            out.append({"name": name, "type": "TEXT", "text": {"value": value}})
        else:
            out.append({"name": name, "type": "SCALAR", "scalar": {"value": value}})
    return out


# ---------------------------------------------------------------------------
# Task statuses and scheduler events


def visible_state(state: str, partition_aware: bool) -> str:
    """The state a framework may see: PARTITION_AWARE-only states become LOST."""
    if not partition_aware and state in PARTITION_AWARE_ONLY:
        return "TASK_LOST"
    return state


def task_status(
    task_id: TaskId,
    state: str,
    *,
    source: str,
    timestamp: float,
    reason: str | None = None,
    message: str | None = None,
    agent_id: AgentId | None = None,
    executor_id: str | None = None,
    uuid: bytes | None = None,
) -> JsonDict:
    """A v1 ``TaskStatus``; a status with ``uuid`` must name its agent."""
    status: JsonDict = {"task_id": wrap(task_id), "state": state, "source": source}
    if reason is not None:
        status["reason"] = reason
    if message is not None:
        status["message"] = message
    if agent_id is not None:
        status["agent_id"] = wrap(agent_id)
    if executor_id is not None:
        status["executor_id"] = wrap(executor_id)
    status["timestamp"] = timestamp
    if uuid is not None:
        assert agent_id is not None, "pymesos acks need agent_id next to uuid"
        status["uuid"] = b64(uuid)
    return status


def event_subscribed(
    framework_id: FrameworkId, heartbeat: float, master_info: JsonDict
) -> JsonDict:
    return {
        "type": "SUBSCRIBED",
        "subscribed": {
            "framework_id": wrap(framework_id),
            "heartbeat_interval_seconds": heartbeat,
            "master_info": master_info,
        },
    }


HEARTBEAT: JsonDict = {"type": "HEARTBEAT"}


def event_offers(offers: list[JsonDict]) -> JsonDict:
    return {"type": "OFFERS", "offers": {"offers": offers}}


def event_rescind(offer_id: OfferId) -> JsonDict:
    return {"type": "RESCIND", "rescind": {"offer_id": wrap(offer_id)}}


def event_update(status: JsonDict) -> JsonDict:
    return {"type": "UPDATE", "update": {"status": status}}


def event_failure(agent_id: AgentId) -> JsonDict:
    return {"type": "FAILURE", "failure": {"agent_id": wrap(agent_id)}}


def event_error(message: str) -> JsonDict:
    return {"type": "ERROR", "error": {"message": message}}


def ip_uint32(ip: str) -> int:
    """MasterInfo.ip: the IPv4 address as a uint32 in network byte order."""
    return int.from_bytes(bytes(int(part) for part in ip.split(".")), "little")


def master_info(master_id: str, ip: str, port: int, hostname: str) -> JsonDict:
    """MasterInfo as the master sends it and writes it to ZooKeeper."""
    return {
        "id": master_id,
        "ip": ip_uint32(ip),
        "port": port,
        "pid": f"master@{ip}:{port}",
        "hostname": hostname,
        "version": MESOS_VERSION,
        "address": {"hostname": hostname, "ip": ip, "port": port},
        "capabilities": [{"type": "AGENT_UPDATE"}, {"type": "AGENT_DRAINING"}],
    }
