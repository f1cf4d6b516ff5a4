"""make demo's main job runs to the expected outcome on the local cluster."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from framework import demo


@pytest.mark.timeout(180)
def test_demo_runs_the_examples_and_reports_utilization() -> None:
    out = io.StringIO()
    code = demo.run(timeout=120, console=Console(file=out, width=200))
    text = out.getvalue()
    assert code == 0, text
    assert "submitted array-job.yaml as job thumbnails" in text
    assert "rejected too-big-job.yaml: resources.mem" in text
    assert "cluster utilization over the run: cpus mean" in text
    assert "demo finished as expected" in text
    spark_line = [line for line in text.splitlines() if "spark-pi.yaml" in line]
    assert spark_line and ("skip" in spark_line[0] or "submitted" in spark_line[0])
