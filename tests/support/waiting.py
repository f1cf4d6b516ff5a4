"""Polling for a condition in tests that cross threads, processes or sockets.

``wait_for`` is a hang guard, never an assertion about speed: it returns the
first truthy value ``predicate`` gives and fails only when ``timeout`` seconds
pass without one (tests never assert wall-clock durations).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

GUARD = 30.0  # seconds; generous, since it only matters when a test is broken


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = GUARD,
    *,
    what: str = "condition",
    every: float = 0.02,
) -> Any:
    """Poll ``predicate`` every ``every`` seconds until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)
