"""``mesos-adapter jobs`` and ``mesos-adapter scheduler``: the batch framework.

``jobs`` commands talk to a running scheduler's HTTP API
(``scheduler.api_url``); ``scheduler run`` is that long-running service. Every
read command takes ``--output json``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.table import Table

from framework.batch.client import ApiError, JobsClient
from framework.cli.common import state
from framework.errors import InputError, SpecError

T = TypeVar("T")

OUTPUT = click.option(
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Table for people, JSON for scripts.",
)


@click.group(help="Submit, inspect and kill batch and Spark jobs.")
def jobs() -> None:
    pass


def _client(ctx: click.Context) -> JobsClient:
    return JobsClient(state(ctx).loaded().settings.scheduler.api_url)


def _call(ctx: click.Context, request: Callable[[JobsClient], T]) -> T:
    """Run one scheduler API request; an API error ends the command (see _fail)."""
    try:
        return request(_client(ctx))
    except ApiError as exc:
        _fail(exc)


def _fail(exc: ApiError) -> NoReturn:
    # Errors a user can fix exit 2 with one line; others exit 1.
    code = 2 if 400 <= exc.status < 500 else 1
    click.echo(f"mesos-adapter: error: {exc}", err=True)
    raise click.exceptions.Exit(code)


@jobs.command("submit")
@click.argument("spec_file", type=click.Path(allow_dash=True, dir_okay=False))
@OUTPUT
@click.pass_context
def submit(ctx: click.Context, spec_file: str, output: str) -> None:
    """Submit the job spec in SPEC_FILE (JSON or YAML; '-' for stdin)."""
    text = sys.stdin.read() if spec_file == "-" else _read(spec_file)
    text = resolve_spark_app(text, spec_file)
    job = _call(ctx, lambda client: client.submit(text))
    if output == "json":
        click.echo(json.dumps(job, indent=2))
    else:
        tasks, team = job["instances"], job["team"]
        click.echo(f"job {job['id']} submitted ({tasks} task(s), team {team})")


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError("$", f"cannot read {path} ({exc.strerror})") from exc


def resolve_spark_app(text: str, spec_file: str) -> str:
    """Make a relative ``spark.app`` absolute, relative to the spec's folder."""
    if spec_file == "-":
        return text
    from framework.batch.spec import parse_job_spec

    spec = parse_job_spec(text, source=spec_file)
    if spec.spark is None or Path(spec.spark.app).is_absolute():
        return text
    candidate = (Path(spec_file).resolve().parent / spec.spark.app).resolve()
    if not candidate.exists():
        return text
    data = spec.model_dump(mode="json", exclude_defaults=True)
    data.setdefault("spark", {})["app"] = str(candidate)
    data["kind"] = "spark"
    return json.dumps(data)


@jobs.command("list")
@OUTPUT
@click.pass_context
def list_jobs(ctx: click.Context, output: str) -> None:
    """Every job the scheduler knows, oldest first."""
    found = _client(ctx).jobs()
    if output == "json":
        click.echo(json.dumps(found, indent=2))
        return
    Console().print(jobs_table(found))


def jobs_table(found: list[dict[str, Any]], title: str = "jobs") -> Table:
    table = Table(title=title)
    for column in ("job", "team", "state", "tasks", "attempts", "why / result"):
        table.add_column(column)
    for job in found:
        states = job["instance_states"]
        done = sum(1 for s in states if s == "SUCCEEDED")
        note = job.get("pending_reason") or "; ".join(job.get("failure_reasons", []))
        table.add_row(
            job["id"],
            job["team"],
            job["state"],
            f"{done}/{job['instances']} done",
            str(len(job["attempts"])),
            note or "",
        )
    return table


@jobs.command("status")
@click.argument("job_id")
@OUTPUT
@click.pass_context
def status(ctx: click.Context, job_id: str, output: str) -> None:
    """One job with every attempt of every instance."""
    job = _call(ctx, lambda client: client.job(job_id))
    if output == "json":
        click.echo(json.dumps(job, indent=2))
        return
    click.echo(f"job {job['id']} ({job['kind']}, team {job['team']}): {job['state']}")
    if job.get("pending_reason"):
        click.echo(f"waiting: {job['pending_reason']}")
    table = Table()
    for column in ("task", "state", "reason", "host", "message"):
        table.add_column(column)
    for attempt in job["attempts"]:
        table.add_row(
            attempt["task_id"],
            attempt["state"],
            attempt.get("reason") or "",
            attempt.get("hostname") or "",
            (attempt.get("message") or "")[:60],
        )
    Console().print(table)


@jobs.command("why")
@click.argument("job_id")
@OUTPUT
@click.pass_context
def why(ctx: click.Context, job_id: str, output: str) -> None:
    """Why a job is still waiting (or what ended it)."""
    answer = _call(ctx, lambda client: client.why(job_id))
    if output == "json":
        click.echo(json.dumps(answer, indent=2))
        return
    click.echo(f"job {answer['id']}: {answer['state']}")
    for reason in answer["reasons"]:
        click.echo(f"  - {reason}")
    for entry in answer["backing_off"]:
        left = max(0.0, entry["until"] - time.time())
        click.echo(f"  - instance {entry['instance']} backing off, {left:.0f}s left")


@jobs.command("kill")
@click.argument("job_id")
@click.pass_context
def kill(ctx: click.Context, job_id: str) -> None:
    """Kill every task of a job; it is not retried."""
    job = _call(ctx, lambda client: client.kill(job_id))
    click.echo(f"job {job['id']}: kill requested ({job['state']})")


@jobs.command("logs")
@click.argument("job_id")
@click.option("--instance", type=int, default=None, help="Instance number.")
@click.option("--stderr", "stream", flag_value="stderr", help="Show stderr.")
@click.option("--stdout", "stream", flag_value="stdout", default=True)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output.")
@click.pass_context
def logs(
    ctx: click.Context, job_id: str, instance: int | None, stream: str, follow: bool
) -> None:
    """Print a task's stdout (or stderr) from its Mesos sandbox."""
    from framework.clients import mesos_files
    from framework.clients.mesos_operator import OperatorClient

    job = _call(ctx, lambda client: client.job(job_id))
    attempts = [
        a for a in job["attempts"] if instance is None or a["instance"] == instance
    ]
    if not attempts:
        raise InputError(f"job {job_id} has no task attempts yet; see 'jobs why'")
    task_id = max(attempts, key=lambda a: a["launched_at"])["task_id"]
    master = state(ctx).loaded().settings.mesos.master
    sandbox = mesos_files.find_sandbox(OperatorClient(master), task_id)
    for chunk in mesos_files.read(sandbox, stream, follow=follow):
        click.echo(chunk, nl=False)


@click.group(help="The batch scheduler service (a Mesos framework).")
def scheduler() -> None:
    pass


@scheduler.command("run")
@click.option("--port", type=int, default=None, help="API port [scheduler.api_port].")
@click.option("--state-path", default=None, help="SQLite file [scheduler.state_path].")
@click.pass_context
def run(ctx: click.Context, port: int | None, state_path: str | None) -> None:
    """Run the scheduler until interrupted; jobs survive restarts."""
    from framework.batch import service_main

    loaded = state(ctx).loaded(
        **{"scheduler.api_port": port, "scheduler.state_path": state_path}
    )
    service_main.run(loaded.settings)
