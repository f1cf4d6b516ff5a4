"""``mesos-adapter sync run|plan``: the Consul sync loop.

``sync run`` keeps Consul in step with Mesos (and Marathon) until Ctrl-C or
SIGTERM; several can run at once, one leads (Consul session lock) and the
others wait to take over. ``sync plan`` prints what one full pass would add,
update and remove, and writes nothing.
"""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from framework.cli.common import state
from framework.consul_sync.loop import LoopOptions, SyncLoop, plan_once
from framework.consul_sync.model import (
    CatalogDeregister,
    Deregister,
    Drain,
    Instruction,
    Plan,
    Register,
    Undrain,
)
from framework.logs import configure

NO_MARATHON = click.option(
    "--no-marathon",
    is_flag=True,
    help="Ignore Marathon (only Mesos task state and labels).",
)


@click.group(help="Register healthy Mesos tasks in Consul; remove ended ones.")
def sync() -> None:
    pass


@sync.command("run")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=9110,
    show_default=True,
    help="Prometheus metrics on 127.0.0.1:PORT/metrics (0 picks a free port).",
)
@click.option(
    "--lock-delay",
    type=click.IntRange(0, 60),
    default=1,
    show_default=True,
    help="Seconds a released leader lock stays blocked (Consul lock-delay).",
)
@NO_MARATHON
@click.pass_context
def run(
    ctx: click.Context, metrics_port: int, lock_delay: int, no_marathon: bool
) -> None:
    """Keep Consul in step with Mesos until Ctrl-C or SIGTERM."""
    settings = state(ctx).loaded().settings
    configure(settings.logging.level)
    options = LoopOptions(
        marathon=not no_marathon, metrics_port=metrics_port, lock_delay=lock_delay
    )
    asyncio.run(_run(SyncLoop(settings, options)))


async def _run(loop: SyncLoop) -> None:
    stop = asyncio.Event()
    running = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        running.add_signal_handler(signum, stop.set)
    await loop.run(stop)


@sync.command("plan")
@click.option(
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Table for people, JSON for scripts.",
)
@NO_MARATHON
@click.pass_context
def plan(ctx: click.Context, output: str, no_marathon: bool) -> None:
    """Print what a full sync pass would change; change nothing."""
    settings = state(ctx).loaded().settings
    configure(settings.logging.level)
    result = asyncio.run(plan_once(settings, LoopOptions(marathon=not no_marathon)))
    if output == "json":
        click.echo(json.dumps(plan_json(result), indent=2))
    else:
        _print_table(result)


def _row(instruction: Instruction) -> dict[str, Any]:
    if isinstance(instruction, Register):
        reg = instruction.registration
        return {
            "service_id": reg.service_id,
            "name": reg.name,
            "address": f"{reg.address}:{reg.port}",
            "task_id": reg.task_id,
            "app_id": reg.app_id,
            "why": ",".join(instruction.changed) or "new",
        }
    why = {Drain: "drain", Undrain: "undrain"}.get(type(instruction), "")
    if isinstance(instruction, Deregister | CatalogDeregister):
        why = instruction.reason
    row = {
        "service_id": instruction.service_id,
        "task_id": instruction.task_id,
        "app_id": instruction.app_id,
        "why": why,
    }
    if isinstance(instruction, CatalogDeregister):
        row["node"] = instruction.node
    return row


def plan_json(result: Plan) -> dict[str, Any]:
    return {
        "add": [_row(i) for i in result.adds],
        "update": [_row(i) for i in result.updates],
        "remove": [_row(i) for i in result.removes],
        "problems": [
            {"app_id": p.app_id, "message": p.message} for p in result.problems
        ],
    }


def _print_table(result: Plan) -> None:
    body = plan_json(result)
    console = Console()
    table = Table("action", "service id", "task", "app", "why")
    for action in ("add", "update", "remove"):
        for row in body[action]:
            table.add_row(
                action, row["service_id"], row["task_id"], row["app_id"], row["why"]
            )
    console.print(table)
    for problem in body["problems"]:
        console.print(f"skipped app {problem['app_id']}: {problem['message']}")
    counts = {k: len(body[k]) for k in ("add", "update", "remove")}
    console.print(
        f"{counts['add']} to add, {counts['update']} to update, "
        f"{counts['remove']} to remove (nothing was changed)"
    )
