"""Packing quality of the batch planner on a real production trace.

Data: the Alibaba OpenB trace (alibaba/clusterdata, cluster-trace-gpu-v2023),
published with Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing
Workloads with Fragmentation Gradient Descent", USENIX ATC '23. Found at
``$MESOS_ADAPTER_TRACE_DIR`` or ``../shared/data/alibaba-openb`` beside the
repository; without it the benchmark prints why and reports nothing.

Mapping to Mesos resources: cpus = cpu_milli / 1000, mem = memory_mib (MB),
gpus = num_gpu, and a task with gpu_milli < 1000 still takes one whole GPU
(Mesos offers whole GPUs only, so GPU sharing is lost). ``gpu_spec`` becomes a
LIKE constraint on the agent attribute ``gpu_model`` (empty in this trace).

Figures:

(a) packing ratio: every task that fits on the most common machine shape is
    placed at once, in arrival order, on identical machines of that shape;
    machines used by ``binpack`` and by first fit (Marathon's behaviour: the
    first offer that fits) against the lower bound max over resources of
    ceil(total demand / machine size). One shape, because that lower bound is
    only meaningful for identical machines; the CPU-only tasks are packed on
    the most common CPU-only shape as a second, GPU-free case.
(b) replay on the real 1,523 heterogeneous machines, tasks arriving in
    creation_time order and leaving at deletion_time (a task waits in the
    queue until placed or deleted): share of tasks placed and allocated share
    of cpus, mem and gpus (time-weighted mean and peak). The trace is a
    sample and loads the cluster lightly, so (b') also replays the arrivals
    without departures - the FGD paper's "fill the cluster" setting - and
    reports the shares when the cluster is full.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from framework.batch.constraints import Constraint
from framework.batch.placement import (
    BinPack,
    Offer,
    TaskRequest,
    plan_placements,
)
from framework.batch.resources import Resources
from framework.ids import AgentId, JobId, OfferId, TaskId, TeamName

PAPER = (
    'Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing Workloads '
    "with Fragmentation Gradient Descent\", USENIX ATC '23"
)
REPO = Path(__file__).resolve().parents[1]
Figures = dict[str, dict[str, object]]
Vec = list[int]  # cpus (milli), mem (MiB), gpus


@dataclass(frozen=True, slots=True)
class Machine:
    name: str
    cpus_milli: int
    mem: int
    gpus: int
    model: str


@dataclass(frozen=True, slots=True)
class Pod:
    name: str
    cpus_milli: int
    mem: int
    gpus: int
    shared_gpu: bool  # gpu_milli < 1000: rounded up to one whole GPU
    gpu_spec: str
    qos: str
    created: int
    deleted: int


def find_trace() -> Path | None:
    """The trace directory: the env var first, then beside the repository."""
    candidates = [os.environ.get("MESOS_ADAPTER_TRACE_DIR", "")]
    candidates.append(str(REPO / ".." / "shared" / "data" / "alibaba-openb"))
    for candidate in candidates:
        if candidate and (Path(candidate) / "pods.csv").is_file():
            return Path(candidate).resolve()
    return None


def load(trace: Path) -> tuple[list[Machine], list[Pod]]:
    with (trace / "nodes.csv").open(newline="") as f:
        machines = [
            Machine(
                r["sn"],
                int(r["cpu_milli"]),
                int(r["memory_mib"]),
                int(r["gpu"]),
                r["model"],
            )
            for r in csv.DictReader(f)
        ]
    with (trace / "pods.csv").open(newline="") as f:
        pods = [_pod(r) for r in csv.DictReader(f)]
    pods.sort(key=lambda p: (p.created, p.name))
    return machines, pods


def _pod(row: dict[str, str]) -> Pod:
    gpus = int(row["num_gpu"])
    return Pod(
        row["name"],
        int(row["cpu_milli"]),
        int(row["memory_mib"]),
        gpus,
        gpus == 1 and int(row["gpu_milli"] or 1000) < 1000,
        row["gpu_spec"],
        row["qos"],
        int(row["creation_time"]),
        int(row["deletion_time"]),
    )


def request(pod: Pod) -> TaskRequest:
    constraints: tuple[Constraint, ...] = ()
    if pod.gpu_spec:
        constraints = (Constraint("gpu_model", "LIKE", pod.gpu_spec),)
    return TaskRequest(
        TaskId(pod.name),
        JobId(pod.name),
        TeamName(pod.qos),
        Resources(pod.cpus_milli / 1000, pod.mem, 0, pod.gpus),
        constraints,
        submitted_at=pod.created,
    )


def offer(index: int, machine: Machine, free: Vec) -> Offer:
    return Offer(
        OfferId(f"{index}:{machine.name}"),
        AgentId(machine.name),
        machine.name,
        cpus=free[0] / 1000,
        mem=free[1],
        gpus=free[2],
        attributes={"gpu_model": machine.model},
    )


def demand(pod: Pod) -> Vec:
    return [pod.cpus_milli, pod.mem, pod.gpus]


def fits(need: Vec, free: Vec) -> bool:
    return need[0] <= free[0] and need[1] <= free[1] and need[2] <= free[2]


# --- (a) packing ratio on identical machines ---------------------------------


def lower_bound(pods: Sequence[Pod], shape: Machine) -> int:
    totals = [sum(demand(p)[i] for p in pods) for i in range(3)]
    sizes = [shape.cpus_milli, shape.mem, shape.gpus]
    return max(math.ceil(t / s) for t, s in zip(totals, sizes, strict=True) if s)


def binpack_machines(pods: Sequence[Pod], shape: Machine, count: int) -> int:
    """Machines used when ``binpack`` places ``pods`` (in order) at once."""
    full = [shape.cpus_milli, shape.mem, shape.gpus]
    offers = [offer(i, shape, full) for i in range(count)]
    plan = plan_placements(offers, [request(p) for p in pods], now=0)
    if len(plan.all_launches()) != len(pods):
        raise RuntimeError("not enough machines offered; raise the pool size")
    return len(plan.launches)


def first_fit_machines(pods: Sequence[Pod], shape: Machine) -> int:
    """Machines used by first fit: each task on the first machine it fits."""
    machines: list[Vec] = []
    for pod in pods:
        need = demand(pod)
        for free in machines:
            if fits(need, free):
                break
        else:
            free = [shape.cpus_milli, shape.mem, shape.gpus]
            machines.append(free)
        for i in range(3):
            free[i] -= need[i]
    return len(machines)


def packing(pods: Sequence[Pod], shape: Machine, label: str) -> Figures:
    size = [shape.cpus_milli, shape.mem, shape.gpus]
    fitting = [p for p in pods if fits(demand(p), size)]
    bound = lower_bound(fitting, shape)
    binpack = binpack_machines(fitting, shape, max(2 * bound, 10))
    first_fit = first_fit_machines(fitting, shape)
    shape_text = f"{shape.cpus_milli // 1000}c/{shape.mem // 1024}GiB/{shape.gpus}g"
    note = f"{len(fitting)} tasks on {shape_text}"
    return {
        f"{label}.lower_bound_machines": _fig(bound, "machines", note=note),
        f"{label}.binpack_machines": _fig(binpack, "machines"),
        f"{label}.first_fit_machines": _fig(first_fit, "machines"),
        f"{label}.binpack_ratio": _fig(
            round(binpack / bound, 3), "x lower bound", 1.10
        ),
        f"{label}.first_fit_ratio": _fig(round(first_fit / bound, 3), "x lower bound"),
    }


# --- (b) arrival/departure replay --------------------------------------------

Placer = Callable[[list[Machine], list[Vec], list[Pod]], dict[str, int]]


class BinpackPlacer:
    """Plans the queue on offers of every machine's free resources.

    Offers are immutable, so one is built per machine and state, and reused
    while the machine's free resources stay the same.
    """

    def __init__(self) -> None:
        self.offers: dict[tuple[int, int, int, int], Offer] = {}

    def __call__(
        self, machines: list[Machine], free: list[Vec], queue: list[Pod]
    ) -> dict[str, int]:
        offers = [self._offer(i, m, free[i]) for i, m in enumerate(machines)]
        queue_requests = [request(p) for p in queue]
        plan = plan_placements(offers, queue_requests, now=0, policy=BinPack())
        return {
            launch.task_id: int(launch.offer_id.split(":")[0])
            for launch in plan.all_launches()
        }

    def _offer(self, i: int, machine: Machine, free: Vec) -> Offer:
        key = (i, free[0], free[1], free[2])
        cached = self.offers.get(key)
        if cached is None:
            if len(self.offers) > 100_000:
                self.offers.clear()
            cached = self.offers[key] = offer(i, machine, free)
        return cached


def place_first_fit(
    machines: list[Machine], free: list[Vec], queue: list[Pod]
) -> dict[str, int]:
    """Marathon-like: machines in fixed order, each task on the first fit."""
    placed: dict[str, int] = {}
    scratch = [list(f) for f in free]
    for pod in queue:
        need = demand(pod)
        for i, room in enumerate(scratch):
            if fits(need, room):
                for k in range(3):
                    room[k] -= need[k]
                placed[pod.name] = i
                break
    return placed


def replay(
    machines: list[Machine], pods: list[Pod], place: Placer, departures: bool
) -> dict[str, float]:
    """Run the trace through ``place``; shares placed and allocated."""
    capacity = [
        sum(getattr(m, f) for m in machines) for f in ("cpus_milli", "mem", "gpus")
    ]
    free = [[m.cpus_milli, m.mem, m.gpus] for m in machines]
    where: dict[str, int] = {}
    by_name = {p.name: p for p in pods}
    queue: list[Pod] = []
    used = [0, 0, 0]
    area = [0.0, 0.0, 0.0]
    peak = [0, 0, 0]
    last_t = pods[0].created if pods else 0
    events = _events(pods, departures)
    for n, (t, kind, name) in enumerate(events):
        # Allocation integrates over time between events.
        for i in range(3):
            area[i] += used[i] * (t - last_t)
        last_t = t
        pod = by_name[name]

        # A departure frees what its task held (or drops it from the queue).
        if kind == 0:
            if name in where:
                _move(free[where[name]], used, demand(pod), -1)
            queue = [q for q in queue if q.name != name]
            continue

        # An arrival joins the queue; the queue is planned after each run of
        # arrivals (nothing frees up in between, so batching changes nothing).
        queue.append(pod)
        if n + 1 < len(events) and events[n + 1][1] == 1:
            continue
        for task, machine in place(machines, free, queue).items():
            where[task] = machine
            _move(free[machine], used, demand(by_name[task]), +1)
        queue = [q for q in queue if q.name not in where]
        peak = [max(p, u) for p, u in zip(peak, used, strict=True)]
    span = max(1, last_t - (pods[0].created if pods else 0))
    result = {"placed_share": len(where) / max(1, len(pods))}
    for i, name in enumerate(("cpus", "mem", "gpus")):
        result[f"{name}_mean_share"] = area[i] / span / capacity[i]
        result[f"{name}_peak_share"] = peak[i] / capacity[i]
        result[f"{name}_final_share"] = used[i] / capacity[i]
    return result


def _events(pods: list[Pod], departures: bool) -> list[tuple[int, int, str]]:
    """(time, 0=departure/1=arrival, task): departures first at equal times."""
    events = [(p.created, 1, p.name) for p in pods]
    if departures:
        events += [(p.deleted, 0, p.name) for p in pods]
    events.sort()
    return events


def _move(free: Vec, used: Vec, need: Vec, sign: int) -> None:
    for i in range(3):
        free[i] -= sign * need[i]
        used[i] += sign * need[i]


def replay_figures(machines: list[Machine], pods: list[Pod]) -> Figures:
    figures: Figures = {}
    for departures, label in ((True, "replay"), (False, "replay_no_departures")):
        placers: tuple[tuple[str, Placer], ...] = (
            ("binpack", BinpackPlacer()),
            ("first_fit", place_first_fit),
        )
        for name, place in placers:
            result = replay(machines, pods, place, departures)
            for key, value in result.items():
                if key != "placed_share" and departures == key.endswith("final_share"):
                    continue
                figures[f"{label}.{name}.{key}"] = _fig(round(value, 4), "share")
    return figures


# --- running -----------------------------------------------------------------


def _fig(
    value: object, unit: str, target: object = None, note: str = ""
) -> dict[str, object]:
    figure: dict[str, object] = {"value": value, "unit": unit, "target": target}
    if note:
        figure["note"] = note
    return figure


def run() -> dict[str, dict[str, object]]:
    trace = find_trace()
    if trace is None:
        print(
            "bench_packing: skipped: no trace (set MESOS_ADAPTER_TRACE_DIR or put "
            "alibaba-openb in ../shared/data beside the repository)"
        )
        return {}
    started = time.perf_counter()
    machines, pods = load(trace)
    shapes = Counter((m.cpus_milli, m.mem, m.gpus, m.model) for m in machines)
    common = Machine("common", *shapes.most_common(1)[0][0])
    cpu_shape = next(k for k, _ in shapes.most_common() if k[2] == 0)
    figures: Figures = {
        "trace.tasks": _fig(len(pods), "tasks", note=PAPER),
        "trace.shared_gpu_tasks_rounded_up": _fig(
            sum(p.shared_gpu for p in pods), "tasks", note="gpu_milli<1000 -> 1 GPU"
        ),
        "trace.ls_tasks": _fig(sum(p.qos == "LS" for p in pods), "tasks"),
    }
    figures |= packing(pods, common, "pack_all")
    cpu_only = [p for p in pods if p.gpus == 0]
    figures |= packing(cpu_only, Machine("cpu", *cpu_shape), "pack_cpu_only")
    figures |= replay_figures(machines, pods)
    figures["bench_seconds"] = _fig(round(time.perf_counter() - started, 1), "s")
    return figures


def main() -> None:
    for name, figure in run().items():
        target = figure.get("target")
        extra = f" (target {target})" if target is not None else ""
        note = f"  [{figure['note']}]" if figure.get("note") else ""
        print(f"{name}: {figure['value']} {figure['unit']}{extra}{note}")


if __name__ == "__main__":
    main()
