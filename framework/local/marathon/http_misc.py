"""HTTP handlers of everything but apps and tasks, and the aiohttp app itself.

Deployments, groups (read-only), the launch queue, info, leader, ping,
metrics and the ``/v2/events`` SSE stream. ``make_app`` wires both handler
modules together with one middleware that turns ``ApiError`` into
Marathon's JSON error bodies.

The event stream answers 406 unless the client accepts
``text/event-stream`` (as Marathon does), sends ``event_stream_attached``
first, then every published event whose type passes the ``event_type``
filters, one ``event:``/``data:`` frame each, until the client goes or the
stand-in stops.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from framework.ids import AppId
from framework.local.marathon import commands, http_apps, views
from framework.local.marathon.commands import ApiError
from framework.local.marathon.core import MarathonCore
from framework.local.marathon.events import CLOSE, EventBus, event
from framework.local.marathon.model import JsonDict
from framework.local.marathon.service import MarathonService
from framework.local.marathon.validation import absolute_id

logger = logging.getLogger(__name__)

SERVICE = http_apps.SERVICE
BUS: web.AppKey[EventBus] = web.AppKey("bus", EventBus)
VERSION = "1.10.17"
reply = http_apps.reply


@web.middleware
async def errors(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return reply(exc.body, exc.status)


# -- deployments -----------------------------------------------------------------------


async def list_deployments(request: web.Request) -> web.Response:
    def view(core: MarathonCore) -> list[JsonDict]:
        ordered = sorted(core.deployments.values(), key=lambda d: d.version)
        return [views.deployment_json(d) for d in ordered]

    return reply(request.app[SERVICE].run(view))


async def delete_deployment(request: web.Request) -> web.Response:
    deployment_id = request.match_info["deployment_id"]
    force = http_apps.flag(request, "force")
    result = request.app[SERVICE].run(
        lambda core: commands.cancel_deployment(core, deployment_id, force=force)
    )
    if result is None:
        return web.Response(status=202)
    return http_apps.changed(result)


# TODO(groups): only GET; POST/PUT/DELETE of groups and /v2/eventSubscriptions
# are not served (aiohttp answers 405/404).
# -- groups (read-only) ----------------------------------------------------------------


async def get_group(request: web.Request) -> web.Response:
    group_id = absolute_id(request.match_info.get("group_id", "/"))

    def view(core: MarathonCore) -> JsonDict:
        apps = [
            http_apps.app_view(core, app_id, {"counts", "deployments"})
            for app_id in sorted(core.apps)
        ]
        inside = [
            a for a in apps if group_id == "/" or a["id"].startswith(group_id + "/")
        ]
        if group_id != "/" and not inside:
            raise ApiError(404, {"message": f"Group '{group_id}' does not exist"})
        version = max((a["version"] for a in apps), default=core.new_version())
        return views.group_json(group_id, inside, version)

    return reply(request.app[SERVICE].run(view))


# -- queue -----------------------------------------------------------------------------


async def get_queue(request: web.Request) -> web.Response:
    def view(core: MarathonCore) -> JsonDict:
        now = core.clock()
        items = []
        for app_id, count in sorted(core.wanted.items()):
            if count <= 0 or app_id not in core.apps:
                continue
            app = http_apps.app_view(core, app_id, set())
            since = core.wanted_since.get(app_id, now)
            items.append(
                views.queue_item(app, count, core.apps[app_id].not_before - now, since)
            )
        return {"queue": items}

    return reply(request.app[SERVICE].run(view))


async def reset_delay(request: web.Request) -> web.Response:
    app_id = AppId(absolute_id(request.match_info["app_id"]))

    def act(core: MarathonCore) -> None:
        app = core.apps.get(app_id)
        if app is None or app.delay_seconds is None:
            raise ApiError(
                404, {"message": f"Application {app_id} not found in tasks queue."}
            )
        app.delay_seconds, app.not_before = None, 0.0
        core.dirty = True
        logger.info(
            "launch delay of app %s reset; launching on the next offers", app_id
        )

    request.app[SERVICE].run(act)
    return web.Response(status=200)


# -- info, leader, ping, metrics -------------------------------------------------------


async def info(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    address = service.address
    return reply(
        {
            "name": "marathon",
            "version": VERSION,
            "buildref": "mesos-adapter-local",
            "elected": True,
            "leader": address,
            "frameworkId": service.core.framework_id,
            "marathon_config": {
                "master": service.master,
                "framework_name": "marathon",
                "hostname": "127.0.0.1",
                "checkpoint": True,
                "executor": "//cmd",
                "failover_timeout": int(service.failover_timeout),
                "ha": False,
                "local_port_min": 10000,
                "local_port_max": 20000,
                "mesos_role": "*",
                "features": [],
            },
            "zookeeper_config": {},
            "http_config": {"http_port": int(address.rsplit(":", 1)[1])},
        }
    )


async def leader(request: web.Request) -> web.Response:
    if request.method == "DELETE":
        return reply({"message": "Leadership abdicated"})
    return reply({"leader": request.app[SERVICE].address})


async def ping(request: web.Request) -> web.Response:
    return web.Response(text="pong", content_type="text/plain")


async def metrics(request: web.Request) -> web.Response:
    def view(core: MarathonCore) -> JsonDict:
        return {
            "version": "4.0.0",
            "gauges": {
                "marathon.apps.active.gauge": {"value": len(core.apps)},
                "marathon.instances.running.gauge": {
                    "value": sum(t.running for t in core.tasks.values())
                },
                "marathon.deployments.active.gauge": {"value": len(core.deployments)},
            },
            "counters": {
                "marathon.events.published": {"count": request.app[BUS].published}
            },
        }

    return reply(request.app[SERVICE].run(view))


# -- /v2/events ------------------------------------------------------------------------


def _frame(item: JsonDict) -> bytes:
    return f"event: {item['eventType']}\ndata: {json.dumps(item)}\n\n".encode()


async def events(request: web.Request) -> web.StreamResponse:
    if "text/event-stream" not in request.headers.get("Accept", ""):
        return reply({"message": "Accept: text/event-stream is required"}, 406)
    kinds = set(request.query.getall("event_type", []))
    bus = request.app[BUS]
    queue = bus.subscribe()
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    try:
        await response.prepare(request)
        remote = request.remote or "127.0.0.1"
        attached = event(
            "event_stream_attached",
            request.app[SERVICE].core.clock(),
            remoteAddress=remote,
        )
        await response.write(_frame(attached))

        # One frame per published event that passes the filters.
        while (item := await queue.get()) is not CLOSE:
            if not kinds or item["eventType"] in kinds:
                await response.write(_frame(item))
    except (ConnectionResetError, OSError):
        logger.info("event stream client %s went away; unsubscribing", request.remote)
    finally:
        bus.unsubscribe(queue)
    return response


def make_app(service: MarathonService, bus: EventBus) -> web.Application:
    app = web.Application(middlewares=[errors])
    app[SERVICE] = service
    app[BUS] = bus
    http_apps.add_routes(app)
    app.router.add_get("/v2/deployments", list_deployments)
    app.router.add_delete("/v2/deployments/{deployment_id}", delete_deployment)
    app.router.add_get("/v2/groups", get_group)
    app.router.add_get("/v2/groups/{group_id:.+}", get_group)
    app.router.add_get("/v2/queue", get_queue)
    app.router.add_delete("/v2/queue/{app_id:.+}/delay", reset_delay)
    app.router.add_get("/v2/info", info)
    app.router.add_route("*", "/v2/leader", leader)
    app.router.add_get("/ping", ping)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v2/events", events)
    return app
