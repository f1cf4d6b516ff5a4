"""HTTP handlers of ``/v2/apps`` and ``/v2/tasks``: thin, parse and delegate.

Each handler parses the request (JSON body, query flags given as ``True`` /
``False`` by marathon-python, so case-insensitive), runs one command or view
on the core through ``MarathonService.run`` and answers with Marathon's
status codes and bodies. App ids contain slashes, so everything under
``/v2/apps/`` is one route dispatched on its suffix (``/restart``,
``/tasks[/id]``, ``/versions[/v]``); those words are reserved as last id
segments, so the split is unambiguous.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from framework.ids import AppId
from framework.local.marathon import commands, views
from framework.local.marathon.commands import ApiError, not_found
from framework.local.marathon.core import MarathonCore
from framework.local.marathon.model import JsonDict, TaskRecord
from framework.local.marathon.service import MarathonService
from framework.local.marathon.validation import absolute_id

SERVICE: web.AppKey[MarathonService] = web.AppKey("service", MarathonService)
SUFFIX = re.compile(
    r"^(?P<app>.*?)/(?P<kind>restart|tasks|versions)(?:/(?P<arg>[^/]+))?$"
)
EMBED_NAMES = {"failures": "lastTaskFailure"}
LIST_DEFAULT = {"counts", "deployments"}
ONE_DEFAULT = {"counts", "deployments", "tasks", "lastTaskFailure", "readiness"}


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter, ``True``/``true``/``1`` alike."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("true", "1", "yes")


def reply(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or a 400 ``Invalid JSON``."""
    text = await request.text()
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ApiError(
            400,
            {
                "message": "Invalid JSON",
                "details": [{"path": "/", "errors": [str(exc)]}],
            },
        ) from exc


def embeds(request: web.Request, default: set[str]) -> set[str]:
    chosen = set(default)
    for value in request.query.getall("embed", []):
        name = value.split(".", 1)[-1]
        chosen.add(EMBED_NAMES.get(name, name))
    return chosen


def app_view(core: MarathonCore, app_id: AppId, embed: set[str]) -> JsonDict:
    app = core.apps[app_id]
    return views.app_json(
        app, core.app_tasks(app_id), core.deployments_of(app_id), embed
    )


def changed(deployment: Any, status: int = 200) -> web.Response:
    return reply(
        views.deployment_result(deployment),
        status,
        {"Marathon-Deployment-Id": deployment.deployment_id},
    )


# -- /v2/apps --------------------------------------------------------------------------


