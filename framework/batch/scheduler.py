"""The batch framework's effects: pymesos callbacks in, driver calls out.

``BatchService`` owns a ``BatchCore`` behind one lock. Three kinds of caller
reach it: the pymesos driver thread (offers, status updates, (re)registration),
the HTTP API (submit, kill, views) and a ticker thread (``max_runtime``,
re-sent kills, agent refresh). Each caller asks the core for instructions and
``execute`` carries them out through the driver, in order, still under the
lock, so the store and Mesos see decisions in the order they were made.

Failures: pymesos drops calls while disconnected and raises RuntimeError on a
non-2xx answer. A launch that may not have reached Mesos is reconciled on the
next tick (Mesos answers TASK_LOST for a task it never saw, which the retry
policy treats as an infrastructure failure), so nothing is lost and nothing
runs twice. The framework id is stored as soon as Mesos assigns it.
"""

from __future__ import annotations

import getpass
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from framework.batch import core, placement, taskinfo
from framework.batch.constraints import AgentInfo
from framework.batch.resources import Resources
from framework.batch.spec import JobSpec
from framework.batch.store import FINAL_JOB_STATES, JobStore
from framework.clients import mesos as mesos_client
from framework.clients.mesos_operator import OperatorClient
from framework.errors import DRIVER_CALL_ERRORS, BackendError
from framework.ids import AgentId, FrameworkId, JobId, TaskId
from framework.metrics import Histogram
from framework.settings import MesosSettings

logger = logging.getLogger(__name__)

FRAMEWORK_NAME = "mesos-adapter-batch"
#: How often the ticker runs and how often agents' totals are re-read.
TICK_SECONDS = 1.0
AGENT_REFRESH_SECONDS = 30.0


