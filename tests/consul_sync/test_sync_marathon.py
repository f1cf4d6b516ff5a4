"""The sync loop with Marathon as a source: health results and app labels.

A real local Mesos (tasks are real processes), the local Marathon stand-in
and the local Consul. The app is a tiny HTTP server whose ``/health`` answers
500 while a file named ``all`` exists in ``fail_dir``, so the test can make it
unhealthy at will.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from framework.consul_sync.loop import LoopOptions
from framework.local.cluster import ClusterConfig, LocalCluster
from framework.local.consul import LocalConsul
from tests.consul_sync.conftest import (
    FAST_OPTIONS,
    RunningSync,
    sync_settings,
)
from tests.support.waiting import wait_for

SERVER = """
import http.server, os, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        bad = os.path.exists(os.path.join(sys.argv[1], "all"))
        self.send_response(500 if bad else 200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT0"])), Handler).serve_forever()
"""


@pytest.fixture
def process_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    local = LocalCluster(
        ClusterConfig(
            port=0,
            agents=1,
            allocation_interval=0.05,
            heartbeat_interval=1.0,
            update_backoff=0.3,
            tick_interval=0.05,
            default_kill_grace=0.5,
            work_dir=tmp_path / "work",
        )
    )
    local.start_in_thread()
    yield local
    local.stop()


@pytest.fixture
def marathon_url(process_cluster: LocalCluster, tmp_path: Path) -> Iterator[str]:
    from framework.local.marathon import LocalMarathon, MarathonTiming

    timing = MarathonTiming(
        tick_interval=0.05, revive_interval=0.2, refuse_seconds=0.3, time_scale=0.1
    )
    server = LocalMarathon(
        master=process_cluster.address,
        port=0,
        timing=timing,
        data_dir=tmp_path / "marathon",
    )
    server.start_in_thread()
    yield server.url
    server.stop_in_thread()


def _app(fail_dir: Path) -> dict[str, Any]:
    script = fail_dir.parent / "server.py"
    script.write_text(SERVER)
    return {
        "id": "/team/web",
        "cmd": f"{sys.executable} {script} {fail_dir}",
        "instances": 1,
        "cpus": 0.1,
        "mem": 32,
        "labels": {"consul.tags": "http", "mesos-adapter.weight": "20"},
        "healthChecks": [
            {
                "protocol": "HTTP",
                "path": "/health",
                "gracePeriodSeconds": 30,
                "intervalSeconds": 1,
                "timeoutSeconds": 20,
                "maxConsecutiveFailures": 0,
            }
        ],
    }


def test_marathon_health_drives_registration(
    process_cluster: LocalCluster,
    marathon_url: str,
    consul_server: LocalConsul,
    c: Any,
    tmp_path: Path,
) -> None:
    fail_dir = tmp_path / "fail"
    fail_dir.mkdir()
    settings = sync_settings(
        process_cluster, consul_server.address, tmp_path, MARATHON_URL=marathon_url
    )
    options = LoopOptions(**{**FAST_OPTIONS.__dict__, "marathon": True})
    running = RunningSync(settings, options)
    try:
        wait_for(lambda: running.loop.watching)
        with requests.Session() as http:
            created = http.post(
                f"{marathon_url}/v2/apps", json=_app(fail_dir), timeout=10
            )
            assert created.status_code == 201, created.text

            # Healthy: registered under the app's name, with the mirrored check.
            rows = wait_for(lambda: c.health.service("team-web", passing=True)[1])
            service = rows[0]["Service"]
            assert service["Meta"]["app-id"] == "/team/web"
            assert "http" in service["Tags"] and "stable" in service["Tags"]
            assert service["Weights"] == {"Passing": 20, "Warning": 1}
            checks = [ch for ch in rows[0]["Checks"] if ch["ServiceID"]]
            assert checks and checks[0]["Type"] == "http"

            # Unhealthy per Marathon: removed; healthy again: back.
            (fail_dir / "all").write_text("")
            wait_for(lambda: not c.catalog.service("team-web")[1])
            (fail_dir / "all").unlink()
            wait_for(lambda: c.health.service("team-web", passing=True)[1])

            # The app is deleted: its tasks end and the entry goes.
            http.delete(f"{marathon_url}/v2/apps/team/web", timeout=10)
            wait_for(lambda: not c.catalog.service("team-web")[1])
    finally:
        running.stop()
