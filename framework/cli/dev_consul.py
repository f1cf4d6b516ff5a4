"""``mesos-adapter dev consul``: run the local Consul stand-in in the foreground.

It serves the Consul HTTP API on 127.0.0.1 (datacenter ``dc1``, one node named
after this host) until Ctrl-C or SIGTERM, then saves its state and exits 0.

State lives in ``--data-dir``, by default ``$XDG_STATE_HOME/mesos-adapter/consul``
(``~/.local/state/mesos-adapter/consul``), so registrations, KV and sessions
survive a restart; ``--ephemeral`` uses a temporary directory removed on exit,
like ``consul agent -dev``. The ACL master token is read from
``--acl-master-token`` or ``MESOS_ADAPTER_CONSUL_ACL_MASTER_TOKEN`` and never
printed or logged.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from framework.cli.common import local_port_option, stop_on_signals
from framework.local.consul import LocalConsul
from framework.local.consul.persist import CorruptState
from framework.logs import configure


def default_data_dir() -> Path:
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local/state")
    return Path(state_home) / "mesos-adapter" / "consul"


@click.command("consul")
@local_port_option(8500)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where state is kept  [default: ~/.local/state/mesos-adapter/consul]",
)
@click.option(
    "--ephemeral",
    is_flag=True,
    help="Keep state in a temporary directory removed on exit.",
)
@click.option(
    "--acl-master-token",
    envvar="MESOS_ADAPTER_CONSUL_ACL_MASTER_TOKEN",
    show_envvar=True,
    default=None,
    help="Enable ACLs (default deny); only this token may write.",
)
@click.option(
    "--node-name", default=None, help="Node name  [default: this host's name]"
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
def consul(
    port: int,
    data_dir: Path | None,
    ephemeral: bool,
    acl_master_token: str | None,
    node_name: str | None,
    log_level: str,
) -> None:
    """Run a local Consul (HTTP API) in the foreground until Ctrl-C."""
    if ephemeral and data_dir is not None:
        raise click.UsageError("--ephemeral and --data-dir exclude each other")
    configure(log_level)
    server = LocalConsul(
        port=port,
        data_dir=None if ephemeral else (data_dir or default_data_dir()),
        acl_master_token=acl_master_token,
        node_name=node_name,
    )
    asyncio.run(_serve(server, acl=bool(acl_master_token)))


async def _serve(server: LocalConsul, *, acl: bool) -> None:
    stop = stop_on_signals()
    try:
        await server.start()
    except OSError as exc:
        await server.stop()
        raise click.ClickException(
            f"cannot listen on {server.address}: {exc.strerror or exc}; "
            "pick another port with --port"
        ) from exc
    except CorruptState as exc:
        raise click.ClickException(f"{exc} (or pass another --data-dir)") from exc
    _announce(server, acl=acl)
    await stop.wait()
    click.echo("Stopping; saving state...", err=True)
    await server.stop()


def _announce(server: LocalConsul, *, acl: bool) -> None:
    click.echo(
        f"Local Consul: http://{server.address} (datacenter dc1, "
        f"node {server.node_name}, data {server.data_dir})"
    )
    click.echo(f"export CONSUL_HTTP_ADDR={server.address}", nl=True)
    if acl:
        click.echo(
            "ACLs are on (default deny): set CONSUL_HTTP_TOKEN to the "
            "master token you chose."
        )
    click.echo("Press Ctrl-C to stop.")
