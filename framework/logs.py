"""Logging set-up shared by every long-running command.

One root handler on stderr; modules log through ``logging.getLogger(__name__)``
with lazy ``%`` arguments. The format carries the module name so a line can be
traced to its layer. Secrets never reach a log line: settings hold them as
``Secret`` values that print as ``****``.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure(level: str = "INFO") -> None:
    """Install the stderr handler once; later calls only change the level."""
    root = logging.getLogger()
    if not any(getattr(h, "_mesos_adapter", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._mesos_adapter = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())
