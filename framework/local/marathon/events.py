"""The event bus behind ``/v2/events`` and the shapes of Marathon's events.

Producers (the core, under its lock, on any thread) hand finished event
dicts to ``EventBus.publish``; each SSE client owns an asyncio queue on the
server's loop, fed with ``call_soon_threadsafe`` so no producer ever blocks
on a slow reader. ``close`` ends every stream (stop of the stand-in).

Invariants: every event carries ``eventType`` and ``timestamp``; only event
types marathon-python knows are produced (an unknown one ends its
generator); a deployment ``plan`` always has ``original``, ``target`` and
``steps[{actions}]`` because the client's plan model requires them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

from framework.local.marathon.model import DeploymentRecord, JsonDict, format_ts

#: A queue item that ends one stream.
CLOSE: JsonDict = {}


def event(kind: str, now: float, **fields: Any) -> JsonDict:
    """One event dict, Marathon's envelope around ``fields``."""
    return {"eventType": kind, "timestamp": format_ts(now), **fields}


def _group(apps: Iterable[JsonDict], version: str) -> JsonDict:
    return {
        "id": "/",
        "apps": list(apps),
        "groups": [],
        "pods": [],
        "dependencies": [],
        "version": version,
    }


def steps_json(deployment: DeploymentRecord) -> list[JsonDict]:
    return [
        {"actions": [{"action": action, "app": app}]}
        for action, app in deployment.actions
    ]


def plan_json(deployment: DeploymentRecord) -> JsonDict:
    """The ``plan`` object of deployment events."""
    originals = [s for s in deployment.original.values() if s is not None]
    targets = [s for s in deployment.target.values() if s is not None]
    return {
        "id": deployment.deployment_id,
        "version": deployment.version,
        "original": _group(originals, deployment.version),
        "target": _group(targets, deployment.version),
        "steps": steps_json(deployment),
    }


def deployment_event(kind: str, deployment: DeploymentRecord, now: float) -> JsonDict:
    """deployment_info / _success / _failed / _step_success for ``deployment``."""
    fields: JsonDict = {"plan": plan_json(deployment)}
    if kind == "deployment_info":
        fields["currentStep"] = steps_json(deployment)[0]
    if kind in ("deployment_success", "deployment_failed"):
        fields["id"] = deployment.deployment_id
    if kind == "deployment_step_success":
        fields["currentStep"] = steps_json(deployment)[0]
    return event(kind, now, **fields)


class EventBus:
    """Fan-out of events to SSE subscribers on one asyncio loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: list[asyncio.Queue[JsonDict]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.published = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self) -> asyncio.Queue[JsonDict]:
        queue: asyncio.Queue[JsonDict] = asyncio.Queue()
        with self._lock:
            self._queues.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[JsonDict]) -> None:
        with self._lock:
            if queue in self._queues:
                self._queues.remove(queue)

    def publish(self, events: Iterable[JsonDict]) -> None:
        """Queue ``events`` for every subscriber; safe from any thread."""
        batch = list(events)
        loop = self._loop
        if not batch or loop is None or loop.is_closed():
            return
        self.published += len(batch)
        with self._lock:
            queues = list(self._queues)
        for queue in queues:
            for item in batch:
                loop.call_soon_threadsafe(queue.put_nowait, item)

    def close(self) -> None:
        """End every stream (each handler returns when it reads CLOSE)."""
        with self._lock:
            queues, self._queues = list(self._queues), []
        for queue in queues:
            queue.put_nowait(CLOSE)
