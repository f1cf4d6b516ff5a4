"""The local Mesos master's state machine: frameworks, agents, offers, tasks.

No I/O happens here. Every entry point mutates the state and returns a list
of *effects* (``Send`` an event to a stream, ``Close`` a stream, ``Launch`` or
``Kill`` a task on an agent's backend, ``Notify`` operator subscribers) that
the HTTP layer (mesos_master.py) carries out in order. Time comes from the
injected clocks, so tests drive timers with a fake clock.

Invariants:

* ``agent.free`` = agent total - resources of its non-terminal tasks - its
  outstanding offers; a framework's ``allocated`` scalars = its non-terminal
  tasks + its outstanding offers. Both are updated at every transition.
* An offer id is in ``self.offers`` exactly while it is outstanding; ACCEPT,
  DECLINE, rescind and disconnection remove it.
* Agent-sourced updates of a task form one stream: ``task.pending`` holds the
  unacknowledged ones, only the head is sent (and re-sent with backoff) and
  the next one goes out when the head is acknowledged. Master-generated
  updates (reconciliation, invalid offers, agent removed) carry no uuid.
* A task leaves ``framework.tasks`` when its terminal update is acknowledged
  (or at once when the master ends it); its resources return as soon as the
  terminal state is known.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import deque
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from framework.ids import AgentId, FrameworkId, OfferId, StreamId, TaskId
from framework.local.executor_api import TaskReport
from framework.local.mesos_allocator import Client, Filter, OfferInstruction, allocate
from framework.local.mesos_validation import validate_task
from framework.local.mesos_wire import (
    HEARTBEAT,
    TERMINAL_STATES,
    JsonDict,
    Resources,
    event_error,
    event_failure,
    event_rescind,
    event_subscribed,
    event_update,
    id_value,
    offer_text,
    offers_record,
    parse_resources,
    record,
    task_status,
    visible_state,
    wrap,
)

logger = logging.getLogger(__name__)

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


def framework_roles(info: Mapping[str, Any]) -> tuple[str, ...] | str:
    """The roles of a FrameworkInfo, or the error that refuses it."""
    caps = {
        c.get("type") for c in info.get("capabilities") or [] if isinstance(c, dict)
    }
    roles = info.get("roles")
    if "MULTI_ROLE" in caps:
        if "role" in info:
            return "'FrameworkInfo.role' must not be set with the MULTI_ROLE capability"
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            return "'FrameworkInfo.roles' must be a list of strings"
        return tuple(roles) or ("*",)
    if roles:
        return "'FrameworkInfo.roles' is set but the MULTI_ROLE capability is not"
    role = info.get("role", "*")
    if not isinstance(role, str) or not role:
        return "'FrameworkInfo.role' must be a non-empty string"
    return (role,)


class _UsedIds:
    """Task ids a new task may not reuse (framework, agent and this ACCEPT)."""

    def __init__(self, *maps: Container[Any]) -> None:
        self._maps = maps

    def __contains__(self, key: object) -> bool:
        return any(key in m for m in self._maps)


class MasterState:
    """Everything the master knows; see the module docstring."""

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

    # -- agents --------------------------------------------------------------

    def add_agent(
        self,
        agent_id: AgentId,
        hostname: str,
        total: Resources,
        attributes: list[JsonDict],
    ) -> list[Effect]:
        agent = AgentRecord(
            agent_id, hostname, total, total.copy(), attributes, self.wallclock()
        )
        agent.attributes_text = json.dumps(attributes, separators=(",", ":"))
        self.agents[agent_id] = agent
        self._charge_total(total, 1)
        logger.info(
            "agent %s (%s) registered; offering it next cycle", agent_id, hostname
        )
        return [Notify("AGENT_ADDED", agent)]

    def remove_agent(self, agent_id: AgentId) -> list[Effect]:
        """The agent is gone: end its tasks, rescind its offers, tell everyone."""
        agent = self.agents.pop(agent_id, None)
        if agent is None:
            return []
        self._charge_total(agent.total, -1)
        effects: list[Effect] = []

        # Offers on the agent can no longer be accepted.
        for offer in [o for o in self.offers.values() if o.agent_id == agent_id]:
            effects += self._rescind(offer)

        # Its tasks end with a master-generated update, no ack expected.
        for task in list(agent.tasks.values()):
            if task.state not in TERMINAL_STATES:
                effects += self._end_task(
                    task, "TASK_GONE", "REASON_AGENT_REMOVED", "Agent removed"
                )
            else:
                self._forget_task(task)

        # Every connected framework hears of the loss, as in Mesos.
        for fw in self.frameworks.values():
            if fw.stream_id is not None:
                effects.append(Send(fw.stream_id, event_failure(agent_id)))
        logger.warning("agent %s removed; its tasks were marked lost or gone", agent_id)
        effects.append(Notify("AGENT_REMOVED", agent_id))
        return effects

    def _charge_total(self, res: Resources, sign: int) -> None:
        for i, value in enumerate(res.scalars()):
            self.total[i] += sign * value

    # -- subscription --------------------------------------------------------

    def framework_status(self, framework_id: FrameworkId) -> FrameworkStatus:
        fw = self.frameworks.get(framework_id)
        if fw is None:
            return "unknown"
        return "connected" if fw.connected else "disconnected"

    def stream_of(self, framework_id: FrameworkId) -> StreamId | None:
        fw = self.frameworks.get(framework_id)
        return fw.stream_id if fw else None

    def subscribe(
        self, info: JsonDict, suppressed: list[str], stream_id: StreamId
    ) -> tuple[list[Effect], str | None]:
        """SUBSCRIBE on ``stream_id``; returns (effects, refusal message)."""
        roles = framework_roles(info)
        if isinstance(roles, str):
            return [], roles
        if not set(suppressed) <= set(roles):
            return [], (
                f"Suppressed roles {sorted(set(suppressed) - set(roles))} are not "
                "contained in the set of roles"
            )
        requested = id_value(info.get("id"))
        if requested and requested in self.removed_frameworks:
            return [], "Framework has been removed"
        fid = FrameworkId(requested) if requested else self._new_framework_id()
        info = {**info, "id": wrap(fid)}
        fw = self.frameworks.get(fid)
        effects: list[Effect] = []
        if fw is None:
            fw = FrameworkRecord(fid, info, roles, self.wallclock())
            self.frameworks[fid] = fw
            if requested:
                fw.reregistered_time = fw.registered_time
            kind = "FRAMEWORK_ADDED"
        else:
            effects += self._replace_stream(fw)
            fw.info = _merge_info(fw.info, info)
            fw.roles = roles
            fw.reregistered_time = self.wallclock()
            kind = "FRAMEWORK_UPDATED"
        fw.suppressed = set(suppressed)
        fw.stream_id = stream_id
        fw.failover_deadline = None
        fw.recovered = False
        logger.info(
            "framework %s (%s) subscribed on stream %s; offers follow next cycle",
            fid,
            info.get("name"),
            stream_id,
        )
        effects.append(
            Send(
                stream_id,
                event_subscribed(
                    fid, self.settings.heartbeat_interval, self.master_info
                ),
            )
        )
        effects.append(Send(stream_id, HEARTBEAT))
        effects += self._resend_heads(fw)
        effects.append(Notify(kind, fw))
        return effects, None

    def _replace_stream(self, fw: FrameworkRecord) -> list[Effect]:
        """A new subscription replaces the old one; outstanding offers vanish."""
        effects: list[Effect] = []
        if fw.stream_id is not None:
            logger.info(
                "framework %s failed over; closing its old stream %s",
                fw.framework_id,
                fw.stream_id,
            )
            effects.append(Send(fw.stream_id, event_error("Framework failed over")))
            effects.append(Close(fw.stream_id))
        for offer in list(fw.offers.values()):
            self._drop_offer(offer)
        return effects

    def _new_framework_id(self) -> FrameworkId:
        fid = FrameworkId(f"{self.master_id}-{self._next_framework:04d}")
        self._next_framework += 1
        return fid

    def _resend_heads(self, fw: FrameworkRecord) -> list[Effect]:
        effects: list[Effect] = []
        for task in fw.tasks.values():
            if task.pending:
                effects += self._forward_head(task)
        return effects

    def disconnected(self, stream_id: StreamId) -> list[Effect]:
        """The stream closed; the framework has ``failover_timeout`` to return."""
        fw = next(
            (f for f in self.frameworks.values() if f.stream_id == stream_id), None
        )
        if fw is None:
            return []
        fw.stream_id = None
        fw.unregistered_time = self.wallclock()
        for offer in list(fw.offers.values()):
            self._drop_offer(offer)
        timeout = fw.failover_timeout
        if timeout <= 0:
            logger.info(
                "framework %s disconnected with no failover timeout; removing it",
                fw.framework_id,
            )
            return self._remove_framework(fw)
        fw.failover_deadline = self.clock() + timeout
        logger.info(
            "framework %s disconnected; its tasks are kept for %.1fs",
            fw.framework_id,
            timeout,
        )
        return [Notify("FRAMEWORK_UPDATED", fw)]

    def _remove_framework(self, fw: FrameworkRecord) -> list[Effect]:
        """Teardown or failover timeout: kill its tasks, forget it, refuse its id."""
        effects: list[Effect] = []
        if fw.stream_id is not None:
            effects.append(Close(fw.stream_id))
            fw.stream_id = None
        for offer in list(fw.offers.values()):
            self._drop_offer(offer)
        for task in list(fw.tasks.values()):
            if task.state not in TERMINAL_STATES:
                logger.info(
                    "killing task %s of removed framework %s",
                    task.task_id,
                    fw.framework_id,
                )
                grace = _grace_seconds(task.info.get("kill_policy"))
                if grace is None:
                    grace = self.settings.default_kill_grace
                effects.append(
                    Kill(task.agent_id, fw.framework_id, task.task_id, grace)
                )
                self._record_state(task, "TASK_KILLED")
                self._release(task)
            self._forget_task(task)
            fw.completed.append(task)
        del self.frameworks[fw.framework_id]
        self.removed_frameworks[fw.framework_id] = fw
        fw.unregistered_time = self.wallclock()
        effects.append(Notify("FRAMEWORK_REMOVED", fw))
        return effects

    # -- calls ---------------------------------------------------------------

    def handle(self, framework_id: FrameworkId, call: JsonDict) -> list[Effect]:
        """Carry out one non-SUBSCRIBE call of a connected framework."""
        fw = self.frameworks[framework_id]
        kind = call["type"]
        handler = _HANDLERS.get(kind)
        # TODO(executor-messages): MESSAGE is not delivered (backends have no
        # executor to receive it); REQUEST, inverse offers and operation
        # reconciliation have nothing to act on locally.
        if handler is None:
            logger.info(
                "call %s of framework %s needs nothing from the local master",
                kind,
                framework_id,
            )
            return []
        body = call.get(kind.lower()) or {}
        return handler(self, fw, body)

    def _teardown(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        logger.info(
            "framework %s asked for teardown; killing its tasks", fw.framework_id
        )
        return self._remove_framework(fw)

    def _decline(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        seconds = refuse_seconds(body.get("filters"))
        effects: list[Effect] = []
        for raw in body.get("offer_ids") or []:
            offer = fw.offers.get(OfferId(id_value(raw) or ""))
            if offer is None:
                logger.info(
                    "framework %s declined unknown offer %s; ignoring it",
                    fw.framework_id,
                    id_value(raw),
                )
                continue
            self._remove_offer(offer)
            self._recover(fw, offer.agent_id, offer.resources, seconds)
        return effects

    def _revive(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        roles = body.get("roles") or list(fw.roles)
        fw.suppressed -= set(roles)
        # TODO(filter-roles): filters are per agent, not per role, so a revive
        # for some roles clears the filters of all of them.
        fw.filters.clear()
        logger.info("framework %s revived offers for roles %s", fw.framework_id, roles)
        return []

    def _suppress(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        roles = body.get("roles") or list(fw.roles)
        fw.suppressed |= set(roles) & set(fw.roles)
        logger.info(
            "framework %s suppressed offers for roles %s", fw.framework_id, roles
        )
        return []

    def update_framework(
        self, framework_id: FrameworkId, body: JsonDict
    ) -> tuple[int, str, list[Effect]]:
        """UPDATE_FRAMEWORK: (HTTP status, message, effects)."""
        fw = self.frameworks[framework_id]
        info = body["framework_info"]
        if id_value(info.get("id")) != framework_id:
            return 400, "'framework_id' differs from 'framework_info.id'", []
        for key, default in (
            ("user", None),
            ("checkpoint", False),
            ("principal", None),
        ):
            if info.get(key, default) != fw.info.get(key, default):
                return 400, f"Updating 'FrameworkInfo.{key}' is unsupported", []
        roles = framework_roles(info)
        if isinstance(roles, str):
            return 400, roles, []
        suppressed = set(body.get("suppressed_roles") or [])
        if not suppressed <= set(roles):
            return 400, "Suppressed roles are not contained in the set of roles", []
        effects: list[Effect] = []
        for offer in [o for o in fw.offers.values() if o.role not in roles]:
            effects += self._rescind(offer)
        fw.info = {**info, "id": wrap(framework_id)}
        fw.roles = roles
        fw.suppressed = suppressed
        effects.append(Notify("FRAMEWORK_UPDATED", fw))
        return 200, "", effects

    # -- offers --------------------------------------------------------------

    def allocate(self) -> list[Effect]:
        """One allocation cycle: offer free agents to frameworks by DRF."""
        now = self.clock()
        clients = [
            Client(
                fw.framework_id,
                role,
                (fw.allocated[0], fw.allocated[1], fw.allocated[2], fw.allocated[3]),
                fw.filters,
                "GPU_RESOURCES" in fw.capabilities,
            )
            for fw in self.frameworks.values()
            if fw.stream_id is not None
            for role in fw.roles
            if role not in fw.suppressed
        ]
        if not clients:
            return []
        total = (self.total[0], self.total[1], self.total[2], self.total[3])
        plan = allocate(self.agents.values(), clients, total, now)
        return self._make_offers(plan)

    def _make_offers(self, plan: Iterable[OfferInstruction]) -> list[Effect]:
        batches: dict[FrameworkId, list[str]] = {}
        for step in plan:
            fw = self.frameworks[step.framework_id]
            agent = self.agents[step.agent_id]
            offer = OfferRecord(
                OfferId(f"{self.master_id}-O{self._next_offer}"),
                fw.framework_id,
                agent.agent_id,
                step.role,
                step.resources,
            )
            self._next_offer += 1
            if step.resources is agent.free:
                agent.free = Resources()  # the whole pool moves into the offer
            else:
                offer.resources = step.resources.copy()
                agent.free.subtract(offer.resources)
            _charge(fw, offer.resources, 1)
            fw.offers[offer.offer_id] = offer
            self.offers[offer.offer_id] = offer
            batches.setdefault(fw.framework_id, []).append(
                offer_text(
                    offer.offer_id,
                    fw.framework_id,
                    agent.agent_id,
                    agent.hostname,
                    offer.resources,
                    offer.role,
                    agent.attributes_text,
                )
            )
        effects: list[Effect] = []
        for fid, offers in batches.items():
            stream = self.frameworks[fid].stream_id
            assert stream is not None
            logger.debug("offering %d agents to framework %s", len(offers), fid)
            effects.append(Send(stream, data=offers_record(offers)))
        return effects

    def _remove_offer(self, offer: OfferRecord) -> None:
        self.offers.pop(offer.offer_id, None)
        fw = self.frameworks.get(offer.framework_id)
        if fw is not None:
            fw.offers.pop(offer.offer_id, None)

    def _drop_offer(self, offer: OfferRecord) -> None:
        """Take an offer back without telling the framework (no RESCIND)."""
        self._remove_offer(offer)
        fw = self.frameworks.get(offer.framework_id)
        if fw is not None:
            self._recover(fw, offer.agent_id, offer.resources, 0.0)

    def _rescind(self, offer: OfferRecord) -> list[Effect]:
        fw = self.frameworks.get(offer.framework_id)
        self._drop_offer(offer)
        if fw is None or fw.stream_id is None:
            return []
        return [Send(fw.stream_id, event_rescind(offer.offer_id))]

    def _recover(
        self, fw: FrameworkRecord, agent_id: AgentId, res: Resources, seconds: float
    ) -> None:
        """Return resources to their agent, behind a decline filter if asked."""
        _charge(fw, res, -1)
        agent = self.agents.get(agent_id)
        if agent is None:
            return
        agent.free.add(res)
        if seconds > 0 and not res.is_empty():
            fw.filters[agent_id] = Filter(self.clock() + seconds, res.copy())

    # -- ACCEPT ----------------------------------------------------------------

    def _accept(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        offer_ids = [
            OfferId(id_value(raw) or "") for raw in body.get("offer_ids") or []
        ]
        operations = [op for op in body.get("operations") or [] if isinstance(op, dict)]
        error, offers = self._take_offers(fw, offer_ids)
        if error is not None:
            return self._invalid_offers(fw, operations, error)
        agent = self.agents[offers[0].agent_id]
        available = Resources()
        for offer in offers:
            available.add(offer.resources)
        role = offers[0].role
        effects: list[Effect] = []
        batch: set[TaskId] = set()
        for op in operations:
            if op["type"] == "LAUNCH":
                tasks = (op.get("launch") or {}).get("task_infos") or []
                for task in tasks:
                    effects += self._launch(fw, agent, role, available, task, batch)
            elif op["type"] == "LAUNCH_GROUP":
                effects += self._launch_group(
                    fw, agent, role, available, op.get("launch_group") or {}, batch
                )
            else:
                # TODO(operations): RESERVE, CREATE and the other offer
                # operations are not modelled by the local master.
                logger.warning(
                    "framework %s sent operation %s, unsupported locally; ignoring it",
                    fw.framework_id,
                    op["type"],
                )

        # Unused resources go back behind a filter (refuse_seconds, default 5).
        self._recover(
            fw, agent.agent_id, available, refuse_seconds(body.get("filters"))
        )
        return effects

    def _take_offers(
        self, fw: FrameworkRecord, offer_ids: list[OfferId]
    ) -> tuple[str | None, list[OfferRecord]]:
        """Remove the offers of an ACCEPT; on error return the valid ones too."""
        error: str | None = None
        seen: set[OfferId] = set()
        valid: list[OfferRecord] = []
        if not offer_ids:
            error = "No offers specified"
        for oid in offer_ids:
            offer = fw.offers.get(oid)
            if oid in seen:
                error = f"Duplicate offer {oid} in accept"
            elif offer is None:
                error = f"Offer {oid} is no longer valid"
            else:
                valid.append(offer)
            seen.add(oid)
        if error is None and len({o.agent_id for o in valid}) > 1:
            error = "Aggregated offers must belong to one single agent"
        if error is None and len({o.role for o in valid}) > 1:
            error = "Aggregated offers must be allocated to the same role"
        for offer in valid:
            self._remove_offer(offer)
            if error is not None:
                self._recover(fw, offer.agent_id, offer.resources, 0.0)
        return error, valid

    def _invalid_offers(
        self, fw: FrameworkRecord, operations: list[JsonDict], error: str
    ) -> list[Effect]:
        state = "TASK_DROPPED" if fw.partition_aware else "TASK_LOST"
        effects: list[Effect] = []
        for op in operations:
            if op.get("type") == "LAUNCH":
                tasks = (op.get("launch") or {}).get("task_infos") or []
            elif op.get("type") == "LAUNCH_GROUP":
                group = (op.get("launch_group") or {}).get("task_group") or {}
                tasks = group.get("tasks") or []
            else:
                continue
            for task in tasks:
                tid = TaskId(id_value(task.get("task_id")) or "")
                logger.info(
                    "task %s of framework %s used invalid offers (%s); sending %s",
                    tid,
                    fw.framework_id,
                    error,
                    state,
                )
                effects += self._master_update(
                    fw,
                    tid,
                    state,
                    "REASON_INVALID_OFFERS",
                    f"Task launched with invalid offers: {error}",
                )
        return effects

    def _launch(
        self,
        fw: FrameworkRecord,
        agent: AgentRecord,
        role: str,
        available: Resources,
        task: JsonDict,
        batch: set[TaskId],
        executor_id: str | None = None,
    ) -> list[Effect]:
        tid = TaskId(id_value(task.get("task_id")) or "")
        # TODO(task-id-scope): backends key tasks by id alone, so an id live
        # on the agent for another framework is refused as a duplicate too.
        used = _UsedIds(fw.tasks, agent.tasks, batch)
        error, res = validate_task(
            task, agent.agent_id, used, available, in_group=executor_id is not None
        )
        if error is not None:
            return self._task_error(fw, tid, error)
        available.subtract(res)
        batch.add(tid)
        if executor_id is None:
            executor_id = (
                id_value((task.get("executor") or {}).get("executor_id")) or tid
            )
        record = TaskRecord(
            tid, fw.framework_id, agent.agent_id, executor_id, role, res, task
        )
        record.statuses.append(("TASK_STAGING", self.wallclock()))
        fw.tasks[tid] = record
        agent.tasks[tid] = record
        logger.info(
            "launching task %s of framework %s on agent %s",
            tid,
            fw.framework_id,
            agent.agent_id,
        )
        return [
            Notify("TASK_ADDED", record),
            Launch(agent.agent_id, fw.framework_id, tid, executor_id, task),
        ]

    def _launch_group(
        self,
        fw: FrameworkRecord,
        agent: AgentRecord,
        role: str,
        available: Resources,
        body: JsonDict,
        batch: set[TaskId],
    ) -> list[Effect]:
        """LAUNCH_GROUP: all tasks launch, or all fail with TASK_ERROR."""
        tasks = [t for t in (body.get("task_group") or {}).get("tasks") or []]
        error, executor_id, executor_res = self._check_group(body, tasks, available)
        trial = available.copy()
        trial.subtract(executor_res)
        ids = _UsedIds(fw.tasks, agent.tasks, batch)
        group_ids: set[TaskId] = set()
        for task in tasks if error is None else []:
            problem, res = validate_task(
                task, agent.agent_id, _UsedIds(ids, group_ids), trial, in_group=True
            )
            if problem is not None:
                error = f"Task group is invalid: {problem}"
                break
            trial.subtract(res)
            group_ids.add(TaskId(id_value(task.get("task_id")) or ""))
        if error is not None:
            effects: list[Effect] = []
            for task in tasks:
                effects += self._task_error(
                    fw, TaskId(id_value(task.get("task_id")) or ""), error
                )
            return effects

        # The executor's resources are charged to the group's first task.
        # TODO(default-executor): no executor process runs; each task of the
        # group runs as its own backend task.
        available.subtract(executor_res)
        effects = []
        for task in tasks:
            effects += self._launch(
                fw, agent, role, available, task, batch, executor_id
            )
        first = fw.tasks.get(TaskId(id_value(tasks[0].get("task_id")) or ""))
        if first is not None:
            first.resources.add(executor_res)
        return effects

    def _check_group(
        self, body: JsonDict, tasks: list[Any], available: Resources
    ) -> tuple[str | None, str, Resources]:
        executor = body.get("executor")
        executor_id = id_value((executor or {}).get("executor_id"))
        if not isinstance(executor, dict) or executor_id is None:
            return (
                "'LaunchGroup.executor' with an executor_id must be set",
                "",
                Resources(),
            )
        if not tasks:
            return "Task group must have at least one task", executor_id, Resources()
        try:
            res = parse_resources(executor.get("resources", []))
        except ValueError as exc:
            return f"Executor uses invalid resources: {exc}", executor_id, Resources()
        if not available.contains(res):
            return "Executor uses more resources than available", executor_id, res
        return None, executor_id, res

    def _task_error(self, fw: FrameworkRecord, tid: TaskId, error: str) -> list[Effect]:
        logger.info(
            "task %s of framework %s is invalid (%s); sending TASK_ERROR",
            tid,
            fw.framework_id,
            error,
        )
        return self._master_update(fw, tid, "TASK_ERROR", "REASON_TASK_INVALID", error)

    # -- kill, shutdown, reconcile -------------------------------------------

    def _kill(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        tid = TaskId(id_value(body.get("task_id")) or "")
        task = fw.tasks.get(tid)
        if task is None:
            logger.info(
                "kill of unknown task %s of framework %s; answering by reconciliation",
                tid,
                fw.framework_id,
            )
            agent = id_value(body.get("agent_id"))
            return self._reconcile_one(fw, tid, AgentId(agent) if agent else None)
        if task.state in TERMINAL_STATES or task.killing:
            return []
        return self._start_kill(fw, task, body.get("kill_policy"))

    def _start_kill(
        self, fw: FrameworkRecord, task: TaskRecord, policy: Any
    ) -> list[Effect]:
        grace = _grace_seconds(policy)
        if grace is None:
            grace = _grace_seconds(task.info.get("kill_policy"))
        if grace is None:
            grace = self.settings.default_kill_grace
        task.killing = True
        logger.info(
            "killing task %s of framework %s with a %.1fs grace period",
            task.task_id,
            fw.framework_id,
            grace,
        )
        effects: list[Effect] = []
        if "TASK_KILLING_STATE" in fw.capabilities:
            effects += self._agent_update(
                task, "TASK_KILLING", None, None, "SOURCE_EXECUTOR"
            )
        effects.append(Kill(task.agent_id, fw.framework_id, task.task_id, grace))
        return effects

    def _shutdown(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        executor_id = id_value(body.get("executor_id"))
        agent_id = id_value(body.get("agent_id"))
        effects: list[Effect] = []
        for task in list(fw.tasks.values()):
            mine = task.executor_id == executor_id and task.agent_id == agent_id
            if mine and task.state not in TERMINAL_STATES and not task.killing:
                effects += self._start_kill(fw, task, None)
        return effects

    def _acknowledge(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        tid = TaskId(id_value(body.get("task_id")) or "")
        task = fw.tasks.get(tid)
        if task is None or not task.pending:
            logger.info(
                "ack for task %s of framework %s matches no pending update; "
                "ignoring it",
                tid,
                fw.framework_id,
            )
            return []
        if task.pending[0].get("uuid") != body.get("uuid"):
            logger.info(
                "ack for task %s of framework %s is not for the update in flight; "
                "ignoring it",
                tid,
                fw.framework_id,
            )
            return []
        acked = task.pending.popleft()
        if task.pending:
            return self._forward_head(task)
        task.pending = None
        self._retrying.pop((fw.framework_id, tid), None)
        if acked["state"] in TERMINAL_STATES:
            logger.info(
                "terminal update of task %s of framework %s acknowledged; "
                "forgetting it",
                tid,
                fw.framework_id,
            )
            self._forget_task(task)
            fw.completed.append(task)
        return []

    def _reconcile(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        asked = body.get("tasks") or []
        effects: list[Effect] = []
        if not asked:
            for task in fw.tasks.values():
                state = task.status_update_state or task.state
                effects += self._master_update(
                    fw,
                    task.task_id,
                    state,
                    "REASON_RECONCILIATION",
                    "Reconciliation: Latest task state",
                    task.agent_id,
                )
            return effects
        for item in asked:
            tid = TaskId(id_value(item.get("task_id")) or "")
            agent = id_value(item.get("agent_id"))
            effects += self._reconcile_one(fw, tid, AgentId(agent) if agent else None)
        return effects

    def _reconcile_one(
        self, fw: FrameworkRecord, tid: TaskId, agent_id: AgentId | None
    ) -> list[Effect]:
        task = fw.tasks.get(tid)
        if task is not None:
            state = task.status_update_state or task.state
            message = "Reconciliation: Latest task state"
            agent_id = task.agent_id
        elif agent_id is not None and agent_id in self.agents:
            state, message = "TASK_GONE", "Reconciliation: Task is unknown to the agent"
        else:
            state, message = "TASK_UNKNOWN", "Reconciliation: Task is unknown"
        return self._master_update(
            fw, tid, state, "REASON_RECONCILIATION", message, agent_id
        )

    # -- status updates -------------------------------------------------------

    def task_report(
        self, agent_id: AgentId, task_id: TaskId, report: TaskReport
    ) -> list[Effect]:
        """A backend saw a task change state: start an agent-sourced update."""
        agent = self.agents.get(agent_id)
        task = agent.tasks.get(task_id) if agent else None
        if task is None or task.state in TERMINAL_STATES:
            logger.debug(
                "report %s for task %s on agent %s is for a task already ended; "
                "dropping it",
                report.state,
                task_id,
                agent_id,
            )
            return []
        if task.killing and report.state in ("TASK_STARTING", "TASK_RUNNING"):
            return []
        source = "SOURCE_EXECUTOR"
        if report.reason == "REASON_CONTAINER_LAUNCH_FAILED":
            source = "SOURCE_AGENT"
        return self._agent_update(
            task, report.state, report.reason, report.message, source
        )

    def _agent_update(
        self,
        task: TaskRecord,
        state: str,
        reason: str | None,
        message: str | None,
        source: str,
    ) -> list[Effect]:
        fw = self.frameworks.get(task.framework_id)
        state = visible_state(state, fw.partition_aware if fw else False)
        status = task_status(
            task.task_id,
            state,
            source=source,
            timestamp=self.wallclock(),
            reason=reason,
            message=message,
            agent_id=task.agent_id,
            executor_id=task.executor_id,
            uuid=uuid.uuid4().bytes,
        )
        self._record_state(task, state, status)
        if state in TERMINAL_STATES:
            self._release(task)
        if task.pending is None:
            task.pending = deque()
        task.pending.append(status)
        effects: list[Effect] = [Notify("TASK_UPDATED", task, status)]
        if len(task.pending) == 1:
            effects += self._forward_head(task)
        return effects

    def _forward_head(self, task: TaskRecord) -> list[Effect]:
        """(Re)send the head of the task's update stream and arm its retry."""
        assert task.pending
        task.backoff = self.settings.update_backoff
        task.next_retry = self.clock() + task.backoff
        self._retrying[(task.framework_id, task.task_id)] = task
        fw = self.frameworks.get(task.framework_id)
        if fw is None or fw.stream_id is None:
            return []
        return [Send(fw.stream_id, event_update(task.pending[0]))]

    def _master_update(
        self,
        fw: FrameworkRecord,
        tid: TaskId,
        state: str,
        reason: str,
        message: str,
        agent_id: AgentId | None = None,
    ) -> list[Effect]:
        """A master-generated update: no uuid, no retry, dropped if disconnected."""
        if fw.stream_id is None:
            return []
        status = task_status(
            tid,
            visible_state(state, fw.partition_aware),
            source="SOURCE_MASTER",
            timestamp=self.wallclock(),
            reason=reason,
            message=message,
            agent_id=agent_id,
        )
        return [Send(fw.stream_id, event_update(status))]

    def _end_task(
        self, task: TaskRecord, state: str, reason: str, message: str
    ) -> list[Effect]:
        """The master ends a task itself (agent removed); no ack expected."""
        fw = self.frameworks.get(task.framework_id)
        state = visible_state(state, fw.partition_aware if fw else False)
        status = task_status(
            task.task_id,
            state,
            source="SOURCE_MASTER",
            timestamp=self.wallclock(),
            reason=reason,
            message=message,
            agent_id=task.agent_id,
        )
        logger.info(
            "task %s of framework %s is %s (%s)",
            task.task_id,
            task.framework_id,
            state,
            reason,
        )
        self._record_state(task, state, status)
        self._release(task)
        self._forget_task(task)
        effects: list[Effect] = [Notify("TASK_UPDATED", task, status)]
        if fw is not None:
            fw.completed.append(task)
            if fw.stream_id is not None:
                effects.append(Send(fw.stream_id, event_update(status)))
        return effects

    def _record_state(
        self, task: TaskRecord, state: str, status: JsonDict | None = None
    ) -> None:
        task.state = state
        task.statuses.append((state, self.wallclock()))
        if status is not None:
            task.latest = status

    def _release(self, task: TaskRecord) -> None:
        """The task's resources return to its agent (terminal state known)."""
        fw = self.frameworks.get(task.framework_id)
        if fw is not None:
            _charge(fw, task.resources, -1)
        agent = self.agents.get(task.agent_id)
        if agent is not None and agent.tasks.get(task.task_id) is task:
            agent.free.add(task.resources)

    def _forget_task(self, task: TaskRecord) -> None:
        fw = self.frameworks.get(task.framework_id)
        if fw is not None and fw.tasks.get(task.task_id) is task:
            del fw.tasks[task.task_id]
        agent = self.agents.get(task.agent_id)
        if agent is not None and agent.tasks.get(task.task_id) is task:
            del agent.tasks[task.task_id]
        self._retrying.pop((task.framework_id, task.task_id), None)
        task.pending = None

    # -- timers ----------------------------------------------------------------

    def tick(self) -> list[Effect]:
        """Expire failover timeouts and retry unacknowledged updates."""
        now = self.clock()
        effects: list[Effect] = []

        # A framework gone longer than its failover_timeout is removed.
        expired = [
            fw
            for fw in self.frameworks.values()
            if fw.failover_deadline is not None and fw.failover_deadline <= now
        ]
        for fw in expired:
            logger.warning(
                "framework %s did not return within its failover timeout; removing it",
                fw.framework_id,
            )
            effects += self._remove_framework(fw)

        # Agents re-send the head update of each task until it is acked.
        due = [t for t in self._retrying.values() if t.next_retry <= now]
        for task in due:
            if not task.pending:
                continue
            task.backoff = min(task.backoff * 2, self.settings.update_backoff_max)
            task.next_retry = now + task.backoff
            owner = self.frameworks.get(task.framework_id)
            if owner is not None and owner.stream_id is not None:
                logger.debug(
                    "retrying update %s of task %s of framework %s; next in %.1fs",
                    task.pending[0]["state"],
                    task.task_id,
                    owner.framework_id,
                    task.backoff,
                )
                effects.append(Send(owner.stream_id, event_update(task.pending[0])))
        return effects

    # -- master failover ------------------------------------------------------

    def recovered(self, master_info: JsonDict) -> MasterState:
        """The state a new master reaches once every agent has re-registered.

        Agents bring back their tasks (with their unacknowledged updates) and
        the FrameworkInfo of those tasks' frameworks; everything else (offers,
        filters, suppression, removed framework ids, completed tasks) is lost,
        as in a real master failover.
        """
        new = MasterState(master_info, self.settings, self.clock, self.wallclock)
        new._next_framework = self._next_framework
        for agent in self.agents.values():
            new.add_agent(agent.agent_id, agent.hostname, agent.total, agent.attributes)
            for task in agent.tasks.values():
                new._adopt(task, self.frameworks.get(task.framework_id))
        return new

    def _adopt(self, task: TaskRecord, old: FrameworkRecord | None) -> None:
        fw = self.frameworks.get(task.framework_id)
        if fw is None:
            info = old.info if old else {"id": wrap(task.framework_id), "name": ""}
            roles = old.roles if old else (task.role,)
            fw = FrameworkRecord(
                task.framework_id, info, roles, self.wallclock(), recovered=True
            )
            self.frameworks[fw.framework_id] = fw
        fw.tasks[task.task_id] = task
        self.agents[task.agent_id].tasks[task.task_id] = task
        if task.state not in TERMINAL_STATES:
            _charge(fw, task.resources, 1)
            self.agents[task.agent_id].free.subtract(task.resources)
        if task.pending:
            task.next_retry = self.clock() + task.backoff
            self._retrying[(fw.framework_id, task.task_id)] = task


