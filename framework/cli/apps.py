"""``mesos-adapter apps``: validate, plan, deploy and operate Marathon apps.

Exit codes: 0 success (``plan``: there are changes), 1 the backend or the
deployment failed (a revert ran), 2 a user error (bad file, unknown app,
conflicting deployment; ``plan``: no changes). Nothing is sent to Marathon
when validation fails.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table

from framework.cli.common import state
from framework.clients.marathon_api import (
    MarathonApi,
    MarathonConflict,
    MarathonNotFound,
    MarathonRejected,
)
from framework.errors import BackendError, InputError
from framework.marathon import canary as canary_mod
from framework.marathon import plan as plan_mod
from framework.marathon.executor import Deployer, Outcome
from framework.marathon.follow import FollowPolicy, FollowState
from framework.marathon.rules import AgentTotals, CheckOptions, agent_totals, check_app
from framework.marathon.spec import Issue, JsonDict, SpecInvalid, parse_app

logger = logging.getLogger(__name__)
err = Console(stderr=True)


class RichReporter:
    """Prints decisions as lines and progress as a bar (healthy/target)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def say(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False)

    def progress(self, st: FollowState) -> None:
        if self._progress is None:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} ready"),
                console=self.console,
                transient=True,
            )
            self._progress.start()
        if self._task is None:
            self._task = self._progress.add_task(st.app_id, total=st.target)
        self._progress.update(self._task, completed=st.ready, total=max(1, st.target))

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress, self._task = None, None


@click.group(help="Validate, plan, deploy, canary and operate Marathon apps.")
def apps() -> None:
    pass


# -- helpers ---------------------------------------------------------------------


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc


def _agents(ctx: click.Context) -> tuple[list[JsonDict] | None, str]:
    """GET_AGENTS from the master, or None and why not."""
    from framework.clients.mesos_operator import OperatorClient

    master = state(ctx).loaded().settings.mesos.master
    if master.startswith("zk://"):
        return None, "the master is given as zk://; pass --mesos-master host:port"
    client = OperatorClient(master, timeout=3.0, attempts=1)
    try:
        return client.agents(), ""
    except BackendError as exc:
        logger.debug("GET_AGENTS from %s failed: %s", master, exc)
        return None, f"Mesos master {master} not reachable"
    finally:
        client.close()


def _load(
    path: str,
    *,
    allow_no_health_check: bool,
    agents: list[AgentTotals] | None,
    note: str,
) -> tuple[JsonDict, list[Issue]]:
    try:
        raw, spec = parse_app(_read(path))
    except SpecInvalid as exc:
        return {}, exc.issues
    options = CheckOptions(allow_no_health_check, agents, note or "not checked")
    return raw, check_app(raw, spec, options)


def _validated(ctx: click.Context, path: str, allow: bool) -> JsonDict:
    """The raw app JSON, or exit 2 after printing every issue."""
    found, note = _agents(ctx)
    totals = agent_totals(found) if found is not None else None
    raw, issues = _load(path, allow_no_health_check=allow, agents=totals, note=note)
    _print_issues(path, issues)
    if any(i.severity == "error" for i in issues):
        click.echo(f"{path}: invalid; nothing was sent to Marathon", err=True)
        raise click.exceptions.Exit(2)
    return raw


def _print_issues(path: str, issues: list[Issue]) -> None:
    for issue in issues:
        click.echo(
            f"{path}: {issue.severity}: {issue.path}: {issue.message} "
            f"[{issue.rule}]\n    fix: {issue.fix}",
            err=True,
        )


def _api(ctx: click.Context) -> MarathonApi:
    return MarathonApi(state(ctx).loaded().settings.marathon)


@contextmanager
def _deployer(ctx: click.Context) -> Iterator[tuple[Deployer, RichReporter]]:
    reporter = RichReporter(err)
    deployer = Deployer(_api(ctx), reporter=reporter)
    try:
        yield deployer, reporter
    except MarathonConflict as exc:
        held = ", ".join(exc.deployments) or "a running deployment"
        click.echo(
            f"mesos-adapter: error: {exc}\n  the app is locked by {held}: wait for "
            "it ('apps status APP' shows it), or pass --force to cancel it",
            err=True,
        )
        raise click.exceptions.Exit(2) from exc
    except MarathonNotFound as exc:
        click.echo(
            f"mesos-adapter: error: {exc}\n  check the id ('apps status' needs "
            "the full id, e.g. /team/web)",
            err=True,
        )
        raise click.exceptions.Exit(2) from exc
    except MarathonRejected as exc:
        details = "; ".join(
            f"{d.get('path')}: {', '.join(d.get('errors', []))}" for d in exc.details
        )
        click.echo(
            f"mesos-adapter: error: Marathon refused it: {exc} {details}\n"
            "  fix the definition ('apps validate FILE') and retry",
            err=True,
        )
        raise click.exceptions.Exit(2) from exc
    except BackendError as exc:
        click.echo(f"mesos-adapter: error: {exc}; nothing more was done", err=True)
        raise click.exceptions.Exit(1) from exc
    finally:
        reporter.stop()
        deployer.close()
        calls = deployer.api.total_calls
        err.print(f"({calls} Marathon API call(s))", style="dim")


