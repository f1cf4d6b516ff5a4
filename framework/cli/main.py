"""Entry point of the ``mesos-adapter`` command.

Global flags override the environment and the config file (see
framework/settings.py). Errors a user can fix (unknown flag, bad setting, bad
spec) print one line naming the source and exit 2, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from framework import __version__
from framework.cli import apps as apps_cmd
from framework.cli import config as config_cmd
from framework.cli import demo as demo_cmd
from framework.cli import dev as dev_cmd
from framework.cli import dev_consul as dev_consul_cmd
from framework.cli import dev_marathon as dev_marathon_cmd
from framework.cli import jobs as jobs_cmd
from framework.cli import sync as sync_cmd
from framework.cli.common import CliState
from framework.errors import InputError
from framework.settings import parse_set_flags

PROG = "mesos-adapter"


@click.group(
    name=PROG,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=(
        "A control plane for mixed work on Apache Mesos: batch and Spark jobs, "
        "Marathon services with canaries, Consul discovery."
    ),
)
@click.version_option(__version__, "--version", prog_name=PROG)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML config file [default: ~/.config/mesos-adapter/config.toml].",
)
@click.option(
    "--mesos-master", help="Mesos master host:port or zk://... [MESOS_MASTER]"
)
@click.option("--marathon-url", help="Marathon URL(s), comma-separated [MARATHON_URL]")
@click.option("--consul-addr", help="Consul agent host:port [CONSUL_HTTP_ADDR]")
@click.option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")
@click.option(
    "--ca-cert", help="CA bundle for https Marathon/Consul [MESOS_ADAPTER_TLS_CA_CERT]"
)
@click.option(
    "--set",
    "set_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set any setting (see 'config show'), e.g. --set scheduler.policy=spread.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: Path | None,
    mesos_master: str | None,
    marathon_url: str | None,
    consul_addr: str | None,
    log_level: str | None,
    ca_cert: str | None,
    set_pairs: tuple[str, ...],
) -> None:
    ctx.obj = CliState(
        flags={
            **parse_set_flags(set_pairs),
            "mesos.master": mesos_master,
            "marathon.url": marathon_url,
            "consul.addr": consul_addr,
            "logging.level": log_level,
            "tls.ca_cert": ca_cert,
        },
        config_path=config_path,
    )


cli.add_command(dev_cmd.dev, "dev")
dev_cmd.dev.add_command(demo_cmd.demo, "demo")
dev_cmd.dev.add_command(dev_consul_cmd.consul, "consul")
dev_cmd.dev.add_command(dev_marathon_cmd.marathon, "marathon")
cli.add_command(jobs_cmd.jobs, "jobs")
cli.add_command(jobs_cmd.scheduler, "scheduler")
cli.add_command(apps_cmd.apps, "apps")
cli.add_command(sync_cmd.sync, "sync")
cli.add_command(config_cmd.config, "config")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code instead of raising SystemExit."""
    try:
        result = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.format_message())
        return 2
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else PROG
        click.echo(
            f"{PROG}: error: {_one_line(exc.format_message())} "
            f"(see '{command} --help')",
            err=True,
        )
        return 2
    except click.ClickException as exc:
        click.echo(f"{PROG}: error: {_one_line(exc.format_message())}", err=True)
        return exc.exit_code
    except InputError as exc:
        click.echo(f"{PROG}: error: {exc}", err=True)
        return 2
    except click.Abort:
        click.echo(f"{PROG}: interrupted", err=True)
        return 130
    return result if isinstance(result, int) else 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def run() -> None:
    sys.exit(main())
