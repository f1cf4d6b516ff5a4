"""``mesos-adapter dev marathon``: run the local Marathon stand-in in the foreground.

It subscribes to the Mesos master at ``--master`` (``MESOS_MASTER``,
default ``127.0.0.1:5050``) as framework ``marathon`` and serves Marathon's
REST API v2 on 127.0.0.1 until Ctrl-C or SIGTERM. Stopping leaves the apps'
tasks running in Mesos (failover); with ``--data-dir`` the next start picks
up the same framework id, apps, versions and deployments.

The stand-in is imported inside the command: importing pymesos installs a
SIGINT handler, which the rest of the CLI must not get at start-up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from framework.cli.common import local_port_option, stop_on_signals
from framework.logs import configure


@click.command("marathon")
@local_port_option(8080)
@click.option(
    "--master",
    envvar="MESOS_MASTER",
    show_envvar=True,
    default="127.0.0.1:5050",
    show_default=True,
    help="Mesos master as host:port.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep apps, versions, deployments and the framework id here "
    "[default: in memory only].",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
def marathon(port: int, master: str, data_dir: Path | None, log_level: str) -> None:
    """Run a local Marathon (REST API v2) in the foreground until Ctrl-C."""
    if "://" in master:
        raise click.BadParameter(
            "give host:port without a scheme, e.g. 127.0.0.1:5050",
            param_hint="--master",
        )
    configure(log_level)
    asyncio.run(_serve(master, port, data_dir))


async def _serve(master: str, port: int, data_dir: Path | None) -> None:
    from framework.local.marathon import LocalMarathon

    server = LocalMarathon(master=master, port=port, data_dir=data_dir)
    stop = stop_on_signals()
    try:
        await server.start()
    except OSError as exc:
        await server.stop()
        raise click.ClickException(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; "
            "pick another port with --port"
        ) from exc
    click.echo(f"Local Marathon: {server.url} (Mesos master {master})")
    click.echo(f"export MARATHON_URL={server.url}")
    click.echo("Press Ctrl-C to stop (the apps' tasks keep running in Mesos).")
    await stop.wait()
    click.echo("Stopping; Mesos keeps the tasks for failover...", err=True)
    await server.stop()
