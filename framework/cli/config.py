"""``mesos-adapter config``: what the settings are and where each came from."""

from __future__ import annotations

import json
import os

import click
from rich.console import Console
from rich.table import Table

from framework.cli.common import state
from framework.settings import DEDICATED_FLAGS as DEDICATED
from framework.settings import default_config_path, env_name


@click.group(help="Inspect the effective settings.")
def config() -> None:
    pass


@config.command("show")
@click.option(
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.pass_context
def show(ctx: click.Context, output: str) -> None:
    """Print every setting's effective value and its source; secrets masked."""
    loaded = state(ctx).loaded()
    rows = loaded.rows()
    if output == "json":
        data = {key: {"value": value, "source": src} for key, value, src in rows}
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    table = Table(title="mesos-adapter settings (flags > env > file > defaults)")
    for column in ("key", "value", "source", "environment variable"):
        table.add_column(column)
    for key, value, source in rows:
        table.add_row(key, value, source, env_name(key))
    Console(width=120).print(table)
    path = state(ctx).config_path or default_config_path(os.environ)
    click.echo(f"config file: {path}")
    click.echo("flags: --set KEY=VALUE for any key, or " + ", ".join(DEDICATED))
