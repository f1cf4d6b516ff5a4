"""Read-only JSON views of the master state: ``/master/state`` and operator API.

Pure functions from `MasterState` records to the shapes real Mesos 1.11 serves:
the v0 ``/master/state`` document (``slaves``, ``slave_id``, flattened
resources) and the v1 operator ``Agent``/``Framework``/``Task`` messages used by
GET_STATE, GET_AGENTS, GET_FRAMEWORKS, GET_TASKS and the SUBSCRIBE events.

Invariant: nothing here mutates the state; views are rebuilt on each request.
"""

from __future__ import annotations

from typing import Any

from framework.local.mesos_state import (
    AgentRecord,
    FrameworkRecord,
    MasterState,
    Notify,
    TaskRecord,
)
from framework.local.mesos_wire import (
    MESOS_VERSION,
    TERMINAL_STATES,
    JsonDict,
    Resources,
    resources_json,
    resources_v0,
    wrap,
)

BUILD = {"build_date": "2020-11-24 00:00:00", "build_time": 1606176000.0}
BUILD_USER = "mesos-adapter"


def _nanos(seconds: float | None) -> JsonDict:
    return {"nanoseconds": int((seconds or 0.0) * 1e9)}


def version_json() -> JsonDict:
    """``GET /version``: the numeric version pymesos parses."""
    return {"version": MESOS_VERSION, **BUILD, "build_user": BUILD_USER}


# ---------------------------------------------------------------------------
# v1 operator messages


def task_v1(task: TaskRecord) -> JsonDict:
    out: JsonDict = {
        "name": task.info.get("name", ""),
        "task_id": wrap(task.task_id),
        "framework_id": wrap(task.framework_id),
        "executor_id": wrap(task.executor_id),
        "agent_id": wrap(task.agent_id),
        "state": task.state,
        "resources": resources_json(task.resources, task.role),
        "statuses": [task.latest] if task.latest else [],
    }
    if task.status_update_state:
        out["status_update_state"] = task.status_update_state
        assert task.pending
        out["status_update_uuid"] = task.pending[0].get("uuid")
    for key in ("labels", "discovery", "container", "health_check", "kill_policy"):
        if key in task.info:
            out[key] = task.info[key]
    return out


def agent_usage(agent: AgentRecord) -> tuple[Resources, Resources]:
    """(held by live tasks, held by outstanding offers) on ``agent``."""
    used = Resources()
    for task in agent.tasks.values():
        if task.state not in TERMINAL_STATES:
            used.add(task.resources)
    offered = agent.total.copy()
    offered.subtract(agent.free)
    offered.subtract(used)
    return used, offered


def agent_v1(agent: AgentRecord, port: int) -> JsonDict:
    used, offered = agent_usage(agent)
    allocated = used.copy()
    allocated.add(offered)
    return {
        "agent_info": {
            "id": wrap(agent.agent_id),
            "hostname": agent.hostname,
            "port": port,
            "resources": resources_json(agent.total),
            "attributes": agent.attributes,
        },
        "active": True,
        "deactivated": False,
        "version": MESOS_VERSION,
        "pid": f"slave({agent.agent_id})@127.0.0.1:{port}",
        "registered_time": _nanos(agent.registered_time),
        "total_resources": resources_json(agent.total),
        "allocated_resources": resources_json(allocated),
        "offered_resources": resources_json(offered),
        "capabilities": [{"type": "MULTI_ROLE"}, {"type": "TASK_LABEL"}],
    }


def framework_v1(fw: FrameworkRecord) -> JsonDict:
    out: JsonDict = {
        "framework_info": fw.info,
        "active": fw.connected,
        "connected": fw.connected,
        "recovered": fw.recovered,
        "registered_time": _nanos(fw.registered_time),
        "offers": [],
        "inverse_offers": [],
        "allocated_resources": [],
        "offered_resources": [],
    }
    if fw.reregistered_time is not None:
        out["reregistered_time"] = _nanos(fw.reregistered_time)
    if fw.unregistered_time is not None:
        out["unregistered_time"] = _nanos(fw.unregistered_time)
    return out


def get_tasks(state: MasterState) -> JsonDict:
    tasks, completed = [], []
    for fw in state.frameworks.values():
        tasks += [task_v1(t) for t in fw.tasks.values()]
        completed += [task_v1(t) for t in fw.completed]
    return {
        "pending_tasks": [],
        "tasks": tasks,
        "unreachable_tasks": [],
        "completed_tasks": completed,
        "orphan_tasks": [],
    }


def get_agents(state: MasterState, port: int) -> JsonDict:
    agents = [agent_v1(a, port) for a in state.agents.values()]
    return {"agents": agents, "recovered_agents": []}


def get_frameworks(state: MasterState) -> JsonDict:
    return {
        "frameworks": [framework_v1(f) for f in state.frameworks.values()],
        "completed_frameworks": [
            framework_v1(f) for f in state.removed_frameworks.values()
        ],
    }


def get_state(state: MasterState, port: int) -> JsonDict:
    return {
        "get_tasks": get_tasks(state),
        "get_executors": {"executors": [], "orphan_executors": []},
        "get_frameworks": get_frameworks(state),
        "get_agents": get_agents(state, port),
    }


