"""HTTP API of the batch scheduler (aiohttp).

::

    POST   /v1/jobs            submit a spec (JSON or YAML body) -> 201 job
    GET    /v1/jobs            {"jobs": [job, ...]}
    GET    /v1/jobs/{id}       job with attempts, or 404
    DELETE /v1/jobs/{id}       kill -> 200 job, or 404
    GET    /v1/jobs/{id}/why   why it waits, or 404
    GET    /metrics            Prometheus text
    GET    /health             {"connected": bool}

Errors are JSON ``{"error": {"message": ..., "path"?: ...}}``: 400 for an
invalid spec (naming the field path and the rule; nothing is stored), 404 for
an unknown job id (naming it), 409 for a duplicate id, 413 for a body over
1 MiB.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from framework import metrics
from framework.batch.scheduler import BatchService
from framework.batch.spec import parse_job_spec
from framework.batch.store import DuplicateJobError
from framework.errors import SpecError
from framework.ids import JobId

logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
SERVICE: web.AppKey[BatchService] = web.AppKey("service", BatchService)


def make_app(service: BatchService) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[SERVICE] = service
    app.router.add_post("/v1/jobs", submit)
    app.router.add_get("/v1/jobs", list_jobs)
    app.router.add_get("/v1/jobs/{job_id}", get_job)
    app.router.add_delete("/v1/jobs/{job_id}", kill_job)
    app.router.add_get("/v1/jobs/{job_id}/why", why)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/health", health)
    return app


def error(status: int, message: str, path: str | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message}
    if path is not None:
        body["path"] = path
    return web.json_response({"error": body}, status=status)


async def submit(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    try:
        text = await request.text()
    except web.HTTPRequestEntityTooLarge:
        return error(413, f"spec larger than {MAX_BODY} bytes; split the job")
    try:
        spec = parse_job_spec(text, source="request body")
        view = await _in_thread(service.submit, spec)
    except SpecError as exc:
        return error(400, exc.message, exc.path)
    except DuplicateJobError:
        return error(
            409, f"job {spec.id!r} already exists; pick another id or kill it first"
        )
    return web.json_response(view, status=201)


async def list_jobs(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    jobs = [service.job_view(job_id) for job_id in service.job_ids()]
    return web.json_response({"jobs": jobs})


async def get_job(request: web.Request) -> web.Response:
    job_id = JobId(request.match_info["job_id"])
    try:
        return web.json_response(request.app[SERVICE].job_view(job_id))
    except KeyError:
        return _unknown(job_id)


async def kill_job(request: web.Request) -> web.Response:
    job_id = JobId(request.match_info["job_id"])
    view = await _in_thread(request.app[SERVICE].kill, job_id)
    return _unknown(job_id) if view is None else web.json_response(view)


async def why(request: web.Request) -> web.Response:
    job_id = JobId(request.match_info["job_id"])
    try:
        return web.json_response(request.app[SERVICE].why(job_id))
    except KeyError:
        return _unknown(job_id)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"connected": request.app[SERVICE].connected})


async def prometheus(request: web.Request) -> web.Response:
    snap = request.app[SERVICE].snapshot()
    text = metrics.render(_families(snap))
    return web.Response(text=text, headers={"Content-Type": metrics.CONTENT_TYPE})


def _families(snap: dict[str, Any]) -> list[list[str]]:
    allocated, cluster = snap["allocated"], snap["cluster"]
    utilization = [
        ({"resource": name}, allocated.get(name) / cluster.get(name))
        for name in ("cpus", "mem")
        if cluster.get(name) > 0
    ]
    p = "mesos_adapter_batch"
    return [
        metrics.family(
            f"{p}_offers_received_total",
            "counter",
            "Offers received from Mesos.",
            [({}, snap["offers_received"])],
        ),
        metrics.family(
            f"{p}_offers_declined_total",
            "counter",
            "Offers declined.",
            [({}, snap["offers_declined"])],
        ),
        metrics.family(
            f"{p}_tasks_launched_total",
            "counter",
            "Task attempts launched.",
            [({}, snap["tasks_launched"])],
        ),
        metrics.family(
            f"{p}_queue_depth",
            "gauge",
            "Tasks waiting for resources, by team.",
            [({"team": t}, n) for t, n in sorted(snap["queue_depth"].items())],
        ),
        metrics.family(
            f"{p}_jobs",
            "gauge",
            "Jobs by state.",
            [({"state": s}, n) for s, n in sorted(snap["jobs_by_state"].items())],
        ),
        metrics.family(
            f"{p}_utilization_ratio",
            "gauge",
            "Share of the cluster's resources our running tasks hold.",
            utilization,
        ),
        metrics.histogram(
            f"{p}_placement_seconds",
            "Time to plan one batch of offers.",
            snap["placement_latency"],
        ),
    ]


def _unknown(job_id: JobId) -> web.Response:
    return error(404, f"no job with id {job_id!r}; see 'mesos-adapter jobs list'")


async def _in_thread(function: Any, *args: Any) -> Any:
    # Calls that may talk to Mesos must not block the event loop.
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)
