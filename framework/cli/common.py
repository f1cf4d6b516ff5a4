"""What every command shares: the settings of this invocation and small helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import click

from framework.settings import Loaded, load_settings


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


def not_available(what: str, issue: int) -> click.Group:
    """A command group whose commands are not built yet.

    Its help says so, and invoking it exits 2 with one clear line: it never
    pretends to work.
    """

    def callback() -> NoReturn:
        ctx = click.get_current_context()
        click.echo(
            f"mesos-adapter {ctx.info_name}: no commands yet ({what}: issue #{issue})",
            err=True,
        )
        ctx.exit(2)

    return click.Group(
        callback=callback,
        invoke_without_command=True,
        no_args_is_help=False,
        help=f"Not available yet: {what} (issue #{issue}).",
        short_help=f"(not available yet) {what}",
    )