def operator_event(notice: Notify, port: int) -> JsonDict:
    """Render a `Notify` effect as an operator-API event."""
    kind = notice.kind
    subject: Any = notice.subject
    if kind == "TASK_ADDED":
        body: JsonDict = {"task": task_v1(subject)}
    elif kind == "TASK_UPDATED":
        body = {
            "framework_id": wrap(subject.framework_id),
            "status": notice.status,
            "state": subject.state,
            "agent_id": wrap(subject.agent_id),
        }
    elif kind == "AGENT_ADDED":
        body = {"agent": agent_v1(subject, port)}
    elif kind == "AGENT_REMOVED":
        body = {"agent_id": wrap(subject)}
    elif kind == "FRAMEWORK_REMOVED":
        body = {"framework_info": subject.info}
    else:
        body = {"framework": framework_v1(subject)}
    return {"type": kind, kind.lower(): body}


# ---------------------------------------------------------------------------
# v0 /master/state


def _task_v0(task: TaskRecord) -> JsonDict:
    out: JsonDict = {
        "id": task.task_id,
        "name": task.info.get("name", ""),
        "framework_id": task.framework_id,
        "executor_id": "",
        "slave_id": task.agent_id,
        "state": task.state,
        "resources": resources_v0(task.resources),
        "role": task.role,
        "statuses": [{"state": s, "timestamp": ts} for s, ts in task.statuses[1:]],
    }
    for key in ("labels", "discovery", "container"):
        if key in task.info:
            out[key] = task.info[key]
    return out


def _framework_v0(fw: FrameworkRecord) -> JsonDict:
    used, offered = Resources(), Resources()
    for task in fw.tasks.values():
        used.add(task.resources)
    for offer in fw.offers.values():
        offered.add(offer.resources)
    info = fw.info
    out: JsonDict = {
        "id": fw.framework_id,
        "name": info.get("name", ""),
        "user": info.get("user", ""),
        "hostname": info.get("hostname", ""),
        "webui_url": info.get("webui_url", ""),
        "active": fw.connected,
        "connected": fw.connected,
        "recovered": fw.recovered,
        "failover_timeout": fw.failover_timeout,
        "checkpoint": bool(info.get("checkpoint", False)),
        "capabilities": [c.get("type") for c in info.get("capabilities") or []],
        "registered_time": fw.registered_time,
        "unregistered_time": fw.unregistered_time or 0.0,
        "used_resources": resources_v0(used),
        "offered_resources": resources_v0(offered),
        "tasks": [_task_v0(t) for t in fw.tasks.values()],
        "unreachable_tasks": [],
        "completed_tasks": [_task_v0(t) for t in fw.completed],
        "offers": [_offer_v0(o) for o in fw.offers.values()],
        "executors": [],
        "labels": (info.get("labels") or {}).get("labels", []),
    }
    out["roles" if "MULTI_ROLE" in fw.capabilities else "role"] = (
        list(fw.roles) if "MULTI_ROLE" in fw.capabilities else fw.roles[0]
    )
    if fw.reregistered_time is not None:
        out["reregistered_time"] = fw.reregistered_time
    if "principal" in info:
        out["principal"] = info["principal"]
    return out


def _offer_v0(offer: Any) -> JsonDict:
    return {
        "id": offer.offer_id,
        "framework_id": offer.framework_id,
        "slave_id": offer.agent_id,
        "resources": resources_v0(offer.resources),
        "allocation_info": {"role": offer.role},
    }


def _agent_v0(agent: AgentRecord, port: int) -> JsonDict:
    used, offered = agent_usage(agent)
    return {
        "id": agent.agent_id,
        "pid": f"slave({agent.agent_id})@127.0.0.1:{port}",
        "hostname": agent.hostname,
        "port": port,
        "registered_time": agent.registered_time,
        "resources": resources_v0(agent.total),
        "used_resources": resources_v0(used),
        "offered_resources": resources_v0(offered),
        "reserved_resources": {},
        "unreserved_resources": resources_v0(agent.total),
        "attributes": {
            a["name"]: (a.get("text") or a.get("scalar") or {}).get("value")
            for a in agent.attributes
        },
        "active": True,
        "deactivated": False,
        "version": MESOS_VERSION,
        "capabilities": ["MULTI_ROLE", "TASK_LABEL"],
    }


def master_state_v0(state: MasterState, flags: dict[str, str]) -> JsonDict:
    """``GET /master/state`` in the v0 naming (``slaves``, ``slave_id``)."""
    info = state.master_info
    port = int(info["port"])
    return {
        "version": MESOS_VERSION,
        **BUILD,
        "build_user": BUILD_USER,
        "start_time": state.start_time,
        "elected_time": state.start_time,
        "id": info["id"],
        "pid": info["pid"],
        "hostname": info["hostname"],
        "capabilities": [c["type"] for c in info["capabilities"]],
        "activated_slaves": len(state.agents),
        "deactivated_slaves": 0,
        "unreachable_slaves": 0,
        "leader": info["pid"],
        "leader_info": info,
        "flags": flags,
        "slaves": [_agent_v0(a, port) for a in state.agents.values()],
        "recovered_slaves": [],
        "frameworks": [_framework_v0(f) for f in state.frameworks.values()],
        "completed_frameworks": [
            _framework_v0(f) for f in state.removed_frameworks.values()
        ],
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    }
