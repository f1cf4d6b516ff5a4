"""Helpers for driving the local master with real pymesos and raw HTTP.

`Recorder` is a pymesos Scheduler that records every callback and lets the
test thread wait for one; `RawStream` reads a RecordIO event stream opened
with ``requests``; `task_info` builds TaskInfo JSON.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from pymesos import MesosSchedulerDriver, Scheduler

WAIT = 15.0  # a hang guard, never an assertion about speed
Event = tuple[str, Any]


class Recorder(Scheduler):  # type: ignore[misc]
    """Records callbacks; offers are kept until the test uses them."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.cond = threading.Condition()
        self.framework_id: str | None = None

    def _add(self, kind: str, payload: Any) -> None:
        with self.cond:
            self.events.append((kind, payload))
            self.cond.notify_all()

    def registered(self, driver: Any, framework_id: Any, master_info: Any) -> None:
        self.framework_id = framework_id["value"]
        self._add("registered", framework_id)

    def reregistered(self, driver: Any, master_info: Any) -> None:
        self._add("reregistered", master_info)

    def disconnected(self, driver: Any) -> None:
        self._add("disconnected", None)

    def resourceOffers(self, driver: Any, offers: list[Any]) -> None:
        for offer in offers:
            self._add("offer", offer)

    def offerRescinded(self, driver: Any, offer_id: Any) -> None:
        self._add("rescind", offer_id)

    def statusUpdate(self, driver: Any, status: Any) -> None:
        self._add("status", status)
        # Acknowledge here rather than through pymesos's implicit ACK, which
        # aborts the driver's thread when the ACK races a master restart.
        with contextlib.suppress(RuntimeError, OSError):
            driver.acknowledgeStatusUpdate(status)

    def slaveLost(self, driver: Any, agent_id: Any) -> None:
        self._add("agent_lost", agent_id)

    def error(self, driver: Any, message: str) -> None:
        self._add("error", message)

    def wait(
        self,
        kind: str,
        where: Callable[[Any], bool] = lambda _: True,
        *,
        after: int = 0,
        timeout: float = WAIT,
    ) -> Any:
        """The first ``kind`` event from index ``after`` that matches ``where``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for k, payload in self.events[after:]:
                    if k == kind and where(payload):
                        return payload
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {kind} event; saw {self.kinds()}")
                self.cond.wait(left)

    def kinds(self) -> list[str]:
        return [k for k, _ in self.events]

    def mark(self) -> int:
        with self.cond:
            return len(self.events)

    def statuses(self, task_id: str) -> list[Any]:
        with self.cond:
            return [
                p
                for k, p in self.events
                if k == "status" and p["task_id"]["value"] == task_id
            ]

    def wait_state(self, task_id: str, state: str, *, after: int = 0) -> Any:
        return self.wait(
            "status",
            lambda s: s["task_id"]["value"] == task_id and s["state"] == state,
            after=after,
        )

    def offers_since(self, mark: int) -> list[Any]:
        with self.cond:
            return [p for k, p in self.events[mark:] if k == "offer"]


def framework_info(name: str = "test", **extra: Any) -> dict[str, Any]:
    return {"user": "nobody", "name": name, **extra}


@contextmanager
def running_driver(
    sched: Recorder, master: str, info: dict[str, Any] | None = None
) -> Iterator[MesosSchedulerDriver]:
    """A started driver, torn down (TEARDOWN) at exit unless already stopped."""
    driver = MesosSchedulerDriver(
        sched, info or framework_info(), master, implicit_acknowledgements=False
    )
    driver.start()
    detector = driver.detector
    try:
        yield driver
    finally:
        driver.stop()
        driver.join()
        if detector is not None:
            # pymesos stops its ZooKeeper client but never closes it, which
            # leaks a socket pair (a ResourceWarning, an error under pytest).
            detector.zk.close()


def scalar(name: str, value: float) -> dict[str, Any]:
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


def task_info(
    task_id: str,
    offer: Any,
    command: str | None = "true",
    *,
    cpus: float = 0.1,
    mem: float = 32.0,
    **extra: Any,
) -> dict[str, Any]:
    task: dict[str, Any] = {
        "task_id": {"value": task_id},
        "agent_id": offer["agent_id"],
        "name": task_id,
        "resources": [scalar("cpus", cpus), scalar("mem", mem)],
        **extra,
    }
    if command is not None:
        task["command"] = {"value": command, "shell": True}
    return task


class RawStream:
    """A SUBSCRIBE (or operator SUBSCRIBE) stream read with ``requests``."""

    def __init__(self, url: str, body: dict[str, Any], headers: Any = None) -> None:
        self.session = requests.Session()
        hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
        self.response = self.session.post(
            url, data=json.dumps(body), headers={**hdrs, **(headers or {})}, stream=True
        )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.stream_id = self.response.headers.get("Mesos-Stream-Id")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        raw = self.response.raw
        try:
            while True:
                line = raw.readline()
                if not line:
                    break
                self.events.put(json.loads(raw.read(int(line))))
        except Exception:
            pass
        finally:
            self.events.put(None)

    def next(self, timeout: float = WAIT) -> dict[str, Any] | None:
        """The next event; None once the stream has ended."""
        return self.events.get(timeout=timeout)

    def next_of(self, kind: str, timeout: float = WAIT) -> dict[str, Any]:
        """Skip events (heartbeats...) until one of ``kind``."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.01, deadline - time.monotonic()))
            assert event is not None, f"stream ended before a {kind} event"
            if event["type"] == kind:
                return event

    def close(self) -> None:
        self.response.close()
        self.session.close()
        self._thread.join(5)
