"""``LocalConsul``: the local Consul stand-in as one object to start and stop.

It serves the Consul HTTP API on ``host:port`` (loopback only) from a single
process, like ``consul agent -dev``, with its state in ``data_dir``.

Two ways to run it:

* ``await consul.start()`` / ``await consul.stop()`` inside an event loop
  shared with the other stand-ins;
* ``consul.start_in_thread()`` / ``consul.stop_in_thread()`` (or ``with
  LocalConsul(...) as consul``) for tests and synchronous callers: the server
  gets its own event loop in a daemon thread.

Invariants:

* ``start`` returns only once the socket accepts connections; ``stop`` answers
  every held blocking query at once, stops the checks and timers, then writes
  every acknowledged change to disk (see ``persist`` for the guarantee).
* Without ``data_dir`` the state lives in a fresh temporary directory that is
  removed on stop (an ephemeral ``-dev`` agent).
* The ACL master token is never logged.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import tempfile
import threading
import uuid
from pathlib import Path
from types import TracebackType

from aiohttp import web

from framework.local.consul import http_agent, http_catalog, http_kv, persist
from framework.local.consul.agent import LocalAgent, Timing
from framework.local.consul.http_common import Closing, Context, install
from framework.local.consul.store import Store
from framework.local.consul.wire import MAX_KV_VALUE

log = logging.getLogger(__name__)


def default_node_name() -> str:
    return socket.gethostname() or "local"


class LocalConsul:
    """A single-process Consul agent+server speaking the real HTTP API."""

    def __init__(
        self,
        *,
        port: int = 8500,
        host: str = "127.0.0.1",
        data_dir: Path | str | None = None,
        acl_master_token: str | None = None,
        node_name: str | None = None,
        timing: Timing | None = None,  # shorter-than-Consul timings, for tests
    ) -> None:
        self.host = host
        self.port = port
        self.node_name = node_name or default_node_name()
        self.timing = timing or Timing()
        self._requested_dir = Path(data_dir).expanduser() if data_dir else None
        self._acl_token = acl_master_token or None
        self._temp_dir: Path | None = None
        self._runner: web.AppRunner | None = None
        self._agent: LocalAgent | None = None
        self._persister: persist.Persister | None = None
        self._closing = Closing()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """``host:port``, the value for ``CONSUL_HTTP_ADDR``."""
        return f"{self.host}:{self.port}"

    @property
    def held_queries(self) -> int:
        """Blocking queries being held right now (for tests and demos)."""
        return self._closing.held

    @property
    def state_writes(self) -> int:
        """Snapshots written to disk since start (to observe debouncing)."""
        return self._persister.writes if self._persister is not None else 0

    @property
    def data_dir(self) -> Path:
        directory = self._requested_dir or self._temp_dir
        assert directory is not None, "LocalConsul has not started"
        return directory

    # -- async lifecycle ----------------------------------------------------

    async def start(self) -> int:
        """Load the state, start checks and timers, listen; the bound port."""
        self._closing = Closing()
        if self._requested_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="local-consul-"))
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        store = Store()
        node_id = persist.load(store, self.data_dir / persist.FILE_NAME)
        node_id = node_id or str(uuid.uuid4())
        self._persister = persist.Persister(
            store, self.data_dir, node_id, delay=self.timing.flush_delay
        )
        store.listeners.append(self._persister.changed)
        agent = LocalAgent(
            store, node_name=self.node_name, node_id=node_id, timing=self.timing
        )
        self._agent = agent
        agent.bootstrap()
        await agent.start()
        await self._listen(Context(store, agent, self._closing))
        log.info(
            "Local Consul serving http://%s (node %s, data in %s, ACL %s)",
            self.address,
            self.node_name,
            self.data_dir,
            "enabled" if self._acl_token else "disabled",
        )
        return self.port

    async def _listen(self, ctx: Context) -> None:
        app = web.Application(client_max_size=MAX_KV_VALUE + 64 * 1024)
        install(
            app,
            http_agent.routes(ctx) + http_catalog.routes(ctx) + http_kv.routes(ctx),
            self._acl_token,
        )
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Answer held queries, stop serving and checking, flush state to disk."""
        self._closing.event.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._agent is not None:
            await self._agent.close()
            self._agent = None
        if self._persister is not None:
            await self._persister.close()
            self._persister = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None
        log.info("Local Consul on %s stopped; state saved", self.address)

    # -- thread lifecycle ---------------------------------------------------

    def start_in_thread(self) -> int:
        """Run the server on its own loop in a daemon thread; the bound port."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve_thread,
            args=(ready, failure),
            name="local-consul",
            daemon=True,
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            raise failure[0]
        return self.port

    def _serve_thread(
        self, ready: threading.Event, failure: list[BaseException]
    ) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.start())
        except BaseException as exc:
            failure.append(exc)
            loop.close()
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def stop_in_thread(self, timeout: float = 30.0) -> None:
        """Stop a server started with ``start_in_thread`` and join its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._loop = self._thread = None

    def __enter__(self) -> LocalConsul:
        self.start_in_thread()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_in_thread()