def _finish(outcome: Outcome) -> None:
    if outcome.ok:
        click.echo(outcome.reason)
        return
    click.echo(f"mesos-adapter: failed: {outcome.reason}", err=True)
    raise click.exceptions.Exit(1)


def _seconds(text: str) -> float:
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: write seconds like 90, 60s or 5m"
        ) from None


FORCE = click.option("--force", is_flag=True, help="Cancel a running deployment.")
WAIT = click.option("--wait/--no-wait", default=True, show_default=True)
DEADLINE = click.option(
    "--progress-deadline",
    default="300s",
    show_default=True,
    help="Revert when no new instance became healthy for this long.",
)
NO_HC = click.option(
    "--allow-no-health-check", is_flag=True, help="Allow a service without one."
)


# -- commands ---------------------------------------------------------------------


@apps.command("validate")
@click.argument("files", nargs=-1, required=True)
@NO_HC
@click.pass_context
def validate(
    ctx: click.Context, files: tuple[str, ...], allow_no_health_check: bool
) -> None:
    """Check app definitions against Marathon's rules and our lint rules."""
    found, note = _agents(ctx)
    totals = agent_totals(found) if found is not None else None
    bad = 0
    for path in files:
        _, issues = _load(
            path, allow_no_health_check=allow_no_health_check, agents=totals, note=note
        )
        _print_issues(path, issues)
        errors = sum(i.severity == "error" for i in issues)
        bad += bool(errors)
        click.echo(f"{path}: {'ok' if not errors else f'{errors} error(s)'}")
    if bad:
        raise click.exceptions.Exit(2)


@apps.command("plan")
@click.argument("file")
@NO_HC
@click.pass_context
def plan(ctx: click.Context, file: str, allow_no_health_check: bool) -> None:
    """Show what a deploy of FILE would change (exit 0 changes, 2 none)."""
    raw = _validated(ctx, file, allow_no_health_check)
    with _deployer(ctx) as (deployer, _):
        running = deployer.api.find_app("/" + str(raw["id"]).strip("/"))
    changes = plan_mod.diff_apps(running, raw)
    for change in changes:
        click.echo(change.line())
    if not changes:
        click.echo("no changes")
        raise click.exceptions.Exit(2)
    _print_steps(ctx, running, raw, changes)


def _print_steps(
    ctx: click.Context,
    running: JsonDict | None,
    raw: JsonDict,
    changes: list[plan_mod.Change],
) -> None:
    full = plan_mod.comparable(raw)
    strategy = full["upgradeStrategy"]
    old = 0
    if running is not None:
        old = int(running.get("tasksRunning") or running.get("instances") or 0)
    steps = plan_mod.rolling_steps(
        old,
        int(full["instances"]),
        float(strategy["minimumHealthCapacity"]),
        float(strategy["maximumOverCapacity"]),
        restart=running is None or plan_mod.restarts_tasks(changes),
    )
    click.echo(
        f"rollout: {steps.replaced} instance(s) replaced, {steps.started} started, "
        f"in {steps.steps} step(s); at most {steps.peak_extra} extra instance(s); "
        f"never fewer than {steps.min_healthy} healthy"
    )
    for note in steps.notes:
        click.echo(f"note: {note}")
    found, why = _agents(ctx)
    if found is None:
        click.echo(f"fit: not checked ({why})")
        return
    fit = plan_mod.fits(raw, steps.peak_extra, plan_mod.agent_free(found))
    click.echo(f"fit: {'yes' if fit.fits else 'NO'}: {fit.reason}")


@apps.command("deploy")
@click.argument("file")
@WAIT
@DEADLINE
@FORCE
@NO_HC
@click.option("--max-failures", default=3, show_default=True, type=int)
@click.pass_context
def deploy(
    ctx: click.Context,
    file: str,
    wait: bool,
    progress_deadline: str,
    force: bool,
    allow_no_health_check: bool,
    max_failures: int,
) -> None:
    """PUT FILE; with --wait follow it and revert on failure."""
    raw = _validated(ctx, file, allow_no_health_check)
    policy = FollowPolicy(_seconds(progress_deadline), max_failures)
    with _deployer(ctx) as (deployer, _):
        outcome = deployer.deploy(raw, wait=wait, policy=policy, force=force)
    _finish(outcome)


