"""The local Mesos master's state machine: frameworks, agents, offers, tasks.

No I/O happens here. Every entry point mutates the state and returns a list
of *effects* (``Send`` an event to a stream, ``Close`` a stream, ``Launch`` or
``Kill`` a task on an agent's backend, ``Notify`` operator subscribers) that
the HTTP layer (mesos_master.py) carries out in order. Time comes from the
injected clocks, so tests drive timers with a fake clock.

``MasterState`` is the façade: it holds the agents, dispatches scheduler calls,
runs the timers and recovers from a master failover; the rest is built from
layers over one shared ``StateCore``, one module each:

* mesos_records.py: effects, records, settings and ``StateCore`` (data only);
* mesos_tasks.py: task life cycle, status-update streams, kill, reconciliation;
* mesos_offers.py: allocation cycles, offer records, DECLINE/REVIVE/SUPPRESS;
* mesos_launch.py: ACCEPT (offers and tasks);
* mesos_frameworks.py: subscription, UPDATE_FRAMEWORK, failover, teardown.

Imports go one way (records <- tasks, offers <- launch, frameworks <- state),
so there are no cycles. Callers import every public name from this module.

Invariants:

* ``agent.free`` = agent total - resources of its non-terminal tasks - its
  outstanding offers; a framework's ``allocated`` scalars = its non-terminal
  tasks + its outstanding offers. Both are updated at every transition.
* An offer id is in ``self.offers`` exactly while it is outstanding; ACCEPT,
  DECLINE, rescind and disconnection remove it.
* Agent-sourced updates of a task form one stream: ``task.pending`` holds the
  unacknowledged ones, only the head is sent (and re-sent with backoff) and
  the next one goes out when the head is acknowledged. Master-generated
  updates (reconciliation, invalid offers, agent removed) carry no uuid.
* A task leaves ``framework.tasks`` when its terminal update is acknowledged
  (or at once when the master ends it); its resources return as soon as the
  terminal state is known.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from framework.ids import AgentId, FrameworkId
from framework.local.mesos_frameworks import FrameworkState, framework_roles
from framework.local.mesos_launch import LaunchState
from framework.local.mesos_records import (
    DEFAULT_KILL_GRACE,
    DEFAULT_REFUSE_SECONDS,
    MAX_REFUSE_SECONDS,
    AgentRecord,
    Close,
    Effect,
    FrameworkRecord,
    FrameworkStatus,
    Kill,
    Launch,
    Notify,
    OfferRecord,
    Send,
    StateSettings,
    TaskRecord,
    charge,
    refuse_seconds,
)
from framework.local.mesos_wire import (
    TERMINAL_STATES,
    JsonDict,
    Resources,
    event_failure,
    wrap,
)

__all__ = [
    "DEFAULT_KILL_GRACE",
    "DEFAULT_REFUSE_SECONDS",
    "MAX_REFUSE_SECONDS",
    "AgentRecord",
    "Close",
    "Effect",
    "FrameworkRecord",
    "FrameworkStatus",
    "Kill",
    "Launch",
    "MasterState",
    "Notify",
    "OfferRecord",
    "Send",
    "StateSettings",
    "TaskRecord",
    "framework_roles",
    "refuse_seconds",
]

logger = logging.getLogger(__name__)


class MasterState(FrameworkState, LaunchState):
    """Everything the master knows; see the module docstring."""

    # -- agents --------------------------------------------------------------

    def add_agent(
        self,
        agent_id: AgentId,
        hostname: str,
        total: Resources,
        attributes: list[JsonDict],
    ) -> list[Effect]:
        agent = AgentRecord(
            agent_id, hostname, total, total.copy(), attributes, self.wallclock()
        )
        agent.attributes_text = json.dumps(attributes, separators=(",", ":"))
        self.agents[agent_id] = agent
        self._charge_total(total, 1)
        logger.info(
            "agent %s (%s) registered; offering it next cycle", agent_id, hostname
        )
        return [Notify("AGENT_ADDED", agent)]

    def remove_agent(self, agent_id: AgentId) -> list[Effect]:
        """The agent is gone: end its tasks, rescind its offers, tell everyone."""
        agent = self.agents.pop(agent_id, None)
        if agent is None:
            return []
        self._charge_total(agent.total, -1)
        effects: list[Effect] = []

        # Offers on the agent can no longer be accepted.
        for offer in [o for o in self.offers.values() if o.agent_id == agent_id]:
            effects += self._rescind(offer)

        # Its tasks end with a master-generated update, no ack expected.
        for task in list(agent.tasks.values()):
            if task.state not in TERMINAL_STATES:
                effects += self._end_task(
                    task, "TASK_GONE", "REASON_AGENT_REMOVED", "Agent removed"
                )
            else:
                self._forget_task(task)

        # Every connected framework hears of the loss, as in Mesos.
        for fw in self.frameworks.values():
            if fw.stream_id is not None:
                effects.append(Send(fw.stream_id, event_failure(agent_id)))
        logger.warning("agent %s removed; its tasks were marked lost or gone", agent_id)
        effects.append(Notify("AGENT_REMOVED", agent_id))
        return effects

    def _charge_total(self, res: Resources, sign: int) -> None:
        for i, value in enumerate(res.scalars()):
            self.total[i] += sign * value

    # -- calls ---------------------------------------------------------------

    def handle(self, framework_id: FrameworkId, call: JsonDict) -> list[Effect]:
        """Carry out one non-SUBSCRIBE call of a connected framework."""
        fw = self.frameworks[framework_id]
        kind = call["type"]
        handler = _HANDLERS.get(kind)
        # TODO(executor-messages): MESSAGE is not delivered (backends have no
        # executor to receive it); REQUEST, inverse offers and operation
        # reconciliation have nothing to act on locally.
        if handler is None:
            logger.info(
                "call %s of framework %s needs nothing from the local master",
                kind,
                framework_id,
            )
            return []
        body = call.get(kind.lower()) or {}
        return handler(self, fw, body)

    # -- timers ----------------------------------------------------------------

    def tick(self) -> list[Effect]:
        """Expire failover timeouts and retry unacknowledged updates."""
        now = self.clock()
        effects = self._expire_frameworks(now)
        effects += self._retry_updates(now)
        return effects

    # -- master failover ------------------------------------------------------

    def recovered(self, master_info: JsonDict) -> MasterState:
        """The state a new master reaches once every agent has re-registered.

        Agents bring back their tasks (with their unacknowledged updates) and
        the FrameworkInfo of those tasks' frameworks; everything else (offers,
        filters, suppression, removed framework ids, completed tasks) is lost,
        as in a real master failover.
        """
        new = MasterState(master_info, self.settings, self.clock, self.wallclock)
        new._next_framework = self._next_framework
        for agent in self.agents.values():
            new.add_agent(agent.agent_id, agent.hostname, agent.total, agent.attributes)
            for task in agent.tasks.values():
                new._adopt(task, self.frameworks.get(task.framework_id))
        return new

    def _adopt(self, task: TaskRecord, old: FrameworkRecord | None) -> None:
        fw = self.frameworks.get(task.framework_id)
        if fw is None:
            info = old.info if old else {"id": wrap(task.framework_id), "name": ""}
            roles = old.roles if old else (task.role,)
            fw = FrameworkRecord(
                task.framework_id, info, roles, self.wallclock(), recovered=True
            )
            self.frameworks[fw.framework_id] = fw
        fw.tasks[task.task_id] = task
        self.agents[task.agent_id].tasks[task.task_id] = task
        if task.state not in TERMINAL_STATES:
            charge(fw, task.resources, 1)
            self.agents[task.agent_id].free.subtract(task.resources)
        if task.pending:
            task.next_retry = self.clock() + task.backoff
            self._retrying[(fw.framework_id, task.task_id)] = task


_Handler = Callable[[MasterState, FrameworkRecord, JsonDict], list[Effect]]
_HANDLERS: dict[str, _Handler] = {
    "TEARDOWN": MasterState._teardown,
    "ACCEPT": MasterState._accept,
    "DECLINE": MasterState._decline,
    "REVIVE": MasterState._revive,
    "SUPPRESS": MasterState._suppress,
    "KILL": MasterState._kill,
    "SHUTDOWN": MasterState._shutdown,
    "ACKNOWLEDGE": MasterState._acknowledge,
    "RECONCILE": MasterState._reconcile,
}
