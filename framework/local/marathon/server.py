"""``LocalMarathon``: the Marathon 1.x stand-in as one startable object.

It wires the core (recovered from ``data_dir`` when given), the service, the
pymesos driver subscribed to the local master, the HTTP API on 127.0.0.1,
and two loops on the server's event loop: the ticker (plans apps, ends
deployments) and the health prober.

Stopping closes the event streams and the API and stops the driver *with
failover*: Mesos keeps the apps' tasks for ``failover_timeout`` and the next
``LocalMarathon`` over the same ``data_dir`` re-subscribes with the stored
framework id, reconciles and carries on, mid-deployment included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from framework.clients import mesos as mesos_client
from framework.local.marathon import health, persist
from framework.local.marathon.core import HealthJob, Instruction, MarathonCore
from framework.local.marathon.events import EventBus
from framework.local.marathon.http_misc import make_app
from framework.local.marathon.model import MarathonTiming
from framework.local.marathon.service import (
    MarathonScheduler,
    MarathonService,
    framework_info,
)
from framework.settings import MesosSettings

logger = logging.getLogger(__name__)


class LocalMarathon:
    """See the module docstring."""

    def __init__(
        self,
        *,
        master: str,
        port: int = 8080,
        host: str = "127.0.0.1",
        timing: MarathonTiming | None = None,
        data_dir: Path | None = None,
        failover_timeout: float = 604800.0,
    ) -> None:
        self.master = master
        self.host = host
        self.port = port
        self.timing = timing or MarathonTiming()
        self.data_dir = data_dir
        self.failover_timeout = failover_timeout
        self.service: MarathonService | None = None
        self._driver: Any = None
        self._runner: web.AppRunner | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._probes: set[asyncio.Task[None]] = set()
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def framework_id(self) -> str | None:
        return None if self.service is None else self.service.core.framework_id

    # -- in the loop ---------------------------------------------------------------

    async def start(self) -> int:
        """Recover state, subscribe to Mesos, serve the API; return the port."""
        core = MarathonCore(self.timing)
        if self.data_dir is not None and persist.load(self.data_dir, core):
            logger.info(
                "recovered %d apps, %d tasks, %d deployments from %s",
                len(core.apps),
                len(core.tasks),
                len(core.deployments),
                self.data_dir,
            )
        bus = EventBus()
        bus.bind(asyncio.get_running_loop())
        service = MarathonService(core, bus, self.data_dir)
        service.master, service.failover_timeout = self.master, self.failover_timeout
        self.service = service
        # pymesos's start() fetches /version with a blocking HTTP call: off the
        # loop, which may be the very loop that serves the Mesos master.
        await asyncio.get_running_loop().run_in_executor(
            None, self._start_driver, service
        )
        self._runner = web.AppRunner(make_app(service, bus), shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        service.address = f"{self.host}:{self.port}"
        self._loops = [
            asyncio.create_task(self._every_tick(), name="marathon-ticker"),
            asyncio.create_task(self._health_loop(), name="marathon-health"),
        ]
        logger.info("local Marathon on %s, Mesos master %s", self.url, self.master)
        return self.port

    def _start_driver(self, service: MarathonService) -> None:
        info = framework_info(service.core.framework_id, self.failover_timeout)
        settings = MesosSettings(
            master=self.master, failover_timeout=self.failover_timeout
        )
        self._driver = mesos_client.new_driver(
            MarathonScheduler(service), info, settings, implicit_acknowledgements=False
        )
        service.worker.driver = self._driver
        service.worker.start()
        self._driver.start()

    async def stop(self) -> None:
        """Stop serving and detach from Mesos with failover (tasks keep running)."""
        for task in [*self._loops, *self._probes]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._probes, return_exceptions=True)
        self._loops, self._probes = [], set()
        service = self.service
        if service is not None:
            service.bus.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._driver is not None:
            self._driver.stop(failover=True)
            await asyncio.get_running_loop().run_in_executor(None, self._driver.join)
            self._driver = None
        if service is not None:
            service.worker.stop()
            service.save()
        logger.info("local Marathon stopped; Mesos keeps its tasks for failover")

    def _do(self, action: Callable[[MarathonCore], list[Instruction]]) -> None:
        assert self.service is not None
        self.service.act(action)

    async def _every_tick(self) -> None:
        while True:
            # Plans, kills and deployment ends; one bad tick must not stop them.
            try:
                self._do(lambda core: core.tick())
            except Exception:
                logger.exception(
                    "tick failed; ticking again in %.2fs", self.timing.tick_interval
                )
            await asyncio.sleep(self.timing.tick_interval)

    async def _health_loop(self) -> None:
        assert self.service is not None
        service = self.service
        async with aiohttp.ClientSession() as session:
            while True:
                # Start every probe that is due; each reports back on its own.
                for job in service.run(lambda core: core.due_health_checks()):
                    probe = asyncio.create_task(self._probe(job, session))
                    self._probes.add(probe)
                    probe.add_done_callback(self._probes.discard)
                await asyncio.sleep(self.timing.tick_interval)

    async def _probe(self, job: HealthJob, session: aiohttp.ClientSession) -> None:
        ok, cause = await health.probe(
            job.check, job.host, job.ports, job.env, job.timeout, session
        )
        self._do(lambda core: core.on_health(job, ok, cause))

    # -- from another thread ---------------------------------------------------------

    def start_in_thread(self, timeout: float = 30.0) -> int:
        """Run on a private loop in a daemon thread; return the bound port."""
        loop = asyncio.new_event_loop()
        self._thread_loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="local-marathon", daemon=True
        )
        self._thread.start()
        return int(self._call(self.start(), timeout))

    def _call(self, coro: Any, timeout: float) -> Any:
        assert self._thread_loop is not None, "start_in_thread() first"
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._thread_loop)
        return future.result(timeout)

    def stop_in_thread(self, timeout: float = 30.0) -> None:
        """Stop what ``start_in_thread`` started, thread included."""
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._call(self.stop(), timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            with contextlib.suppress(RuntimeError):
                loop.close()
            self._thread_loop = self._thread = None
