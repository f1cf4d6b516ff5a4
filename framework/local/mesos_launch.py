"""ACCEPT on the local Mesos master: offers in, validated tasks out.

``LaunchState`` combines the offer and task layers: it takes the offers an
ACCEPT names, validates each LAUNCH and LAUNCH_GROUP task against the offered
resources (mesos_validation.py), and turns valid tasks into ``TaskRecord``s
and ``Launch`` effects. Invalid tasks get a master-generated TASK_ERROR; tasks
on invalid offers get TASK_LOST (TASK_DROPPED if partition-aware).

Invariants:

* Every offer the ACCEPT names leaves ``offers`` whatever happens; resources
  no task used go back to the agent behind the ACCEPT's filter (refuse_seconds,
  default 5), or with no filter when the offers were invalid.
* A launched task is in its framework's and its agent's ``tasks`` from the
  ACCEPT on, in TASK_STAGING; its resources stay charged as the offer's were.
* A LAUNCH_GROUP launches all of its tasks or none; the executor's resources
  are charged to the group's first task.
* A new task id is unused in its framework, on its agent and in the ACCEPT.
"""

from __future__ import annotations

import logging
from collections.abc import Container
from typing import Any

from framework.ids import OfferId, TaskId
from framework.local.mesos_offers import OfferState
from framework.local.mesos_records import (
    AgentRecord,
    Effect,
    FrameworkRecord,
    Launch,
    Notify,
    OfferRecord,
    TaskRecord,
    refuse_seconds,
)
from framework.local.mesos_tasks import TaskState
from framework.local.mesos_validation import validate_task
from framework.local.mesos_wire import JsonDict, Resources, id_value, parse_resources

logger = logging.getLogger(__name__)


class _UsedIds:
    """Task ids a new task may not reuse (framework, agent and this ACCEPT)."""

    def __init__(self, *maps: Container[Any]) -> None:
        self._maps = maps

    def __contains__(self, key: object) -> bool:
        return any(key in m for m in self._maps)


