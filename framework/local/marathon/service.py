"""The local Marathon's effects: one lock around the core, a driver worker.

``MarathonService`` is what every caller goes through: HTTP handlers and the
ticker (on the server's loop), pymesos callbacks (on the driver's thread)
and health probes. ``run`` calls the core under the lock, then, still under
it, saves the state if it changed and publishes the events; the driver
instructions are queued, still under the lock so that their order is the
order of the decisions, to ``DriverWorker``, one thread that sends them.
No driver call ever happens under the lock or on the server's loop: a
driver call is an HTTP request to the master, which may be served by the
same loop (``dev up``), and blocking that loop on it would deadlock.

Failures: pymesos drops calls while disconnected and raises RuntimeError on
a refused one; both are logged. A launch that never reached Mesos comes back
as TASK_LOST at the next reconciliation (every re-registration), a kill is
re-sent by the core's tick until the task ends.
"""

from __future__ import annotations

import getpass
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from framework.clients import mesos as mesos_client
from framework.errors import DRIVER_CALL_ERRORS
from framework.local.marathon import persist
from framework.local.marathon.core import (
    Decline,
    Instruction,
    Kill,
    Launch,
    MarathonCore,
    Reconcile,
    Revive,
)
from framework.local.marathon.events import EventBus

logger = logging.getLogger(__name__)
T = TypeVar("T")
FRAMEWORK_NAME = "marathon"
# pymesos asserts on some calls made while it is not connected.
_WORKER_ERRORS: tuple[type[Exception], ...] = (*DRIVER_CALL_ERRORS, AssertionError)


class DriverWorker:
    """Sends instructions to the pymesos driver, in order, on its own thread."""

    def __init__(self) -> None:
        self.driver: Any = None
        self._queue: queue.Queue[Instruction | None] = queue.Queue()
        self._thread = threading.Thread(
            target=self._run, name="marathon-driver-calls", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(10)

    def submit(self, instructions: Sequence[Instruction]) -> None:
        for instruction in instructions:
            self._queue.put(instruction)

    def _run(self) -> None:
        while (instruction := self._queue.get()) is not None:
            try:
                self._send(instruction)
            except _WORKER_ERRORS as exc:
                logger.warning(
                    "Mesos refused or missed %s (%s); the next tick or "
                    "reconciliation repairs it",
                    type(instruction).__name__,
                    exc,
                )

    def _send(self, instruction: Instruction) -> None:
        driver = self.driver
        if driver is None:
            return
        if isinstance(instruction, Launch):
            driver.launchTasks(
                [{"value": instruction.offer_id}], list(instruction.task_infos)
            )
        elif isinstance(instruction, Decline):
            offer_ids = [{"value": o} for o in instruction.offer_ids]
            driver.declineOffer(
                offer_ids, {"refuse_seconds": instruction.refuse_seconds}
            )
        elif isinstance(instruction, Kill):
            driver.killTask({"value": instruction.task_id})
        elif isinstance(instruction, Revive):
            driver.reviveOffers()
        elif isinstance(instruction, Reconcile):
            driver.reconcileTasks(
                [
                    {"task_id": {"value": t}, "agent_id": {"value": a}}
                    for t, a in instruction.tasks
                ]
            )


class MarathonService:
    """The core behind one lock, with persistence, events and the driver."""

    def __init__(
        self, core: MarathonCore, bus: EventBus, data_dir: Path | None
    ) -> None:
        self.core = core
        self.bus = bus
        self.data_dir = data_dir
        self.lock = threading.RLock()
        self.worker = DriverWorker()
        self.connected = False
        self.master = ""
        self.failover_timeout = 0.0
        self.address = ""  # host:port of the HTTP API, once bound

    def run(self, action: Callable[[MarathonCore], T]) -> T:
        """Call ``action(core)`` under the lock; save and publish what changed.

        The result is returned as is; an action that decides instructions
        queues them with ``execute`` itself, or goes through ``act``.
        """
        with self.lock:
            try:
                result = action(self.core)
            finally:
                self._flush()
            return result

    def execute(self, instructions: Sequence[Instruction]) -> None:
        """Queue instructions for the driver worker (never blocks)."""
        self.worker.submit(instructions)

    def act(self, action: Callable[[MarathonCore], list[Instruction]]) -> None:
        """``run`` an action that decides instructions and queue them, in
        order, before the lock is released: a kill decided after a launch can
        never reach Mesos before it."""

        def decide_and_queue(core: MarathonCore) -> None:
            self.execute(action(core))

        self.run(decide_and_queue)

    def _flush(self) -> None:
        events, self.core.events = self.core.events, []
        if self.core.dirty and self.data_dir is not None:
            persist.save(self.data_dir, self.core)
        self.core.dirty = False
        self.bus.publish(events)

    def save(self) -> None:
        with self.lock:
            if self.data_dir is not None:
                persist.save(self.data_dir, self.core)


class MarathonScheduler(mesos_client.Scheduler):  # type: ignore[misc]
    """pymesos callbacks, each forwarded to the service."""

    def __init__(self, service: MarathonService) -> None:
        self.service = service

    def _do(self, action: Callable[[MarathonCore], list[Instruction]]) -> None:
        self.service.act(action)

    def registered(self, driver: Any, framework_id: Any, master_info: Any) -> None:
        value = str(framework_id["value"])
        logger.info("registered with Mesos as framework %s; reconciling tasks", value)
        self.service.connected = True
        self._do(lambda core: core.on_registered(value))

    def reregistered(self, driver: Any, master_info: Any) -> None:
        value = self.service.core.framework_id or ""
        logger.info("re-registered with Mesos as framework %s; reconciling", value)
        self.service.connected = True
        self._do(lambda core: core.on_registered(value))

    def disconnected(self, driver: Any) -> None:
        self.service.connected = False
        logger.warning("disconnected from Mesos; pymesos reconnects with backoff")

    def resourceOffers(self, driver: Any, offers: list[dict[str, Any]]) -> None:
        self._do(lambda core: core.on_offers(offers))

    def statusUpdate(self, driver: Any, update: dict[str, Any]) -> None:
        self._do(lambda core: core.on_status(update))
        # Acknowledged here, not by pymesos: its implicit ACK aborts the driver
        # thread when the ACK races a master failover. Mesos resends on failure.
        try:
            driver.acknowledgeStatusUpdate(update)
        except DRIVER_CALL_ERRORS as exc:
            logger.warning(
                "could not acknowledge the %s update of task %s (%s); "
                "Mesos will send it again",
                update.get("state"),
                update.get("task_id", {}).get("value"),
                exc,
            )

    def offerRescinded(self, driver: Any, offer_id: Any) -> None:
        logger.info("offer %s rescinded", offer_id.get("value"))

    def slaveLost(self, driver: Any, agent_id: Any) -> None:
        logger.warning(
            "agent %s lost; its tasks come back as TASK_LOST and are replaced",
            agent_id.get("value"),
        )

    def error(self, driver: Any, message: str) -> None:
        logger.error("Mesos reported an error: %s", message)


def framework_info(framework_id: str | None, failover_timeout: float) -> dict[str, Any]:
    """Marathon's FrameworkInfo: checkpointed, failover, our stored id."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "root"
    info: dict[str, Any] = {
        "user": user,
        "name": FRAMEWORK_NAME,
        "failover_timeout": failover_timeout,
        "checkpoint": True,
        "role": "*",
        "hostname": "127.0.0.1",
    }
    if framework_id:
        info["id"] = {"value": framework_id}
    return info