@apps.command("canary")
@click.argument("file")
@click.option("--instances", type=click.IntRange(1), required=True)
@click.option("--steps", default="5,25,100", show_default=True)
@click.option("--interval", default="60s", show_default=True)
@click.option("--check", default=None, help="Command (exit 0) or URL (2xx).")
@DEADLINE
@NO_HC
@click.pass_context
def canary(
    ctx: click.Context,
    file: str,
    instances: int,
    steps: str,
    interval: str,
    check: str | None,
    progress_deadline: str,
    allow_no_health_check: bool,
) -> None:
    """Run FILE as <id>-canary beside the stable app, step up, promote or abort."""
    try:
        parsed = canary_mod.parse_steps(steps)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    raw = _validated(ctx, file, allow_no_health_check)
    plan_ = canary_mod.CanaryPlan(parsed, _seconds(interval), instances)
    policy = FollowPolicy(_seconds(progress_deadline))
    with _deployer(ctx) as (deployer, _):
        outcome = deployer.canary(raw, plan_, check=check, policy=policy)
    _finish(outcome)


@apps.command("promote")
@click.argument("app_id")
@DEADLINE
@click.pass_context
def promote(ctx: click.Context, app_id: str, progress_deadline: str) -> None:
    """Roll APP's canary version out to the stable app, then remove the canary."""
    policy = FollowPolicy(_seconds(progress_deadline))
    with _deployer(ctx) as (deployer, _):
        outcome = deployer.promote(_abs(app_id), policy=policy)
    _finish(outcome)


@apps.command("abort")
@click.argument("app_id")
@click.pass_context
def abort(ctx: click.Context, app_id: str) -> None:
    """Remove APP's canary app; the stable app is not touched."""
    with _deployer(ctx) as (deployer, _):
        outcome = deployer.abort(_abs(app_id))
    click.echo(outcome.reason)


@apps.command("rollback")
@click.argument("app_id")
@click.option("--to", "to", default=None, help="Version (default: the one before).")
@WAIT
@FORCE
@click.pass_context
def rollback(
    ctx: click.Context, app_id: str, to: str | None, wait: bool, force: bool
) -> None:
    """Put an earlier version of APP back."""
    with _deployer(ctx) as (deployer, _):
        outcome = deployer.rollback(_abs(app_id), to, force=force, wait=wait)
    _finish(outcome)


@apps.command("scale")
@click.argument("app_id")
@click.argument("instances", type=click.IntRange(0))
@WAIT
@FORCE
@click.pass_context
def scale(
    ctx: click.Context, app_id: str, instances: int, wait: bool, force: bool
) -> None:
    """Set APP's instance count (no restart of running instances)."""
    with _deployer(ctx) as (deployer, _):
        outcome = deployer.scale(_abs(app_id), instances, force=force, wait=wait)
    _finish(outcome)


@apps.command("restart")
@click.argument("app_id")
@WAIT
@FORCE
@click.pass_context
def restart(ctx: click.Context, app_id: str, wait: bool, force: bool) -> None:
    """Rolling restart of APP under its upgradeStrategy."""
    with _deployer(ctx) as (deployer, _):
        outcome = deployer.restart(_abs(app_id), force=force, wait=wait)
    _finish(outcome)


@apps.command("destroy")
@click.argument("app_id")
@WAIT
@click.pass_context
def destroy(ctx: click.Context, app_id: str, wait: bool) -> None:
    """Stop every instance of APP and delete it."""
    with _deployer(ctx) as (deployer, _):
        outcome = deployer.destroy(_abs(app_id), wait=wait)
    _finish(outcome)


@apps.command("status")
@click.argument("app_id")
@click.option("--output", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def status(ctx: click.Context, app_id: str, output: str) -> None:
    """Version, instances by health, current deployment, last task failure."""
    with _deployer(ctx) as (deployer, _):
        found = deployer.status(_abs(app_id))
    if output == "json":
        click.echo(json.dumps(found, indent=2))
        return
    _status_table(found)


def _status_table(found: dict[str, Any]) -> None:
    table = Table(title=f"{found['id']} (version {found['version']})")
    for column in ("instances", "healthy", "unhealthy", "running", "staging"):
        table.add_column(column)
    tasks = found["tasks"]
    healthy = str(tasks["healthy"]) if found["health_checked"] else "(no checks)"
    table.add_row(
        str(found["instances"]),
        healthy,
        str(tasks["unhealthy"]),
        str(tasks["running"]),
        str(tasks["staging"]),
    )
    Console().print(table)
    deployments = ", ".join(found["deployments"]) or "none"
    click.echo(f"deployment: {deployments}")
    failure = found.get("lastTaskFailure")
    if failure:
        click.echo(
            f"last task failure: {failure.get('taskId')} {failure.get('state')} "
            f"at {failure.get('timestamp')}: {failure.get('message')}"
        )


def _abs(app_id: str) -> str:
    return "/" + app_id.strip("/")
