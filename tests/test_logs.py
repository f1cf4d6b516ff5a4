"""Log lines go to the current stderr, even after the one at set-up is closed."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from framework import logs


def test_records_follow_sys_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    logs.configure("INFO")
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    logging.getLogger("framework.test").info("task %s started", "t1")
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("framework.test").warning("task %s lost", "t1")
    assert "framework.test: task t1 lost" in second.getvalue()


def test_configure_twice_installs_one_handler() -> None:
    logs.configure("INFO")
    logs.configure("WARNING")
    root = logging.getLogger()
    assert sum(isinstance(h, logs.StderrHandler) for h in root.handlers) == 1
    assert root.level == logging.WARNING
