"""User commands of the local Marathon: create, update, delete, restart, kill.

Each command validates first and changes nothing on error (``ApiError``
carries Marathon's status and body), then records new app versions and one
deployment covering every app it touched. The deployment only *records*
intent: ``MarathonCore.tick`` does the launching and killing and ends it.

Invariants: one deployment per app at a time; a change to a locked app
without ``force`` is a 409 with Marathon's message, with ``force`` the
running deployment is cancelled (``deployment_failed``) and the new one
takes over from wherever the tasks are. Service ports left at 0 are
assigned from 10000-20000, keeping an app's ports across updates.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from framework.ids import AppId, DeploymentId, TaskId
from framework.local.marathon import planner
from framework.local.marathon.core import Instruction, MarathonCore
from framework.local.marathon.events import deployment_event
from framework.local.marathon.model import (
    AppRecord,
    DeploymentRecord,
    JsonDict,
    TaskRecord,
)
from framework.local.marathon.validation import (
    AppInvalid,
    absolute_id,
    invalid,
    normalize_app,
)

logger = logging.getLogger(__name__)

SERVICE_PORTS = range(10000, 20001)
READ_ONLY = {
    "version",
    "versionInfo",
    "tasks",
    "tasksRunning",
    "tasksStaged",
    "tasksHealthy",
    "tasksUnhealthy",
    "deployments",
    "lastTaskFailure",
    "readinessCheckResults",
    "taskStats",
    "tasksStats",
}
LOCKED = (
    "App is locked by one or more deployments. Override with the option "
    "'?force=true'. View details at '/v2/deployments/{id}'."
)

Change = tuple[str, AppId, JsonDict | None]  # action, app, new spec (None: stop)


class ApiError(Exception):
    """A refused request: HTTP status and Marathon's JSON body."""

    def __init__(self, status: int, body: JsonDict) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


def not_found(app_id: str) -> ApiError:
    return ApiError(404, {"message": f"App '{app_id}' does not exist"})


def editable(spec: JsonDict) -> JsonDict:
    """A stored spec without the fields the core stamps."""
    return {k: v for k, v in spec.items() if k not in READ_ONLY}


def _validated(body: Any) -> JsonDict:
    try:
        return normalize_app(body)
    except AppInvalid as exc:
        raise ApiError(exc.status, exc.body()) from exc


def merge_update(current: JsonDict, body: JsonDict) -> JsonDict:
    """A partial update: the body's top-level fields replace the current ones."""
    merged = editable(current)
    if "ports" in body and "portDefinitions" not in body:
        merged.pop("portDefinitions", None)
    if ("cmd" in body or "args" in body) and body.get("cmd", body.get("args")):
        merged.pop("cmd" if "args" in body else "args", None)
    merged.update({k: v for k, v in body.items() if k not in READ_ONLY})
    return merged


# -- creating and changing apps --------------------------------------------------------


def create_app(core: MarathonCore, body: Any) -> tuple[JsonDict, DeploymentRecord]:
    """POST /v2/apps: 409 if the id exists."""
    spec = _validated(body)
    app_id = AppId(spec["id"])
    if app_id in core.apps:
        raise ApiError(409, {"message": f"An app with id [{app_id}] already exists."})
    deployment = deploy(core, [("StartApplication", app_id, spec)], force=False)
    core.emit(
        "api_post_event",
        clientIp="127.0.0.1",
        uri="/v2/apps",
        appDefinition=core.apps[app_id].spec,
    )
    return core.apps[app_id].spec, deployment


def put_app(
    core: MarathonCore, raw_id: str, body: Any, *, force: bool, partial: bool = True
) -> tuple[bool, DeploymentRecord]:
    """PUT /v2/apps/{id}: partial update, rollback (``version``) or create."""
    app_id = AppId(absolute_id(raw_id))
    change = prepare_put(core, app_id, body, partial=partial)
    deployment = deploy(core, [change], force=force)
    created = change[0] == "StartApplication"
    spec = core.apps[app_id].spec
    core.emit(
        "api_post_event",
        clientIp="127.0.0.1",
        uri=f"/v2/apps{app_id}",
        appDefinition=spec,
    )
    return created, deployment


