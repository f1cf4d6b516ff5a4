"""Which pending task goes first: weighted DRF between teams, then priority, age.

``order_pending`` simulates Dominant Resource Fairness (Ghodsi et al., NSDI
'11) over the cluster totals: it repeatedly takes the team whose dominant
share divided by its weight is lowest, emits that team's next task (its tasks
sorted by priority, higher first, then age, older first) and charges the
task's resources to the team before choosing again. So a team that is already
big waits behind small teams, and a team with weight 2 may hold twice the
dominant share of a team with weight 1 before it waits.

``fits_anywhere`` rejects at submit a job no agent could ever run.

Invariants: both functions are pure and deterministic (ties are broken by
team name and task id); ``order_pending`` returns a permutation of its input.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

from framework.batch.resources import SCALARS, UNITS, Resources, to_milli
from framework.batch.spec import JobSpec
from framework.ids import TaskId, TeamName


class Queued(Protocol):
    """What ordering looks at (``placement.TaskRequest`` has all of it)."""

    @property
    def task_id(self) -> TaskId: ...
    @property
    def team(self) -> TeamName: ...
    @property
    def priority(self) -> int: ...
    @property
    def submitted_at(self) -> float: ...
    @property
    def resources(self) -> Resources: ...


Q = TypeVar("Q", bound=Queued)


def dominant_share(usage: Resources, totals: Resources) -> float:
    """The largest share of any scalar resource ``usage`` holds of ``totals``."""
    shares = [
        usage.get(name) / totals.get(name) for name in SCALARS if totals.get(name) > 0
    ]
    return max(shares, default=0.0)


def order_pending(
    pending: Sequence[Q],
    usage_by_team: Mapping[TeamName, Resources],
    cluster_totals: Resources,
    weights: Mapping[TeamName, float] | None = None,
) -> list[Q]:
    """``pending`` in launch order (weighted DRF, then priority, then age).

    Teams missing from ``weights`` weigh 1; a weight must be > 0.
    """
    weights = weights or {}
    per_team = _sorted_per_team(pending)
    totals = [cluster_totals.get(n) for n in SCALARS]
    used = {
        team: [usage_by_team.get(team, Resources()).get(n) for n in SCALARS]
        for team in per_team
    }
    heap = [
        _entry(team, tasks[0], used[team], totals, weights)
        for team, tasks in per_team.items()
    ]
    heapq.heapify(heap)
    heads = dict.fromkeys(per_team, 0)
    ordered: list[Q] = []
    while heap:
        # The team furthest below its fair share goes next.
        *_, team = heapq.heappop(heap)
        tasks = per_team[team]
        task = tasks[heads[team]]
        ordered.append(task)

        # Charge it, then requeue the team with its new share and next task.
        heads[team] += 1
        r, team_used = task.resources, used[team]
        team_used[0] += r.cpus
        team_used[1] += r.mem
        team_used[2] += r.disk
        team_used[3] += r.gpus
        if heads[team] < len(tasks):
            nxt = tasks[heads[team]]
            heapq.heappush(heap, _entry(team, nxt, team_used, totals, weights))
    return ordered


def _sorted_per_team(pending: Sequence[Q]) -> dict[TeamName, list[Q]]:
    per_team: dict[TeamName, list[Q]] = defaultdict(list)
    for task in pending:
        per_team[task.team].append(task)
    for tasks in per_team.values():
        tasks.sort(key=lambda t: (-t.priority, t.submitted_at, t.task_id))
    return dict(per_team)


def _entry(
    team: TeamName,
    head: Queued,
    used: list[float],
    totals: list[float],
    weights: Mapping[TeamName, float],
) -> tuple[float, int, float, TaskId, TeamName]:
    weight = weights.get(team, 1.0)
    if weight <= 0:
        raise ValueError(f"team {team} has weight {weight}; weights must be > 0")
    share = max(
        (u / t for u, t in zip(used, totals, strict=True) if t > 0), default=0.0
    )
    return (share / weight, -head.priority, head.submitted_at, head.task_id, team)


def fits_anywhere(
    spec: JobSpec, agents_max_resources: Mapping[str, Resources]
) -> str | None:
    """None when one task of ``spec`` fits on some agent; else why not.

    ``agents_max_resources`` maps an agent's hostname to the most it can ever
    offer (its total resources, ``ports`` as a count). The reason names the
    resource and the largest agent for it, e.g. ``resources.cpus: a task needs
    64 cpus but the largest agent, node-3, has 32 cpus``.
    """
    # TODO(constraints): static constraints (IS, LIKE) could rule agents out
    # here too; callers pass resources only for now.
    need = spec.task_resources()
    if any(not need.shortfalls(total) for total in agents_max_resources.values()):
        return None
    if not agents_max_resources:
        return "no agents are known yet; retry when the cluster has registered some"
    for name in (*SCALARS, "ports"):
        host, most = max(
            agents_max_resources.items(), key=lambda item: (item[1].get(name), item[0])
        )
        if to_milli(need.get(name)) > to_milli(most.get(name)):
            return (
                f"resources.{name}: a task needs {need.get(name):g} {UNITS[name]} "
                f"but the largest agent, {host}, has {most.get(name):g}; "
                f"lower resources.{name} or add bigger agents"
            )
    return _closest_agent_reason(need, agents_max_resources)


def _closest_agent_reason(need: Resources, agents: Mapping[str, Resources]) -> str:
    """Every resource fits somewhere, but never all on one agent."""
    host, total = min(agents.items(), key=lambda item: len(need.shortfalls(item[1])))
    short = need.shortfalls(total)
    return (
        f"resources: no agent has {need.describe()} at once; the closest, {host} "
        f"({total.describe()}), lacks {', '.join(short)}; make the task smaller"
    )
