"""The local Marathon's state and its reactions to Mesos and the clock.

``MarathonCore`` holds apps, tasks and deployments and turns each stimulus
(offers, status updates, ticks, health-check results, registration) into
driver instructions, appending the events it causes to ``self.events``. It
never does I/O itself: ``service.MarathonService`` calls it under one lock,
executes the instructions, publishes the events and saves the state.
User commands (create, update, kill...) live in ``commands``.

Invariants: a task is in ``tasks`` from the moment we decide to launch it
until Mesos reports it terminal; a task we kill is flagged ``killing`` and
never counted as a live instance again; an unexpected end of a task (not
killed by us) records ``lastTaskFailure`` and grows the app's launch delay.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from framework.ids import AgentId, AppId, DeploymentId, OfferId, TaskId
from framework.local.marathon import health, offers, planner
from framework.local.marathon.events import deployment_event, event
from framework.local.marathon.model import (
    TERMINAL_STATES,
    AppRecord,
    DeploymentRecord,
    HealthState,
    JsonDict,
    MarathonTiming,
    TaskRecord,
    format_ts,
    task_id_prefix,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Launch:
    offer_id: OfferId
    task_infos: tuple[JsonDict, ...]


@dataclass(frozen=True)
class Decline:
    offer_ids: tuple[OfferId, ...]
    refuse_seconds: float


@dataclass(frozen=True)
class Kill:
    task_id: TaskId
    agent_id: AgentId


@dataclass(frozen=True)
class Revive:
    pass


@dataclass(frozen=True)
class Reconcile:
    tasks: tuple[tuple[TaskId, AgentId], ...]  # empty: implicit (all tasks)


Instruction = Launch | Decline | Kill | Revive | Reconcile


@dataclass(frozen=True)
class HealthJob:
    """One probe to run: which check of which task, and where."""

    task_id: TaskId
    index: int
    check: JsonDict
    host: str
    ports: tuple[int, ...]
    env: Mapping[str, str]
    timeout: float


CONDITIONS = {
    "TASK_STAGING": "Staging",
    "TASK_STARTING": "Starting",
    "TASK_RUNNING": "Running",
    "TASK_FINISHED": "Finished",
    "TASK_FAILED": "Failed",
    "TASK_KILLING": "Killing",
    "TASK_KILLED": "Killed",
    "TASK_ERROR": "Error",
    "TASK_LOST": "Gone",
    "TASK_DROPPED": "Dropped",
    "TASK_GONE": "Gone",
    "TASK_UNKNOWN": "Unknown",
}


class MarathonCore:
    """See the module docstring."""

    def __init__(
        self, timing: MarathonTiming, clock: Callable[[], float] = time.time
    ) -> None:
        self.timing = timing
        self.clock = clock
        self.apps: dict[AppId, AppRecord] = {}
        self.tasks: dict[TaskId, TaskRecord] = {}
        self.deployments: dict[DeploymentId, DeploymentRecord] = {}
        self.framework_id: str | None = None
        self.events: list[JsonDict] = []
        self.wanted: dict[AppId, int] = {}
        self.wanted_since: dict[AppId, float] = {}
        self.health_due: dict[tuple[TaskId, int], float] = {}
        self.health_running: set[tuple[TaskId, int]] = set()
        self.last_revive = 0.0
        self.last_version = 0.0
        self.dirty = False

    # -- helpers -----------------------------------------------------------------

    def new_version(self) -> str:
        """A fresh version, strictly later than every earlier one (1 ms steps)."""
        now = max(self.clock(), self.last_version + 0.001)
        self.last_version = now
        return format_ts(now)

    def emit(self, kind: str, **fields: Any) -> None:
        self.events.append(event(kind, self.clock(), **fields))

    def app_tasks(self, app_id: AppId) -> list[TaskRecord]:
        return sorted(
            (t for t in self.tasks.values() if t.app_id == app_id),
            key=lambda t: t.staged_at,
        )

    def spec_of(self, task: TaskRecord) -> JsonDict | None:
        app = self.apps.get(task.app_id)
        return None if app is None else app.versions.get(task.version, app.spec)

    def ready(self, task: TaskRecord) -> bool:
        """Running, and every health check alive (running suffices without any)."""
        return task.running and all(h.checked and h.alive for h in task.health)

    def views(self, app: AppRecord) -> list[planner.InstanceView]:
        return [
            planner.InstanceView(
                t.task_id,
                t.config_version == app.config_version,
                self.ready(t),
                t.staged_at,
                t.killing,
            )
            for t in self.app_tasks(app.app_id)
        ]

    def deployments_of(self, app_id: AppId) -> list[DeploymentRecord]:
        return [d for d in self.deployments.values() if app_id in d.app_ids]

    def kill(self, task: TaskRecord, why: str) -> Kill:
        """Flag ``task`` as being killed (it no longer counts) and say so."""
        logger.info(
            "killing task %s of app %s (%s); a replacement follows if needed",
            task.task_id,
            task.app_id,
            why,
        )
        task.killing = True
        task.kill_sent = self.clock()
        self.dirty = True
        return Kill(task.task_id, task.agent_id)

    # -- the clock ---------------------------------------------------------------

    def tick(self) -> list[Instruction]:
        """Plan every app, re-send lost kills, revive offers, end deployments."""
        now = self.clock()
        out: list[Instruction] = []

        # Each app moves towards its target (launches wait for offers).
        for app in list(self.apps.values()):
            plan = planner.plan_app(
                planner.Strategy.of(app.spec), self.views(app), may_launch=True
            )
            out += [self.kill(self.tasks[t], "deployment step") for t in plan.kill]
            self._want(app.app_id, plan.launch, now)

        # Tasks of deleted apps go; kills Mesos may have missed are re-sent.
        # TODO(launch timeout): a launch Mesos never saw stays TASK_STAGING
        # until the next re-registration reconciles it to TASK_LOST.
        for task in list(self.tasks.values()):
            if task.app_id not in self.apps and not task.killing:
                out.append(self.kill(task, "its app was deleted"))
            elif task.killing and now - task.kill_sent > self.timing.revive_interval:
                task.kill_sent = now
                out.append(Kill(task.task_id, task.agent_id))

        # Waiting launches need offers (delayed apps wait): revive now and then.
        waiting = [a for a, n in self.wanted.items() if n and self._launchable(a, now)]
        if waiting and now - self.last_revive >= self.timing.revive_interval:
            self.last_revive = now
            out.append(Revive())
        self._finish_deployments(now)
        return out

    def _launchable(self, app_id: AppId, now: float) -> bool:
        app = self.apps.get(app_id)
        return app is not None and now >= app.not_before

    def _want(self, app_id: AppId, count: int, now: float) -> None:
        if count and not self.wanted.get(app_id):
            self.wanted_since[app_id] = now
        self.wanted[app_id] = count

    def _finish_deployments(self, now: float) -> None:
        for deployment in list(self.deployments.values()):
            if now - deployment.started < self.timing.min_deployment_seconds:
                continue
            if all(self._app_done(app_id, deployment) for app_id in deployment.app_ids):
                del self.deployments[deployment.deployment_id]
                self.dirty = True
                logger.info(
                    "deployment %s of %s finished",
                    deployment.deployment_id,
                    ", ".join(deployment.app_ids),
                )
                self.events.append(
                    deployment_event("deployment_step_success", deployment, now)
                )
                self.events.append(
                    deployment_event("deployment_success", deployment, now)
                )
                for app_id in deployment.app_ids:
                    if deployment.target.get(app_id) is None:
                        self.emit("app_terminated_event", appId=app_id)

    def _app_done(self, app_id: AppId, deployment: DeploymentRecord) -> bool:
        if deployment.target.get(app_id) is None:
            return not self.app_tasks(app_id)
        app = self.apps.get(app_id)
        if app is None:
            return True
        return planner.converged(planner.Strategy.of(app.spec), self.views(app))

    # -- offers ------------------------------------------------------------------

    def on_offers(self, raw_offers: Sequence[Mapping[str, Any]]) -> list[Instruction]:
        """Launch wanted instances on the offers; decline what is left."""
        now = self.clock()
        parsed = [offers.parse_offer(o) for o in raw_offers]

        # Local agents may share one host and port range: skip ports in use.
        busy: dict[str, set[int]] = {}
        for task in self.tasks.values():
            busy.setdefault(task.host, set()).update(task.ports)
        for offer in parsed:
            taken = busy.get(offer.hostname, set())
            offer.ports = [p for p in offer.ports if p not in taken]

        # Every app with missing instances and no launch delay wants offers.
        wants = []
        for app_id, wanted in self.wanted.items():
            app = self.apps.get(app_id)
            if app is None or wanted <= 0 or now < app.not_before:
                continue
            # A scale or update since the last tick may have lowered the target.
            strategy = planner.Strategy.of(app.spec)
            fresh = planner.plan_app(strategy, self.views(app), may_launch=True)
            count = min(wanted, fresh.launch)
            if count <= 0:
                continue
            placed = tuple(t.fields for t in self.app_tasks(app_id) if not t.killing)
            wants.append(offers.Want(app.spec, count, placed))
        by_offer: dict[OfferId, list[JsonDict]] = {}
        for placement in offers.match(parsed, wants):
            info = self._launch(placement, parsed, now)
            by_offer.setdefault(placement.offer_id, []).append(info)
            self.wanted[placement.app_id] -= 1
        out: list[Instruction] = [Launch(o, tuple(i)) for o, i in by_offer.items()]
        unused = tuple(o.offer_id for o in parsed if o.offer_id not in by_offer)
        if unused:
            out.append(Decline(unused, self.timing.refuse_seconds))
        return out

    def _launch(
        self, placement: offers.Placement, parsed: Sequence[offers.Offer], now: float
    ) -> JsonDict:
        app = self.apps[placement.app_id]
        spec = app.spec
        task_id = TaskId(f"{task_id_prefix(app.app_id)}.{uuid.uuid4()}")
        service_ports = [int(p["port"]) for p in spec["portDefinitions"]]
        env = offers.task_environment(
            spec, task_id, placement.hostname, placement.ports, service_ports
        )
        offer = next(o for o in parsed if o.offer_id == placement.offer_id)
        self.tasks[task_id] = TaskRecord(
            task_id=task_id,
            app_id=app.app_id,
            version=app.version,
            config_version=app.config_version,
            agent_id=placement.agent_id,
            host=placement.hostname,
            ports=list(placement.ports),
            service_ports=service_ports,
            env=env,
            staged_at=now,
            fields=offers.offer_fields(offer),
            health=[HealthState() for _ in spec["healthChecks"]],
        )
        self.dirty = True
        logger.info(
            "launching task %s of app %s on %s ports %s",
            task_id,
            app.app_id,
            placement.hostname,
            list(placement.ports),
        )
        return offers.task_info(spec, task_id, placement, env)

    # -- status updates ------------------------------------------------------------

    def on_status(self, update: Mapping[str, Any]) -> list[Instruction]:
        """Track a task's state; end it, record failures, back off launches."""
        now = self.clock()
        task_id = TaskId(update["task_id"]["value"])
        state = str(update.get("state", ""))
        task = self.tasks.get(task_id)
        if task is None:
            if state in TERMINAL_STATES:
                return []
            agent = AgentId(update.get("agent_id", {}).get("value", ""))
            logger.warning("task %s is unknown to Marathon; killing it", task_id)
            return [Kill(task_id, agent)]
        previous = task.state
        task.state = state
        if state == "TASK_RUNNING" and task.started_at is None:
            task.started_at = now
        self.dirty = True
        if previous != state:
            self._emit_status(task, update)
        if state in TERMINAL_STATES:
            self._ended(task, update, now)
        return []

    def _emit_status(self, task: TaskRecord, update: Mapping[str, Any]) -> None:
        self.emit(
            "status_update_event",
            slaveId=task.agent_id,
            taskId=task.task_id,
            taskStatus=task.state,
            message=str(update.get("message", "")),
            appId=task.app_id,
            host=task.host,
            ports=list(task.ports),
            version=task.version,
            ipAddresses=[{"ipAddress": task.host, "protocol": "IPv4"}],
        )
        self.emit(
            "instance_changed_event",
            instanceId=task.task_id,
            slaveId=task.agent_id,
            condition=CONDITIONS.get(task.state, "Unknown"),
            host=task.host,
            runSpecId=task.app_id,
            runSpecVersion=task.version,
        )

    def _ended(self, task: TaskRecord, update: Mapping[str, Any], now: float) -> None:
        del self.tasks[task.task_id]
        for index in range(len(task.health)):
            self.health_due.pop((task.task_id, index), None)
        app = self.apps.get(task.app_id)
        if task.killing or app is None:
            logger.info(
                "task %s of app %s ended (%s)", task.task_id, task.app_id, task.state
            )
            return
        app.last_task_failure = {
            "appId": task.app_id,
            "host": task.host,
            "message": str(update.get("message", "")),
            "state": task.state,
            "taskId": task.task_id,
            "instanceId": task.task_id,
            "slaveId": task.agent_id,
            "timestamp": format_ts(now),
            "version": task.version,
        }
        delay = planner.next_delay(app.spec, app.delay_seconds)
        app.delay_seconds = delay
        app.not_before = now + delay * self.timing.time_scale
        logger.warning(
            "task %s of app %s ended unexpectedly (%s: %s); next launch in %.2fs",
            task.task_id,
            task.app_id,
            task.state,
            update.get("message", ""),
            delay * self.timing.time_scale,
        )

    # -- health checks -------------------------------------------------------------

    def due_health_checks(self) -> list[HealthJob]:
        """Probes due now; each is marked running until its result comes back."""
        now, scale = self.clock(), self.timing.time_scale
        jobs = []
        for task in self.tasks.values():
            spec = self.spec_of(task)
            if spec is None or not task.running or task.killing:
                continue
            for index, check in enumerate(spec["healthChecks"]):
                key = (task.task_id, index)
                if key in self.health_running or now < self.health_due.get(key, 0.0):
                    continue
                self.health_running.add(key)
                self.health_due[key] = now + float(check["intervalSeconds"]) * scale
                timeout = float(check["timeoutSeconds"]) * scale
                jobs.append(
                    HealthJob(
                        task.task_id,
                        index,
                        check,
                        task.host,
                        tuple(task.ports),
                        task.env,
                        timeout,
                    )
                )
        return jobs

    def on_health(
        self, job: HealthJob, ok: bool, cause: str | None
    ) -> list[Instruction]:
        """Fold one probe result in; kill the task at maxConsecutiveFailures."""
        self.health_running.discard((job.task_id, job.index))
        task = self.tasks.get(job.task_id)
        if task is None or task.killing or job.index >= len(task.health):
            return []
        verdict = health.judge(
            task.health[job.index],
            ok,
            cause,
            now=self.clock(),
            started_at=task.started_at or task.staged_at,
            check=job.check,
            scale=self.timing.time_scale,
        )
        task.health[job.index] = verdict.state
        self.dirty = True
        ids = {"appId": task.app_id, "taskId": task.task_id, "instanceId": task.task_id}
        if verdict.failed:
            self.emit("failed_health_check_event", healthCheck=job.check, **ids)
        if verdict.changed:
            alive = verdict.state.alive
            self.emit(
                "health_status_changed_event",
                alive=alive,
                version=task.version,
                healthCheck=job.check,
                **ids,
            )
        if not verdict.kill:
            return []
        reason = f"{job.check['protocol']} health check failed: {cause}"
        self.emit(
            "unhealthy_task_kill_event",
            version=task.version,
            reason=reason,
            host=task.host,
            slaveId=task.agent_id,
            **ids,
        )
        return [self.kill(task, reason)]

    # -- registration ---------------------------------------------------------------

    def on_registered(self, framework_id: str) -> list[Instruction]:
        """Remember the id; ask Mesos for the state of every task (ours or not)."""
        if framework_id != self.framework_id:
            self.framework_id = framework_id
            self.dirty = True
        known = tuple((t.task_id, t.agent_id) for t in self.tasks.values())
        return [Reconcile(known), Reconcile(())]