class BatchService:
    """Thread-safe facade over ``BatchCore`` plus the driver that acts for it."""

    def __init__(
        self,
        core_: core.BatchCore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.core = core_
        self.clock = clock
        self.lock = threading.RLock()
        self.driver: Any = None
        self.placement_latency = Histogram()
        self.connected = False
        self._unsent: list[TaskId] = []

    # -- commands from users -------------------------------------------------

    def submit(self, spec: JobSpec) -> dict[str, Any]:
        with self.lock:
            self.execute(self.core.submit(spec, self.clock()))
            return self.job_view(spec.job_id)

    def kill(self, job_id: JobId) -> dict[str, Any] | None:
        with self.lock:
            if job_id not in self.core.jobs:
                return None
            self.execute(self.core.kill(job_id, self.clock()))
            return self.job_view(job_id)

    # -- stimuli from Mesos and the clock --------------------------------------

    def offers(self, offers: Sequence[Mapping[str, Any]]) -> None:
        with self.lock:
            started = time.perf_counter()
            instructions = self.core.on_offers(offers, self.clock())
            self.placement_latency.observe(time.perf_counter() - started)
            self.execute(instructions)

    def status(self, update: Mapping[str, Any]) -> None:
        with self.lock:
            self.execute(self.core.on_status(update, self.clock()))
            self._acknowledge(update)

    def _acknowledge(self, update: Mapping[str, Any]) -> None:
        """Acknowledge ``update`` once it is stored; a failed ACK is only logged.

        pymesos's implicit acknowledgement raises in its IO thread when the ACK
        fails (a master failover racing the update), which aborts the driver
        and interrupts our process. Mesos resends an unacknowledged update, and
        storing it twice is harmless, so we acknowledge ourselves and carry on.
        """
        if self.driver is None or "uuid" not in update:
            return
        try:
            self.driver.acknowledgeStatusUpdate(dict(update))
        except DRIVER_CALL_ERRORS as exc:
            task = update.get("task_id", {}).get("value")
            logger.warning(
                "could not acknowledge the %s update of task %s (%s); "
                "Mesos will send it again",
                update.get("state"),
                task,
                exc,
            )

    def registered(self, framework_id: FrameworkId) -> None:
        with self.lock:
            self.connected = True
            if self.core.store.framework_id() != framework_id:
                self.core.store.set_framework_id(framework_id)
            self.execute(self.core.reconcile())

    def tick(self) -> None:
        with self.lock:
            instructions = self.core.on_tick(self.clock())
            if self._unsent:
                tasks = tuple((task, None) for task in self._unsent)
                instructions.append(core.ReconcileTasks(tasks))
                self._unsent = []
            self.execute(instructions)

    def set_agents(self, agents: Mapping[AgentId, tuple[AgentInfo, Resources]]) -> None:
        with self.lock:
            self.core.set_agents(agents)

    # -- carrying out instructions ---------------------------------------------

    def execute(self, instructions: Sequence[core.Instruction]) -> None:
        """Send each instruction to Mesos; a failed one is logged, not fatal."""
        for instruction in instructions:
            if self.driver is None:
                self._note_unsent(instruction)
                continue
            try:
                self._send(instruction)
            except DRIVER_CALL_ERRORS as exc:
                logger.warning(
                    "Mesos refused or missed %s (%s); will reconcile on the next tick",
                    type(instruction).__name__,
                    exc,
                )
                self._note_unsent(instruction)

    def _note_unsent(self, instruction: core.Instruction) -> None:
        if isinstance(instruction, core.LaunchTasks):
            self._unsent += [
                TaskId(info["task_id"]["value"]) for info in instruction.task_infos
            ]

    def _send(self, instruction: core.Instruction) -> None:
        driver = self.driver
        if isinstance(instruction, core.LaunchTasks):
            offer_ids = [{"value": o} for o in instruction.offer_ids]
            driver.launchTasks(offer_ids, list(instruction.task_infos))
        elif isinstance(instruction, core.DeclineOffers):
            offer_ids = [{"value": o} for o in instruction.offer_ids]
            filters = {"refuse_seconds": instruction.refuse_seconds}
            driver.declineOffer(offer_ids, filters)
        elif isinstance(instruction, core.KillTask):
            logger.info("killing task %s", instruction.task_id)
            driver.killTask({"value": instruction.task_id})
        elif isinstance(instruction, core.ReviveOffers):
            logger.info("work is waiting; reviving offers")
            driver.reviveOffers()
        elif isinstance(instruction, core.SuppressOffers):
            logger.info("nothing is waiting; suppressing offers")
            driver.suppressOffers()
        elif isinstance(instruction, core.ReconcileTasks):
            driver.reconcileTasks(
                [_reconcile_entry(t, a) for t, a in instruction.tasks]
            )

    # -- views -----------------------------------------------------------------

    def job_ids(self) -> list[JobId]:
        with self.lock:
            return list(self.core.jobs)

    def job_view(self, job_id: JobId) -> dict[str, Any]:
        """A JSON-ready view of one job with its attempts (KeyError if unknown)."""
        with self.lock:
            job = self.core.jobs[job_id]
            attempts = [
                {
                    "task_id": t.task_id,
                    "instance": t.instance,
                    "attempt": t.attempt,
                    "state": t.state,
                    "reason": t.reason,
                    "message": t.message,
                    "agent_id": t.agent_id,
                    "hostname": t.hostname,
                    "ports": t.ports,
                    "launched_at": t.launched_at,
                    "ended_at": t.ended_at,
                    "killed_by": t.killed_by,
                }
                for t in self.core.store.tasks_for(job_id)
            ]
            return {
                "id": job.id,
                "team": job.spec.team,
                "kind": job.spec.kind,
                "state": job.state,
                "instances": len(job.instances),
                "instance_states": [inst.state for inst in job.instances],
                "submitted_at": job.submitted_at,
                "finished_at": job.finished_at,
                "pending_reason": job.pending_reason,
                "failure_reasons": sorted(
                    {i.final_reason for i in job.instances if i.final_reason}
                ),
                "attempts": attempts,
            }

    def why(self, job_id: JobId) -> dict[str, Any]:
        """Why the job waits (or what ended it); KeyError if unknown."""
        with self.lock:
            job = self.core.jobs[job_id]
            waiting = [inst.number for inst in job.instances if inst.waiting]
            reasons = [job.pending_reason] if job.pending_reason else []
            if job.state in FINAL_JOB_STATES:
                reasons = [f"job is {job.state}; nothing is waiting"]
            elif waiting and not reasons:
                reasons = ["waiting for the next offers"]
            backing_off = [
                {"instance": inst.number, "until": inst.not_before}
                for inst in job.instances
                if inst.waiting and inst.not_before > self.clock()
            ]
            return {
                "id": job.id,
                "state": job.state,
                "waiting_instances": waiting,
                "reasons": reasons,
                "backing_off": backing_off,
            }

    def snapshot(self) -> dict[str, Any]:
        """Numbers for /metrics and the demo's utilization figures."""
        with self.lock:
            c = self.core.counters
            queue_depth: dict[str, int] = {}
            states: dict[str, int] = {}
            for job in self.core.jobs.values():
                states[job.state] = states.get(job.state, 0) + 1
                waiting = sum(1 for inst in job.instances if inst.waiting)
                if waiting and not job.kill_requested:
                    team = job.spec.team
                    queue_depth[team] = queue_depth.get(team, 0) + waiting
            used = Resources()
            for usage in self.core.usage_by_team().values():
                used = used + usage
            return {
                "offers_received": c.offers_received,
                "offers_declined": c.offers_declined,
                "tasks_launched": c.tasks_launched,
                "status_updates": c.status_updates,
                "queue_depth": queue_depth,
                "jobs_by_state": states,
                "allocated": used,
                "cluster": self.core.cluster_totals(),
                "placement_latency": self.placement_latency,
                "connected": self.connected,
            }


class BatchScheduler(mesos_client.Scheduler):  # type: ignore[misc]
    """pymesos callbacks, each forwarded to the service."""

    def __init__(self, service: BatchService) -> None:
        self.service = service

    def registered(self, driver: Any, framework_id: Any, master_info: Any) -> None:
        logger.info("registered with Mesos as framework %s", framework_id["value"])
        self.service.registered(FrameworkId(framework_id["value"]))

    def reregistered(self, driver: Any, master_info: Any) -> None:
        framework_id = self.service.core.store.framework_id()
        logger.info("re-registered with Mesos as framework %s", framework_id)
        if framework_id is not None:
            self.service.registered(framework_id)

    def disconnected(self, driver: Any) -> None:
        self.service.connected = False
        logger.warning(
            "disconnected from the Mesos master; jobs stay queued, "
            "pymesos reconnects with backoff"
        )

    def resourceOffers(self, driver: Any, offers: list[dict[str, Any]]) -> None:
        self.service.offers(offers)

    def offerRescinded(self, driver: Any, offer_id: Any) -> None:
        logger.info("offer %s rescinded", offer_id.get("value"))

    def statusUpdate(self, driver: Any, update: dict[str, Any]) -> None:
        self.service.status(update)

    def slaveLost(self, driver: Any, agent_id: Any) -> None:
        logger.warning(
            "agent %s lost; its tasks come back as TASK_LOST and are retried",
            agent_id.get("value"),
        )

    def error(self, driver: Any, message: str) -> None:
        logger.error("Mesos reported an error: %s", message)


def framework_info(
    settings: MesosSettings, framework_id: FrameworkId | None
) -> dict[str, Any]:
    """Our FrameworkInfo: checkpointed, failover timeout from settings."""
    info: dict[str, Any] = {
        "user": _user(),
        "name": FRAMEWORK_NAME,
        "failover_timeout": settings.failover_timeout,
        "checkpoint": True,
        "role": settings.role,
        "hostname": "127.0.0.1",
    }
    if settings.principal:
        info["principal"] = settings.principal
    if framework_id:
        info["id"] = {"value": framework_id}
    return info


def agents_from_operator(
    agents: Sequence[Mapping[str, Any]],
) -> dict[AgentId, tuple[AgentInfo, Resources]]:
    """GET_AGENTS entries → {agent id: (AgentInfo, total resources)}."""
    out: dict[AgentId, tuple[AgentInfo, Resources]] = {}
    for agent in agents:
        info = agent.get("agent_info", {})
        agent_id = AgentId(info.get("id", {}).get("value", ""))
        raw = {
            "id": {"value": "total"},
            "agent_id": {"value": agent_id},
            "hostname": info.get("hostname", ""),
            "resources": agent.get("total_resources", info.get("resources", [])),
            "attributes": info.get("attributes", []),
        }
        offer = taskinfo.to_offer(raw)
        out[agent_id] = (offer.agent, offer.free())
    return out


class Ticker:
    """Runs ``service.tick`` every second and refreshes agents now and then."""

    def __init__(
        self,
        service: BatchService,
        master: Callable[[], str | None],
        *,
        interval: float = TICK_SECONDS,
    ) -> None:
        self.service = service
        self.master = master
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="batch-ticker", daemon=True
        )
        self._last_refresh = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def refresh_agents(self) -> None:
        address = self.master()
        if not address:
            return
        client = OperatorClient(address, attempts=1)
        try:
            self.service.set_agents(agents_from_operator(client.agents()))
        except BackendError as exc:
            logger.warning("cannot list agents (%s); retrying in %.0fs", exc, 5.0)
            self._last_refresh -= AGENT_REFRESH_SECONDS - 5.0
        finally:
            client.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            # Agents' totals let submit reject jobs that can never fit.
            if time.monotonic() - self._last_refresh >= AGENT_REFRESH_SECONDS:
                self._last_refresh = time.monotonic()
                self.refresh_agents()

            # Timers of the core: max_runtime, re-sent kills, revive.
            try:
                self.service.tick()
            except Exception:  # the ticker must outlive one bad tick
                logger.exception("tick failed; ticking again in %.1fs", self.interval)


def _reconcile_entry(task_id: TaskId, agent_id: AgentId | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"task_id": {"value": task_id}}
    if agent_id:
        entry["agent_id"] = {"value": agent_id}
    return entry


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"


def open_service(
    store_path: str,
    *,
    policy: str = "binpack",
    refuse_seconds: float = 5.0,
    role: str = "*",
    teams: Mapping[Any, core.TeamPolicy] | None = None,
) -> BatchService:
    """A service over the store at ``store_path``, recovered from what it holds."""
    chosen = placement.Spread() if policy == "spread" else placement.BinPack()
    planner = placement.PlannerConfig(refuse_seconds_pending=refuse_seconds)
    batch = core.BatchCore(
        JobStore(store_path), policy=chosen, planner=planner, teams=teams, role=role
    )
    batch.recover(JobSpec.model_validate)
    return BatchService(batch)
