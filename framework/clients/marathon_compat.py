"""The one place that imports marathon-python, after patching what it needs.

marathon-python 0.13.0 (the latest release) calls ``collections.Iterable``,
which Python 3.10 removed; every ``to_json`` of an app with nested objects
(health checks, constraints, containers) then raises AttributeError. The fix
exists upstream but was never released, so we restore the alias before the
first import. Every module that needs marathon imports it from here:
``from framework.clients.marathon_compat import marathon`` (enforced by
tests/test_layers.py).

Invariant: the alias is the ABC itself, so ``isinstance`` checks behave
exactly as in the standard library; applying it twice is harmless.
"""

from __future__ import annotations

import collections
import collections.abc


def apply() -> None:
    """Restore ``collections.Iterable`` for marathon-python (idempotent)."""
    if not hasattr(collections, "Iterable"):
        collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]


apply()

import marathon  # noqa: E402  (must follow apply())
import marathon.models  # noqa: E402

__all__ = ["apply", "marathon"]