def _label_match(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "==" in term:
            key, value = term.split("==", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term not in labels:
            return False
    return True


async def list_apps(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    embed = embeds(request, LIST_DEFAULT)
    id_part = request.query.get("id", "")
    cmd_part = request.query.get("cmd", "")
    label = request.query.get("label", "")

    def view(core: MarathonCore) -> list[JsonDict]:
        out = []
        for app_id in sorted(core.apps):
            spec = core.apps[app_id].spec
            if id_part not in app_id or cmd_part not in spec.get("cmd", ""):
                continue
            if label and not _label_match(spec["labels"], label):
                continue
            out.append(app_view(core, app_id, embed))
        return out

    return reply({"apps": service.run(view)})


async def create_app(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body = await read_json(request)
    spec, deployment = service.run(lambda core: commands.create_app(core, body))

    def view(core: MarathonCore) -> JsonDict:
        return app_view(core, AppId(spec["id"]), {"counts", "deployments"})

    headers = {
        "Location": spec["id"],
        "Marathon-Deployment-Id": deployment.deployment_id,
    }
    return reply(service.run(view), 201, headers)


async def put_apps(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body = await read_json(request)
    force = flag(request, "force")
    deployment = service.run(lambda core: commands.put_apps(core, body, force=force))
    return changed(deployment)


async def app_route(request: web.Request) -> web.Response:
    """Everything under /v2/apps/{rest}: dispatch on the suffix."""
    rest = request.match_info["rest"]
    match = SUFFIX.match("/" + rest.strip("/"))
    if match is None:
        return await _one_app(request, AppId(absolute_id(rest)))
    app_id = AppId(absolute_id(match["app"]))
    kind, arg, method = match["kind"], match["arg"], request.method
    if kind == "restart" and method == "POST" and arg is None:
        return await _restart(request, app_id)
    if kind == "versions" and method == "GET":
        return await _versions(request, app_id, arg)
    if kind == "tasks" and method == "GET" and arg is None:
        return await _app_tasks(request, app_id)
    if kind == "tasks" and method == "DELETE":
        return await _kill_app_tasks(request, app_id, arg)
    raise web.HTTPMethodNotAllowed(method, ["GET", "POST", "DELETE"])


async def _one_app(request: web.Request, app_id: AppId) -> web.Response:
    service = request.app[SERVICE]
    force = flag(request, "force")
    if request.method == "GET":
        embed = embeds(request, ONE_DEFAULT)

        def view(core: MarathonCore) -> JsonDict:
            if app_id not in core.apps:
                raise not_found(app_id)
            return {"app": app_view(core, app_id, embed)}

        return reply(service.run(view))
    if request.method == "PUT":
        body = await read_json(request)
        partial = flag(request, "partialUpdate", True)
        created, deployment = service.run(
            lambda core: commands.put_app(
                core, app_id, body, force=force, partial=partial
            )
        )
        return changed(deployment, 201 if created else 200)
    if request.method == "DELETE":
        force = flag(request, "force", True)
        return changed(
            service.run(lambda core: commands.delete_app(core, app_id, force=force))
        )
    raise web.HTTPMethodNotAllowed(request.method, ["GET", "PUT", "DELETE"])


async def _restart(request: web.Request, app_id: AppId) -> web.Response:
    service = request.app[SERVICE]
    force = flag(request, "force")
    return changed(
        service.run(lambda core: commands.restart_app(core, app_id, force=force))
    )


async def _versions(
    request: web.Request, app_id: AppId, version: str | None
) -> web.Response:
    def view(core: MarathonCore) -> JsonDict:
        app = core.apps.get(app_id)
        if app is None:
            raise not_found(app_id)
        if version is None:
            return {"versions": sorted(app.versions, reverse=True)}
        if version not in app.versions:
            raise ApiError(
                404, {"message": f"App '{app_id}' does not exist in version {version}"}
            )
        return app.versions[version]

    return reply(request.app[SERVICE].run(view))


# -- tasks -----------------------------------------------------------------------------


def _tasks_of(core: MarathonCore, app_id: AppId) -> list[TaskRecord]:
    if app_id not in core.apps:
        raise not_found(app_id)
    return core.app_tasks(app_id)


async def _app_tasks(request: web.Request, app_id: AppId) -> web.Response:
    def view(core: MarathonCore) -> JsonDict:
        return {"tasks": [views.task_json(t) for t in _tasks_of(core, app_id)]}

    return reply(request.app[SERVICE].run(view))


async def _kill_app_tasks(
    request: web.Request, app_id: AppId, task_id: str | None
) -> web.Response:
    service = request.app[SERVICE]
    scale, force = flag(request, "scale"), flag(request, "force")
    host = request.query.get("host")

    def act(core: MarathonCore) -> tuple[Any, list[JsonDict]]:
        tasks = _tasks_of(core, app_id)
        if task_id is not None:
            tasks = [t for t in tasks if t.task_id == task_id]
            if not tasks:
                raise ApiError(404, {"message": f"Task '{task_id}' does not exist"})
        if host:
            tasks = [t for t in tasks if t.host == host]
        shown = [views.task_json(t) for t in tasks]
        instructions, deployment = commands.kill_tasks(
            core, tasks, scale=scale, force=force
        )
        service.execute(instructions)  # queued in decision order, under the lock
        return deployment, shown

    deployment, shown = service.run(act)
    if deployment is not None:
        return changed(deployment)
    if task_id is not None:
        return reply({"task": shown[0]})
    return reply({"tasks": shown})


async def list_tasks(request: web.Request) -> web.Response:
    wanted = {s.strip().lower() for s in request.query.getall("status", [])}

    def view(core: MarathonCore) -> JsonDict:
        tasks = sorted(core.tasks.values(), key=lambda t: (t.app_id, t.staged_at))
        if wanted:
            tasks = [
                t for t in tasks if t.state.removeprefix("TASK_").lower() in wanted
            ]
        return {"tasks": [views.task_json(t) for t in tasks]}

    return reply(request.app[SERVICE].run(view))


async def delete_tasks(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body = await read_json(request)
    scale, force = flag(request, "scale"), flag(request, "force")
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list):
        raise ApiError(
            400,
            {
                "message": "Invalid JSON",
                "details": [{"path": "/ids", "errors": ["error.path.missing"]}],
            },
        )

    def act(core: MarathonCore) -> tuple[Any, list[JsonDict]]:
        tasks = [commands.find_task(core, str(i)) for i in ids]
        unknown = [i for i, t in zip(ids, tasks, strict=True) if t is None]
        if unknown:
            raise ApiError(
                400, {"message": f"Invalid task id '{unknown[0]}'. [{unknown[0]}]"}
            )
        found = [t for t in tasks if t is not None]
        shown = [views.task_json(t) for t in found]
        instructions, deployment = commands.kill_tasks(
            core, found, scale=scale, force=force
        )
        service.execute(instructions)  # queued in decision order, under the lock
        return deployment, shown

    deployment, shown = service.run(act)
    if deployment is not None:
        return changed(deployment)
    return reply({"tasks": shown})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/apps", list_apps)
    app.router.add_post("/v2/apps", create_app)
    app.router.add_put("/v2/apps", put_apps)
    app.router.add_get("/v2/tasks", list_tasks)
    app.router.add_post("/v2/tasks/delete", delete_tasks)
    app.router.add_route("*", "/v2/apps/{rest:.+}", app_route)
