"""A 50-instance Marathon deploy on the local cluster, followed by the deployer.

Figures: seconds from the PUT to every instance healthy, split into placement
(PUT to the last task launched, seen as TASK_ADDED on the master's operator
event stream), start (to the last TASK_RUNNING) and health (to the last first
passing check; both seen through the deployer's Marathon event stream), and
how many Marathon API calls the deployer made while following it. Tasks are
real ``sleep`` processes with a COMMAND health check; the stand-in scales
health-check durations by 0.1.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from framework.clients.marathon_api import MarathonApi
from framework.clients.mesos_events import RecordIO
from framework.local.cluster import ClusterConfig, LocalCluster
from framework.marathon.executor import Deployer, Timing
from framework.marathon.follow import FollowPolicy, FollowState
from framework.settings import MarathonSettings

INSTANCES = 50
APP: dict[str, Any] = {
    "id": "/bench/sleepers",
    "cmd": "sleep 600",
    "instances": INSTANCES,
    "cpus": 0.01,
    "mem": 8,
    "portDefinitions": [],
    "healthChecks": [
        {
            "protocol": "COMMAND",
            "command": {"value": "true"},
            "gracePeriodSeconds": 10,
            "intervalSeconds": 2,
            "timeoutSeconds": 1,
        }
    ],
}


class PlacementWatch:
    """Time of the last TASK_ADDED on the master's operator stream (a thread)."""

    def __init__(self, master: str, expected: int) -> None:
        self.expected = expected
        self.placed_at: float | None = None
        self._response = requests.post(
            f"http://{master}/api/v1",
            json={"type": "SUBSCRIBE"},
            headers={"Accept": "application/json"},
            stream=True,
            timeout=(5, 120),
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        decoder, added = RecordIO(), 0
        with contextlib.suppress(requests.RequestException, AttributeError):
            for chunk in self._response.iter_content(chunk_size=None):
                for record in decoder.feed(chunk):
                    if json.loads(record).get("type") == "TASK_ADDED":
                        added += 1
                        if added == self.expected:
                            self.placed_at = time.perf_counter()
                            return

    def close(self) -> None:
        self._response.close()
        self._thread.join(5)


class Marks:
    """Times of the last launch, last running and last healthy instance."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.running_at = started
        self.healthy_at = started
        self._running = 0
        self._healthy = 0

    def say(self, message: str) -> None:
        pass

    def progress(self, state: FollowState) -> None:
        now = time.perf_counter()
        if len(state.running) > self._running:
            self._running, self.running_at = len(state.running), now
        if len(state.healthy) > self._healthy:
            self._healthy, self.healthy_at = len(state.healthy), now


def measure() -> dict[str, float]:
    from framework.local.marathon import LocalMarathon, MarathonTiming

    with tempfile.TemporaryDirectory(prefix="bench-marathon-") as tmp:
        cluster = LocalCluster(
            ClusterConfig(
                port=0, agents=1, agent_cpus=8, agent_mem=8192,
                allocation_interval=0.1, heartbeat_interval=1.0,
                update_backoff=0.3, tick_interval=0.05, default_kill_grace=1.0,
                work_dir=Path(tmp) / "work",
            )
        )  # fmt: skip
        cluster.start_in_thread()
        timing = MarathonTiming(
            tick_interval=0.05, revive_interval=0.5, refuse_seconds=0.3,
            time_scale=0.1,
        )  # fmt: skip
        marathon = LocalMarathon(master=cluster.address, port=0, timing=timing)
        marathon.start_in_thread()
        api = MarathonApi(MarathonSettings(url=marathon.url))
        watch = PlacementWatch(cluster.address, INSTANCES)
        try:
            started = time.perf_counter()
            marks = Marks(started)
            deployer = Deployer(api, reporter=marks, timing=Timing(poll_interval=10))
            outcome = deployer.deploy(APP, wait=True, policy=FollowPolicy(120))
            done = time.perf_counter()
            deployer.close()
            assert outcome.ok, outcome.reason
            placed = (watch.placed_at or marks.running_at) - started
            return {
                "total": done - started,
                "placement": placed,
                "start": marks.running_at - started - placed,
                "running": marks.running_at - started,
                "health": marks.healthy_at - marks.running_at,
                "calls": float(api.total_calls),
            }
        finally:
            watch.close()
            api.close()
            marathon.stop_in_thread()
            cluster.stop()


def run() -> dict[str, dict[str, Any]]:
    figures = measure()
    return {
        "marathon_deploy_50_put_to_healthy": {
            "value": round(figures["total"], 2), "unit": "s", "target": 30.0,
        },
        "marathon_deploy_50_placement": {
            "value": round(figures["placement"], 2), "unit": "s", "target": None,
        },
        "marathon_deploy_50_start": {
            "value": round(figures["start"], 2), "unit": "s", "target": None,
        },
        "marathon_deploy_50_put_to_running": {
            "value": round(figures["running"], 2), "unit": "s", "target": None,
        },
        "marathon_deploy_50_running_to_healthy": {
            "value": round(figures["health"], 2), "unit": "s", "target": None,
        },
        "marathon_deploy_50_api_calls": {
            "value": int(figures["calls"]), "unit": "calls", "target": 20,
        },
    }  # fmt: skip


if __name__ == "__main__":
    for name, figure in run().items():
        print(f"{name}: {figure['value']} {figure['unit']} (target {figure['target']})")
