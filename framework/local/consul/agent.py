"""The local Consul agent: registrations, check scheduling, sessions, reaping.

``LocalAgent`` is what the write endpoints call. It decodes bodies
(``decode``), applies them to the ``Store`` in one write each, and keeps the
moving parts in step: check runners, TTL timers of sessions, and the reaper
of ``DeregisterCriticalServiceAfter``.

Invariants:

* The agent's node is in the catalog with a passing ``serfHealth`` check and
  the ``consul`` service (a dev server's own entries); its address is
  127.0.0.1 and its ID survives restarts.
* Agent registrations are synced to the catalog at once (one store, no
  anti-entropy delay). Catalog writes that would touch entries the agent owns
  are ignored, as if anti-entropy had restored them immediately.
* Re-registering a service keeps the status and output of checks it already
  had (Consul restores them from its check-state snapshot).
* A session with a TTL is invalidated ``TTL * session_ttl_multiplier`` after
  its last renewal (Consul's multiplier is 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from typing import Any

from framework.local.consul.checks import NOT_RUN, CheckRunner
from framework.local.consul.decode import (
    Limits,
    decode_catalog_register,
    decode_check,
    decode_service,
    decode_session,
)
from framework.local.consul.model import (
    CRITICAL,
    PASSING,
    SERF_CHECK_ID,
    Check,
    CheckSpec,
    Node,
    Service,
    Session,
)
from framework.local.consul.store import Store, StoreError
from framework.local.consul.wire import CONSUL_VERSION, DecodeError, Fields

log = logging.getLogger(__name__)

MAINTENANCE_PREFIX = "_service_maintenance:"
NODE_MAINTENANCE = "_node_maintenance"
DEFAULT_MAINTENANCE_REASON = (
    "Maintenance mode is enabled for this {what}, but no reason was provided. "
    "This is a default message."
)


@dataclass(frozen=True)
class Timing:
    """Timings of the stand-in. The defaults are Consul's.

    Tests shorten them; each field says what real Consul does.
    """

    min_check_interval: float = 1.0
    """Consul raises a shorter check ``Interval`` to 1 s."""
    min_deregister_critical_after: float = 60.0
    """Consul raises a shorter ``DeregisterCriticalServiceAfter`` to 1 min."""
    reap_interval: float = 30.0
    """How often critical services are checked for deregistration (Consul: 30 s)."""
    session_ttl_multiplier: float = 2.0
    """A TTL session dies after ``TTL`` times this without renewal (Consul: 2)."""
    flush_delay: float = 0.1
    """Debounce of state writes to disk (see ``persist``)."""


class LocalAgent:
    """Applies agent, catalog and session writes to ``store``; runs the checks."""

    def __init__(
        self, store: Store, *, node_name: str, node_id: str, timing: Timing
    ) -> None:
        self.store = store
        self.node_name = node_name
        self.node_id = node_id
        self.timing = timing
        self.limits = Limits(
            timing.min_check_interval, timing.min_deregister_critical_after
        )
        self.runner = CheckRunner(store, node_name)
        self._session_timers: dict[str, asyncio.TimerHandle] = {}
        self._reaper: asyncio.Task[None] | None = None

    # -- lifecycle ----------------------------------------------------------

    def bootstrap(self) -> None:
        """Make sure the agent's node, serfHealth and ``consul`` service exist."""
        node = Node(
            name=self.node_name,
            address="127.0.0.1",
            id=self.node_id,
            tagged_addresses={
                k: "127.0.0.1" for k in ("lan", "lan_ipv4", "wan", "wan_ipv4")
            },
            meta={"consul-network-segment": "", "consul-version": CONSUL_VERSION},
        )
        serf = Check(
            node=self.node_name,
            check_id=SERF_CHECK_ID,
            name="Serf Health Status",
            status=PASSING,
            output="Agent alive and reachable",
        )
        consul = Service(node=self.node_name, id="consul", name="consul", port=8300)
        with self.store.write() as change:
            self.store.ensure_node(change, node)
            self.store.ensure_check(change, serf)
            self.store.ensure_service(change, consul)

    async def start(self) -> None:
        await self.runner.start()
        for check in self.store.checks_of_node(self.node_name):
            if check.agent:
                self.runner.schedule(check)
        for session in self.store.sessions.values():
            self._arm_session(session)
        self._reaper = asyncio.create_task(self._reap_forever())

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for timer in self._session_timers.values():
            timer.cancel()
        self._session_timers.clear()
        await self.runner.close()

    # -- services -----------------------------------------------------------

    def register_service(self, body: Any, *, replace_checks: bool) -> None:
        svc, checks = decode_service(body, node=self.node_name, limits=self.limits)
        existing = {c.check_id: c for c in self.store.service_checks(svc.node, svc.id)}
        old_svc = self.store.services.get((svc.node, svc.id))
        checks = [self._keep_state(c, existing.get(c.check_id)) for c in checks]
        stale = [
            cid
            for cid in existing
            if replace_checks and cid not in {c.check_id for c in checks}
        ]
        with self.store.write() as change:
            if old_svc is not None and old_svc.name != svc.name:
                self.store.delete_service(change, svc.node, svc.id)
            self.store.ensure_service(change, svc)
            for check in checks:
                self.store.ensure_check(change, check)
            for check_id in stale:
                self.store.delete_check(change, svc.node, check_id)
        self._reschedule(checks, existing, stale)
        log.info(
            "Registered service %s (%s) with %d checks", svc.id, svc.name, len(checks)
        )

    def _keep_state(self, check: Check, previous: Check | None) -> Check:
        if previous is not None:
            return replace(check, status=previous.status, output=previous.output)
        if check.spec.kind in ("grpc", "h2ping", "udp", "osservice", "alias"):
            return replace(check, output=NOT_RUN.format(kind=check.spec.kind))
        return check

    def _reschedule(
        self, checks: list[Check], previous: dict[str, Check], stale: list[str]
    ) -> None:
        for check_id in stale:
            self.runner.unschedule(check_id)
        for check in checks:
            old = previous.get(check.check_id)
            if old is None or old.spec != check.spec:
                self.runner.schedule(check)

    def deregister_service(self, service_id: str) -> None:
        svc = self.store.services.get((self.node_name, service_id))
        if svc is None or not svc.agent:
            raise StoreError(
                f'Unknown service ID "{service_id}". Ensure that the service ID is '
                "passed, not the service name.",
                status=404,
            )
        checks = self.store.service_checks(self.node_name, service_id)
        with self.store.write() as change:
            self.store.delete_service(change, self.node_name, service_id)
        for check in checks:
            self.runner.unschedule(check.check_id)
        log.info("Deregistered service %s (%s) and its checks", service_id, svc.name)

    def set_maintenance(self, service_id: str, enable: bool, reason: str) -> None:
        svc = self.store.services.get((self.node_name, service_id))
        if svc is None or not svc.agent:
            raise StoreError(
                f'No service registered with ID "{service_id}"', status=404
            )
        check_id = MAINTENANCE_PREFIX + service_id
        with self.store.write() as change:
            if not enable:
                self.store.delete_check(change, self.node_name, check_id)
                return
            check = Check(
                node=self.node_name,
                check_id=check_id,
                name="Service Maintenance Mode",
                status=CRITICAL,
                notes=reason or DEFAULT_MAINTENANCE_REASON.format(what="service"),
                service_id=svc.id,
                service_name=svc.name,
                service_tags=list(svc.tags),
                spec=CheckSpec(kind="maintenance"),
                agent=True,
            )
            self.store.ensure_check(change, check)

    def set_node_maintenance(self, enable: bool, reason: str) -> None:
        """``agent/maintenance``: a critical node check fails every instance here."""
        with self.store.write() as change:
            if not enable:
                self.store.delete_check(change, self.node_name, NODE_MAINTENANCE)
                return
            check = Check(
                node=self.node_name,
                check_id=NODE_MAINTENANCE,
                name="Node Maintenance Mode",
                status=CRITICAL,
                notes=reason or DEFAULT_MAINTENANCE_REASON.format(what="node"),
                spec=CheckSpec(kind="maintenance"),
                agent=True,
            )
            self.store.ensure_check(change, check)

    # -- checks -------------------------------------------------------------

    def register_check(self, body: Any) -> None:
        check = decode_check(body, node=self.node_name, limits=self.limits)
        if check.service_id:
            svc = self.store.services.get((self.node_name, check.service_id))
            if svc is None or not svc.agent:
                raise DecodeError(f'ServiceID "{check.service_id}" does not exist')
            check.service_name, check.service_tags = svc.name, list(svc.tags)
        check = self._keep_state(check, None)
        with self.store.write() as change:
            self.store.ensure_check(change, check)
        self.runner.schedule(check)

    def deregister_check(self, check_id: str) -> None:
        check = self._agent_check(check_id)
        if check is None:
            raise StoreError(
                f'Unknown check ID "{check_id}". Ensure that the check ID is passed, '
                "not the check name.",
                status=404,
            )
        with self.store.write() as change:
            self.store.delete_check(change, self.node_name, check_id)
        self.runner.unschedule(check_id)

    def update_ttl(self, check_id: str, status: str, output: str) -> None:
        """``check/pass|warn|fail``: set a TTL check and re-arm its timer."""
        check = self._agent_check(check_id)
        if check is None or check.spec.kind != "ttl":
            raise StoreError(
                f'CheckID "{check_id}" does not have associated TTL', status=404
            )
        self.store.set_check_status(self.node_name, check_id, status, output[:4096])
        self.runner.arm_ttl(check_id, check.spec.ttl)

    def _agent_check(self, check_id: str) -> Check | None:
        check = self.store.checks.get((self.node_name, check_id))
        return check if check is not None and check.agent else None

    # -- catalog ------------------------------------------------------------

    def catalog_register(self, body: Any) -> None:
        reg = decode_catalog_register(body)
        if reg.service is not None and self._agent_owned_service(
            reg.node.name, reg.service.id
        ):
            return
        with self.store.write() as change:
            if not reg.skip_node_update or reg.node.name not in self.store.nodes:
                self._ensure_catalog_node(change, reg.node)
            if reg.service is not None:
                self.store.ensure_service(change, reg.service)
            for check in reg.checks:
                self._ensure_catalog_check(change, check)

    def _ensure_catalog_node(self, change: Any, node: Node) -> None:
        if node.name == self.node_name:
            return  # the agent's own node record is authoritative
        self.store.ensure_node(change, node)

    def _ensure_catalog_check(self, change: Any, check: Check) -> None:
        if (
            self._agent_check(check.check_id) is not None
            and check.node == self.node_name
        ):
            return
        if check.service_id:
            svc = self.store.services.get((check.node, check.service_id))
            if svc is None:
                raise StoreError("Missing service registration")
            check.service_name, check.service_tags = svc.name, list(svc.tags)
        self.store.ensure_check(change, check)

    def _agent_owned_service(self, node: str, service_id: str) -> bool:
        svc = self.store.services.get((node, service_id))
        return node == self.node_name and svc is not None and svc.agent

    def catalog_deregister(self, body: Any) -> None:
        f = Fields(body)
        node = f.text("Node")
        if not node:
            raise DecodeError("Must provide node")
        service_id, check_id = f.text("ServiceID"), f.text("CheckID")
        with self.store.write() as change:
            if service_id:
                if not self._agent_owned_service(node, service_id):
                    self.store.delete_service(change, node, service_id)
            elif check_id:
                if not (node == self.node_name and self._agent_check(check_id)):
                    self.store.delete_check(change, node, check_id)
            elif node != self.node_name:
                self.store.delete_node(change, node)

    # -- sessions -----------------------------------------------------------

    def create_session(self, body: Any) -> Session:
        session = self.store.create_session(
            decode_session(body, default_node=self.node_name)
        )
        self._arm_session(session)
        return session

    def renew_session(self, session_id: str) -> Session | None:
        session = self.store.sessions.get(session_id)
        if session is not None:
            self._arm_session(session)
        return session

    def destroy_session(self, session_id: str) -> None:
        timer = self._session_timers.pop(session_id, None)
        if timer is not None:
            timer.cancel()
        self.store.destroy_session(session_id)

    def _arm_session(self, session: Session) -> None:
        old = self._session_timers.pop(session.id, None)
        if old is not None:
            old.cancel()
        if session.ttl <= 0:
            return
        delay = session.ttl * self.timing.session_ttl_multiplier
        loop = asyncio.get_running_loop()
        self._session_timers[session.id] = loop.call_later(
            delay, self._expire, session.id
        )

    def _expire(self, session_id: str) -> None:
        self._session_timers.pop(session_id, None)
        if session_id in self.store.sessions:
            log.info("Session %s expired without renewal; invalidating it", session_id)
            self.store.destroy_session(session_id)

    # -- reaper -------------------------------------------------------------

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.timing.reap_interval)
            self.reap_critical_services()

    def reap_critical_services(self) -> None:
        """Deregister services whose check stayed critical past its limit."""
        now = self.store.clock()
        doomed = {
            check.service_id
            for check in self.store.checks_of_node(self.node_name)
            if check.agent
            and check.service_id
            and check.spec.deregister_after > 0
            and check.critical_since is not None
            and now - check.critical_since >= check.spec.deregister_after
        }
        for service_id in sorted(doomed):
            log.info(
                "Service %s has been critical for too long; deregistering it",
                service_id,
            )
            with contextlib.suppress(StoreError):
                self.deregister_service(service_id)
