"""Logging set-up shared by every long-running command.

One root handler on stderr; modules log through ``logging.getLogger(__name__)``
with lazy ``%`` arguments. The format carries the module name so a line can be
traced to its layer. Secrets never reach a log line: settings hold them as
``Secret`` values that print as ``****``.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record.

    A plain StreamHandler keeps the stream it was built with; when a command
    runs in-process (tests, the demo) that stream may be closed before the
    background threads stop logging.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure(level: str = "INFO") -> None:
    """Install the stderr handler once; later calls only change the level."""
    root = logging.getLogger()
    if not any(isinstance(h, StderrHandler) for h in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(level.upper())
