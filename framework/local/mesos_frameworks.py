"""Frameworks on the local Mesos master: subscription, failover, removal.

``FrameworkState`` combines the offer and task layers to handle SUBSCRIBE (new,
re-subscribing and failing-over schedulers), UPDATE_FRAMEWORK, a closed
stream and its failover timeout, and TEARDOWN.

Invariants:

* A framework is connected exactly while ``stream_id`` is set, on one stream:
  a new subscription closes the old one ("Framework failed over"), and any
  change of stream drops its outstanding offers without RESCIND.
* A disconnected framework keeps its tasks until ``failover_deadline``
  (``_expire_frameworks`` removes it then); with no failover timeout it is
  removed at once.
* A removed framework's live tasks are killed, all its tasks forgotten, and
  its id kept in ``removed_frameworks`` so that it cannot subscribe again.
* Re-subscription keeps the original user, checkpoint and principal;
  UPDATE_FRAMEWORK refuses to change them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from framework.ids import FrameworkId, StreamId
from framework.local.mesos_offers import OfferState
from framework.local.mesos_records import (
    Close,
    Effect,
    FrameworkRecord,
    FrameworkStatus,
    Kill,
    Notify,
    Send,
    grace_seconds,
)
from framework.local.mesos_tasks import TaskState
from framework.local.mesos_wire import (
    HEARTBEAT,
    TERMINAL_STATES,
    JsonDict,
    event_error,
    event_subscribed,
    id_value,
    wrap,
)

logger = logging.getLogger(__name__)


def framework_roles(info: Mapping[str, Any]) -> tuple[str, ...] | str:
    """The roles of a FrameworkInfo, or the error that refuses it."""
    caps = {
        c.get("type") for c in info.get("capabilities") or [] if isinstance(c, dict)
    }
    roles = info.get("roles")
    if "MULTI_ROLE" in caps:
        if "role" in info:
            return "'FrameworkInfo.role' must not be set with the MULTI_ROLE capability"
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            return "'FrameworkInfo.roles' must be a list of strings"
        return tuple(roles) or ("*",)
    if roles:
        return "'FrameworkInfo.roles' is set but the MULTI_ROLE capability is not"
    role = info.get("role", "*")
    if not isinstance(role, str) or not role:
        return "'FrameworkInfo.role' must be a non-empty string"
    return (role,)


class FrameworkState(OfferState, TaskState):
    """Subscription, UPDATE_FRAMEWORK, disconnection, failover and teardown."""

    def framework_status(self, framework_id: FrameworkId) -> FrameworkStatus:
        fw = self.frameworks.get(framework_id)
        if fw is None:
            return "unknown"
        return "connected" if fw.connected else "disconnected"

    def stream_of(self, framework_id: FrameworkId) -> StreamId | None:
        fw = self.frameworks.get(framework_id)
        return fw.stream_id if fw else None

    def subscribe(
        self, info: JsonDict, suppressed: list[str], stream_id: StreamId
    ) -> tuple[list[Effect], str | None]:
        """SUBSCRIBE on ``stream_id``; returns (effects, refusal message)."""
        roles = framework_roles(info)
        if isinstance(roles, str):
            return [], roles
        if not set(suppressed) <= set(roles):
            return [], (
                f"Suppressed roles {sorted(set(suppressed) - set(roles))} are not "
                "contained in the set of roles"
            )
        requested = id_value(info.get("id"))
        if requested and requested in self.removed_frameworks:
            return [], "Framework has been removed"
        fid = FrameworkId(requested) if requested else self._new_framework_id()
        info = {**info, "id": wrap(fid)}
        fw = self.frameworks.get(fid)
        effects: list[Effect] = []
        if fw is None:
            fw = FrameworkRecord(fid, info, roles, self.wallclock())
            self.frameworks[fid] = fw
            if requested:
                fw.reregistered_time = fw.registered_time
            kind = "FRAMEWORK_ADDED"
        else:
            effects += self._replace_stream(fw)
            fw.info = _merge_info(fw.info, info)
            fw.roles = roles
            fw.reregistered_time = self.wallclock()
            kind = "FRAMEWORK_UPDATED"
        fw.suppressed = set(suppressed)
        fw.stream_id = stream_id
        fw.failover_deadline = None
        fw.recovered = False
        logger.info(
            "framework %s (%s) subscribed on stream %s; offers follow next cycle",
            fid,
            info.get("name"),
            stream_id,
        )
        effects.append(
            Send(
                stream_id,
                event_subscribed(
                    fid, self.settings.heartbeat_interval, self.master_info
                ),
            )
        )
        effects.append(Send(stream_id, HEARTBEAT))
        effects += self._resend_heads(fw)
        effects.append(Notify(kind, fw))
        return effects, None

    def _replace_stream(self, fw: FrameworkRecord) -> list[Effect]:
        """A new subscription replaces the old one; outstanding offers vanish."""
        effects: list[Effect] = []
        if fw.stream_id is not None:
            logger.info(
                "framework %s failed over; closing its old stream %s",
                fw.framework_id,
                fw.stream_id,
            )
            effects.append(Send(fw.stream_id, event_error("Framework failed over")))
            effects.append(Close(fw.stream_id))
        for offer in list(fw.offers.values()):
            self._drop_offer(offer)
        return effects

    def _new_framework_id(self) -> FrameworkId:
        fid = FrameworkId(f"{self.master_id}-{self._next_framework:04d}")
        self._next_framework += 1
        return fid

    def _resend_heads(self, fw: FrameworkRecord) -> list[Effect]:
        effects: list[Effect] = []
        for task in fw.tasks.values():
            if task.pending:
                effects += self._forward_head(task)
        return effects

    def disconnected(self, stream_id: StreamId) -> list[Effect]:
        """The stream closed; the framework has ``failover_timeout`` to return."""
        fw = next(
            (f for f in self.frameworks.values() if f.stream_id == stream_id), None
        )
        if fw is None:
            return []
        fw.stream_id = None
        fw.unregistered_time = self.wallclock()
        for offer in list(fw.offers.values()):
            self._drop_offer(offer)
        timeout = fw.failover_timeout
        if timeout <= 0:
            logger.info(
                "framework %s disconnected with no failover timeout; removing it",
                fw.framework_id,
            )
            return self._remove_framework(fw)
        fw.failover_deadline = self.clock() + timeout
        logger.info(
            "framework %s disconnected; its tasks are kept for %.1fs",
            fw.framework_id,
            timeout,
        )
        return [Notify("FRAMEWORK_UPDATED", fw)]

    def _remove_framework(self, fw: FrameworkRecord) -> list[Effect]:
        """Teardown or failover timeout: kill its tasks, forget it, refuse its id."""
        effects: list[Effect] = []
        if fw.stream_id is not None:
            effects.append(Close(fw.stream_id))
            fw.stream_id = None
        for offer in list(fw.offers.values()):
            self._drop_offer(offer)
        for task in list(fw.tasks.values()):
            if task.state not in TERMINAL_STATES:
                logger.info(
                    "killing task %s of removed framework %s",
                    task.task_id,
                    fw.framework_id,
                )
                grace = grace_seconds(task.info.get("kill_policy"))
                if grace is None:
                    grace = self.settings.default_kill_grace
                effects.append(
                    Kill(task.agent_id, fw.framework_id, task.task_id, grace)
                )
                self._record_state(task, "TASK_KILLED")
                self._release(task)
            self._forget_task(task)
            fw.completed.append(task)
        del self.frameworks[fw.framework_id]
        self.removed_frameworks[fw.framework_id] = fw
        fw.unregistered_time = self.wallclock()
        effects.append(Notify("FRAMEWORK_REMOVED", fw))
        return effects

    def _teardown(self, fw: FrameworkRecord, body: JsonDict) -> list[Effect]:
        logger.info(
            "framework %s asked for teardown; killing its tasks", fw.framework_id
        )
        return self._remove_framework(fw)

    def update_framework(
        self, framework_id: FrameworkId, body: JsonDict
    ) -> tuple[int, str, list[Effect]]:
        """UPDATE_FRAMEWORK: (HTTP status, message, effects)."""
        fw = self.frameworks[framework_id]
        info = body["framework_info"]
        if id_value(info.get("id")) != framework_id:
            return 400, "'framework_id' differs from 'framework_info.id'", []
        for key, default in (
            ("user", None),
            ("checkpoint", False),
            ("principal", None),
        ):
            if info.get(key, default) != fw.info.get(key, default):
                return 400, f"Updating 'FrameworkInfo.{key}' is unsupported", []
        roles = framework_roles(info)
        if isinstance(roles, str):
            return 400, roles, []
        suppressed = set(body.get("suppressed_roles") or [])
        if not suppressed <= set(roles):
            return 400, "Suppressed roles are not contained in the set of roles", []
        effects: list[Effect] = []
        for offer in [o for o in fw.offers.values() if o.role not in roles]:
            effects += self._rescind(offer)
        fw.info = {**info, "id": wrap(framework_id)}
        fw.roles = roles
        fw.suppressed = suppressed
        effects.append(Notify("FRAMEWORK_UPDATED", fw))
        return 200, "", effects

    def _expire_frameworks(self, now: float) -> list[Effect]:
        """A framework gone longer than its failover_timeout is removed."""
        effects: list[Effect] = []
        expired = [
            fw
            for fw in self.frameworks.values()
            if fw.failover_deadline is not None and fw.failover_deadline <= now
        ]
        for fw in expired:
            logger.warning(
                "framework %s did not return within its failover timeout; removing it",
                fw.framework_id,
            )
            effects += self._remove_framework(fw)
        return effects


def _merge_info(old: JsonDict, new: JsonDict) -> JsonDict:
    """Re-subscription may not change user, checkpoint or principal."""
    merged = dict(new)
    for key in ("user", "checkpoint", "principal"):
        if key in old:
            merged[key] = old[key]
        else:
            merged.pop(key, None)
    return merged
