"""The Consul sync loop: observe Mesos and Marathon, plan, write Consul.

One asyncio loop per ``sync run`` process. It first competes for the leader
lock (`LeaderLock`); while it leads, five jobs run side by side:

* the Mesos watcher follows the operator API event stream (SUBSCRIBED brings
  the full state, then task and agent events) and marks changed tasks dirty;
* the Marathon watcher (when configured) follows ``/v2/events`` for health
  results and reloads ``/v2/apps`` after deployments;
* the worker plans the dirty tasks against what we believe Consul holds (the
  cache) and writes the difference at once, which keeps the lag from event to
  Consul entry to a few milliseconds;
* the anti-entropy job re-lists Mesos, Marathon and Consul every
  ``anti_entropy_seconds`` and repairs any drift (a missed event, an entry
  someone deleted, a write that failed);
* the renewer keeps the leader session alive; when it cannot, leadership ends
  and the process competes again.

Invariants: all Consul work (a full pass or a worker batch) happens under one
lock, so the cache always matches the last read plus our own successful
writes; nothing is written while this process does not hold the leader lock;
a backend that is down is retried with backoff and jitter, with a warning
naming what is pending, and nothing observed meanwhile is dropped (dirty tasks
stay dirty until a write succeeds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import tenacity
from aiohttp import web

from framework.clients.consul_api import ConsulApi
from framework.clients.marathon_events import MarathonEvents
from framework.clients.mesos_events import OperatorApi
from framework.consul_sync.consul_state import (
    entries_from_agent,
    entries_from_catalog,
    owner_filter,
)
from framework.consul_sync.executor import Executor
from framework.consul_sync.leader import LeaderLock
from framework.consul_sync.model import (
    ENDED,
    KILLING,
    RUNNING,
    Entry,
    Instruction,
    Plan,
    Problem,
    Register,
)
from framework.consul_sync.planner import plan_sync
from framework.consul_sync.sync_metrics import SyncMetrics
from framework.consul_sync.world import World
from framework.errors import TemporaryError
from framework.ids import ServiceId, TaskId
from framework.metrics import CONTENT_TYPE
from framework.settings import Settings

logger = logging.getLogger(__name__)

RELOAD_EVENTS = frozenset(
    {"deployment_success", "deployment_step_success", "api_post_event"}
)
TIMED_STATES = ENDED | {RUNNING, KILLING}


@dataclass(frozen=True)
class LoopOptions:
    marathon: bool = True
    """Use Marathon (settings.marathon.url) as a source of health and labels."""
    metrics_port: int | None = None
    """Serve Prometheus metrics on 127.0.0.1:<port>; 0 picks a free port."""
    leader_ttl: int = 10
    lock_delay: int = 1
    renew_every: float | None = None
    """Seconds between session renewals; default a third of the TTL."""
    acquire_every: float = 1.0
    idle_timeout: float = 60.0
    catalog_scan: bool = True
    """Also list our entries on other Consul nodes (for catalog removal)."""


def _wait() -> tenacity.wait.wait_base:
    return tenacity.wait_exponential_jitter(multiplier=0.2, max=10.0, jitter=0.5)


class SyncLoop:
    """See the module docstring."""

    def __init__(
        self,
        settings: Settings,
        options: LoopOptions | None = None,
        *,
        metrics: SyncMetrics | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.options = options or LoopOptions()
        self.cluster = settings.sync.cluster_name
        self.metrics = metrics or SyncMetrics()
        self._sleep = sleep
        self.consul = ConsulApi(settings.consul)
        self.mesos = OperatorApi(settings.mesos.master)
        self.marathon = (
            MarathonEvents(settings.marathon.url) if self.options.marathon else None
        )
        self.lock = LeaderLock(
            self.consul,
            self.cluster,
            ttl=self.options.leader_ttl,
            lock_delay=self.options.lock_delay,
            renew_every=self.options.renew_every,
        )
        self.world = World()
        self.node = ""
        self.cache: dict[tuple[str, ServiceId], Entry] = {}
        self.dirty: set[TaskId] = set()
        self.since: dict[TaskId, float] = {}
        self.reported: set[Problem] = set()
        self.release_on_stop = True
        self.metrics_port: int | None = None
        self.watching = False  # following the Mesos event stream right now
        self._replay: list[tuple[str, dict[str, Any]]] | None = None
        self._executor: Executor | None = None
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._consul_lock = asyncio.Lock()

    # -- the process: compete, lead, repeat ------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Serve metrics; lead whenever we hold the lock; return once ``stop``."""
        runner = await self._serve_metrics()
        try:
            while not stop.is_set():
                if await self._acquire(stop):
                    await self._lead(stop)
        finally:
            await self._shutdown(runner)

    async def _acquire(self, stop: asyncio.Event) -> bool:
        told = False
        while not stop.is_set():
            try:
                if await asyncio.to_thread(self.lock.try_acquire):
                    logger.info(
                        "leading the Consul sync of cluster %s as %s",
                        self.cluster,
                        self.lock.owner,
                    )
                    return True
            except TemporaryError as exc:
                self.metrics.failed("consul")
                logger.warning(
                    "cannot compete for the leader lock (%s); retrying in %.1fs",
                    exc,
                    self.options.acquire_every,
                )
            else:
                if not told:
                    logger.info(
                        "another sync loop leads cluster %s; waiting to take over",
                        self.cluster,
                    )
                    told = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.options.acquire_every)
        return False

    async def _lead(self, stop: asyncio.Event) -> None:
        self.metrics.leader = True
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._consul_lock = asyncio.Lock()
        jobs = [
            asyncio.create_task(self._keep_leadership(), name="renew"),
            asyncio.create_task(self._anti_entropy(), name="anti-entropy"),
            asyncio.create_task(self._work(), name="worker"),
            asyncio.create_task(self._watch_mesos(), name="mesos"),
        ]
        if self.marathon is not None:
            jobs.append(asyncio.create_task(self._watch_marathon(), name="marathon"))
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait(
                [*jobs, stopper], return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for job in [*jobs, stopper]:
                job.cancel()
            await asyncio.gather(*jobs, stopper, return_exceptions=True)
            self.metrics.leader = False
        for job in done:
            error = None if job is stopper else job.exception()
            if error is not None:
                logger.error(
                    "sync job %s failed (%r); stepping down and exiting",
                    job.get_name(),
                    error,
                )
                raise error

    async def _keep_leadership(self) -> None:
        # Renew well inside the TTL; a lost session ends this leadership term.
        while True:
            await self._sleep(self.lock.renew_every)
            try:
                if not await asyncio.to_thread(self.lock.renew):
                    return
            except TemporaryError as exc:
                self.metrics.failed("consul")
                logger.warning(
                    "cannot renew the leader session (%s); retrying in %.1fs, "
                    "stepping down if it expires meanwhile",
                    exc,
                    self.lock.renew_every,
                )

    async def _shutdown(self, runner: web.AppRunner | None) -> None:
        if self.release_on_stop:
            try:
                await asyncio.to_thread(self.lock.release)
            except TemporaryError as exc:
                logger.warning(
                    "could not release the leader lock (%s); it lapses with the "
                    "session in %ds",
                    exc,
                    self.options.leader_ttl,
                )
        if runner is not None:
            await runner.cleanup()
        await self.mesos.close()
        if self.marathon is not None:
            await self.marathon.close()
        self.consul.close()

    # -- observing: Mesos and Marathon events --------------------------------------

    async def _watch_mesos(self) -> None:
        # A stream that broke after SUBSCRIBED is resumed at once; a master we
        # cannot reach is retried with backoff (tenacity, jittered).
        while True:
            async for attempt in tenacity.AsyncRetrying(
                retry=tenacity.retry_if_exception_type(TemporaryError),
                wait=_wait(),
                sleep=self._sleep,
                before_sleep=self._warn("Mesos master", "mesos"),
            ):
                with attempt:
                    await self._follow_mesos()

    async def _follow_mesos(self) -> None:
        subscribed = False
        stream = self.mesos.subscribe(idle_timeout=self.options.idle_timeout)
        try:
            async with contextlib.aclosing(stream) as events:
                async for event in events:
                    subscribed = subscribed or event.get("type") == "SUBSCRIBED"
                    self._on_mesos(event)
                    self.watching = subscribed
        except TemporaryError as exc:
            if not subscribed:
                raise
            self.metrics.failed("mesos")
            logger.warning("Mesos event stream broke (%s); resubscribing now", exc)
        finally:
            self.watching = False

    def _on_mesos(self, event: dict[str, Any]) -> None:
        if self._replay is not None:
            self._replay.append(("mesos", event))
        changed = self.world.apply_mesos(event)
        if event.get("type") == "TASK_UPDATED":
            body = event["task_updated"]
            status = body.get("status", {})
            if body.get("state") in TIMED_STATES:
                for task_id in changed:
                    self.since[task_id] = float(status.get("timestamp") or time.time())
        self._mark(changed)

    async def _watch_marathon(self) -> None:
        # Same shape as the Mesos watcher; Marathon being down only delays
        # Marathon tasks, whose entries are kept as they are meanwhile.
        while True:
            async for attempt in tenacity.AsyncRetrying(
                retry=tenacity.retry_if_exception_type(TemporaryError),
                wait=_wait(),
                sleep=self._sleep,
                before_sleep=self._warn("Marathon", "marathon"),
            ):
                with attempt:
                    await self._follow_marathon()

    async def _follow_marathon(self) -> None:
        assert self.marathon is not None
        attached = False
        stream = self.marathon.events(idle_timeout=self.options.idle_timeout)
        try:
            async with contextlib.aclosing(stream) as events:
                async for event in events:
                    if not attached:
                        attached = True
                        await self._reload_marathon()
                    await self._on_marathon(event)
        except TemporaryError as exc:
            if not attached:
                raise
            self.metrics.failed("marathon")
            logger.warning("Marathon event stream broke (%s); reconnecting now", exc)

    async def _on_marathon(self, event: dict[str, Any]) -> None:
        if event.get("eventType") in RELOAD_EVENTS:
            await self._reload_marathon()
            return
        if self._replay is not None:
            self._replay.append(("marathon", event))
        changed = self.world.apply_marathon(event)
        if "health" in str(event.get("eventType")):
            for task_id in changed:
                self.since[task_id] = time.time()
        self._mark(changed)

    async def _reload_marathon(self) -> None:
        assert self.marathon is not None
        apps = await self.marathon.apps_with_tasks()
        self._mark(self.world.load_marathon_apps(apps))

    def _mark(self, tasks: Iterable[TaskId]) -> None:
        self.dirty.update(tasks)
        if self.dirty:
            self._wake.set()

    # -- acting on events: the worker --------------------------------------------

    async def _work(self) -> None:
        # Wait for the first full pass: before it, the cache does not know Consul.
        await self._ready.wait()
        while True:
            await self._wake.wait()
            self._wake.clear()
            async for attempt in tenacity.AsyncRetrying(
                retry=tenacity.retry_if_exception_type(TemporaryError),
                wait=_wait(),
                sleep=self._sleep,
                before_sleep=self._warn("Consul", "consul", pending=True),
            ):
                with attempt:
                    await self._flush()

    async def _flush(self) -> None:
        """Plan and write the dirty tasks; TemporaryError leaves them dirty."""
        batch, self.dirty = self.dirty, set()
        if not batch:
            return
        async with self._consul_lock:
            plan = plan_sync(self._observed(), self.cache.values(), only=batch)
            await self._execute(plan)

    async def _execute(self, plan: Plan) -> int:
        self._report(plan.problems)
        if not plan.instructions:
            return 0
        assert self._executor is not None
        outcome = await asyncio.to_thread(self._executor.execute, plan, self.cache)
        if outcome.error is not None:
            self.dirty.update(_task_of(i) for i in outcome.pending)
            raise outcome.error
        return outcome.done

    # -- anti-entropy: a full comparison every anti_entropy_seconds -------------

    async def _anti_entropy(self) -> None:
        period = self.settings.sync.anti_entropy_seconds
        while True:
            async for attempt in tenacity.AsyncRetrying(
                retry=tenacity.retry_if_exception_type(TemporaryError),
                wait=_wait(),
                sleep=self._sleep,
                before_sleep=self._warn("anti-entropy pass", "pass", pending=True),
            ):
                with attempt:
                    await self.full_pass()
            await self._sleep(period)

    async def full_pass(self) -> Plan:
        """Re-list every source, plan everything, repair the drift."""
        started = time.monotonic()

        # List Mesos and Marathon; events arriving meanwhile are replayed on top.
        self._replay = []
        try:
            state = await self.mesos.get_state()
            apps = await self._marathon_apps()
        finally:
            replay, self._replay = self._replay, None
        self.world.load_mesos_state(state)
        if apps is not None:
            self.world.load_marathon_apps(apps)
        for source, event in replay:
            if source == "mesos":
                self.world.apply_mesos(event)
            else:
                self.world.apply_marathon(event)

        plan, done = await self.repair()
        self._ready.set()
        self._prune_since()
        self.metrics.finished_pass(time.monotonic() - started, done)
        if done:
            logger.info("anti-entropy pass repaired %d entries", done)
        return plan

    async def repair(self) -> tuple[Plan, int]:
        """Read Consul, plan every task, write the difference; (plan, writes)."""
        # Hold the Consul lock throughout, so the cache stays true.
        async with self._consul_lock:
            await self._read_consul()
            plan = plan_sync(self._observed(), list(self.cache.values()))
            done = await self._execute(plan)
        return plan, done

    async def _marathon_apps(self) -> list[dict[str, Any]] | None:
        if self.marathon is None:
            return None
        try:
            return await self.marathon.apps_with_tasks()
        except TemporaryError as exc:
            self.metrics.failed("marathon")
            logger.warning(
                "Marathon unreachable (%s); keeping what we knew of its %d tasks "
                "and trying again next pass",
                exc,
                len(self.world.marathon_tasks),
            )
            return None

    async def _read_consul(self) -> None:
        if not self.node:
            self.node = await asyncio.to_thread(self.consul.node_name)
            self._executor = Executor(
                self.consul, self.node, self.metrics, since=self.since
            )
        entries = await asyncio.to_thread(self._consul_entries)
        self.cache = {(e.node, e.service_id): e for e in entries}

    def _consul_entries(self) -> list[Entry]:
        """Our agent's instances, plus ours on other nodes (blocking)."""
        services = self.consul.agent_services()
        checks = self.consul.agent_checks()
        entries = entries_from_agent(services, checks, self.node)
        if not self.options.catalog_scan:
            return entries
        # Every instance we register carries a stable or canary tag.
        names = [
            name
            for name, tags in self.consul.catalog_services().items()
            if "stable" in tags or "canary" in tags
        ]
        for name in names:
            rows = self.consul.catalog_service(
                name, owner_filter=owner_filter(self.cluster)
            )
            entries += [e for e in entries_from_catalog(rows) if e.node != self.node]
        return entries

    def _observed(self) -> Any:
        return self.world.observed(
            cluster=self.cluster,
            node=self.node,
            marathon_enabled=self.marathon is not None,
        )

    def _prune_since(self) -> None:
        horizon = time.time() - 2 * self.settings.sync.anti_entropy_seconds
        for task_id, at in list(self.since.items()):
            if at < horizon or task_id not in self.world.tasks:
                self.since.pop(task_id, None)

    # -- reporting -------------------------------------------------------------------

    def _report(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            if problem in self.reported:
                continue
            self.reported.add(problem)
            logger.warning(
                "app %s: %s; its instances are left as they are until it is fixed",
                problem.app_id,
                problem.message,
            )

    def _warn(
        self, what: str, source: str, *, pending: bool = False
    ) -> Callable[[tenacity.RetryCallState], None]:
        def log(state: tenacity.RetryCallState) -> None:
            self.metrics.failed(source)
            delay = state.next_action.sleep if state.next_action else 0.0
            error = state.outcome.exception() if state.outcome else None
            if pending:
                sample = ", ".join(sorted(self.dirty)[:3]) or "-"
                logger.warning(
                    "%s failed (%s); %d task changes pending (e.g. %s); "
                    "retrying in %.1fs",
                    what,
                    error,
                    len(self.dirty),
                    sample,
                    delay,
                )
            else:
                logger.warning(
                    "%s unreachable (%s); its changes reach Consul once it is "
                    "back; retrying in %.1fs",
                    what,
                    error,
                    delay,
                )

        return log

    # -- metrics endpoint -------------------------------------------------------------

    async def _serve_metrics(self) -> web.AppRunner | None:
        if self.options.metrics_port is None:
            return None
        app = web.Application()
        app.router.add_get("/metrics", self._metrics_page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.options.metrics_port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.metrics_port = sockets[0].getsockname()[1] if sockets else None
        logger.info("serving metrics on 127.0.0.1:%s/metrics", self.metrics_port)
        return runner

    async def _metrics_page(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.render().encode(), headers={"Content-Type": CONTENT_TYPE}
        )


def _task_of(instruction: Instruction) -> TaskId:
    if isinstance(instruction, Register):
        return instruction.registration.task_id
    return instruction.task_id


async def plan_once(settings: Settings, options: LoopOptions) -> Plan:
    """What a full pass would do now, without writing anything (``sync plan``)."""
    loop = SyncLoop(settings, options)
    try:
        state = await loop.mesos.get_state()
        apps = await loop._marathon_apps()
        loop.world.load_mesos_state(state)
        if apps is not None:
            loop.world.load_marathon_apps(apps)
        loop.node = await asyncio.to_thread(loop.consul.node_name)
        entries = await asyncio.to_thread(loop._consul_entries)
        return plan_sync(loop._observed(), entries)
    finally:
        await loop.mesos.close()
        if loop.marathon is not None:
            await loop.marathon.close()
        loop.consul.close()