def prepare_put(
    core: MarathonCore, app_id: AppId, body: Any, *, partial: bool = True
) -> Change:
    """The change a PUT body asks for (validated, nothing changed yet)."""
    if not isinstance(body, dict):
        raise ApiError(
            400,
            {
                "message": "Invalid JSON",
                "details": [{"path": "", "errors": ["error.expected.jsobject"]}],
            },
        )
    app = core.apps.get(app_id)
    if "version" in body and body["version"] is not None:
        return _rollback_change(app, app_id, body)
    if app is None:
        return "StartApplication", app_id, _validated({**body, "id": app_id})
    base = app.spec if partial else {"id": app_id}
    spec = _validated({**merge_update(base, body), "id": app_id})
    action = (
        "RestartApplication"
        if planner.is_config_change(editable(app.spec), spec)
        else "ScaleApplication"
    )
    return action, app_id, spec


def _rollback_change(app: AppRecord | None, app_id: AppId, body: JsonDict) -> Change:
    if set(body) - {"id", "version"}:
        raise ApiError(
            422,
            invalid(
                "/version",
                "The 'version' field may only be combined with the 'id' field.",
            ).body(),
        )
    if app is None:
        raise not_found(app_id)
    old = app.versions.get(str(body["version"]))
    if old is None:
        raise ApiError(
            404,
            {
                "message": f"Version '{body['version']}' of app "
                f"'{app_id}' does not exist"
            },
        )
    spec = editable(old)
    action = (
        "RestartApplication"
        if planner.is_config_change(editable(app.spec), spec)
        else "ScaleApplication"
    )
    return action, app_id, spec


def put_apps(core: MarathonCore, body: Any, *, force: bool) -> DeploymentRecord:
    """PUT /v2/apps with a list: every app created or partially updated."""
    if not isinstance(body, list):
        raise ApiError(
            400,
            {
                "message": "Invalid JSON",
                "details": [{"path": "", "errors": ["error.expected.jsarray"]}],
            },
        )
    changes = []
    for item in body:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ApiError(422, invalid("/id", "error.path.missing").body())
        changes.append(prepare_put(core, AppId(absolute_id(item["id"])), item))
    return deploy(core, changes, force=force)


def delete_app(core: MarathonCore, raw_id: str, *, force: bool) -> DeploymentRecord:
    app_id = AppId(absolute_id(raw_id))
    if app_id not in core.apps:
        raise not_found(app_id)
    return deploy(core, [("StopApplication", app_id, None)], force=force)


def restart_app(core: MarathonCore, raw_id: str, *, force: bool) -> DeploymentRecord:
    app_id = AppId(absolute_id(raw_id))
    app = core.apps.get(app_id)
    if app is None:
        raise not_found(app_id)
    return deploy(
        core, [("RestartApplication", app_id, editable(app.spec))], force=force
    )


# -- deployments -----------------------------------------------------------------------


def deploy(
    core: MarathonCore, changes: list[Change], *, force: bool
) -> DeploymentRecord:
    """Record the new versions and one deployment for ``changes``."""
    _check_locks(core, [app_id for _, app_id, _ in changes], force=force)
    version = core.new_version()
    deployment = DeploymentRecord(
        DeploymentId(str(uuid.uuid4())),
        version,
        [(action, app_id) for action, app_id, _ in changes],
        {app_id: _spec_or_none(core, app_id) for _, app_id, _ in changes},
        {},
        core.clock(),
    )
    for action, app_id, spec in changes:
        deployment.target[app_id] = _apply(core, app_id, spec, version, action)
    core.deployments[deployment.deployment_id] = deployment
    core.dirty = True
    core.events.append(deployment_event("deployment_info", deployment, core.clock()))
    logger.info(
        "deployment %s: %s; tasks follow on the next tick",
        deployment.deployment_id,
        ", ".join(f"{a} {i}" for a, i in deployment.actions),
    )
    return deployment


def _spec_or_none(core: MarathonCore, app_id: AppId) -> JsonDict | None:
    app = core.apps.get(app_id)
    return None if app is None else app.spec


def _check_locks(core: MarathonCore, app_ids: list[AppId], *, force: bool) -> None:
    holding = {d.deployment_id: d for a in app_ids for d in core.deployments_of(a)}
    if holding and not force:
        first = next(iter(holding))
        raise ApiError(
            409,
            {
                "message": LOCKED.format(id=first),
                "deployments": [{"id": d} for d in holding],
            },
        )
    for deployment in holding.values():
        del core.deployments[deployment.deployment_id]
        logger.warning(
            "deployment %s cancelled by a forced change; the new one takes over",
            deployment.deployment_id,
        )
        core.events.append(
            deployment_event("deployment_failed", deployment, core.clock())
        )


