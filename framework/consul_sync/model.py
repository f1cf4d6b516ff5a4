"""The sync loop's vocabulary: observed state, Consul entries and instructions.

Three kinds of values, all frozen and free of I/O:

* what we observed: `TaskView` (a Mesos task), `AgentView`, `AppView` and
  `MarathonTask` (Marathon's word on a task's app, version and health), and
  `Entry` (a service instance as Consul shows it);
* what we want: `Registration`, the full definition of one instance;
* what to do: the instructions `Register`, `Deregister`, `Drain`, `Undrain`
  and `CatalogDeregister`, gathered with the `Problem`s found on the way in a
  `Plan`.

Invariants: a service id is ``<task id>:<port index>``, so every entry can be
traced back to its task (`service_id`, `task_of`); every `Registration` carries
the owner marker (``managed-by``) and the cluster name in its Meta, which is
what makes an `Entry` ours (`Entry.owned_by`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from framework import taskstates
from framework.ids import AgentId, AppId, ServiceId, TaskId

OWNER_KEY = "managed-by"
OWNER = "mesos-adapter"
CLUSTER_KEY = "cluster"

RUNNING = "TASK_RUNNING"
KILLING = "TASK_KILLING"
ENDED = taskstates.ENDED_STATES


def service_id(task_id: str, port_index: int) -> ServiceId:
    return ServiceId(f"{task_id}:{port_index}")


def task_of(sid: str) -> TaskId:
    """The task id inside a service id (everything before the last colon)."""
    return TaskId(sid.rpartition(":")[0] or sid)


@dataclass(frozen=True)
class CheckSpec:
    """A Consul check that mirrors one Marathon health check."""

    kind: str  # "http" or "tcp"
    target: str  # URL for http, host:port for tcp
    interval: str  # Go duration, e.g. "10s"
    timeout: str


@dataclass(frozen=True)
class TaskView:
    """A Mesos task as the operator API shows it."""

    task_id: TaskId
    framework_id: str
    agent_id: AgentId
    state: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[int, ...] = ()
    healthy: bool | None = None  # the latest status's Mesos-level health
    has_health_check: bool = False  # a Mesos-level check is defined
    framework_name: str = ""
    since: float | None = None  # wall-clock time of the latest status


@dataclass(frozen=True)
class AgentView:
    agent_id: AgentId
    hostname: str


@dataclass(frozen=True)
class HealthCheck:
    """The Marathon health check fields the mirror needs."""

    protocol: str
    port_index: int = 0
    path: str = "/"
    interval_seconds: int = 60
    timeout_seconds: int = 20


@dataclass(frozen=True)
class AppView:
    app_id: AppId
    version: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    health_checks: tuple[HealthCheck, ...] = ()


@dataclass(frozen=True)
class MarathonTask:
    """Marathon's view of one of its tasks."""

    task_id: TaskId
    app_id: AppId
    version: str = ""
    ports: tuple[int, ...] = ()
    healthy: bool | None = None  # None: no health results yet


@dataclass(frozen=True)
class Observed:
    """Everything the planner reads; built by the loop, never mutated."""

    cluster: str
    node: str  # the Consul node our agent API writes to
    tasks: Mapping[TaskId, TaskView]
    agents: Mapping[AgentId, AgentView]
    apps: Mapping[AppId, AppView] = field(default_factory=dict)
    marathon_tasks: Mapping[TaskId, MarathonTask] = field(default_factory=dict)
    marathon_enabled: bool = False  # Marathon is configured as a source
    marathon_framework: str = "marathon"


@dataclass(frozen=True)
class Registration:
    """The full definition of one service instance, as we want it."""

    service_id: ServiceId
    name: str
    address: str
    port: int
    tags: tuple[str, ...]
    meta: tuple[tuple[str, str], ...]  # sorted (key, value) pairs
    weights: tuple[int, int]  # (Passing, Warning)
    check: CheckSpec | None
    task_id: TaskId
    app_id: str

    def meta_dict(self) -> dict[str, str]:
        return dict(self.meta)


@dataclass(frozen=True)
class Entry:
    """A service instance as Consul shows it (agent or catalog)."""

    service_id: ServiceId
    node: str
    name: str
    address: str
    port: int
    tags: tuple[str, ...]
    meta: tuple[tuple[str, str], ...]
    weights: tuple[int, int]
    check: CheckSpec | None
    drained: bool = False  # in maintenance mode

    def owned_by(self, cluster: str) -> bool:
        meta = dict(self.meta)
        return meta.get(OWNER_KEY) == OWNER and meta.get(CLUSTER_KEY) == cluster

    @property
    def task_id(self) -> TaskId:
        return TaskId(dict(self.meta).get("task-id") or task_of(self.service_id))

    @property
    def app_id(self) -> str:
        return dict(self.meta).get("app-id", "")


# -- instructions ---------------------------------------------------------------


@dataclass(frozen=True)
class Register:
    registration: Registration
    changed: tuple[str, ...] = ()  # fields that differ; empty = a new entry

    @property
    def service_id(self) -> ServiceId:
        return self.registration.service_id


@dataclass(frozen=True)
class Deregister:
    service_id: ServiceId
    task_id: TaskId
    app_id: str
    reason: str


@dataclass(frozen=True)
class Drain:
    service_id: ServiceId
    task_id: TaskId
    app_id: str


@dataclass(frozen=True)
class Undrain:
    service_id: ServiceId
    task_id: TaskId
    app_id: str


@dataclass(frozen=True)
class CatalogDeregister:
    node: str
    service_id: ServiceId
    task_id: TaskId
    app_id: str
    reason: str


Instruction = Register | Deregister | Drain | Undrain | CatalogDeregister


@dataclass(frozen=True)
class Problem:
    """Bad input found while planning: reported once per app, that app skipped."""

    app_id: str
    message: str


@dataclass(frozen=True)
class Plan:
    instructions: tuple[Instruction, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def adds(self) -> list[Register]:
        return [
            i for i in self.instructions if isinstance(i, Register) and not i.changed
        ]

    @property
    def updates(self) -> list[Instruction]:
        return [
            i
            for i in self.instructions
            if (isinstance(i, Register) and i.changed) or isinstance(i, Drain | Undrain)
        ]

    @property
    def removes(self) -> list[Deregister | CatalogDeregister]:
        return [
            i
            for i in self.instructions
            if isinstance(i, Deregister | CatalogDeregister)
        ]
