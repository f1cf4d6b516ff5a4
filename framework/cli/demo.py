"""``mesos-adapter dev demo``: the batch framework on the local cluster (make demo)."""

from __future__ import annotations

import click


@click.command("demo")
@click.option("--timeout", type=float, default=90.0, show_default=True)
def demo(timeout: float) -> None:
    """Run the example jobs on a throwaway local cluster and report."""
    from framework import demo as demo_run
    from framework import logs

    logs.configure("WARNING")
    raise SystemExit(demo_run.run(timeout=timeout))
