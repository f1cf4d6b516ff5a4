"""The batch framework's state machine: events in, Mesos instructions out.

``BatchCore`` holds every job the scheduler knows and reacts to four kinds of
stimulus (a submitted or killed job, a batch of offers, a status update, a
clock tick) by returning a list of instructions (``LaunchTasks``,
``DeclineOffers``, ``KillTask``, ``ReviveOffers``, ``SuppressOffers``,
``ReconcileTasks``). It never talks to Mesos: ``scheduler.BatchScheduler``
carries the instructions out through pymesos. The decisions themselves live in
pure modules: ``queue`` (who goes first), ``placement`` (what goes where),
``retry`` (try again or give up).

Write-ahead rule: the core writes to the ``JobStore`` *before* it returns an
instruction that depends on it. A task attempt is stored before the
``LaunchTasks`` that starts it; a status update is stored before the update
is acknowledged (pymesos acknowledges when ``statusUpdate`` returns). So after
a crash, ``recover`` rebuilds the same state, and every task Mesos may be
running is known by id and reconciled, never launched again under a new id.

Invariants (``check_invariants`` asserts them in tests):

* an instance has at most one live attempt (``task_id`` set) at a time;
* every live attempt is indexed in ``_by_task`` and nothing else is;
* a final instance (SUCCEEDED, FAILED or KILLED) has no live attempt;
* a job is final exactly when all its instances are.

Not thread-safe: the caller serialises calls (the scheduler holds a lock).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from framework.batch import placement, queue, retry, taskinfo
from framework.batch.constraints import AgentInfo
from framework.batch.resources import SCALARS, Resources
from framework.batch.spec import JobSpec
from framework.batch.store import (
    FINAL_JOB_STATES,
    TERMINAL_STATES,
    DuplicateJobError,
    JobRecord,
    JobStore,
    TaskRecord,
)
from framework.batch.taskinfo import to_offer
from framework.errors import SpecError
from framework.ids import AgentId, JobId, OfferId, TaskId, TeamName

logger = logging.getLogger(__name__)

#: Seconds between two kill requests for a task that has not died yet.
KILL_RESEND_SECONDS = 10.0

# --- instructions ------------------------------------------------------------


@dataclass(frozen=True)
class LaunchTasks:
    offer_ids: tuple[OfferId, ...]
    task_infos: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class DeclineOffers:
    offer_ids: tuple[OfferId, ...]
    refuse_seconds: float


@dataclass(frozen=True)
class KillTask:
    task_id: TaskId
    agent_id: AgentId | None


@dataclass(frozen=True)
class ReviveOffers:
    pass


@dataclass(frozen=True)
class SuppressOffers:
    pass


@dataclass(frozen=True)
class ReconcileTasks:
    """Explicit reconciliation of ``tasks``; an empty tuple means implicit."""

    tasks: tuple[tuple[TaskId, AgentId | None], ...]


Instruction = (
    LaunchTasks | DeclineOffers | KillTask | ReviveOffers | SuppressOffers
) | ReconcileTasks


# --- state -------------------------------------------------------------------


@dataclass(frozen=True)
class TeamPolicy:
    """A team's DRF weight and quota (``None`` = unlimited)."""

    weight: float = 1.0
    quota: placement.Quota = field(default_factory=placement.Quota)
    max_running_tasks: int | None = None


@dataclass(slots=True)
class Instance:
    """One instance of an array job and its attempts."""

    number: int
    attempt: int = 1  # the number of the current (or next) attempt
    history: list[retry.Attempt] = field(default_factory=list)
    task_id: TaskId | None = None  # the live attempt, if any
    agent_id: AgentId | None = None
    hostname: str | None = None
    state: str = "PENDING"  # PENDING, a Mesos task state, or a final job state
    started_at: float | None = None
    kill_cause: retry.KillCause | None = None
    kill_sent_at: float | None = None
    not_before: float = 0.0
    revive_pending: bool = False  # revive offers when the backoff ends
    final_reason: str | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_JOB_STATES

    @property
    def waiting(self) -> bool:
        return self.task_id is None and not self.final


@dataclass(slots=True)
class Job:
    spec: JobSpec
    submitted_at: float
    state: str
    instances: list[Instance]
    kill_requested: bool = False
    pending_reason: str | None = None
    finished_at: float | None = None

    @property
    def id(self) -> JobId:
        return self.spec.job_id


