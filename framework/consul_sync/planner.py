"""``plan_sync``: observed Mesos/Marathon state and Consul entries → a `Plan`.

Pure: no I/O, no clock. The loop calls it for the tasks an event touched
(``only=``) and, every anti-entropy pass, for everything.

Rules, per task:

* registered (one instance per port) only when RUNNING, on a known agent, with
  ports, a service name, and healthy: Marathon says so for an app with health
  checks, Mesos does not say unhealthy otherwise;
* TASK_KILLING: its instances are drained (maintenance mode), not removed;
* ended (FINISHED, FAILED, KILLED, LOST, GONE, DROPPED, ERROR...), unknown to
  Mesos, unhealthy or on a removed agent: removed at once, through the agent
  API on our Consul node and through the catalog API on any other node (a
  per-host agent that died with its Mesos agent, a former leader's agent);
* not known yet (a Marathon task before Marathon answered, a health result not
  in yet): its entries are kept as they are.

Invariants: an entry without our owner marker and cluster name is never in a
plan; a `Register` is emitted only when some compared field differs (name,
address, port, tags, meta, weights, check), so a pass over an unchanged
cluster plans nothing; a bad label is a `Problem` for its app, whose entries
are then left as they are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from framework.consul_sync.labels import NAME_LABEL, LabelError, naming
from framework.consul_sync.model import (
    CLUSTER_KEY,
    ENDED,
    KILLING,
    OWNER,
    OWNER_KEY,
    RUNNING,
    CatalogDeregister,
    CheckSpec,
    Deregister,
    Drain,
    Entry,
    HealthCheck,
    Instruction,
    MarathonTask,
    Observed,
    Plan,
    Problem,
    Register,
    Registration,
    TaskView,
    Undrain,
    service_id,
)
from framework.ids import ServiceId, TaskId

JOB_LABEL = "mesos-adapter/job"  # set by the batch framework on its tasks
CHECK_PROTOCOLS = {
    "HTTP": "http",
    "MESOS_HTTP": "http",
    "HTTPS": "https",
    "MESOS_HTTPS": "https",
    "TCP": "tcp",
    "MESOS_TCP": "tcp",
}


@dataclass(frozen=True)
class _Want:
    registrations: tuple[Registration, ...]


@dataclass(frozen=True)
class _Drain:
    pass


@dataclass(frozen=True)
class _Absent:
    reason: str


@dataclass(frozen=True)
class _Keep:
    pass


_Outcome = _Want | _Drain | _Absent | _Keep


def plan_sync(
    observed: Observed,
    entries: Iterable[Entry],
    *,
    only: Collection[TaskId] | None = None,
) -> Plan:
    """The instructions that make Consul match ``observed`` (see module doc)."""
    owned = _owned_by_task(observed.cluster, entries, only)
    scope = set(owned)
    scope |= set(observed.tasks) if only is None else set(only)
    instructions: list[Instruction] = []
    problems: dict[str, Problem] = {}
    for task_id in sorted(scope):
        outcome = _outcome(observed, task_id, problems)
        instructions += _instructions(observed.node, outcome, owned.get(task_id, []))
        if isinstance(outcome, _Absent):
            instructions += _remove_elsewhere(observed.node, outcome, owned, task_id)
    return Plan(tuple(instructions), tuple(problems.values()))


def _owned_by_task(
    cluster: str, entries: Iterable[Entry], only: Collection[TaskId] | None
) -> dict[TaskId, list[Entry]]:
    out: dict[TaskId, list[Entry]] = defaultdict(list)
    for entry in entries:
        if entry.owned_by(cluster) and (only is None or entry.task_id in only):
            out[entry.task_id].append(entry)
    return out


# -- what we want for one task --------------------------------------------------


def _outcome(
    observed: Observed, task_id: TaskId, problems: dict[str, Problem]
) -> _Outcome:
    task = observed.tasks.get(task_id)
    if task is None:
        return _Absent("task unknown to Mesos")
    if task.state in ENDED:
        return _Absent(f"task {task.state}")
    if task.agent_id not in observed.agents:
        return _Absent(f"agent {task.agent_id} gone")
    if task.state == KILLING:
        return _Drain()
    if task.state != RUNNING:
        return _Absent(f"task {task.state}")
    marathon = observed.marathon_tasks.get(task_id)
    if marathon is None and _is_marathon(observed, task):
        return _Keep()  # Marathon has not told us about it yet
    if marathon is not None:
        return _marathon_outcome(observed, task, marathon, problems)
    return _mesos_outcome(observed, task, problems)


def _is_marathon(observed: Observed, task: TaskView) -> bool:
    return (
        observed.marathon_enabled and task.framework_name == observed.marathon_framework
    )


@dataclass(frozen=True)
class _Source:
    """Where a task's naming comes from: its Marathon app, or its own labels."""

    app_id: str
    version: str
    labels: Mapping[str, str]
    checks: tuple[HealthCheck, ...]
    marathon: bool


def _marathon_outcome(
    observed: Observed,
    task: TaskView,
    marathon: MarathonTask,
    problems: dict[str, Problem],
) -> _Outcome:
    app = observed.apps.get(marathon.app_id)
    if app is None:
        return _Keep()
    if app.health_checks and marathon.healthy is None:
        return _Keep()  # no health result yet
    if app.health_checks and not marathon.healthy:
        return _Absent("unhealthy")
    source = _Source(
        app.app_id,
        marathon.version or app.version,
        {**task.labels, **app.labels},
        app.health_checks,
        marathon=True,
    )
    return _build(observed, task, marathon.ports or task.ports, source, problems)


