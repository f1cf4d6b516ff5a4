"""Offers of the local Mesos master: allocation glue, DECLINE, REVIVE, SUPPRESS.

``OfferState`` adds to ``StateCore`` the offer side of the master: it runs the
pure allocator (mesos_allocator.py) over the connected frameworks, turns its
plan into offer records and one pre-encoded OFFERS event per framework, and
takes offers back (decline, rescind, silent drop), returning their resources
to the agent, behind a decline filter when asked. No task is touched here.

Invariants:

* An offer id is in ``offers`` (and its framework's ``offers``) exactly while
  the offer is outstanding; ACCEPT, DECLINE, rescind and disconnection remove
  it through ``_remove_offer``.
* An offer's resources leave ``agent.free`` and are charged to its framework
  when it is made; ``_recover`` gives back whatever no task used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from framework.ids import AgentId, FrameworkId, OfferId
from framework.local.mesos_allocator import Client, Filter, OfferInstruction, allocate
from framework.local.mesos_records import (
    Effect,
    FrameworkRecord,
    OfferRecord,
    Send,
    StateCore,
    charge,
    refuse_seconds,
)
from framework.local.mesos_wire import (
    JsonDict,
    Resources,
    event_rescind,
    id_value,
    offer_text,
    offers_record,
)

logger = logging.getLogger(__name__)


class OfferState(StateCore):
    """Allocation cycles, offer records and the calls that refuse offers."""

    def allocate(self) -> list[Effect]:
        """One allocation cycle: offer free agents to frameworks by DRF."""
        now = self.clock()
        clients = [
            Client(
                fw.framework_id,
                role,
                (fw.allocated[0], fw.allocated[1], fw.allocated[2], fw.allocated[3]),
                fw.filters,
                "GPU_RESOURCES" in fw.capabilities,
            )
            for fw in self.frameworks.values()
            if fw.stream_id is not None
            for role in fw.roles
            if role not in fw.suppressed
        ]
        if not clients:
            return []
        total = (self.total[0], self.total[1], self.total[2], self.total[3])
        plan = allocate(self.agents.values(), clients, total, now)
        return self._make_offers(plan)

    def _make_offers(self, plan: Iterable[OfferInstruction]) -> list[Effect]:
        batches: dict[FrameworkId, list[str]] = {}
        for step in plan:
            fw = self.frameworks[step.framework_id]
            agent = self.agents[step.agent_id]
            offer = OfferRecord(
                OfferId(f"{self.master_id}-O{self._next_offer}"),
                fw.framework_id,
                agent.agent_id,
                step.role,
                step.resources,
            )
            self._next_offer += 1
            if step.resources is agent.free:
                agent.free = Resources()  # the whole pool moves into the offer
            else:
                offer.resources = step.resources.copy()
                agent.free.subtract(offer.resources)
            charge(fw, offer.resources, 1)
            fw.offers[offer.offer_id] = offer
            self.offers[offer.offer_id] = offer
            batches.setdefault(fw.framework_id, []).append(
                offer_text(
                    offer.offer_id,
                    fw.framework_id,
                    agent.agent_id,
                    agent.hostname,
                    offer.resources,
                    offer.role,
                    agent.attributes_text,
                )
            )
        effects: list[Effect] = []
        for fid, offers in batches.items():
            stream = self.frameworks[fid].stream_id
            assert stream is not None
            logger.debug("offering %d agents to framework %s", len(offers), fid)
            effects.append(Send(stream, data=offers_record(offers)))
        return effects

    def _remove_offer(self, offer: OfferRecord) -> None:
        self.offers.pop(offer.offer_id, None)
        fw = self.frameworks.get(offer.framework_id)
        if fw is not None:
            fw.offers.pop(offer.offer_id, None)

    def _drop_offer(self, offer: OfferRecord) -> None:
        """Take an offer back without telling the framework (no RESCIND)."""
        self._remove_offer(offer)
        fw = self.frameworks.get(offer.framework_id)
        if fw is not None:
            self._recover(fw, offer.agent_id, offer.resources, 0.0)

    def _rescind(self, offer: OfferRecord) -> list[Effect]:
        fw = self.frameworks.get(offer.framework_id)
        self._drop_offer(offer)
        if fw is None or fw.stream_id is None:
            return []
        return [Send(fw.stream_id, event_rescind(offer.offer_id))]

    def _recover(
        self, fw: FrameworkRecord, agent_id: AgentId, res: Resources, seconds: float
    ) -> None:
        """Return resources to their agent, behind a decline filter if asked."""
        charge(fw, res, -1)
        agent = self.agents.get(agent_id)
        if agent is None:
            return
        agent.free.add(res)
        if seconds > 0 and not res.is_empty():
            fw.filters[agent_id] = Filter(self.clock() + seconds, res.copy())

    # -- DECLINE, REVIVE, SUPPRESS ---------------------------------------------

    def _decline(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        seconds = refuse_seconds(body.get("filters"))
        effects: list[Effect] = []
        for raw in body.get("offer_ids") or []:
            offer = fw.offers.get(OfferId(id_value(raw) or ""))
            if offer is None:
                logger.info(
                    "framework %s declined unknown offer %s; ignoring it",
                    fw.framework_id,
                    id_value(raw),
                )
                continue
            self._remove_offer(offer)
            self._recover(fw, offer.agent_id, offer.resources, seconds)
        return effects

    def _revive(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        roles = body.get("roles") or list(fw.roles)
        fw.suppressed -= set(roles)
        # TODO(filter-roles): filters are per agent, not per role, so a revive
        # for some roles clears the filters of all of them.
        fw.filters.clear()
        logger.info("framework %s revived offers for roles %s", fw.framework_id, roles)
        return []

    def _suppress(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        roles = body.get("roles") or list(fw.roles)
        fw.suppressed |= set(roles) & set(fw.roles)
        logger.info(
            "framework %s suppressed offers for roles %s", fw.framework_id, roles
        )
        return []
