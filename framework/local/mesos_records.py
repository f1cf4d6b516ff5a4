"""Plain data of the local Mesos master: effects, records, settings, core.

The state machine (``MasterState`` in mesos_state.py and the layers it is built
from) keeps what it knows in the *records* here and returns *effects* for the
HTTP layer (mesos_master.py) to carry out in order. Nothing here does I/O;
time is read only through the clocks injected into ``StateCore``.

Invariants (kept by the layers that mutate these records):

* ``AgentRecord.free`` = agent total - resources of its non-terminal tasks -
  its outstanding offers; ``FrameworkRecord.allocated`` = scalars of its
  non-terminal tasks + its outstanding offers, changed only through ``charge``.
* ``TaskRecord.pending`` holds the task's unacknowledged agent-sourced
  updates, head first, and is None when there are none.
* ``StateCore`` holds data and clocks only, no behaviour: an offer is in
  ``offers`` and in its framework's ``offers`` together; a task is in its
  framework's and its agent's ``tasks`` together; ``_retrying`` holds the tasks
  whose update stream has a head awaiting acknowledgement.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from framework.ids import AgentId, FrameworkId, OfferId, StreamId, TaskId
from framework.local.mesos_allocator import Filter
from framework.local.mesos_wire import JsonDict, Resources, record

DEFAULT_REFUSE_SECONDS = 5.0
MAX_REFUSE_SECONDS = 31536000.0
DEFAULT_KILL_GRACE = 3.0


# ---------------------------------------------------------------------------
# Effects


@dataclass(frozen=True, slots=True)
class Send:
    """Send one event on a stream; ``data`` is its record when pre-encoded."""

    stream_id: StreamId
    event: JsonDict | None = None
    data: bytes | None = None

    def record(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.event is not None
        return record(self.event)

    def payload(self) -> JsonDict:
        if self.event is not None:
            return self.event
        assert self.data is not None
        body: JsonDict = json.loads(self.data.partition(b"\n")[2])
        return body


@dataclass(frozen=True, slots=True)
class Close:
    stream_id: StreamId


@dataclass(frozen=True, slots=True)
class Launch:
    agent_id: AgentId
    framework_id: FrameworkId
    task_id: TaskId
    executor_id: str
    task_info: JsonDict


@dataclass(frozen=True, slots=True)
class Kill:
    agent_id: AgentId
    framework_id: FrameworkId
    task_id: TaskId
    grace: float


@dataclass(frozen=True, slots=True)
class Notify:
    """An operator-API event; the HTTP layer renders ``subject`` when needed."""

    kind: str
    subject: Any
    status: JsonDict | None = None


Effect = Send | Close | Launch | Kill | Notify


# ---------------------------------------------------------------------------
# Records


@dataclass(slots=True)
class TaskRecord:
    task_id: TaskId
    framework_id: FrameworkId
    agent_id: AgentId
    executor_id: str
    role: str
    resources: Resources
    info: JsonDict
    state: str = "TASK_STAGING"
    statuses: list[tuple[str, float]] = field(default_factory=list)
    latest: JsonDict | None = None
    pending: deque[JsonDict] | None = None
    next_retry: float = 0.0
    backoff: float = 0.0
    killing: bool = False

    @property
    def status_update_state(self) -> str | None:
        return self.pending[0]["state"] if self.pending else None


@dataclass(slots=True)
class AgentRecord:
    agent_id: AgentId
    hostname: str
    total: Resources
    free: Resources
    attributes: list[JsonDict]
    registered_time: float
    tasks: dict[TaskId, TaskRecord] = field(default_factory=dict)
    attributes_text: str = "[]"


@dataclass(slots=True)
class OfferRecord:
    offer_id: OfferId
    framework_id: FrameworkId
    agent_id: AgentId
    role: str
    resources: Resources


@dataclass(slots=True)
class FrameworkRecord:
    framework_id: FrameworkId
    info: JsonDict
    roles: tuple[str, ...]
    registered_time: float
    suppressed: set[str] = field(default_factory=set)
    stream_id: StreamId | None = None
    failover_deadline: float | None = None
    reregistered_time: float | None = None
    unregistered_time: float | None = None
    recovered: bool = False
    filters: dict[AgentId, Filter] = field(default_factory=dict)
    offers: dict[OfferId, OfferRecord] = field(default_factory=dict)
    tasks: dict[TaskId, TaskRecord] = field(default_factory=dict)
    completed: deque[TaskRecord] = field(default_factory=lambda: deque(maxlen=1000))
    allocated: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])

    @property
    def capabilities(self) -> frozenset[str]:
        caps = self.info.get("capabilities") or []
        return frozenset(
            str(c.get("type")) for c in caps if isinstance(c, dict) and "type" in c
        )

    @property
    def partition_aware(self) -> bool:
        return "PARTITION_AWARE" in self.capabilities

    @property
    def connected(self) -> bool:
        return self.stream_id is not None

    @property
    def failover_timeout(self) -> float:
        value = self.info.get("failover_timeout", 0.0)
        return float(value) if isinstance(value, int | float) else 0.0


@dataclass(frozen=True)
class StateSettings:
    heartbeat_interval: float = 15.0
    update_backoff: float = 10.0
    update_backoff_max: float = 600.0
    default_kill_grace: float = DEFAULT_KILL_GRACE


FrameworkStatus = Literal["unknown", "disconnected", "connected"]


def refuse_seconds(filters: Any) -> float:
    """``Filters.refuse_seconds``: default 5, negative -> default, capped at 1 year."""
    value = (filters or {}).get("refuse_seconds", DEFAULT_REFUSE_SECONDS)
    if not isinstance(value, int | float) or value < 0:
        return DEFAULT_REFUSE_SECONDS
    return min(float(value), MAX_REFUSE_SECONDS)


def charge(fw: FrameworkRecord, res: Resources, sign: int) -> None:
    """Add (sign 1) or take back (sign -1) ``res`` in ``fw.allocated``."""
    acc = fw.allocated
    acc[0] = round(acc[0] + sign * res.cpus, 3)
    acc[1] = round(acc[1] + sign * res.mem, 3)
    acc[2] = round(acc[2] + sign * res.disk, 3)
    acc[3] = round(acc[3] + sign * res.gpus, 3)


def grace_seconds(policy: Any) -> float | None:
    """A KillPolicy's grace period in seconds, or None when it sets none."""
    if not isinstance(policy, dict):
        return None
    nanos = (policy.get("grace_period") or {}).get("nanoseconds")
    if not isinstance(nanos, int) or nanos < 0:
        return None
    return nanos / 1e9


# ---------------------------------------------------------------------------
# The data of the state machine


class StateCore:
    """What the master knows, without behaviour; see the module docstring.

    ``MasterState`` is this data plus the layers of mesos_tasks, mesos_offers,
    mesos_launch and mesos_frameworks.
    """

    def __init__(
        self,
        master_info: JsonDict,
        settings: StateSettings,
        clock: Callable[[], float],
        wallclock: Callable[[], float],
    ) -> None:
        self.master_info = master_info
        self.settings = settings
        self.clock = clock
        self.wallclock = wallclock
        self.start_time = wallclock()
        self.frameworks: dict[FrameworkId, FrameworkRecord] = {}
        self.removed_frameworks: dict[FrameworkId, FrameworkRecord] = {}
        self.agents: dict[AgentId, AgentRecord] = {}
        self.offers: dict[OfferId, OfferRecord] = {}
        self.total = [0.0, 0.0, 0.0, 0.0]
        self._retrying: dict[tuple[FrameworkId, TaskId], TaskRecord] = {}
        self._next_framework = 0
        self._next_offer = 0

    @property
    def master_id(self) -> str:
        return str(self.master_info["id"])
