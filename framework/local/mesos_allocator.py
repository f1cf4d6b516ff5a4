"""The local master's allocator: Dominant Resource Fairness over plain data.

``allocate`` is a pure function: it reads the agents' free resources and the
frameworks' allocations, filters and roles, and returns offer instructions. It
changes nothing, so it is tested without sockets and benchmarked alone.

Rules (Mesos's hierarchical DRF allocator, simplified; see the report in
docs for every deviation):

* Each agent's whole free pool goes into one offer, to the eligible client
  (a framework in one of its unsuppressed roles) with the lowest dominant
  share at that moment; the share grows with every offer it receives, so one
  cycle spreads agents across frameworks fairly.
* A client is not eligible for an agent while a decline filter on that agent
  has not expired *and* the agent's free resources are within the refused
  ones (new free resources, e.g. from a finished task, lift the filter early,
  as in Mesos).
* Agents with GPUs are offered only to GPU-aware frameworks.
* Agents whose free resources are below MIN_CPUS and MIN_MEM are skipped.
* There is no per-cycle cap on offers (Mesos's MAX_OFFERS_PER_FRAMEWORK, 50,
  is not reproduced): a framework gets every agent it wins in one event.

Roles are fair-shared per framework, not per role first then per framework
(TODO(hierarchical-drf): Mesos sorts roles, then frameworks within a role;
nothing here needs weights or quotas yet).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from framework.ids import AgentId, FrameworkId
from framework.local.mesos_wire import Resources

Scalars = tuple[float, float, float, float]  # cpus, mem, disk, gpus


@dataclass(slots=True)
class Filter:
    """A decline filter: refuse ``resources`` on one agent until ``expiry``."""

    expiry: float
    resources: Resources


class AgentView(Protocol):
    """What the allocator reads of an agent."""

    @property
    def agent_id(self) -> AgentId: ...

    @property
    def free(self) -> Resources: ...


@dataclass(slots=True)
class Client:
    """One framework in one role that wants offers."""

    framework_id: FrameworkId
    role: str
    allocated: Scalars  # everything the framework holds: tasks and offers
    filters: Mapping[AgentId, Filter] = field(default_factory=dict)
    gpu_aware: bool = True


@dataclass(frozen=True, slots=True)
class OfferInstruction:
    """Offer ``resources`` of ``agent_id`` to ``framework_id`` in ``role``."""

    framework_id: FrameworkId
    role: str
    agent_id: AgentId
    resources: Resources


def dominant_share(allocated: Sequence[float], total: Sequence[float]) -> float:
    """The largest fraction of any cluster resource the framework holds."""
    share = 0.0
    for used, whole in zip(allocated, total, strict=True):
        if whole > 0 and used / whole > share:
            share = used / whole
    return share


def is_filtered(client: Client, agent: AgentView, now: float) -> bool:
    flt = client.filters.get(agent.agent_id)
    if flt is None or flt.expiry <= now:
        return False
    return flt.resources.contains(agent.free)


def allocate(
    agents: Iterable[AgentView],
    clients: Sequence[Client],
    total: Scalars,
    now: float,
) -> list[OfferInstruction]:
    """Decide this cycle's offers; see the module docstring for the rules."""
    if not clients:
        return []
    used: dict[FrameworkId, list[float]] = {
        c.framework_id: list(c.allocated) for c in clients
    }
    heap = [
        (dominant_share(used[c.framework_id], total), n, n)
        for n, c in enumerate(clients)
    ]
    heapq.heapify(heap)
    seq = len(clients)
    out: list[OfferInstruction] = []
    for agent in agents:
        free = agent.free
        if not free.allocatable():
            continue

        # Pop clients in share order until one may take this agent; the
        # ones skipped go back unchanged.
        skipped: list[tuple[float, int, int]] = []
        chosen: Client | None = None
        chosen_idx = -1
        while heap:
            share, _, idx = heapq.heappop(heap)
            client = clients[idx]
            current = dominant_share(used[client.framework_id], total)
            if current > share:
                # Stale key: another role of this framework won an offer.
                seq += 1
                heapq.heappush(heap, (current, seq, idx))
                continue
            skipped.append((share, seq, idx))
            seq += 1
            if free.gpus and not client.gpu_aware:
                continue
            if is_filtered(client, agent, now):
                continue
            chosen, chosen_idx = client, idx
            skipped.pop()
            break
        for entry in skipped:
            heapq.heappush(heap, entry)
        if chosen is None:
            continue

        # Give the whole pool and charge it to the framework's share.
        out.append(
            OfferInstruction(chosen.framework_id, chosen.role, agent.agent_id, free)
        )
        acc = used[chosen.framework_id]
        acc[0] += free.cpus
        acc[1] += free.mem
        acc[2] += free.disk
        acc[3] += free.gpus
        seq += 1
        heapq.heappush(heap, (dominant_share(acc, total), seq, chosen_idx))
    return out
