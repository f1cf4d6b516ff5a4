"""Fixtures of the batch e2e tests: a local cluster and a scheduler beside it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from framework.batch import service_main
from framework.batch.store import JobStore
from framework.local.cluster import LocalCluster
from framework.settings import Settings, load_settings
from tests.support.cluster import fast_cluster
from tests.support.waiting import wait_for


@pytest.fixture(autouse=True)
def _close_job_stores(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every JobStore a test opened (Python 3.13 warns on unclosed sqlite)."""
    opened: list[JobStore] = []
    original = JobStore.__init__

    def recording_init(self: JobStore, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(JobStore, "__init__", recording_init)
    yield
    for store in opened:
        store.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    yield from fast_cluster(tmp_path, agents=2, agent_cpus=2, agent_mem=2048)


def scheduler_settings(cluster: LocalCluster, state: Path) -> Settings:
    env = {
        "MESOS_MASTER": cluster.address,
        "MESOS_ADAPTER_SCHEDULER_STATE_PATH": str(state),
        "MESOS_ADAPTER_SCHEDULER_REFUSE_SECONDS": "0.2",
        "XDG_CONFIG_HOME": str(state.parent / "no-config"),
    }
    return load_settings(env=env).settings


class InProcessScheduler:
    """``scheduler run`` on a background event loop, for tests."""

    def __init__(self, settings: Settings) -> None:
        self.running = service_main.Running(settings)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._call(self.running.start(port=0))
        self.url = f"http://127.0.0.1:{self.running.port}"

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self) -> None:
        self._call(self.running.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def scheduler(cluster: LocalCluster, tmp_path: Path) -> Iterator[InProcessScheduler]:
    running = InProcessScheduler(scheduler_settings(cluster, tmp_path / "s.sqlite"))
    yield running
    running.stop()


def job_state(url: str, job_id: str) -> dict[str, Any]:
    response = requests.get(f"{url}/v1/jobs/{job_id}", timeout=10)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def wait_final(url: str, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        job = job_state(url, job_id)
        return job if job["state"] in ("SUCCEEDED", "FAILED", "KILLED") else None

    result: dict[str, Any] = wait_for(final, timeout=timeout, what=f"{job_id} final")
    return result


class SubprocessScheduler:
    """``mesos-adapter scheduler run`` as a real process (for crash tests)."""

    def __init__(self, cluster: LocalCluster, state: Path, port: int) -> None:
        env = {
            **os.environ,
            "MESOS_MASTER": cluster.address,
            "MESOS_ADAPTER_SCHEDULER_STATE_PATH": str(state),
            "MESOS_ADAPTER_SCHEDULER_REFUSE_SECONDS": "0.2",
            "MESOS_ADAPTER_SCHEDULER_API_PORT": str(port),
            "XDG_CONFIG_HOME": str(state.parent / "no-config"),
        }
        script = Path(sys.executable).parent / "mesos-adapter"
        self.log = state.parent / f"scheduler-{port}.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(script), "scheduler", "run"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.url = f"http://127.0.0.1:{port}"
        wait_for(self._up, what="scheduler API")

    def _up(self) -> bool:
        try:
            return requests.get(f"{self.url}/health", timeout=1).ok
        except requests.ConnectionError:
            return False

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
