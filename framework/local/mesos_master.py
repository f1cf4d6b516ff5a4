"""The local Mesos master's HTTP face: routes, event streams and timers.

An aiohttp application serving the v1 scheduler API, the v1 operator API,
``/version``, ``/master/state``, ``/master/redirect``, ``/health`` and the
files API, on top of the pure `MasterState`. Each request is checked in the
order real Mesos checks it (wire-protocols.md 1.2), then turned into state
transitions whose effects are carried out here.

Invariants:

* All state changes happen on the event loop thread, one call at a time;
  effects run in the order the state machine returned them.
* Every subscriber (scheduler or operator) has one queue of RecordIO records,
  written by its own request handler; ``None`` in the queue ends the stream.
* Three timers only, whatever the cluster size: allocation, housekeeping
  (failover timeouts, update retries) and heartbeats.

Local extensions (not Mesos): ``POST /local/v1/agents/{id}/remove`` and
``POST /local/v1/master/restart`` inject faults for tests and demos.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from framework.ids import AgentId, FrameworkId, StreamId, TaskId
from framework.local.executor_api import TaskReport
from framework.local.executors import files_routes
from framework.local.mesos_agent import LocalAgent
from framework.local.mesos_state import (
    Close,
    Effect,
    Kill,
    Launch,
    MasterState,
    Notify,
    Send,
    StateSettings,
)
from framework.local.mesos_validation import validate_call
from framework.local.mesos_views import (
    get_agents,
    get_frameworks,
    get_state,
    get_tasks,
    master_state_v0,
    operator_event,
    version_json,
)
from framework.local.mesos_wire import (
    HEARTBEAT,
    MESOS_VERSION,
    JsonDict,
    attributes_json,
    event_error,
    id_value,
    master_info,
    record,
)
from framework.local.zk import ZkRegistration

logger = logging.getLogger(__name__)

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
MAX_BODY = 10 * 1024 * 1024


@dataclass(frozen=True)
class MasterSettings:
    host: str = "127.0.0.1"
    port: int = 5050
    allocation_interval: float = 1.0
    heartbeat_interval: float = 15.0
    update_backoff: float = 10.0
    update_backoff_max: float = 600.0
    tick_interval: float = 0.1
    default_kill_grace: float = 3.0
    work_dir: Path | None = None
    zk: str | None = None
    # principal -> secret; when set, the scheduler API demands HTTP basic auth
    # (Mesos's --authenticate_http_frameworks with the basic authenticator).
    credentials: tuple[tuple[str, str], ...] = ()


class _Stream:
    __slots__ = ("queue", "stream_id")

    def __init__(self, stream_id: StreamId) -> None:
        self.stream_id = stream_id
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()


class MesosMaster:
    """One master process; agents are added before or after ``start``."""

    def __init__(self, settings: MasterSettings) -> None:
        self.settings = settings
        self.agents: dict[AgentId, LocalAgent] = {}
        self.port = settings.port
        self.state = self._new_state()
        self.allocation_seconds = 0.0  # duration of the last allocation cycle
        self.allocation_cycles = 0
        self._streams: dict[StreamId, _Stream] = {}
        self._operators: dict[int, _Stream] = {}
        self._jobs: set[asyncio.Task[Any]] = set()
        self._timers: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._zk: ZkRegistration | None = None

    def _new_state(self) -> MasterState:
        s = self.settings
        info = master_info(str(uuid.uuid4()), s.host, self.port, s.host)
        settings = StateSettings(
            heartbeat_interval=s.heartbeat_interval,
            update_backoff=s.update_backoff,
            update_backoff_max=s.update_backoff_max,
            default_kill_grace=s.default_kill_grace,
        )
        return MasterState(info, settings, time.monotonic, time.time)

    # -- life cycle ------------------------------------------------------------

    async def start(self) -> int:
        """Bind, start the timers, register in ZooKeeper; return the port."""
        app = web.Application(client_max_size=MAX_BODY)
        self._add_routes(app)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        agents = list(self.agents.values())
        self.state = self._new_state()
        for agent in agents:
            self._register(agent)
        loop = asyncio.get_running_loop()
        self._timers = [
            loop.create_task(self._allocation_loop()),
            loop.create_task(self._housekeeping_loop()),
            loop.create_task(self._heartbeat_loop()),
        ]
        if self.settings.zk:
            self._zk = ZkRegistration(self.settings.zk)
            await asyncio.to_thread(self._zk.register, self.state.master_info)
        logger.info(
            "local Mesos master listening on %s:%d", self.settings.host, self.port
        )
        return self.port

    async def stop(self) -> None:
        """Close every stream and the server; agents are stopped by the caller."""
        for timer in self._timers:
            timer.cancel()
        await asyncio.gather(*self._timers, return_exceptions=True)
        self._close_all_streams()
        if self._zk is not None:
            await asyncio.to_thread(self._zk.close)
            self._zk = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for job in list(self._jobs):
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)

    def add_agent(self, agent: LocalAgent) -> None:
        self.agents[agent.agent_id] = agent
        if self._runner is not None:
            self._register(agent)

    def _register(self, agent: LocalAgent) -> None:
        agent.endpoint = f"{self.settings.host}:{self.port}"
        cfg = agent.config
        attrs = attributes_json(cfg.attributes)
        self._run(
            self.state.add_agent(cfg.agent_id, cfg.hostname, cfg.resources, attrs)
        )
        self._wake.set()

    def task_report(
        self, agent_id: AgentId, task_id: TaskId, report: TaskReport
    ) -> None:
        """The sink every agent's backend reports into (loop thread)."""
        self._run(self.state.task_report(agent_id, task_id, report))

    # -- faults (local extension) ----------------------------------------------

    async def remove_agent(self, agent_id: AgentId) -> bool:
        """The agent disappears: its tasks are lost and its processes killed."""
        agent = self.agents.pop(agent_id, None)
        if agent is None:
            return False
        self._run(self.state.remove_agent(agent_id))
        await agent.shutdown()
        return True

    async def restart(self) -> None:
        """A master failover: streams close, agents re-register with their tasks."""
        logger.warning("restarting the master; schedulers must re-subscribe")
        self._close_all_streams()
        info = master_info(
            str(uuid.uuid4()), self.settings.host, self.port, self.settings.host
        )
        self.state = self.state.recovered(info)
        if self._zk is not None:
            await asyncio.to_thread(self._zk.register, info)

    def _close_all_streams(self) -> None:
        for stream in list(self._streams.values()) + list(self._operators.values()):
            stream.queue.put_nowait(None)

    # -- effects -----------------------------------------------------------------

    def _run(self, effects: Iterable[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                stream = self._streams.get(effect.stream_id)
                if stream is not None:
                    stream.queue.put_nowait(effect.record())
            elif isinstance(effect, Close):
                stream = self._streams.get(effect.stream_id)
                if stream is not None:
                    stream.queue.put_nowait(None)
            elif isinstance(effect, Launch):
                self._launch(effect)
            elif isinstance(effect, Kill):
                agent = self.agents.get(effect.agent_id)
                if agent is not None:
                    self._spawn(agent.kill(effect.task_id, effect.grace))
            elif isinstance(effect, Notify) and self._operators:
                data = record(operator_event(effect, self.port))
                for op in self._operators.values():
                    op.queue.put_nowait(data)

    def _launch(self, effect: Launch) -> None:
        agent = self.agents.get(effect.agent_id)
        if agent is None:
            return
        self._spawn(
            agent.launch(
                effect.framework_id,
                effect.task_id,
                effect.executor_id,
                effect.task_info,
            )
        )

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    # -- timers ------------------------------------------------------------------

    async def _allocation_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), self.settings.allocation_interval
                )
            self._wake.clear()
            started = time.perf_counter()
            self._run(self.state.allocate())
            self.allocation_seconds = time.perf_counter() - started
            self.allocation_cycles += 1

    async def _housekeeping_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_interval)
            self._run(self.state.tick())

    async def _heartbeat_loop(self) -> None:
        beat = record(HEARTBEAT)
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval)
            for stream in list(self._streams.values()) + list(self._operators.values()):
                stream.queue.put_nowait(beat)

    # -- routes ----------------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        r = app.router
        for path in ("/api/v1/scheduler", "/master/api/v1/scheduler"):
            r.add_route("*", path, self._scheduler)
        # pymesos's operator driver posts to /api/v1/operator (not a Mesos path).
        for path in ("/api/v1", "/master/api/v1", "/api/v1/operator"):
            r.add_route("*", path, self._operator)
        r.add_get("/version", self._version)
        for path in ("/master/state", "/state", "/master/state.json", "/state.json"):
            r.add_get(path, self._state_v0)
        for path in ("/master/redirect", "/redirect"):
            r.add_get(path, self._redirect)
        for path in ("/health", "/master/health"):
            r.add_get(path, self._health)
        r.add_post("/local/v1/agents/{agent_id}/remove", self._fault_remove_agent)
        r.add_post("/local/v1/master/restart", self._fault_restart)
        app.add_routes(files_routes(self._resolve_files))

    def _resolve_files(self, virtual: str) -> Path | None:
        """Sandboxes by absolute path or Mesos's ``/slaves/...`` virtual path."""
        root = self.settings.work_dir
        if root is None:
            return None
        if virtual == "/slaves" or virtual.startswith("/slaves/"):
            return root / virtual.lstrip("/")
        path = Path(virtual)
        if path == root or root in path.parents:
            return path
        return None

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response(version_json())

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def _redirect(self, request: web.Request) -> web.Response:
        location = f"//{self.settings.host}:{self.port}"
        return web.Response(status=307, headers={"Location": location})

    async def _state_v0(self, request: web.Request) -> web.Response:
        flags = {
            "port": str(self.port),
            "hostname": self.settings.host,
            "allocation_interval": f"{self.settings.allocation_interval:g}secs",
            "work_dir": str(self.settings.work_dir or ""),
            "zk": self.settings.zk or "",
        }
        return web.json_response(master_state_v0(self.state, flags))

    async def _fault_remove_agent(self, request: web.Request) -> web.Response:
        agent_id = AgentId(request.match_info["agent_id"])
        if not await self.remove_agent(agent_id):
            return web.json_response(
                {"message": f"Unknown agent {agent_id}"}, status=404
            )
        return web.json_response({"removed": agent_id})

    async def _fault_restart(self, request: web.Request) -> web.Response:
        await self.restart()
        return web.json_response({"master_id": self.state.master_id})

    # -- scheduler API -----------------------------------------------------------

    async def _read_call(self, request: web.Request) -> JsonDict | web.Response:
        """Checks 3-7 of Master::Http::scheduler; the call or the error reply."""
        if request.method != "POST":
            return _text(405, f"Expecting 'POST', received '{request.method}'")
        content_type = request.headers.get("Content-Type")
        if content_type is None:
            return _text(400, "Expecting 'Content-Type' to be present")
        if content_type not in (JSON, PROTOBUF):
            return _text(415, f"Expecting 'Content-Type' of {JSON} or {PROTOBUF}")
        if content_type == PROTOBUF:
            # TODO(protobuf): the local master speaks JSON only.
            return _text(415, "The local master accepts only application/json")
        body = await request.read()
        try:
            call = json.loads(body)
        except ValueError as exc:
            return _text(400, f"Failed to parse body into JSON: {exc}")
        error = validate_call(call)
        if error is not None:
            return _text(400, f"Failed to validate scheduler::Call: {error}")
        assert isinstance(call, dict)
        return call

    async def _scheduler(self, request: web.Request) -> web.StreamResponse:
        principal = self._authenticate(request)
        if isinstance(principal, web.Response):
            return principal
        call = await self._read_call(request)
        if isinstance(call, web.Response):
            return call
        if call["type"] == "SUBSCRIBE":
            claimed = call["subscribe"]["framework_info"].get("principal")
            if principal and claimed is not None and claimed != principal:
                return _text(
                    400,
                    f"Authenticated principal '{principal}' does not match "
                    f"principal '{claimed}' set in `FrameworkInfo`",
                )
            if not _accepts_json(request):
                return _text(406, f"Expecting 'Accept' to allow {JSON}")
            if "Mesos-Stream-Id" in request.headers:
                return _text(
                    400,
                    "Subscribe calls should not include the 'Mesos-Stream-Id' header",
                )
            return await self._subscribe(request, call)
        fid = FrameworkId(id_value(call["framework_id"]) or "")
        status = self.state.framework_status(fid)
        if status == "unknown":
            return _text(400, "Framework cannot be found")
        if status == "disconnected":
            return _text(403, "Framework is not subscribed")
        stream_id = request.headers.get("Mesos-Stream-Id")
        if stream_id is None:
            return _text(
                400,
                "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
            )
        if stream_id != self.state.stream_of(fid):
            return _text(
                400,
                f"The stream ID '{stream_id}' included in this request didn't match "
                f"the stream ID currently associated with framework ID {fid}",
            )
        return self._dispatch(fid, call)

    def _authenticate(self, request: web.Request) -> str | web.Response | None:
        """The authenticated principal, a 401 response, or None when auth is off."""
        if not self.settings.credentials:
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        principal, _, secret = decoded.partition(":")
        if scheme == "Basic" and (principal, secret) in self.settings.credentials:
            return principal
        logger.warning(
            "refused an unauthenticated scheduler call from %s", request.remote
        )
        return web.Response(
            status=401,
            text="Unauthorized",
            headers={"WWW-Authenticate": 'Basic realm="mesos"'},
        )

    def _dispatch(self, fid: FrameworkId, call: JsonDict) -> web.Response:
        kind = call["type"]
        if kind == "UNKNOWN":
            return _text(501, "Received an unexpected 'UNKNOWN' call")
        if kind == "UPDATE_FRAMEWORK":
            code, message, effects = self.state.update_framework(
                fid, call["update_framework"]
            )
            self._run(effects)
            return _text(code, message)
        self._run(self.state.handle(fid, call))
        if kind in ("REVIVE", "UPDATE_FRAMEWORK"):
            self._wake.set()
        return web.Response(status=202)

    async def _subscribe(
        self, request: web.Request, call: JsonDict
    ) -> web.StreamResponse:
        stream = _Stream(StreamId(str(uuid.uuid4())))
        body = call["subscribe"]
        suppressed = body.get("suppressed_roles") or []
        effects, refusal = self.state.subscribe(
            body["framework_info"], suppressed, stream.stream_id
        )
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": JSON, "Mesos-Stream-Id": stream.stream_id},
        )
        response.enable_chunked_encoding()
        if refusal is not None:
            logger.info("refusing a subscription: %s; closing its stream", refusal)
            await response.prepare(request)
            await response.write(record(event_error(refusal)))
            return response
        self._streams[stream.stream_id] = stream
        try:
            self._run(effects)
            self._wake.set()
            await response.prepare(request)
            await _pump(stream, response)
        finally:
            del self._streams[stream.stream_id]
            self._run(self.state.disconnected(stream.stream_id))
        return response

    # -- operator API --------------------------------------------------------------

    async def _operator(self, request: web.Request) -> web.StreamResponse:
        call = await self._read_operator_call(request)
        if isinstance(call, web.Response):
            return call
        kind = call["type"]
        if kind == "SUBSCRIBE":
            return await self._operator_subscribe(request)
        builder = self._operator_views().get(kind)
        if builder is None:
            return _text(501, f"The local master does not implement {kind}")
        return web.json_response({"type": kind, kind.lower(): builder()})

    def _operator_views(self) -> dict[str, Callable[[], JsonDict]]:
        state, port = self.state, self.port
        return {
            "GET_HEALTH": lambda: {"healthy": True},
            "GET_VERSION": lambda: {"version_info": version_json()},
            "GET_STATE": lambda: get_state(state, port),
            "GET_AGENTS": lambda: get_agents(state, port),
            "GET_FRAMEWORKS": lambda: get_frameworks(state),
            "GET_TASKS": lambda: get_tasks(state),
            "GET_EXECUTORS": lambda: {"executors": [], "orphan_executors": []},
            "GET_MASTER": lambda: {
                "master_info": state.master_info,
                "start_time": state.start_time,
                "elected_time": state.start_time,
            },
        }

    async def _read_operator_call(
        self, request: web.Request
    ) -> JsonDict | web.Response:
        if request.method != "POST":
            return _text(405, f"Expecting 'POST', received '{request.method}'")
        content_type = request.headers.get("Content-Type")
        if content_type is None:
            return _text(400, "Expecting 'Content-Type' to be present")
        if content_type != JSON:
            return _text(415, f"Expecting 'Content-Type' of {JSON}")
        try:
            call = json.loads(await request.read())
        except ValueError as exc:
            return _text(400, f"Failed to parse body into JSON: {exc}")
        if not isinstance(call, dict) or not isinstance(call.get("type"), str):
            return _text(
                400, "Failed to validate master::Call: Expecting 'type' to be present"
            )
        return call

    async def _operator_subscribe(self, request: web.Request) -> web.StreamResponse:
        stream = _Stream(StreamId(str(uuid.uuid4())))
        response = web.StreamResponse(status=200, headers={"Content-Type": JSON})
        response.enable_chunked_encoding()
        subscribed = {
            "type": "SUBSCRIBED",
            "subscribed": {
                "get_state": get_state(self.state, self.port),
                "heartbeat_interval_seconds": self.settings.heartbeat_interval,
            },
        }
        stream.queue.put_nowait(record(subscribed))
        stream.queue.put_nowait(record(HEARTBEAT))
        key = id(stream)
        self._operators[key] = stream
        try:
            await response.prepare(request)
            await _pump(stream, response)
        finally:
            del self._operators[key]
        return response


async def _pump(stream: _Stream, response: web.StreamResponse) -> None:
    """Write the stream's records until it is closed or the client goes away."""
    while True:
        data = await stream.queue.get()
        if data is None:
            return
        try:
            await response.write(data)
        except (ConnectionError, RuntimeError):
            logger.info(
                "subscriber of stream %s went away; closing it", stream.stream_id
            )
            return


def _accepts_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept")
    if accept is None:
        return True
    types = {part.split(";")[0].strip() for part in accept.split(",")}
    return bool(types & {JSON, "application/*", "*/*"})


def _text(status: int, message: str) -> web.Response:
    if status in (202, 200) and not message:
        return web.Response(status=status)
    return web.Response(status=status, text=message)


__all__ = ["MESOS_VERSION", "MasterSettings", "MesosMaster"]
