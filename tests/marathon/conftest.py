"""A local cluster with the local Marathon on it, and app definitions."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framework.clients.marathon_api import MarathonApi
from framework.local.cluster import LocalCluster
from framework.settings import MarathonSettings
from tests.support.cluster import fast_cluster

# Serves ./www on $PORT0; /health exists only when HEALTH is "ok".
SERVE = (
    'mkdir -p www && if [ "$HEALTH" = ok ]; then echo ok > www/health; fi && '
    "cd www && exec python3 -m http.server $PORT0 --bind 127.0.0.1"
)


def service(version: str, *, health: str = "ok", instances: int = 2) -> dict[str, Any]:
    """A small HTTP service; durations are scaled by the stand-in (x0.1)."""
    return copy.deepcopy(
        {
            "id": "/e2e/web",
            "cmd": SERVE,
            "instances": instances,
            "cpus": 0.05,
            "mem": 32,
            "env": {"HEALTH": health, "APP_VERSION": version},
            "portDefinitions": [{"port": 0, "name": "http"}],
            "healthChecks": [
                {
                    "protocol": "HTTP",
                    "path": "/health",
                    "portIndex": 0,
                    "gracePeriodSeconds": 10,
                    "intervalSeconds": 2,
                    "timeoutSeconds": 1,
                    "maxConsecutiveFailures": 2,
                }
            ],
            "upgradeStrategy": {
                "minimumHealthCapacity": 1.0,
                "maximumOverCapacity": 0.5,
            },
            "backoffSeconds": 1,
        }
    )


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    yield from fast_cluster(tmp_path, agents=2, agent_cpus=4, agent_mem=4096)


@pytest.fixture
def marathon_url(cluster: LocalCluster) -> Iterator[str]:
    from framework.local.marathon import LocalMarathon, MarathonTiming

    timing = MarathonTiming(
        tick_interval=0.05, revive_interval=0.5, refuse_seconds=0.3, time_scale=0.1
    )
    local = LocalMarathon(master=cluster.address, port=0, timing=timing)
    local.start_in_thread()
    yield local.url
    local.stop_in_thread()


@pytest.fixture
def api(marathon_url: str) -> Iterator[MarathonApi]:
    client = MarathonApi(MarathonSettings(url=marathon_url))
    yield client
    client.close()