@dataclass(slots=True)
class Counters:
    """Totals for /metrics; monotonic except ``placement_seconds_last``."""

    offers_received: int = 0
    offers_declined: int = 0
    tasks_launched: int = 0
    placement_cycles: int = 0
    placement_seconds_total: float = 0.0
    status_updates: int = 0


class BatchCore:
    """Jobs in memory, mirrored in the store; see the module docstring."""

    def __init__(
        self,
        store: JobStore,
        *,
        policy: placement.PlacementPolicy | None = None,
        planner: placement.PlannerConfig | None = None,
        teams: Mapping[TeamName, TeamPolicy] | None = None,
        role: str = "*",
    ) -> None:
        self.store = store
        self.policy = policy or placement.BinPack()
        self.planner = planner or placement.PlannerConfig()
        self.teams = dict(teams or {})
        self.role = role
        self.jobs: dict[JobId, Job] = {}
        self.agents: dict[AgentId, AgentInfo] = {}
        self.agent_totals: dict[AgentId, Resources] = {}
        self.suppressed = False
        self.counters = Counters()
        self._by_task: dict[TaskId, tuple[Job, Instance]] = {}
        self._reported_agents: set[AgentId] = set()

    # -- submit and kill -------------------------------------------------------

    def submit(self, spec: JobSpec, now: float) -> list[Instruction]:
        """Store a new job and ask for offers; raises SpecError or DuplicateJobError."""
        if self.agent_totals:
            by_host = {self._host(a): t for a, t in self.agent_totals.items()}
            problem = queue.fits_anywhere(spec, by_host)
            if problem is not None:
                path, _, message = problem.partition(": ")
                raise SpecError(path if message else "resources", message or problem)
        if spec.job_id in self.jobs:
            raise DuplicateJobError(spec.id)
        self.store.add_job(
            JobRecord(
                id=spec.job_id,
                team=spec.team_name,
                spec=spec.model_dump(mode="json", exclude_defaults=True),
                state="PENDING",
                submitted_at=now,
            )
        )
        instances = [Instance(number=i) for i in range(spec.instances)]
        self.jobs[spec.job_id] = Job(spec, now, "PENDING", instances)
        logger.info(
            "job %s (team %s) queued: %d task(s) of %s",
            spec.id,
            spec.team,
            spec.instances,
            spec.task_resources().describe(),
        )
        return self._want_offers()

    def kill(self, job_id: JobId, now: float) -> list[Instruction]:
        """Kill every instance of ``job_id``; KeyError if unknown."""
        job = self.jobs[job_id]
        if job.state in FINAL_JOB_STATES:
            return []
        job.kill_requested = True
        self.store.request_kill(job_id)
        out: list[Instruction] = []
        for inst in job.instances:
            if inst.waiting:
                self._finish_instance(job, inst, "KILLED", "killed by the user")
            elif inst.task_id is not None and not inst.final:
                out.append(self._kill(inst, "user", now))
        self._update_job_state(job, now)
        logger.info("job %s: kill requested, %d task(s) to stop", job_id, len(out))
        return out

    # -- offers ----------------------------------------------------------------

    def on_offers(
        self, raw_offers: Sequence[Mapping[str, Any]], now: float
    ) -> list[Instruction]:
        """Place pending tasks on ``raw_offers`` (pymesos Offer dicts)."""
        self.counters.offers_received += len(raw_offers)
        offers = [to_offer(raw) for raw in raw_offers]
        self._learn_agents(offers)

        # Nothing waits: decline everything for the idle period, no planning.
        if not self.has_waiting():
            return self._decline_all(offers)
        raw_by_id = {OfferId(raw["id"]["value"]): raw for raw in raw_offers}

        # Order the waiting tasks fairly, then let the planner pack them.
        requests, over_quota = self._queue(now)
        plan = placement.plan_placements(
            offers,
            requests,
            now=now,
            quotas={team: p.quota for team, p in self.teams.items()},
            usage=self.usage_by_team(),
            running=self._running_agents(),
            policy=self.policy,
            config=self.planner,
        )
        self.counters.placement_cycles += 1

        # Store every attempt before Mesos hears of it (write-ahead).
        launches = plan.all_launches()
        hosts = {offer.offer_id: offer.hostname for offer in offers}
        records = [self._record(launch, hosts, now) for launch in launches]
        if records:
            self.store.add_tasks(records)
        for launch, record in zip(launches, records, strict=True):
            self._launched(launch, record)

        # Tell Mesos, remember why the rest waits, and stop offers if idle.
        out: list[Instruction] = [
            LaunchTasks(
                (offer_id,),
                tuple(self.task_info(la, raw_by_id[offer_id]) for la in group),
            )
            for offer_id, group in plan.launches.items()
        ]
        if plan.decline is not None:
            self.counters.offers_declined += len(plan.decline.offer_ids)
            refuse = self._refuse_seconds(plan, now)
            out.append(DeclineOffers(plan.decline.offer_ids, refuse))
        self._set_reasons(plan.pending, over_quota)
        return out + self._maybe_suppress()

    def _decline_all(self, offers: Sequence[placement.Offer]) -> list[Instruction]:
        ids = tuple(offer.offer_id for offer in offers)
        self.counters.offers_declined += len(ids)
        refuse = self.planner.refuse_seconds_idle
        return [DeclineOffers(ids, refuse), *self._maybe_suppress()]

    def _refuse_seconds(self, plan: placement.PlacementPlan, now: float) -> float:
        # When the only waiting tasks are backing off, offers are needed again
        # when the first backoff ends, not after the idle refusal period.
        assert plan.decline is not None
        reasons = list(plan.pending.values())
        if reasons and all(isinstance(r, placement.BackingOff) for r in reasons):
            first = min(r.until for r in reasons if isinstance(r, placement.BackingOff))
            return max(0.1, min(plan.decline.refuse_seconds, first - now))
        return plan.decline.refuse_seconds

    def _queue(
        self, now: float
    ) -> tuple[list[placement.TaskRequest], dict[JobId, str]]:
        """Waiting tasks in DRF order, with teams at their task quota held back."""
        requests = [
            self._request(job, inst)
            for job in self.jobs.values()
            if not job.kill_requested
            for inst in job.instances
            if inst.waiting
        ]
        ordered = queue.order_pending(
            requests,
            self.usage_by_team(),
            self.cluster_totals(),
            {team: p.weight for team, p in self.teams.items()},
        )
        return self._apply_task_quotas(ordered)

    def _apply_task_quotas(
        self, ordered: list[placement.TaskRequest]
    ) -> tuple[list[placement.TaskRequest], dict[JobId, str]]:
        running = Counter(job.spec.team_name for job, _ in self._by_task.values())
        room = {
            team: p.max_running_tasks - running[team]
            for team, p in self.teams.items()
            if p.max_running_tasks is not None
        }
        kept: list[placement.TaskRequest] = []
        held: dict[JobId, str] = {}
        for request in ordered:
            if request.team in room and room[request.team] <= 0:
                limit = self.teams[request.team].max_running_tasks
                held[request.job_id] = (
                    f"team {request.team} quota reached: {running[request.team]} "
                    f"running tasks, quota {limit}"
                )
                continue
            if request.team in room:
                room[request.team] -= 1
            kept.append(request)
        return kept, held

    def _request(self, job: Job, inst: Instance) -> placement.TaskRequest:
        return placement.TaskRequest(
            task_id=job.spec.task_id(inst.number, inst.attempt),
            job_id=job.id,
            team=job.spec.team_name,
            resources=job.spec.task_resources(),
            constraints=tuple(job.spec.constraints),
            priority=job.spec.priority,
            submitted_at=job.submitted_at,
            not_before=inst.not_before,
        )

    def _record(
        self, launch: placement.Launch, hosts: Mapping[OfferId, str], now: float
    ) -> TaskRecord:
        job, inst = self._instance_of(launch)
        host = hosts[launch.offer_id]
        return TaskRecord(
            task_id=launch.task_id,
            job_id=job.id,
            instance=inst.number,
            attempt=inst.attempt,
            state="TASK_STAGING",
            resources={n: float(launch.resources.get(n)) for n in SCALARS},
            launched_at=now,
            updated_at=now,
            agent_id=launch.agent_id,
            hostname=host,
            ports=list(launch.ports),
        )

    def _instance_of(self, launch: placement.Launch) -> tuple[Job, Instance]:
        job = self.jobs[launch.job_id]
        number = int(launch.task_id.rsplit(".", 2)[1])
        return job, job.instances[number]

    def _launched(self, launch: placement.Launch, record: TaskRecord) -> None:
        job, inst = self._instance_of(launch)
        inst.task_id, inst.agent_id = launch.task_id, launch.agent_id
        inst.hostname, inst.state = record.hostname, "TASK_STAGING"
        inst.started_at = inst.kill_cause = inst.kill_sent_at = None
        self._by_task[launch.task_id] = (job, inst)
        self.counters.tasks_launched += 1
        logger.info(
            "task %s of job %s launching on %s (attempt %d)",
            launch.task_id,
            job.id,
            record.hostname,
            inst.attempt,
        )

    def _set_reasons(
        self,
        pending: Mapping[JobId, placement.PendingReason],
        over_quota: Mapping[JobId, str],
    ) -> None:
        for job in self.jobs.values():
            if any(inst.waiting for inst in job.instances):
                reason = pending.get(job.id)
                job.pending_reason = (
                    over_quota.get(job.id)
                    or (reason.message() if reason is not None else None)
                    or job.pending_reason
                )
            else:
                job.pending_reason = None

    # -- status updates --------------------------------------------------------

    def on_status(self, status: Mapping[str, Any], now: float) -> list[Instruction]:
        """Record a TaskStatus (pymesos dict); decide retries when a task ends."""
        self.counters.status_updates += 1
        task_id = TaskId(status["task_id"]["value"])
        state = str(status["state"])
        reason, message = status.get("reason"), status.get("message")
        agent = status.get("agent_id", {}).get("value")
        agent_id = AgentId(agent) if agent else None
        located = self._by_task.get(task_id)

        # A task we do not track must not hold resources: kill it.
        if located is None:
            self.store.update_task(
                task_id, state=state, now=now, reason=reason, message=message
            )
            if state in TERMINAL_STATES:
                return []
            logger.warning(
                "task %s is %s but no job of ours owns it; killing it",
                task_id,
                state,
            )
            return [KillTask(task_id, agent_id)]

        job, inst = located
        self.store.update_task(
            task_id,
            state=state,
            now=now,
            reason=reason,
            message=message,
            agent_id=agent_id,
        )
        if state not in TERMINAL_STATES:
            return self._progress(job, inst, state, now)
        return self._ended(job, inst, state, reason, message, now)

    def _progress(
        self, job: Job, inst: Instance, state: str, now: float
    ) -> list[Instruction]:
        if state == "TASK_RUNNING" and inst.started_at is None:
            inst.started_at = now
            logger.info("task %s of job %s is running", inst.task_id, job.id)
        inst.state = state
        self._update_job_state(job, now)
        return []

    def _ended(
        self,
        job: Job,
        inst: Instance,
        state: str,
        reason: str | None,
        message: str | None,
        now: float,
    ) -> list[Instruction]:
        assert inst.task_id is not None
        task_id = inst.task_id
        del self._by_task[task_id]
        inst.history.append(retry.Attempt(state, now, reason, inst.kill_cause))
        inst.task_id = None
        decision = retry.decide(inst.history, job.spec.retries)
        if job.kill_requested and not isinstance(decision, retry.Finished):
            decision = retry.GiveUp("killed by the user; not retried")

        # Finished or given up: the instance is final; otherwise it waits again.
        if isinstance(decision, retry.Finished):
            self._finish_instance(job, inst, "SUCCEEDED", None)
        elif isinstance(decision, retry.GiveUp):
            killed = inst.kill_cause == "user" or job.kill_requested
            final = "KILLED" if killed else "FAILED"
            self._finish_instance(job, inst, final, decision.reason)
        else:
            inst.attempt += 1
            inst.state, inst.not_before = "PENDING", decision.at
            inst.revive_pending = True
            logger.info(
                "task %s of job %s ended %s (%s); retrying as attempt %d in %.1fs%s",
                task_id,
                job.id,
                state,
                reason or message or "no reason",
                inst.attempt,
                max(0.0, decision.at - now),
                " (infrastructure failure, not counted)" if decision.infra else "",
            )
        self._update_job_state(job, now)
        return self._want_offers() if inst.waiting else self._maybe_suppress()

    def _finish_instance(
        self, job: Job, inst: Instance, final: str, reason: str | None
    ) -> None:
        inst.state, inst.final_reason = final, reason
        logger.info(
            "instance %d of job %s %s%s",
            inst.number,
            job.id,
            final,
            f": {reason}" if reason else "",
        )

    def _update_job_state(self, job: Job, now: float) -> None:
        if all(inst.final for inst in job.instances):
            if all(inst.state == "SUCCEEDED" for inst in job.instances):
                state = "SUCCEEDED"
            elif job.kill_requested:
                state = "KILLED"
            else:
                state = "FAILED"
        elif any(inst.task_id is not None for inst in job.instances) or any(
            inst.final for inst in job.instances
        ):
            state = "RUNNING"
        else:
            state = "PENDING"
        if state != job.state:
            finished = now if state in FINAL_JOB_STATES else None
            self.store.set_job_state(job.id, state, finished_at=finished)
            logger.info("job %s: %s -> %s", job.id, job.state, state)
            job.state, job.finished_at = state, finished
            if state in FINAL_JOB_STATES:
                job.pending_reason = None

    # -- clock -----------------------------------------------------------------

    def on_tick(self, now: float) -> list[Instruction]:
        """Enforce ``max_runtime``, re-send kills Mesos may have missed."""
        out: list[Instruction] = []
        for job, inst in list(self._by_task.values()):
            limit = job.spec.max_runtime
            if (
                limit is not None
                and inst.started_at is not None
                and inst.kill_cause is None
                and now - inst.started_at >= limit
            ):
                logger.warning(
                    "task %s of job %s exceeded max_runtime %.0fs; killing it",
                    inst.task_id,
                    job.id,
                    limit,
                )
                out.append(self._kill(inst, "max_runtime", now))
            elif (
                inst.kill_sent_at is not None
                and now - inst.kill_sent_at >= KILL_RESEND_SECONDS
            ):
                out.append(self._kill(inst, inst.kill_cause or "user", now))
        if self.suppressed and self.has_waiting():
            self.suppressed = False
            out.append(ReviveOffers())
        elif self._backoff_ended(now):
            out.append(ReviveOffers())
        return out

    def _backoff_ended(self, now: float) -> bool:
        """True once per retry whose backoff has just ended (offers may be filtered)."""
        ended = False
        for job in self.jobs.values():
            for inst in job.instances:
                if inst.waiting and inst.revive_pending and inst.not_before <= now:
                    inst.revive_pending = False
                    ended = True
        return ended

    def _kill(self, inst: Instance, cause: retry.KillCause, now: float) -> KillTask:
        assert inst.task_id is not None
        if inst.kill_cause is None:
            inst.kill_cause = cause
            self.store.mark_kill(inst.task_id, cause)
        inst.kill_sent_at = now
        return KillTask(inst.task_id, inst.agent_id)

    # -- recovery ----------------------------------------------------------------

    def recover(self, parse: Any) -> None:
        """Rebuild memory from the store; ``parse(spec_dict) -> JobSpec``."""
        for record in self.store.jobs():
            spec: JobSpec = parse(record.spec)
            job = Job(spec, record.submitted_at, record.state, [])
            job.kill_requested, job.finished_at = (
                record.kill_requested,
                record.finished_at,
            )
            job.instances = [Instance(number=i) for i in range(spec.instances)]
            for task in self.store.tasks_for(record.id):
                self._replay(job, task)
            if job.state in FINAL_JOB_STATES:
                for inst in job.instances:
                    inst.state = inst.state if inst.final else job.state
            self.jobs[job.id] = job
        logger.info(
            "recovered %d job(s), %d live task(s) to reconcile",
            len(self.jobs),
            len(self._by_task),
        )

    def _replay(self, job: Job, task: TaskRecord) -> None:
        inst = job.instances[task.instance]
        inst.attempt = max(inst.attempt, task.attempt)
        if task.ended_at is not None:
            cause = (
                task.killed_by if task.killed_by in ("user", "max_runtime") else None
            )
            attempt = retry.Attempt(task.state, task.ended_at, task.reason, cause)  # type: ignore[arg-type]
            inst.history.append(attempt)
            decision = retry.decide(inst.history, job.spec.retries)
            if isinstance(decision, retry.Finished):
                inst.state = "SUCCEEDED"
            elif isinstance(decision, retry.GiveUp):
                inst.state = "KILLED" if cause == "user" else "FAILED"
                inst.final_reason = decision.reason
            else:
                inst.attempt, inst.not_before = task.attempt + 1, decision.at
                inst.state = "PENDING"
            return
        inst.task_id, inst.agent_id, inst.hostname = (
            task.task_id,
            task.agent_id,
            task.hostname,
        )
        inst.state = task.state
        inst.started_at = task.updated_at if task.state == "TASK_RUNNING" else None
        if task.killed_by in ("user", "max_runtime"):
            inst.kill_cause = task.killed_by  # type: ignore[assignment]
        self._by_task[task.task_id] = (job, inst)

    def reconcile(self) -> list[Instruction]:
        """After (re)registering: explicit for our live tasks, then implicit."""
        live = tuple((tid, inst.agent_id) for tid, (_, inst) in self._by_task.items())
        out: list[Instruction] = []
        if live:
            out.append(ReconcileTasks(live))
        out.append(ReconcileTasks(()))
        return out + self._want_offers()

    # -- views -----------------------------------------------------------------

    def has_waiting(self) -> bool:
        return any(
            inst.waiting
            for job in self.jobs.values()
            if not job.kill_requested
            for inst in job.instances
        )

    def usage_by_team(self) -> dict[TeamName, Resources]:
        usage: dict[TeamName, Resources] = {}
        for job, _ in self._by_task.values():
            team = job.spec.team_name
            usage[team] = usage.get(team, Resources()) + job.spec.task_resources()
        return usage

    def cluster_totals(self) -> Resources:
        total = Resources()
        for resources in self.agent_totals.values():
            total = total + resources
        return total

    def set_agents(self, agents: Mapping[AgentId, tuple[AgentInfo, Resources]]) -> None:
        """Agents and their total resources, as the master's operator API lists them."""
        for agent_id, (info, total) in agents.items():
            self.agents[agent_id] = info
            self.agent_totals[agent_id] = total
            self._reported_agents.add(agent_id)

    def _learn_agents(self, offers: Sequence[placement.Offer]) -> None:
        # Offers show free resources only; without operator data, use them
        # plus our own tasks there as a lower bound of each agent's size.
        ours: dict[AgentId, Resources] = {}
        for job, inst in self._by_task.values():
            if inst.agent_id is not None:
                prev = ours.get(inst.agent_id, Resources())
                ours[inst.agent_id] = prev + job.spec.task_resources()
        for offer in offers:
            if offer.agent_id in self._reported_agents:
                continue  # the operator API gave its real total
            self.agents.setdefault(offer.agent_id, offer.agent)
            known = self.agent_totals.get(offer.agent_id)
            if (
                known is not None
                and not ours
                and (offer.cpus <= known.cpus and offer.mem <= known.mem)
            ):
                continue
            seen = offer.free() + ours.get(offer.agent_id, Resources())
            if known is None or seen.shortfalls(known):
                self.agent_totals[offer.agent_id] = _max(known, seen)

    def _running_agents(self) -> dict[JobId, list[AgentInfo]]:
        running: dict[JobId, list[AgentInfo]] = {}
        for job, inst in self._by_task.values():
            if inst.agent_id is not None and inst.agent_id in self.agents:
                running.setdefault(job.id, []).append(self.agents[inst.agent_id])
        return running

    def _host(self, agent_id: AgentId) -> str:
        info = self.agents.get(agent_id)
        return info.hostname if info else str(agent_id)

    def _want_offers(self) -> list[Instruction]:
        if self.suppressed and self.has_waiting():
            self.suppressed = False
            return [ReviveOffers()]
        return []

    def _maybe_suppress(self) -> list[Instruction]:
        if not self.suppressed and not self.has_waiting():
            self.suppressed = True
            return [SuppressOffers()]
        return []

    def task_info(
        self, launch: placement.Launch, raw_offer: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The Mesos TaskInfo for ``launch`` (see ``taskinfo.build``)."""
        job, inst = self._instance_of(launch)
        return taskinfo.build(job.spec, inst.number, inst.attempt, launch, raw_offer)

    def check_invariants(self) -> None:
        """Assert the module invariants (for tests; O(tasks))."""
        live = {}
        for job in self.jobs.values():
            for inst in job.instances:
                assert not (inst.final and inst.task_id), (job.id, inst)
                if inst.task_id is not None:
                    live[inst.task_id] = inst
            final = all(inst.final for inst in job.instances)
            assert final == (job.state in FINAL_JOB_STATES), (job.id, job.state)
        assert live.keys() == self._by_task.keys()


# --- helpers -------------------------------------------------------------------


def _max(a: Resources | None, b: Resources) -> Resources:
    if a is None:
        return b
    return Resources(
        cpus=max(a.cpus, b.cpus),
        mem=max(a.mem, b.mem),
        disk=max(a.disk, b.disk),
        gpus=max(a.gpus, b.gpus),
        ports=max(a.ports, b.ports),
    )