def _charge(fw: FrameworkRecord, res: Resources, sign: int) -> None:
    acc = fw.allocated
    acc[0] = round(acc[0] + sign * res.cpus, 3)
    acc[1] = round(acc[1] + sign * res.mem, 3)
    acc[2] = round(acc[2] + sign * res.disk, 3)
    acc[3] = round(acc[3] + sign * res.gpus, 3)


def _grace_seconds(policy: Any) -> float | None:
    if not isinstance(policy, dict):
        return None
    nanos = (policy.get("grace_period") or {}).get("nanoseconds")
    if not isinstance(nanos, int) or nanos < 0:
        return None
    return nanos / 1e9


def _merge_info(old: JsonDict, new: JsonDict) -> JsonDict:
    """Re-subscription may not change user, checkpoint or principal."""
    merged = dict(new)
    for key in ("user", "checkpoint", "principal"):
        if key in old:
            merged[key] = old[key]
        else:
            merged.pop(key, None)
    return merged


_Handler = Callable[[MasterState, FrameworkRecord, JsonDict], list[Effect]]
_HANDLERS: dict[str, _Handler] = {
    "TEARDOWN": MasterState._teardown,
    "ACCEPT": MasterState._accept,
    "DECLINE": MasterState._decline,
    "REVIVE": MasterState._revive,
    "SUPPRESS": MasterState._suppress,
    "KILL": MasterState._kill,
    "SHUTDOWN": MasterState._shutdown,
    "ACKNOWLEDGE": MasterState._acknowledge,
    "RECONCILE": MasterState._reconcile,
}
