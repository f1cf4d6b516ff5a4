"""``mesos-adapter scheduler run``: the batch framework as a process.

Wires the parts together: the store and core (recovered from disk), the
pymesos driver (re-subscribing with the stored framework id), the ticker and
the HTTP API on 127.0.0.1. On SIGINT or SIGTERM it stops the API and the
driver *with failover*, so Mesos keeps our tasks for ``failover_timeout`` and
the next ``scheduler run`` takes them back.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import suppress

from aiohttp import web

from framework import logs
from framework.batch import api, scheduler
from framework.batch.teams import load_teams
from framework.clients import mesos as mesos_client
from framework.settings import Settings

logger = logging.getLogger(__name__)


class Running:
    """A started scheduler: service, driver, ticker and API runner."""

    def __init__(self, settings: Settings) -> None:
        s = settings.scheduler
        teams = load_teams(s.teams_file) if s.teams_file else None
        self.settings = settings
        self.service = scheduler.open_service(
            s.state_path,
            policy=s.policy,
            refuse_seconds=s.refuse_seconds,
            role=settings.mesos.role,
            teams=teams,
        )
        framework_id = self.service.core.store.framework_id()
        info = scheduler.framework_info(settings.mesos, framework_id)
        self.driver = mesos_client.new_driver(
            scheduler.BatchScheduler(self.service),
            info,
            settings.mesos,
            implicit_acknowledgements=False,  # BatchService acks after storing
        )
        self.service.driver = self.driver
        self.ticker = scheduler.Ticker(self.service, lambda: self.driver.master)
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        # pymesos's start() blocks on an HTTP GET /version: keep it off the loop.
        await asyncio.get_running_loop().run_in_executor(None, self.driver.start)
        self.ticker.start()
        self.runner = web.AppRunner(api.make_app(self.service))
        await self.runner.setup()
        chosen = self.settings.scheduler.api_port if port is None else port
        site = web.TCPSite(self.runner, host, chosen)
        await site.start()
        self.port = self.runner.addresses[0][1]
        logger.info(
            "batch scheduler API on http://%s:%d; Mesos master %s",
            host,
            self.port,
            self.settings.mesos.master,
        )

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        self.ticker.stop()
        self.driver.stop(failover=True)
        await asyncio.get_running_loop().run_in_executor(None, self.driver.join)
        self.service.core.store.close()
        logger.info("batch scheduler stopped; Mesos keeps its tasks for failover")


def run(settings: Settings) -> None:
    logs.configure(settings.logging.level)
    asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> None:
    running = Running(settings)
    await running.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await running.stop()
