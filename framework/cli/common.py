"""What every command shares: the settings of this invocation and small helpers."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from framework.settings import Loaded, load_settings

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliState:
    """Global flags of this invocation; settings are loaded on first use.

    Loading lazily keeps ``--help`` of every subcommand working even when the
    environment holds a bad value; the first command that needs settings
    reports it.
    """

    flags: dict[str, Any] = field(default_factory=dict)
    config_path: Path | None = None
    _loaded: Loaded | None = None

    def loaded(self, **command_flags: Any) -> Loaded:
        if self._loaded is None or command_flags:
            merged = {**self.flags, **command_flags}
            self._loaded = load_settings(flags=merged, config_path=self.config_path)
        return self._loaded


def state(ctx: click.Context) -> CliState:
    obj = ctx.find_object(CliState)
    return obj if obj is not None else CliState()


def stop_on_signals() -> asyncio.Event:
    """An event that SIGINT or SIGTERM sets: how foreground commands stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def local_port_option(default: int) -> Callable[[F], F]:
    """``--port`` of a dev server on 127.0.0.1 (0 picks a free one)."""
    return click.option(
        "--port",
        type=click.IntRange(0, 65535),
        default=default,
        show_default=True,
        help="Port on 127.0.0.1 (0 picks a free one).",
    )
