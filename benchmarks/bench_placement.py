"""Throughput and memory of the pure planner at cluster scale (simulated).

10,000 agents of three shapes (CPU, big CPU, 4-GPU) offer their free
resources; 100,000 tasks from 4,000 array jobs of 10 teams wait in the queue
(cpu demand is about 1.6x capacity, so the queue never drains). Each round
is what the scheduler does per offer cycle: ``order_pending`` (DRF) over the
whole queue, then ``plan_placements`` over every agent's offer. Round 0 starts
empty; then 2% of the running tasks finish before each of the next rounds.

Figures: placements per second sustained over all rounds (ordering
included), offers per second through the planner (offers handled per second
of planning), and the scheduler-side resident memory for 100,000 known tasks
(VmRSS delta after building requests, ordering and planning).
"""

from __future__ import annotations

import gc
import random
import resource
import time
from pathlib import Path

from framework.batch.constraints import parse_constraint
from framework.batch.placement import Offer, TaskRequest, plan_placements
from framework.batch.queue import order_pending
from framework.batch.resources import Resources
from framework.ids import AgentId, JobId, OfferId, TaskId, TeamName

AGENTS = 10_000
TASKS = 100_000
JOBS = 4_000
ROUNDS = 4
SHAPES = [(32, 131072, 0), (64, 262144, 0), (32, 262144, 4)]
Figures = dict[str, dict[str, object]]


def rss_mib() -> float:
    """Resident set size now (VmRSS), or the peak when /proc is absent."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_agents(rng: random.Random) -> list[tuple[str, list[int], dict[str, str]]]:
    agents = []
    for i in range(AGENTS):
        cpus, mem, gpus = SHAPES[0 if i % 10 < 6 else 1 if i % 10 < 9 else 2]
        attributes = {"rack": f"r{rng.randrange(50)}", "zone": f"z{i % 3}"}
        agents.append((f"agent-{i}", [cpus * 1000, mem, gpus, 1001], attributes))
    return agents


def make_queue(rng: random.Random) -> list[TaskRequest]:
    sizes = [rng.randint(1, 49) for _ in range(JOBS)]
    scale = TASKS / sum(sizes)
    requests: list[TaskRequest] = []
    for j, size in enumerate(sizes):
        count = max(1, round(size * scale)) if j < JOBS - 1 else TASKS - len(requests)
        gpus = 1 if rng.random() < 0.05 else 0
        resources = Resources(
            cpus=rng.choice([0.5, 1, 2, 4, 8, 16, 16]),
            mem=rng.choice([512, 1024, 2048, 4096, 8192]),
            gpus=gpus,
            ports=rng.choice([0, 0, 1, 2]),
        )
        constraints = ()
        if rng.random() < 0.1:
            constraints = (
                parse_constraint(
                    rng.choice([["zone", "IS", "z1"], ["hostname", "MAX_PER", 4]])
                ),
            )
        team = TeamName(f"team-{j % 10}")
        for i in range(count):
            requests.append(
                TaskRequest(
                    TaskId(f"job-{j}.{i}.0"),
                    JobId(f"job-{j}"),
                    team,
                    resources,
                    constraints,
                    priority=j % 3,
                    submitted_at=float(j),
                )
            )
    return requests[:TASKS]


def offers_of(
    agents: list[tuple[str, list[int], dict[str, str]]], n: int
) -> list[Offer]:
    return [
        Offer(
            OfferId(f"offer-{n}-{i}"),
            AgentId(name),
            name,
            cpus=free[0] / 1000,
            mem=free[1],
            disk=0,
            gpus=free[2],
            port_ranges=((31000, 31000 + free[3] - 1),) if free[3] else (),
            attributes=attributes,
        )
        for i, (name, free, attributes) in enumerate(agents)
    ]


def run() -> Figures:
    rng = random.Random(7)
    gc.collect()
    before = rss_mib()
    agents = make_agents(rng)
    queue = make_queue(rng)
    by_id = {r.task_id: r for r in queue}
    index = {name: i for i, (name, _, _) in enumerate(agents)}
    totals = Resources(
        cpus=sum(a[1][0] for a in agents) / 1000,
        mem=sum(a[1][1] for a in agents),
        gpus=sum(a[1][2] for a in agents),
    )
    running: dict[TaskId, int] = {}
    usage: dict[TeamName, Resources] = {}
    placed = steady_offers = 0
    steady_plan_seconds = cycle_seconds = 0.0
    queued_steady = 0
    for n in range(ROUNDS):
        # Some running tasks finish and give their resources back.
        if n:
            for task_id in rng.sample(sorted(running), len(running) // 50):
                _release(agents[running.pop(task_id)][1], by_id[task_id], usage)

        # One offer cycle: order the queue, plan on every agent's offer.
        round_offers = offers_of(agents, n)
        start = time.perf_counter()
        ordered = order_pending(queue, usage, totals)
        mid = time.perf_counter()
        plan = plan_placements(round_offers, ordered, now=0, usage=usage)
        end = time.perf_counter()
        cycle_seconds += end - start
        if n:
            steady_plan_seconds += end - mid
            steady_offers += len(round_offers)
            queued_steady += len(ordered)

        # Apply the plan: the launched tasks leave the queue.
        launched = set()
        for launch in plan.all_launches():
            agent = index[launch.agent_id]
            _take(agents[agent][1], by_id[launch.task_id], usage)
            running[launch.task_id] = agent
            launched.add(launch.task_id)
        placed += len(launched)
        queue = [r for r in queue if r.task_id not in launched]
    gc.collect()
    delta = rss_mib() - before
    steady = ROUNDS - 1
    return {
        "placement.placements_per_second": _fig(
            round(placed / cycle_seconds),
            "placements/s",
            1000,
            f"{placed} placements in {ROUNDS} cycles of {AGENTS} offers, "
            "DRF ordering included",
        ),
        "placement.offers_per_second": _fig(
            round(steady_offers / steady_plan_seconds),
            "offers/s",
            10000,
            f"steady cycles: {AGENTS} offers vs ~{queued_steady // steady} "
            "queued tasks, 2% of running tasks finished before each",
        ),
        "placement.cycle_seconds_mean": _fig(round(cycle_seconds / ROUNDS, 2), "s"),
        "placement.rss_delta_100k_tasks": _fig(round(delta, 1), "MiB", 1024),
    }


def _take(
    free: list[int], request: TaskRequest, usage: dict[TeamName, Resources]
) -> None:
    r = request.resources
    free[0] -= round(r.cpus * 1000)
    free[1] -= int(r.mem)
    free[2] -= r.gpus
    free[3] -= r.ports
    usage[request.team] = usage.get(request.team, Resources()) + r


def _release(
    free: list[int], request: TaskRequest, usage: dict[TeamName, Resources]
) -> None:
    r = request.resources
    free[0] += round(r.cpus * 1000)
    free[1] += int(r.mem)
    free[2] += r.gpus
    free[3] += r.ports
    usage[request.team] = usage[request.team] + r.scaled(-1)


def _fig(
    value: object, unit: str, target: object = None, note: str = ""
) -> dict[str, object]:
    figure: dict[str, object] = {"value": value, "unit": unit, "target": target}
    if note:
        figure["note"] = note
    return figure


def main() -> None:
    for name, figure in run().items():
        target = figure.get("target")
        extra = f" (target {target})" if target is not None else ""
        note = f"  [{figure['note']}]" if figure.get("note") else ""
        print(f"{name}: {figure['value']} {figure['unit']}{extra}{note}")


if __name__ == "__main__":
    main()
