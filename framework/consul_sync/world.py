"""What the sync loop knows of Mesos and Marathon, kept current by their events.

`World` is the one mutable piece of observed state. Each ``apply_*`` or
``load_*`` method folds an event or a full listing into it and returns the
ids of the tasks whose registration may have changed, which is what the loop
plans for next. No I/O here.

Invariants: ``load_mesos_state`` replaces every Mesos-side fact (a task or agent
absent from the listing is forgotten); an event about a task we never saw
still records its state, so an end is never missed; Marathon facts are kept
apart (``apps``, ``marathon_tasks``) and only ``load_marathon_apps`` forgets them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from framework.consul_sync.model import (
    AgentView,
    AppView,
    HealthCheck,
    MarathonTask,
    Observed,
    TaskView,
)
from framework.ids import AgentId, AppId, TaskId

JsonDict = dict[str, Any]


def _value(message: Any) -> str:
    return str((message or {}).get("value", ""))


def _labels(raw: Any) -> dict[str, str]:
    items = (raw or {}).get("labels", [])
    return {str(i.get("key")): str(i.get("value", "")) for i in items}


def _ports(task: JsonDict) -> tuple[int, ...]:
    """Ports from DiscoveryInfo when given (ordered), else the ports resources."""
    discovery = (task.get("discovery") or {}).get("ports", {}).get("ports", [])
    if discovery:
        return tuple(int(p["number"]) for p in discovery)
    out: list[int] = []
    for res in task.get("resources", []):
        if res.get("name") != "ports":
            continue
        for rng in res.get("ranges", {}).get("range", []):
            out += range(int(rng["begin"]), int(rng["end"]) + 1)
    return tuple(out)


def task_view(task: JsonDict, framework_names: Mapping[str, str]) -> TaskView:
    """A v1 operator ``Task`` message → `TaskView`."""
    statuses = task.get("statuses") or []
    latest = statuses[-1] if statuses else {}
    framework_id = _value(task.get("framework_id"))
    return TaskView(
        task_id=TaskId(_value(task.get("task_id"))),
        framework_id=framework_id,
        agent_id=AgentId(_value(task.get("agent_id"))),
        state=str(task.get("state", "")),
        labels=_labels(task.get("labels")),
        ports=_ports(task),
        healthy=latest.get("healthy"),
        has_health_check="health_check" in task,
        framework_name=framework_names.get(framework_id, ""),
        since=latest.get("timestamp"),
    )


def _health(task: JsonDict, checks: int) -> bool | None:
    results = task.get("healthCheckResults") or []
    if not checks or not results:
        return None
    return all(bool(r.get("alive")) for r in results)


def app_view(app: JsonDict) -> AppView:
    checks = tuple(
        HealthCheck(
            protocol=str(c.get("protocol", "HTTP")),
            port_index=int(c.get("portIndex") or 0),
            path=str(c.get("path") or "/"),
            interval_seconds=int(c.get("intervalSeconds") or 60),
            timeout_seconds=int(c.get("timeoutSeconds") or 20),
        )
        for c in app.get("healthChecks") or []
    )
    return AppView(
        app_id=AppId(str(app.get("id", ""))),
        version=str(app.get("version", "")),
        labels={str(k): str(v) for k, v in (app.get("labels") or {}).items()},
        health_checks=checks,
    )


class World:
    """Mesos and Marathon facts; see the module docstring."""

    def __init__(self) -> None:
        self.tasks: dict[TaskId, TaskView] = {}
        self.agents: dict[AgentId, AgentView] = {}
        self.framework_names: dict[str, str] = {}
        self.apps: dict[AppId, AppView] = {}
        self.marathon_tasks: dict[TaskId, MarathonTask] = {}

    def observed(self, *, cluster: str, node: str, marathon_enabled: bool) -> Observed:
        return Observed(
            cluster=cluster,
            node=node,
            tasks=self.tasks,
            agents=self.agents,
            apps=self.apps,
            marathon_tasks=self.marathon_tasks,
            marathon_enabled=marathon_enabled,
        )

    # -- Mesos --------------------------------------------------------------------

    def load_mesos_state(self, state: JsonDict) -> set[TaskId]:
        """Replace every Mesos fact with a GET_STATE (or SUBSCRIBED) listing."""
        before = set(self.tasks)
        frameworks = state.get("get_frameworks", {}).get("frameworks", [])
        self.framework_names = {
            _value(f["framework_info"].get("id")): str(f["framework_info"]["name"])
            for f in frameworks
        }
        agents = state.get("get_agents", {}).get("agents", [])
        self.agents = {}
        for agent in agents:
            self._add_agent(agent)
        tasks = state.get("get_tasks", {}).get("tasks", [])
        views = (task_view(t, self.framework_names) for t in tasks)
        self.tasks = {v.task_id: v for v in views}
        return before | set(self.tasks)

    def apply_mesos(self, event: JsonDict) -> set[TaskId]:
        """Fold one operator event in; the tasks it may have changed."""
        kind = event.get("type")
        body = event.get(str(kind).lower()) or {}
        if kind == "SUBSCRIBED":
            return self.load_mesos_state(body.get("get_state", {}))
        if kind == "TASK_ADDED":
            view = task_view(body["task"], self.framework_names)
            self.tasks[view.task_id] = view
            return {view.task_id}
        if kind == "TASK_UPDATED":
            return self._task_updated(body)
        if kind == "AGENT_ADDED":
            agent_id = self._add_agent(body["agent"])
            return self._tasks_on(agent_id)
        if kind == "AGENT_REMOVED":
            agent_id = AgentId(_value(body.get("agent_id")))
            self.agents.pop(agent_id, None)
            return self._tasks_on(agent_id)
        if kind in ("FRAMEWORK_ADDED", "FRAMEWORK_UPDATED"):
            info = body["framework"]["framework_info"]
            self.framework_names[_value(info.get("id"))] = str(info.get("name", ""))
        return set()

    def _add_agent(self, agent: JsonDict) -> AgentId:
        info = agent.get("agent_info", {})
        agent_id = AgentId(_value(info.get("id")))
        self.agents[agent_id] = AgentView(agent_id, str(info.get("hostname", "")))
        return agent_id

    def _tasks_on(self, agent_id: AgentId) -> set[TaskId]:
        return {t.task_id for t in self.tasks.values() if t.agent_id == agent_id}

    def _task_updated(self, body: JsonDict) -> set[TaskId]:
        status = body.get("status", {})
        task_id = TaskId(_value(status.get("task_id")))
        state = str(body.get("state") or status.get("state", ""))
        known = self.tasks.get(task_id)
        if known is None:
            known = TaskView(
                task_id=task_id,
                framework_id=_value(body.get("framework_id")),
                agent_id=AgentId(_value(body.get("agent_id"))),
                state=state,
            )
        self.tasks[task_id] = replace(
            known,
            state=state,
            healthy=status.get("healthy", known.healthy),
            since=status.get("timestamp", known.since),
        )
        return {task_id}

    # -- Marathon -----------------------------------------------------------------

    def load_marathon_apps(self, apps: Iterable[JsonDict]) -> set[TaskId]:
        """Replace every Marathon fact with a ``/v2/apps?embed=apps.tasks`` listing."""
        before = set(self.marathon_tasks)
        self.apps, self.marathon_tasks = {}, {}
        for app in apps:
            view = app_view(app)
            self.apps[view.app_id] = view
            for task in app.get("tasks") or []:
                mt = self._marathon_task(task, view)
                self.marathon_tasks[mt.task_id] = mt
        return before | set(self.marathon_tasks)

    def _marathon_task(self, task: JsonDict, app: AppView) -> MarathonTask:
        return MarathonTask(
            task_id=TaskId(str(task.get("id", ""))),
            app_id=app.app_id,
            version=str(task.get("version") or app.version),
            ports=tuple(int(p) for p in task.get("ports") or ()),
            healthy=_health(task, len(app.health_checks)),
        )

    def apply_marathon(self, event: JsonDict) -> set[TaskId]:
        """Fold one Marathon event in; the tasks it may have changed."""
        kind = event.get("eventType")
        if kind == "status_update_event":
            return self._marathon_status(event)
        # TODO(several checks): an event carries one check's result; with two
        # or more checks per app, the last event wins until the next reload.
        if kind in ("health_status_changed_event", "instance_health_changed_event"):
            alive = event.get("alive", event.get("healthy"))
            ids = self._marathon_ids(event)
            for task_id in ids:
                mt = self.marathon_tasks[task_id]
                self.marathon_tasks[task_id] = replace(mt, healthy=bool(alive))
            return ids
        return set()

    def _marathon_status(self, event: JsonDict) -> set[TaskId]:
        task_id = TaskId(str(event.get("taskId", "")))
        app_id = AppId(str(event.get("appId", "")))
        known = self.marathon_tasks.get(task_id)
        self.marathon_tasks[task_id] = MarathonTask(
            task_id=task_id,
            app_id=app_id,
            version=str(event.get("version") or (known.version if known else "")),
            ports=tuple(int(p) for p in event.get("ports") or ())
            or (known.ports if known else ()),
            healthy=known.healthy if known else None,
        )
        return {task_id}

    def _marathon_ids(self, event: JsonDict) -> set[TaskId]:
        """Task ids an event names: by task id, or by instance id prefix."""
        task_id = event.get("taskId")
        if task_id and task_id in self.marathon_tasks:
            return {TaskId(task_id)}
        instance = str(event.get("instanceId") or task_id or "")
        if not instance:
            return set()
        return {
            t
            for t in self.marathon_tasks
            if t == instance or t.startswith(instance + ".")
        }
