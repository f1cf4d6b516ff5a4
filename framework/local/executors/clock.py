"""Clocks for the executor backends: the event loop's, or a fake one for tests.

A backend never sleeps; it asks its clock to call it back later and keeps the
handle so a kill can cancel the timer. `LoopClock` hands this to the running
event loop (one entry in asyncio's timer heap per timer, cheap enough for
100,000 simulated tasks). `FakeClock` keeps its own heap and only moves when a
test calls `advance`, so timeouts and grace periods are tested without waiting.

Invariants: callbacks run on the event loop's thread, in deadline order (ties in
scheduling order), and a cancelled timer never runs.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    """A scheduled callback; cancelling an already-run timer does nothing."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """What a backend needs from time: now, and a callback later."""

    def time(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer: ...


class LoopClock:
    """The running event loop's monotonic clock and timer heap."""

    def time(self) -> float:
        return asyncio.get_running_loop().time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)


class _FakeTimer:
    __slots__ = ("callback", "cancelled", "deadline")

    def __init__(self, deadline: float, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that stands still until `advance` is called.

    Callbacks due within the advanced span run synchronously inside `advance`,
    so call it from the event loop's thread (inside the test's coroutine).
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, _FakeTimer]] = []
        self._sequence = itertools.count()

    def time(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = _FakeTimer(self._now + max(0.0, delay), callback)
        heapq.heappush(self._heap, (timer.deadline, next(self._sequence), timer))
        return timer

    def pending(self) -> list[float]:
        """Deadlines of the timers not yet run nor cancelled, soonest first."""
        return sorted(t.deadline for _, _, t in self._heap if not t.cancelled)

    def advance(self, seconds: float) -> int:
        """Move time forward, running every timer that falls due; returns how many.

        A callback that schedules a timer inside the span gets it run too.
        """
        target = self._now + seconds
        ran = 0
        while self._heap and self._heap[0][0] <= target:
            deadline, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self._now = max(self._now, deadline)
            timer.cancelled = True
            timer.callback()
            ran += 1
        self._now = target
        return ran