def _mesos_outcome(
    observed: Observed, task: TaskView, problems: dict[str, Problem]
) -> _Outcome:
    if task.healthy is False:
        return _Absent("unhealthy")
    if task.has_health_check and task.healthy is None:
        return _Keep()
    if NAME_LABEL not in task.labels:
        return _Absent(f"no {NAME_LABEL} label")
    owner = task.labels.get(JOB_LABEL) or task.framework_id
    source = _Source(owner, "", task.labels, (), marathon=False)
    return _build(observed, task, task.ports, source, problems)


def _build(
    observed: Observed,
    task: TaskView,
    ports: tuple[int, ...],
    source: _Source,
    problems: dict[str, Problem],
) -> _Outcome:
    if not ports:
        return _Absent("no ports")
    try:
        app_for_name = source.app_id if source.marathon else None
        names = naming(source.labels, app_for_name, source.version)
    except LabelError as exc:
        problems.setdefault(source.app_id, Problem(source.app_id, str(exc)))
        return _Keep()
    host = observed.agents[task.agent_id].hostname
    meta = {
        OWNER_KEY: OWNER,
        CLUSTER_KEY: observed.cluster,
        "task-id": task.task_id,
        "agent-id": task.agent_id,
        "app-id": source.app_id,
    }
    if source.version:
        meta["version"] = source.version
    regs = tuple(
        Registration(
            service_id=service_id(task.task_id, index),
            name=names.name,
            address=host,
            port=port,
            tags=names.tags,
            meta=tuple(sorted(meta.items())),
            weights=names.weights,
            check=_check(source.checks, index, host, port),
            task_id=task.task_id,
            app_id=source.app_id,
        )
        for index, port in enumerate(ports)
    )
    return _Want(regs)


def _check(
    checks: tuple[HealthCheck, ...], index: int, host: str, port: int
) -> CheckSpec | None:
    """The Consul mirror of the app's first HTTP(S)/TCP check on this port."""
    for check in checks:
        kind = CHECK_PROTOCOLS.get(check.protocol.upper())
        if kind is None or check.port_index != index:
            continue
        interval = f"{max(check.interval_seconds, 1)}s"
        timeout = f"{max(check.timeout_seconds, 1)}s"
        if kind == "tcp":
            return CheckSpec("tcp", f"{host}:{port}", interval, timeout)
        path = check.path if check.path.startswith("/") else "/" + check.path
        return CheckSpec("http", f"{kind}://{host}:{port}{path}", interval, timeout)
    return None


# -- from outcome to instructions -----------------------------------------------


def _instructions(
    node: str, outcome: _Outcome, entries: list[Entry]
) -> list[Instruction]:
    mine = {e.service_id: e for e in entries if e.node == node}
    if isinstance(outcome, _Want):
        return _converge(outcome.registrations, mine)
    if isinstance(outcome, _Drain):
        return [
            Drain(e.service_id, e.task_id, e.app_id)
            for e in sorted(mine.values(), key=lambda e: e.service_id)
            if not e.drained
        ]
    if isinstance(outcome, _Absent):
        return [
            Deregister(e.service_id, e.task_id, e.app_id, outcome.reason)
            for e in sorted(mine.values(), key=lambda e: e.service_id)
        ]
    return []


def _converge(
    registrations: tuple[Registration, ...], mine: dict[ServiceId, Entry]
) -> list[Instruction]:
    out: list[Instruction] = []
    for reg in registrations:
        actual = mine.pop(reg.service_id, None)
        if actual is None:
            out.append(Register(reg))
            continue
        changed = differences(reg, actual)
        if changed:
            out.append(Register(reg, changed))
        if actual.drained:
            out.append(Undrain(reg.service_id, reg.task_id, reg.app_id))
    for stale in sorted(mine.values(), key=lambda e: e.service_id):
        out.append(
            Deregister(stale.service_id, stale.task_id, stale.app_id, "port gone")
        )
    return out


# TODO(live other nodes): a catalog removal on a node whose Consul agent is
# alive is undone by that agent's anti-entropy; it sticks only for dead nodes.
def _remove_elsewhere(
    node: str, outcome: _Absent, owned: Mapping[TaskId, list[Entry]], task_id: TaskId
) -> list[Instruction]:
    return [
        CatalogDeregister(e.node, e.service_id, e.task_id, e.app_id, outcome.reason)
        for e in sorted(owned.get(task_id, []), key=lambda e: (e.node, e.service_id))
        if e.node != node
    ]


def differences(reg: Registration, actual: Entry) -> tuple[str, ...]:
    """Names of the fields where Consul's entry differs from what we want."""
    pairs = {
        "name": (reg.name, actual.name),
        "address": (reg.address, actual.address),
        "port": (reg.port, actual.port),
        "tags": (reg.tags, actual.tags),
        "meta": (reg.meta, actual.meta),
        "weights": (reg.weights, actual.weights),
        "check": (reg.check, actual.check),
    }
    return tuple(name for name, (want, have) in pairs.items() if want != have)
