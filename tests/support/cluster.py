"""A local Mesos cluster with short timings, for the tests that need one.

``FAST_CLUSTER`` holds the timings every suite shares (allocation every 0.1 s,
quick heartbeats, backoff and kill grace); ``fast_cluster`` starts a cluster
with them plus what a suite sets itself (agent count and sizes, ports, a work
dir) and yields it, stopping it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from framework.local.cluster import ClusterConfig, LocalCluster

FAST_CLUSTER: dict[str, Any] = {
    "port": 0,
    "allocation_interval": 0.1,
    "heartbeat_interval": 1.0,
    "update_backoff": 0.3,
    "tick_interval": 0.05,
    "default_kill_grace": 1.0,
}


def fast_cluster(tmp_path: Path, **overrides: Any) -> Iterator[LocalCluster]:
    """Start a fast local cluster under ``tmp_path``; yield it; stop it."""
    options = {**FAST_CLUSTER, "work_dir": tmp_path / "work", **overrides}
    local = LocalCluster(ClusterConfig(**options))
    local.start_in_thread()
    try:
        yield local
    finally:
        local.stop()
