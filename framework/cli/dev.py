"""``mesos-adapter dev``: run the local cluster in the foreground.

``dev mesos`` starts the local Mesos master and its agents; ``dev up`` also
starts the local Marathon (a framework of that master) and an ephemeral local
Consul (like ``consul agent -dev``).
Both run until Ctrl-C or SIGTERM, then stop every task they started.

Agent attributes: ``--attribute NAME=V1[,V2...]`` (repeatable); agent ``i``
gets ``V[i % n]``, ``{i}`` in a value is the agent index, numeric values are
SCALAR attributes and others TEXT. ``--attribute rack=r1,r2`` alternates two
racks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from framework import logs
from framework.local.cluster import ClusterConfig, LocalCluster
from framework.local.consul import LocalConsul
from framework.local.mesos_wire import parse_ranges

logger = logging.getLogger(__name__)


def _parse_attribute(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, str]]:
    out = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise click.BadParameter(f"expected NAME=VALUE[,VALUE...], got {value!r}")
        out.append((name, rest))
    return out


def _parse_credential(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, str]]:
    out = []
    for value in values:
        principal, sep, secret = value.partition(":")
        if not sep or not principal or not secret:
            raise click.BadParameter("expected PRINCIPAL:SECRET")
        out.append((principal, secret))
    return out


def _check_ports(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        parse_ranges(value)
    except ValueError as exc:
        raise click.BadParameter(f"expected BEGIN-END[,BEGIN-END...]: {exc}") from exc
    return value


def _mesos_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--mesos-port", default=5050, show_default=True, help="Master port."
        ),
        click.option(
            "--agents", default=2, show_default=True, help="Number of agents."
        ),
        click.option("--agent-cpus", default=4.0, show_default=True),
        click.option("--agent-mem", default=8192.0, show_default=True, help="MB."),
        click.option("--agent-disk", default=65536.0, show_default=True, help="MB."),
        click.option(
            "--agent-ports",
            default="31000-32000",
            show_default=True,
            callback=_check_ports,
        ),
        click.option(
            "--attribute",
            "attributes",
            multiple=True,
            callback=_parse_attribute,
            help="NAME=V1[,V2...]; agent i gets V[i % n]. Repeatable.",
        ),
        click.option(
            "--simulated",
            is_flag=True,
            help="Tasks only take time (label local.duration); no processes.",
        ),
        click.option(
            "--work-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="Agents' work directory [default: a temporary one, removed at exit].",
        ),
        click.option(
            "--zk", help="Register the master in ZooKeeper: zk://host:port/path."
        ),
        click.option(
            "--allocation-interval", default=1.0, show_default=True, help="s."
        ),
        click.option(
            "--credential",
            "credentials",
            multiple=True,
            callback=_parse_credential,
            metavar="PRINCIPAL:SECRET",
            help="Require framework HTTP basic auth with these. Repeatable.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(
    name="dev", help="Run the local cluster (Mesos stand-in) in the foreground."
)
def dev() -> None:
    pass


@dev.command(name="mesos", help="Run the local Mesos master and agents until Ctrl-C.")
@_mesos_options
def mesos(**options: Any) -> None:
    _serve(_config(options))


@dev.command(name="up", help="Run the whole local cluster until Ctrl-C.")
@_mesos_options
@click.option("--marathon-port", default=8080, show_default=True)
@click.option("--consul-port", default=8500, show_default=True)
def up(marathon_port: int, consul_port: int, **options: Any) -> None:
    _serve(_config(options), consul_port=consul_port, marathon_port=marathon_port)


def _config(options: dict[str, Any]) -> ClusterConfig:
    return ClusterConfig(
        port=options["mesos_port"],
        agents=options["agents"],
        agent_cpus=options["agent_cpus"],
        agent_mem=options["agent_mem"],
        agent_disk=options["agent_disk"],
        agent_ports=options["agent_ports"],
        attributes=options["attributes"],
        simulated=options["simulated"],
        work_dir=options["work_dir"],
        zk=options["zk"],
        allocation_interval=options["allocation_interval"],
        credentials=options["credentials"],
    )


def _serve(
    config: ClusterConfig,
    *,
    consul_port: int | None = None,
    marathon_port: int | None = None,
) -> None:
    logs.configure("INFO")
    asyncio.run(_main(config, consul_port, marathon_port))


async def _main(
    config: ClusterConfig, consul_port: int | None, marathon_port: int | None
) -> None:
    cluster = LocalCluster(config)
    try:
        port = await cluster.astart()
    except OSError as exc:
        await cluster.astop()
        raise click.ClickException(f"cannot start the local master: {exc}") from exc
    consul = await _start_consul(cluster, consul_port)
    marathon = await _start_marathon(cluster, consul, marathon_port)
    _print_banner(config, cluster, port, consul, marathon)
    try:
        await cluster.run_forever()
    finally:
        # Marathon first: it is a framework of the (already stopped) master.
        if marathon is not None:
            await marathon.stop()
        if consul is not None:
            await consul.stop()


def _print_banner(
    config: ClusterConfig,
    cluster: LocalCluster,
    port: int,
    consul: LocalConsul | None,
    marathon: Any,
) -> None:
    host = config.host
    click.echo(f"Mesos master  http://{host}:{port}  (state: /master/state)")
    if marathon is not None:
        click.echo(f"Marathon      {marathon.url}  (REST API v2)")
    if consul is not None:
        click.echo(f"Consul        http://{consul.address}  (datacenter dc1)")
    if config.zk:
        click.echo(f"ZooKeeper     {config.zk}")
    click.echo(f"Agents        {config.agents} x {config.agent_cpus:g} cpus")
    click.echo(f"Work dir      {cluster.work_dir}")
    click.echo(f"export MESOS_MASTER={config.zk or f'{host}:{port}'}")
    if marathon is not None:
        click.echo(f"export MARATHON_URL={marathon.url}")
    if consul is not None:
        click.echo(f"export CONSUL_HTTP_ADDR={consul.address}")
    click.echo("Ctrl-C stops the cluster and every task it started.")


async def _start_consul(
    cluster: LocalCluster, consul_port: int | None
) -> LocalConsul | None:
    """The ephemeral local Consul of ``dev up`` (state dropped at exit, like -dev)."""
    if consul_port is None:
        return None
    consul = LocalConsul(port=consul_port)
    try:
        await consul.start()
    except OSError as exc:
        await cluster.astop()
        raise click.ClickException(f"cannot start the local Consul: {exc}") from exc
    return consul


async def _start_marathon(
    cluster: LocalCluster, consul: LocalConsul | None, marathon_port: int | None
) -> Any:
    """The local Marathon of ``dev up``, a framework of the local master."""
    if marathon_port is None:
        return None
    # Imported here: importing pymesos installs a SIGINT handler.
    from framework.local.marathon import LocalMarathon

    marathon = LocalMarathon(master=cluster.address, port=marathon_port)
    try:
        await marathon.start()
    except OSError as exc:
        if consul is not None:
            await consul.stop()
        await cluster.astop()
        raise click.ClickException(f"cannot start the local Marathon: {exc}") from exc
    return marathon
