"""JSON views of the local Marathon's state, as Marathon 1.x renders them.

Pure functions of records. Invariant: every object emitted carries only keys
marathon-python 0.13's strict models accept (wire-protocols 2.11), because
any other key makes the client raise TypeError: no ``tasksStats``, no
``enforceRole`` on groups, no ``role`` on queue items.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from framework.local.marathon.events import steps_json
from framework.local.marathon.model import (
    STAGED_STATES,
    AppRecord,
    DeploymentRecord,
    HealthState,
    JsonDict,
    TaskRecord,
    format_ts,
)


def _ts(value: float | None) -> str | None:
    return None if value is None else format_ts(value)


def health_json(state: HealthState, task_id: str) -> JsonDict:
    return {
        "alive": state.alive,
        "consecutiveFailures": state.consecutive_failures,
        "firstSuccess": _ts(state.first_success),
        "lastSuccess": _ts(state.last_success),
        "lastFailure": _ts(state.last_failure),
        "lastFailureCause": state.last_failure_cause,
        "instanceId": task_id,
    }


def task_json(task: TaskRecord) -> JsonDict:
    out: JsonDict = {
        "appId": task.app_id,
        "id": task.task_id,
        "host": task.host,
        "ports": list(task.ports),
        "servicePorts": list(task.service_ports),
        "slaveId": task.agent_id,
        "state": task.state,
        "stagedAt": format_ts(task.staged_at),
        "version": task.version,
        "ipAddresses": [{"ipAddress": task.host, "protocol": "IPv4"}],
        "localVolumes": [],
        "role": "*",
    }
    if task.started_at is not None:
        out["startedAt"] = format_ts(task.started_at)
    checked = [health_json(h, task.task_id) for h in task.health if h.checked]
    if checked:
        out["healthCheckResults"] = checked
    return out


def counts(tasks: Iterable[TaskRecord]) -> JsonDict:
    staged = running = healthy = unhealthy = 0
    for task in tasks:
        staged += task.state in STAGED_STATES
        running += task.running
        if task.health and all(h.checked and h.alive for h in task.health):
            healthy += 1
        elif any(h.checked and not h.alive for h in task.health):
            unhealthy += 1
    return {
        "tasksStaged": staged,
        "tasksRunning": running,
        "tasksHealthy": healthy,
        "tasksUnhealthy": unhealthy,
    }


def app_json(
    app: AppRecord,
    tasks: Sequence[TaskRecord],
    deployments: Sequence[DeploymentRecord],
    embed: set[str],
) -> JsonDict:
    """The app with the requested embeds (``tasks``, ``counts``, ...)."""
    out = dict(app.spec)
    if "counts" in embed:
        out.update(counts(tasks))
    if "deployments" in embed:
        out["deployments"] = [{"id": d.deployment_id} for d in deployments]
    if "tasks" in embed:
        out["tasks"] = [task_json(t) for t in tasks]
    if "lastTaskFailure" in embed and app.last_task_failure:
        out["lastTaskFailure"] = app.last_task_failure
    if "readiness" in embed:
        out["readinessCheckResults"] = []
    return out


def deployment_json(deployment: DeploymentRecord) -> JsonDict:
    steps = steps_json(deployment)
    return {
        "id": deployment.deployment_id,
        "version": deployment.version,
        "affectedApps": deployment.app_ids,
        "affectedPods": [],
        "steps": steps,
        "currentActions": [
            {"action": action, "app": app, "readinessCheckResults": []}
            for action, app in deployment.actions
        ],
        "currentStep": 1,
        "totalSteps": len(steps[:1]),
    }


def deployment_result(deployment: DeploymentRecord) -> JsonDict:
    """The body of a change: ``{deploymentId, version}``."""
    return {"deploymentId": deployment.deployment_id, "version": deployment.version}


def group_json(group_id: str, apps: Sequence[JsonDict], version: str) -> JsonDict:
    """The group ``group_id`` with its apps and nested groups built from app ids."""
    prefix = "" if group_id == "/" else group_id
    direct = [a for a in apps if a["id"].rsplit("/", 1)[0] == prefix]
    children = sorted(
        {
            prefix + "/" + a["id"][len(prefix) + 1 :].split("/", 1)[0]
            for a in apps
            if a["id"].startswith(prefix + "/") and a not in direct
        }
    )
    return {
        "id": group_id,
        "apps": direct,
        "groups": [group_json(child, apps, version) for child in children],
        "pods": [],
        "dependencies": [],
        "version": version,
    }


def queue_item(app: JsonDict, count: int, delay_left: float, since: float) -> JsonDict:
    return {
        "app": app,
        "count": count,
        "delay": {
            "timeLeftSeconds": round(max(0.0, delay_left)),
            "overdue": delay_left <= 0,
        },
        "since": format_ts(since),
        "processedOffersSummary": {
            "processedOffersCount": 0,
            "unusedOffersCount": 0,
            "rejectSummaryLastOffers": [],
            "rejectSummaryLaunchAttempt": [],
        },
    }
