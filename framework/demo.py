"""``make demo``: the batch framework on the local cluster, start to finish.

Starts a local Mesos cluster (real processes) and the batch scheduler in this
process, submits the jobs in ``examples/`` through the scheduler's HTTP API as
a user would, shows live progress, and ends with each job's state and
attempts and the cluster's CPU and memory utilization over the run.

What the demo expects, and checks (exit 1 otherwise): the array job and the
flaky job succeed (the flaky one on its second attempt), the job larger than
every agent is rejected at submit, and the Spark job runs when spark-submit is
installed or is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape

from framework.batch import service_main
from framework.batch.client import ApiError, JobsClient
from framework.cli.jobs import jobs_table, resolve_spark_app
from framework.clients.mesos_operator import OperatorClient
from framework.errors import BackendError
from framework.local.cluster import ClusterConfig, LocalCluster
from framework.settings import load_settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FINAL = ("SUCCEEDED", "FAILED", "KILLED")


@dataclass
class Samples:
    """Cluster utilization samples taken from the master's state."""

    cpus: list[float] = field(default_factory=list)
    mem: list[float] = field(default_factory=list)

    def take(self, master: OperatorClient) -> None:
        try:
            state = master.get("/master/state")
        except BackendError:
            return
        total = {"cpus": 0.0, "mem": 0.0}
        used = {"cpus": 0.0, "mem": 0.0}
        for agent in state.get("slaves", []):
            for name in total:
                total[name] += float(agent.get("resources", {}).get(name, 0))
                used[name] += float(agent.get("used_resources", {}).get(name, 0))
        if total["cpus"] and total["mem"]:
            self.cpus.append(used["cpus"] / total["cpus"])
            self.mem.append(used["mem"] / total["mem"])

    def summary(self) -> str:
        if not self.cpus:
            return "no utilization samples"
        return (
            f"cluster utilization over the run: cpus mean "
            f"{statistics.mean(self.cpus):.0%} peak {max(self.cpus):.0%}; "
            f"mem mean {statistics.mean(self.mem):.0%} peak {max(self.mem):.0%} "
            f"({len(self.cpus)} samples)"
        )


class SchedulerThread:
    """The batch scheduler on its own event loop thread."""

    def __init__(self, running: service_main.Running) -> None:
        self.running = running
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> int:
        self.thread.start()
        self._call(self.running.start(port=0))
        return self.running.port

    def stop(self) -> None:
        self._call(self.running.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)


def run(*, timeout: float = 90.0, console: Console | None = None) -> int:
    """Run the demo; returns the exit code."""
    console = console or Console()
    work = Path(tempfile.mkdtemp(prefix="mesos-adapter-demo-"))
    cluster = LocalCluster(
        ClusterConfig(
            port=0,
            agents=2,
            agent_cpus=2,
            agent_mem=1024,
            allocation_interval=0.2,
            work_dir=work / "mesos",
            attributes=(("rack", "r1,r2"),),
        )
    )
    try:
        cluster.start_in_thread()
        console.print(
            f"local Mesos master on {cluster.address}, 2 agents (2 cpus, 1 GB)"
        )
        return _with_cluster(cluster, work, timeout, console)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def _with_cluster(
    cluster: LocalCluster, work: Path, timeout: float, console: Console
) -> int:
    env = {
        "MESOS_MASTER": cluster.address,
        "MESOS_ADAPTER_SCHEDULER_STATE_PATH": str(work / "scheduler.sqlite"),
        "MESOS_ADAPTER_SCHEDULER_REFUSE_SECONDS": "1",
        "MESOS_ADAPTER_LOGGING_LEVEL": "WARNING",
        "XDG_CONFIG_HOME": str(work / "config"),
    }
    settings = load_settings(env=env).settings
    scheduler = SchedulerThread(service_main.Running(settings))
    port = scheduler.start()
    client = JobsClient(f"http://127.0.0.1:{port}")
    master = OperatorClient(cluster.address, attempts=1)
    try:
        console.print(f"batch scheduler API on http://127.0.0.1:{port}\n")
        outcome = _submit_examples(client, console)
        samples = Samples()
        jobs = _follow(client, master, samples, set(outcome), timeout, console)
        console.print(jobs_table(jobs, title="final state"))
        console.print(samples.summary())
        return _verdict(jobs, outcome, console)
    finally:
        client.close()
        master.close()
        scheduler.stop()


def _submit_examples(client: JobsClient, console: Console) -> dict[str, str]:
    """Submit every example; returns {job id: what we expect of it}."""
    expected: dict[str, str] = {}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        text = path.read_text()
        if "kind: spark" in text and shutil.which("spark-submit") is None:
            hint = escape("pip install 'mesos-adapter[spark]'")
            console.print(
                f"[yellow]skip[/] {path.name}: spark-submit is not installed "
                f"({hint} to run the Spark example)"
            )
            continue
        try:
            job = client.submit(resolve_spark_app(text, str(path)))
        except ApiError as exc:
            console.print(f"[red]rejected[/] {path.name}: {escape(str(exc))}")
            expected[f"rejected:{path.stem}"] = "rejected"
            continue
        console.print(f"[green]submitted[/] {path.name} as job {job['id']}")
        expected[job["id"]] = "SUCCEEDED"
    return expected


def _follow(
    client: JobsClient,
    master: OperatorClient,
    samples: Samples,
    expected: set[str],
    timeout: float,
    console: Console,
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    jobs: list[dict[str, Any]] = []
    with Live(console=console, refresh_per_second=4, transient=True) as live:
        while time.monotonic() < deadline:
            samples.take(master)
            jobs = client.jobs()
            live.update(Group(jobs_table(jobs, title="live"), samples.summary()))
            if jobs and all(job["state"] in FINAL for job in jobs):
                break
            time.sleep(0.5)
    return jobs


def _verdict(
    jobs: list[dict[str, Any]], expected: dict[str, str], console: Console
) -> int:
    by_id = {job["id"]: job for job in jobs}
    problems = [
        f"{job_id} ended {by_id.get(job_id, {}).get('state', 'unknown')}"
        for job_id, want in expected.items()
        if want != "rejected" and by_id.get(job_id, {}).get("state") != want
    ]
    if "rejected:too-big-job" not in expected:
        problems.append("the too-big job was not rejected at submit")
    flaky = by_id.get("flaky-etl")
    if flaky is not None and len(flaky["attempts"]) != 2:
        problems.append("flaky-etl did not take exactly two attempts")
    if problems:
        console.print("[red]demo did not go as expected:[/] " + "; ".join(problems))
        return 1
    console.print("[green]demo finished as expected[/]")
    return 0
