"""Carry out a sync `Plan` against Consul, one instruction at a time.

Thin on purpose: every decision was made by the planner. Each instruction is
retried a few times on a `TemporaryError` (tenacity, exponential backoff with
jitter); if Consul still fails, the rest of the plan is handed back as
*pending* so the loop can retry it later with a longer backoff, and nothing is
lost. A `PermanentError` (Consul refused the request) is logged with the task
and app ids and that instruction is dropped; the others go on.

Invariant: ``cache`` (what we believe Consul holds, keyed by node and service
id) is updated only after a write succeeded, so it never claims more than
Consul has.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, replace

import tenacity

from framework.clients.consul_api import ConsulApi
from framework.consul_sync.consul_state import entry_of, register_kwargs
from framework.consul_sync.model import (
    CatalogDeregister,
    Deregister,
    Drain,
    Entry,
    Instruction,
    Plan,
    Register,
    Undrain,
)
from framework.consul_sync.sync_metrics import SyncMetrics
from framework.errors import PermanentError, TemporaryError
from framework.ids import ServiceId, TaskId

logger = logging.getLogger(__name__)

Cache = MutableMapping[tuple[str, ServiceId], Entry]


@dataclass(frozen=True)
class Outcome:
    done: int
    pending: tuple[Instruction, ...] = ()
    error: TemporaryError | None = None


class Executor:
    """Writes plans to one Consul agent (``node``) and keeps ``cache`` true."""

    def __init__(
        self,
        api: ConsulApi,
        node: str,
        metrics: SyncMetrics,
        *,
        since: MutableMapping[TaskId, float] | None = None,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.node = node
        self.metrics = metrics
        self.since = since if since is not None else {}
        self.clock = clock
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TemporaryError),
            wait=tenacity.wait_exponential_jitter(multiplier=0.05, max=1.0),
            stop=tenacity.stop_after_attempt(attempts),
            sleep=sleep,
            reraise=True,
        )

    def execute(self, plan: Plan, cache: Cache) -> Outcome:
        done = 0
        for index, instruction in enumerate(plan.instructions):
            try:
                self._retrying(self._one, instruction, cache)
            except TemporaryError as exc:
                self.metrics.failed("consul")
                return Outcome(done, plan.instructions[index:], exc)
            except PermanentError as exc:
                self.metrics.failed("consul")
                logger.error(
                    "Consul refused %s for task %s (app %s): %s; skipping it until "
                    "the next change or anti-entropy pass",
                    type(instruction).__name__,
                    instruction.registration.task_id
                    if isinstance(instruction, Register)
                    else instruction.task_id,
                    instruction.registration.app_id
                    if isinstance(instruction, Register)
                    else instruction.app_id,
                    exc,
                )
                continue
            done += 1
        return Outcome(done)

    def _one(self, instruction: Instruction, cache: Cache) -> None:
        if isinstance(instruction, Register):
            self._register(instruction, cache)
        elif isinstance(instruction, Deregister):
            self._deregister(instruction, cache)
        elif isinstance(instruction, Drain | Undrain):
            self._maintenance(instruction, cache)
        else:
            self._catalog_deregister(instruction, cache)

    def _register(self, instruction: Register, cache: Cache) -> None:
        reg = instruction.registration
        self.api.register(**register_kwargs(reg))
        cache[(self.node, reg.service_id)] = entry_of(reg, self.node)
        self.metrics.wrote("register")
        if instruction.changed:
            logger.info(
                "updated %s of service %s (%s) for task %s, app %s",
                ",".join(instruction.changed),
                reg.service_id,
                reg.name,
                reg.task_id,
                reg.app_id,
            )
            return
        logger.info(
            "registered service %s (%s) at %s:%d for task %s, app %s",
            reg.service_id,
            reg.name,
            reg.address,
            reg.port,
            reg.task_id,
            reg.app_id,
        )
        self._observe_lag(reg.task_id, self.metrics.observe_register)

    def _deregister(self, instruction: Deregister, cache: Cache) -> None:
        self.api.deregister(instruction.service_id)
        cache.pop((self.node, instruction.service_id), None)
        self.metrics.wrote("deregister")
        logger.info(
            "deregistered service %s of task %s, app %s (%s)",
            instruction.service_id,
            instruction.task_id,
            instruction.app_id,
            instruction.reason,
        )
        self._observe_lag(instruction.task_id, self.metrics.observe_deregister)

    def _maintenance(self, instruction: Drain | Undrain, cache: Cache) -> None:
        enable = isinstance(instruction, Drain)
        reason = "task is being killed" if enable else "task is running again"
        self.api.maintenance(instruction.service_id, enable=enable, reason=reason)
        key = (self.node, instruction.service_id)
        if key in cache:
            cache[key] = replace(cache[key], drained=enable)
        self.metrics.wrote("drain" if enable else "undrain")
        logger.info(
            "%s service %s of task %s, app %s (%s)",
            "drained" if enable else "undrained",
            instruction.service_id,
            instruction.task_id,
            instruction.app_id,
            "deregistering it when the task ends" if enable else reason,
        )

    def _catalog_deregister(self, instruction: CatalogDeregister, cache: Cache) -> None:
        self.api.catalog_deregister(instruction.node, instruction.service_id)
        cache.pop((instruction.node, instruction.service_id), None)
        self.metrics.wrote("catalog_deregister")
        logger.info(
            "removed service %s of task %s, app %s from node %s via the catalog (%s)",
            instruction.service_id,
            instruction.task_id,
            instruction.app_id,
            instruction.node,
            instruction.reason,
        )
        self._observe_lag(instruction.task_id, self.metrics.observe_deregister)

    def _observe_lag(self, task_id: TaskId, observe: Callable[[float], None]) -> None:
        started = self.since.pop(task_id, None)
        if started is not None:
            observe(self.clock() - started)