def _apply(
    core: MarathonCore, app_id: AppId, spec: JsonDict | None, version: str, action: str
) -> JsonDict | None:
    app = core.apps.get(app_id)
    if spec is None:
        core.apps.pop(app_id, None)
        core.wanted.pop(app_id, None)
        return None
    previous = None if app is None else app.spec
    stamped = dict(spec, version=version)
    stamped["portDefinitions"] = _service_ports(core, app_id, spec, previous)
    config = action in ("StartApplication", "RestartApplication")
    last_config = (
        version
        if config or previous is None
        else previous["versionInfo"]["lastConfigChangeAt"]
    )
    stamped["versionInfo"] = {
        "lastScalingAt": version,
        "lastConfigChangeAt": last_config,
    }
    if app is None:
        core.apps[app_id] = AppRecord(app_id, stamped, {version: stamped})
    else:
        app.spec = stamped
        app.versions[version] = stamped
        if config:
            app.delay_seconds, app.not_before = None, 0.0
    return stamped


def _service_ports(
    core: MarathonCore, app_id: AppId, spec: JsonDict, previous: JsonDict | None
) -> list[JsonDict]:
    taken = {
        int(p["port"])
        for other in core.apps.values()
        if other.app_id != app_id
        for p in other.spec["portDefinitions"]
    }
    old = [] if previous is None else previous["portDefinitions"]
    out = []
    for index, definition in enumerate(spec["portDefinitions"]):
        port = int(definition["port"])
        if port == 0 and index < len(old):
            port = int(old[index]["port"])
        if port == 0:
            port = next(p for p in SERVICE_PORTS if p not in taken)
        taken.add(port)
        out.append({**definition, "port": port})
    return out


def cancel_deployment(
    core: MarathonCore, deployment_id: str, *, force: bool
) -> DeploymentRecord | None:
    """DELETE /v2/deployments/{id}: cancel, and unless ``force`` roll back."""
    deployment = core.deployments.get(DeploymentId(deployment_id))
    if deployment is None:
        raise ApiError(
            404, {"message": f"DeploymentPlan {deployment_id} does not exist"}
        )
    del core.deployments[deployment.deployment_id]
    core.dirty = True
    core.events.append(deployment_event("deployment_failed", deployment, core.clock()))
    if force:
        logger.info("deployment %s cancelled; apps stay as they are", deployment_id)
        return None
    changes: list[Change] = []
    for app_id, original in deployment.original.items():
        if original is None:
            changes.append(("StopApplication", app_id, None))
        else:
            current = core.apps.get(app_id)
            before = None if current is None else editable(current.spec)
            action = (
                "RestartApplication"
                if planner.is_config_change(before, editable(original))
                else "ScaleApplication"
            )
            changes.append((action, app_id, editable(original)))
    logger.info("deployment %s cancelled; rolling back its apps", deployment_id)
    return deploy(core, changes, force=True)


# -- killing tasks ---------------------------------------------------------------------


def kill_tasks(
    core: MarathonCore,
    tasks: list[TaskRecord],
    *,
    scale: bool,
    force: bool,
) -> tuple[list[Instruction], DeploymentRecord | None]:
    """Kill ``tasks``; with ``scale`` lower each app's instances to match."""
    deployment = None
    if scale:
        by_app: dict[AppId, int] = {}
        for task in tasks:
            by_app[task.app_id] = by_app.get(task.app_id, 0) + (not task.killing)
        changes: list[Change] = []
        for app_id, count in by_app.items():
            spec = editable(core.apps[app_id].spec)
            spec["instances"] = max(0, int(spec["instances"]) - count)
            changes.append(("ScaleApplication", app_id, spec))
        deployment = deploy(core, changes, force=force)
    instructions: list[Instruction] = [
        core.kill(t, "killed through the API") for t in tasks if not t.killing
    ]
    return instructions, deployment


def find_task(core: MarathonCore, task_id: str) -> TaskRecord | None:
    return core.tasks.get(TaskId(task_id))
