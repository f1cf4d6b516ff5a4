"""Task life cycle and status-update streams of the local Mesos master.

``TaskState`` adds to ``StateCore`` everything that moves a task once it is
launched (launching is in mesos_launch.py): backend reports become
agent-sourced status updates, each task's update stream is sent, retried and
acknowledged, KILL and SHUTDOWN start kills, and RECONCILE answers from what
the master knows (as does a KILL of an unknown task). No offer is touched here.

Invariants:

* Agent-sourced updates of a task form one stream: ``task.pending`` holds the
  unacknowledged ones, only the head is sent (and re-sent with backoff by
  ``_retry_updates``) and the next one goes out when the head is acknowledged.
  Master-generated updates (reconciliation, invalid offers, task errors, agent
  removed) carry no uuid and are never retried.
* A task's resources return to its agent and leave its framework's allocation
  (``_release``) as soon as its terminal state is known.
* A task leaves ``framework.tasks`` and ``agent.tasks`` (``_forget_task``) when
  its terminal update is acknowledged, or at once when the master ends it.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from typing import Any

from framework.ids import AgentId, TaskId
from framework.local.executor_api import TaskReport
from framework.local.mesos_records import (
    Effect,
    FrameworkRecord,
    Kill,
    Notify,
    Send,
    StateCore,
    TaskRecord,
    charge,
    grace_seconds,
)
from framework.local.mesos_wire import (
    TERMINAL_STATES,
    JsonDict,
    event_update,
    id_value,
    task_status,
    visible_state,
)

logger = logging.getLogger(__name__)


class TaskState(StateCore):
    """Status updates, acknowledgements, kills and reconciliation of tasks."""

    # -- status updates -------------------------------------------------------

    def task_report(
        self, agent_id: AgentId, task_id: TaskId, report: TaskReport
    ) -> list[Effect]:
        """A backend saw a task change state: start an agent-sourced update."""
        agent = self.agents.get(agent_id)
        task = agent.tasks.get(task_id) if agent else None
        if task is None or task.state in TERMINAL_STATES:
            logger.debug(
                "report %s for task %s on agent %s is for a task already ended; "
                "dropping it",
                report.state,
                task_id,
                agent_id,
            )
            return []
        if task.killing and report.state in ("TASK_STARTING", "TASK_RUNNING"):
            return []
        source = "SOURCE_EXECUTOR"
        if report.reason == "REASON_CONTAINER_LAUNCH_FAILED":
            source = "SOURCE_AGENT"
        return self._agent_update(
            task, report.state, report.reason, report.message, source
        )

    def _agent_update(
        self,
        task: TaskRecord,
        state: str,
        reason: str | None,
        message: str | None,
        source: str,
    ) -> list[Effect]:
        fw = self.frameworks.get(task.framework_id)
        state = visible_state(state, fw.partition_aware if fw else False)
        status = task_status(
            task.task_id,
            state,
            source=source,
            timestamp=self.wallclock(),
            reason=reason,
            message=message,
            agent_id=task.agent_id,
            executor_id=task.executor_id,
            uuid=uuid.uuid4().bytes,
        )
        self._record_state(task, state, status)
        if state in TERMINAL_STATES:
            self._release(task)
        if task.pending is None:
            task.pending = deque()
        task.pending.append(status)
        effects: list[Effect] = [Notify("TASK_UPDATED", task, status)]
        if len(task.pending) == 1:
            effects += self._forward_head(task)
        return effects

    def _forward_head(self, task: TaskRecord) -> list[Effect]:
        """(Re)send the head of the task's update stream and arm its retry."""
        assert task.pending
        task.backoff = self.settings.update_backoff
        task.next_retry = self.clock() + task.backoff
        self._retrying[(task.framework_id, task.task_id)] = task
        fw = self.frameworks.get(task.framework_id)
        if fw is None or fw.stream_id is None:
            return []
        return [Send(fw.stream_id, event_update(task.pending[0]))]

    def _master_update(
        self,
        fw: FrameworkRecord,
        tid: TaskId,
        state: str,
        reason: str,
        message: str,
        agent_id: AgentId | None = None,
    ) -> list[Effect]:
        """A master-generated update: no uuid, no retry, dropped if disconnected."""
        if fw.stream_id is None:
            return []
        status = task_status(
            tid,
            visible_state(state, fw.partition_aware),
            source="SOURCE_MASTER",
            timestamp=self.wallclock(),
            reason=reason,
            message=message,
            agent_id=agent_id,
        )
        return [Send(fw.stream_id, event_update(status))]

    def _end_task(
        self, task: TaskRecord, state: str, reason: str, message: str
    ) -> list[Effect]:
        """The master ends a task itself (agent removed); no ack expected."""
        fw = self.frameworks.get(task.framework_id)
        state = visible_state(state, fw.partition_aware if fw else False)
        status = task_status(
            task.task_id,
            state,
            source="SOURCE_MASTER",
            timestamp=self.wallclock(),
            reason=reason,
            message=message,
            agent_id=task.agent_id,
        )
        logger.info(
            "task %s of framework %s is %s (%s)",
            task.task_id,
            task.framework_id,
            state,
            reason,
        )
        self._record_state(task, state, status)
        self._release(task)
        self._forget_task(task)
        effects: list[Effect] = [Notify("TASK_UPDATED", task, status)]
        if fw is not None:
            fw.completed.append(task)
            if fw.stream_id is not None:
                effects.append(Send(fw.stream_id, event_update(status)))
        return effects

    def _record_state(
        self, task: TaskRecord, state: str, status: JsonDict | None = None
    ) -> None:
        task.state = state
        task.statuses.append((state, self.wallclock()))
        if status is not None:
            task.latest = status

    def _release(self, task: TaskRecord) -> None:
        """The task's resources return to its agent (terminal state known)."""
        fw = self.frameworks.get(task.framework_id)
        if fw is not None:
            charge(fw, task.resources, -1)
        agent = self.agents.get(task.agent_id)
        if agent is not None and agent.tasks.get(task.task_id) is task:
            agent.free.add(task.resources)

    def _forget_task(self, task: TaskRecord) -> None:
        fw = self.frameworks.get(task.framework_id)
        if fw is not None and fw.tasks.get(task.task_id) is task:
            del fw.tasks[task.task_id]
        agent = self.agents.get(task.agent_id)
        if agent is not None and agent.tasks.get(task.task_id) is task:
            del agent.tasks[task.task_id]
        self._retrying.pop((task.framework_id, task.task_id), None)
        task.pending = None

    # -- acknowledgements and retries ------------------------------------------

    def _acknowledge(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        tid = TaskId(id_value(body.get("task_id")) or "")
        task = fw.tasks.get(tid)
        if task is None or not task.pending:
            logger.info(
                "ack for task %s of framework %s matches no pending update; "
                "ignoring it",
                tid,
                fw.framework_id,
            )
            return []
        if task.pending[0].get("uuid") != body.get("uuid"):
            logger.info(
                "ack for task %s of framework %s is not for the update in flight; "
                "ignoring it",
                tid,
                fw.framework_id,
            )
            return []
        acked = task.pending.popleft()
        if task.pending:
            return self._forward_head(task)
        task.pending = None
        self._retrying.pop((fw.framework_id, tid), None)
        if acked["state"] in TERMINAL_STATES:
            logger.info(
                "terminal update of task %s of framework %s acknowledged; "
                "forgetting it",
                tid,
                fw.framework_id,
            )
            self._forget_task(task)
            fw.completed.append(task)
        return []

    def _retry_updates(self, now: float) -> list[Effect]:
        """Agents re-send the head update of each task until it is acked."""
        effects: list[Effect] = []
        due = [t for t in self._retrying.values() if t.next_retry <= now]
        for task in due:
            if not task.pending:
                continue
            task.backoff = min(task.backoff * 2, self.settings.update_backoff_max)
            task.next_retry = now + task.backoff
            owner = self.frameworks.get(task.framework_id)
            if owner is not None and owner.stream_id is not None:
                logger.debug(
                    "retrying update %s of task %s of framework %s; next in %.1fs",
                    task.pending[0]["state"],
                    task.task_id,
                    owner.framework_id,
                    task.backoff,
                )
                effects.append(Send(owner.stream_id, event_update(task.pending[0])))
        return effects

    # -- kill, shutdown ---------------------------------------------------------

    def _kill(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        tid = TaskId(id_value(body.get("task_id")) or "")
        task = fw.tasks.get(tid)
        if task is None:
            logger.info(
                "kill of unknown task %s of framework %s; answering by reconciliation",
                tid,
                fw.framework_id,
            )
            agent = id_value(body.get("agent_id"))
            return self._reconcile_one(fw, tid, AgentId(agent) if agent else None)
        if task.state in TERMINAL_STATES or task.killing:
            return []
        return self._start_kill(fw, task, body.get("kill_policy"))

    def _start_kill(
        self, fw: FrameworkRecord, task: TaskRecord, policy: Any
    ) -> list[Effect]:
        grace = grace_seconds(policy)
        if grace is None:
            grace = grace_seconds(task.info.get("kill_policy"))
        if grace is None:
            grace = self.settings.default_kill_grace
        task.killing = True
        logger.info(
            "killing task %s of framework %s with a %.1fs grace period",
            task.task_id,
            fw.framework_id,
            grace,
        )
        effects: list[Effect] = []
        if "TASK_KILLING_STATE" in fw.capabilities:
            effects += self._agent_update(
                task, "TASK_KILLING", None, None, "SOURCE_EXECUTOR"
            )
        effects.append(Kill(task.agent_id, fw.framework_id, task.task_id, grace))
        return effects

    def _shutdown(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        executor_id = id_value(body.get("executor_id"))
        agent_id = id_value(body.get("agent_id"))
        effects: list[Effect] = []
        for task in list(fw.tasks.values()):
            mine = task.executor_id == executor_id and task.agent_id == agent_id
            if mine and task.state not in TERMINAL_STATES and not task.killing:
                effects += self._start_kill(fw, task, None)
        return effects

    # -- reconciliation ---------------------------------------------------------

    def _reconcile(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        asked = body.get("tasks") or []
        effects: list[Effect] = []
        if not asked:
            for task in fw.tasks.values():
                state = task.status_update_state or task.state
                effects += self._master_update(
                    fw,
                    task.task_id,
                    state,
                    "REASON_RECONCILIATION",
                    "Reconciliation: Latest task state",
                    task.agent_id,
                )
            return effects
        for item in asked:
            tid = TaskId(id_value(item.get("task_id")) or "")
            agent = id_value(item.get("agent_id"))
            effects += self._reconcile_one(fw, tid, AgentId(agent) if agent else None)
        return effects

    def _reconcile_one(
        self, fw: FrameworkRecord, tid: TaskId, agent_id: AgentId | None
    ) -> list[Effect]:
        task = fw.tasks.get(tid)
        if task is not None:
            state = task.status_update_state or task.state
            message = "Reconciliation: Latest task state"
            agent_id = task.agent_id
        elif agent_id is not None and agent_id in self.agents:
            state, message = "TASK_GONE", "Reconciliation: Task is unknown to the agent"
        else:
            state, message = "TASK_UNKNOWN", "Reconciliation: Task is unknown"
        return self._master_update(
            fw, tid, state, "REASON_RECONCILIATION", message, agent_id
        )