class LaunchState(OfferState, TaskState):
    """ACCEPT: take offers, validate and launch tasks and task groups."""

    def _accept(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        offer_ids = [
            OfferId(id_value(raw) or "") for raw in body.get("offer_ids") or []
        ]
        operations = [op for op in body.get("operations") or [] if isinstance(op, dict)]
        error, offers = self._take_offers(fw, offer_ids)
        if error is not None:
            return self._invalid_offers(fw, operations, error)
        agent = self.agents[offers[0].agent_id]
        available = Resources()
        for offer in offers:
            available.add(offer.resources)
        role = offers[0].role
        effects: list[Effect] = []
        batch: set[TaskId] = set()
        for op in operations:
            if op["type"] == "LAUNCH":
                tasks = (op.get("launch") or {}).get("task_infos") or []
                for task in tasks:
                    effects += self._launch(fw, agent, role, available, task, batch)
            elif op["type"] == "LAUNCH_GROUP":
                effects += self._launch_group(
                    fw, agent, role, available, op.get("launch_group") or {}, batch
                )
            else:
                # TODO(operations): RESERVE, CREATE and the other offer
                # operations are not modelled by the local master.
                logger.warning(
                    "framework %s sent operation %s, unsupported locally; ignoring it",
                    fw.framework_id,
                    op["type"],
                )

        # Unused resources go back behind a filter (refuse_seconds, default 5).
        self._recover(
            fw, agent.agent_id, available, refuse_seconds(body.get("filters"))
        )
        return effects

    def _take_offers(
        self, fw: FrameworkRecord, offer_ids: list[OfferId]
    ) -> tuple[str | None, list[OfferRecord]]:
        """Remove the offers of an ACCEPT; on error return the valid ones too."""
        error: str | None = None
        seen: set[OfferId] = set()
        valid: list[OfferRecord] = []
        if not offer_ids:
            error = "No offers specified"
        for oid in offer_ids:
            offer = fw.offers.get(oid)
            if oid in seen:
                error = f"Duplicate offer {oid} in accept"
            elif offer is None:
                error = f"Offer {oid} is no longer valid"
            else:
                valid.append(offer)
            seen.add(oid)
        if error is None and len({o.agent_id for o in valid}) > 1:
            error = "Aggregated offers must belong to one single agent"
        if error is None and len({o.role for o in valid}) > 1:
            error = "Aggregated offers must be allocated to the same role"
        for offer in valid:
            self._remove_offer(offer)
            if error is not None:
                self._recover(fw, offer.agent_id, offer.resources, 0.0)
        return error, valid

    def _invalid_offers(
        self, fw: FrameworkRecord, operations: list[JsonDict], error: str
    ) -> list[Effect]:
        state = "TASK_DROPPED" if fw.partition_aware else "TASK_LOST"
        effects: list[Effect] = []
        for op in operations:
            if op.get("type") == "LAUNCH":
                tasks = (op.get("launch") or {}).get("task_infos") or []
            elif op.get("type") == "LAUNCH_GROUP":
                group = (op.get("launch_group") or {}).get("task_group") or {}
                tasks = group.get("tasks") or []
            else:
                continue
            for task in tasks:
                tid = TaskId(id_value(task.get("task_id")) or "")
                logger.info(
                    "task %s of framework %s used invalid offers (%s); sending %s",
                    tid,
                    fw.framework_id,
                    error,
                    state,
                )
                effects += self._master_update(
                    fw,
                    tid,
                    state,
                    "REASON_INVALID_OFFERS",
                    f"Task launched with invalid offers: {error}",
                )
        return effects

    def _launch(
        self,
        fw: FrameworkRecord,
        agent: AgentRecord,
        role: str,
        available: Resources,
        task: JsonDict,
        batch: set[TaskId],
        executor_id: str | None = None,
    ) -> list[Effect]:
        tid = TaskId(id_value(task.get("task_id")) or "")
        # TODO(task-id-scope): backends key tasks by id alone, so an id live
        # on the agent for another framework is refused as a duplicate too.
        used = _UsedIds(fw.tasks, agent.tasks, batch)
        error, res = validate_task(
            task, agent.agent_id, used, available, in_group=executor_id is not None
        )
        if error is not None:
            return self._task_error(fw, tid, error)
        available.subtract(res)
        batch.add(tid)
        if executor_id is None:
            executor_id = (
                id_value((task.get("executor") or {}).get("executor_id")) or tid
            )
        record = TaskRecord(
            tid, fw.framework_id, agent.agent_id, executor_id, role, res, task
        )
        record.statuses.append(("TASK_STAGING", self.wallclock()))
        fw.tasks[tid] = record
        agent.tasks[tid] = record
        logger.info(
            "launching task %s of framework %s on agent %s",
            tid,
            fw.framework_id,
            agent.agent_id,
        )
        return [
            Notify("TASK_ADDED", record),
            Launch(agent.agent_id, fw.framework_id, tid, executor_id, task),
        ]

    def _launch_group(
        self,
        fw: FrameworkRecord,
        agent: AgentRecord,
        role: str,
        available: Resources,
        body: JsonDict,
        batch: set[TaskId],
    ) -> list[Effect]:
        """LAUNCH_GROUP: all tasks launch, or all fail with TASK_ERROR."""
        tasks = [t for t in (body.get("task_group") or {}).get("tasks") or []]
        error, executor_id, executor_res = self._check_group(body, tasks, available)
        trial = available.copy()
        trial.subtract(executor_res)
        ids = _UsedIds(fw.tasks, agent.tasks, batch)
        group_ids: set[TaskId] = set()
        for task in tasks if error is None else []:
            problem, res = validate_task(
                task, agent.agent_id, _UsedIds(ids, group_ids), trial, in_group=True
            )
            if problem is not None:
                error = f"Task group is invalid: {problem}"
                break
            trial.subtract(res)
            group_ids.add(TaskId(id_value(task.get("task_id")) or ""))
        if error is not None:
            effects: list[Effect] = []
            for task in tasks:
                effects += self._task_error(
                    fw, TaskId(id_value(task.get("task_id")) or ""), error
                )
            return effects

        # The executor's resources are charged to the group's first task.
        # TODO(default-executor): no executor process runs; each task of the
        # group runs as its own backend task.
        available.subtract(executor_res)
        effects = []
        for task in tasks:
            effects += self._launch(
                fw, agent, role, available, task, batch, executor_id
            )
        first = fw.tasks.get(TaskId(id_value(tasks[0].get("task_id")) or ""))
        if first is not None:
            first.resources.add(executor_res)
        return effects

    def _check_group(
        self, body: JsonDict, tasks: list[Any], available: Resources
    ) -> tuple[str | None, str, Resources]:
        executor = body.get("executor")
        executor_id = id_value((executor or {}).get("executor_id"))
        if not isinstance(executor, dict) or executor_id is None:
            return (
                "'LaunchGroup.executor' with an executor_id must be set",
                "",
                Resources(),
            )
        if not tasks:
            return "Task group must have at least one task", executor_id, Resources()
        try:
            res = parse_resources(executor.get("resources", []))
        except ValueError as exc:
            return f"Executor uses invalid resources: {exc}", executor_id, Resources()
        if not available.contains(res):
            return "Executor uses more resources than available", executor_id, res
        return None, executor_id, res

    def _task_error(self, fw: FrameworkRecord, tid: TaskId, error: str) -> list[Effect]:
        logger.info(
            "task %s of framework %s is invalid (%s); sending TASK_ERROR",
            tid,
            fw.framework_id,
            error,
        )
        return self._master_update(fw, tid, "TASK_ERROR", "REASON_TASK_INVALID", error)
