"""Fixtures of the sync-loop e2e tests: local Mesos, local Consul, a framework.

Everything crosses real loopback sockets: the sync loop reads the local
master's operator API and writes the local Consul; tests launch tasks through a
real pymesos framework and read Consul with py-consul.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import consul
import pytest

from framework.consul_sync.loop import LoopOptions, SyncLoop
from framework.local.cluster import ClusterConfig, LocalCluster
from framework.local.consul import LocalConsul, Timing
from framework.settings import Settings, load_settings
from tests.local.mesos_helpers import Recorder, framework_info, running_driver
from tests.support import real_consul
from tests.support.waiting import wait_for

FAST_CONSUL = Timing(
    min_check_interval=0.02,
    min_deregister_critical_after=0.0,
    reap_interval=0.05,
    session_ttl_multiplier=0.05,  # a 10 s session TTL lapses after 0.5 s
    flush_delay=0.01,
)
FAST_OPTIONS = LoopOptions(
    marathon=False, lock_delay=0, renew_every=0.05, acquire_every=0.05
)
WAIT = 20.0  # a hang guard, never an assertion about speed


@pytest.fixture(autouse=True)
def _no_consul_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_SSL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def consul_dir(tmp_path: Path) -> Path:
    return tmp_path / "consul"


@pytest.fixture(params=["local", f"consul-{real_consul.VERSION}"])
def consul_server(request: pytest.FixtureRequest, consul_dir: Path) -> Iterator[Any]:
    """The local Consul, then the same test against a real Consul agent."""
    if request.param != "local":
        yield from real_consul.agent_for(request)
        return
    local = LocalConsul(port=0, data_dir=consul_dir, node_name="n1", timing=FAST_CONSUL)
    local.start_in_thread()
    yield local
    local.stop_in_thread()


@pytest.fixture
def c(consul_server: Any) -> Iterator[Any]:
    client = consul.Consul(host="127.0.0.1", port=consul_server.port)
    yield client
    client.http.session.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    local = LocalCluster(
        ClusterConfig(
            port=0,
            agents=2,
            simulated=True,
            allocation_interval=0.05,
            heartbeat_interval=1.0,
            update_backoff=0.3,
            tick_interval=0.05,
            default_kill_grace=0.2,
            work_dir=tmp_path / "work",
        )
    )
    local.start_in_thread()
    yield local
    local.stop()


def sync_settings(
    cluster: LocalCluster, consul_addr: str, tmp_path: Path, **extra: str
) -> Settings:
    env = {
        "MESOS_MASTER": cluster.address,
        "CONSUL_HTTP_ADDR": consul_addr,
        "MESOS_ADAPTER_SYNC_CLUSTER_NAME": "test",
        "MESOS_ADAPTER_SYNC_ANTI_ENTROPY_SECONDS": "0.5",
        "XDG_CONFIG_HOME": str(tmp_path / "no-config"),
        **extra,
    }
    return load_settings(env=env).settings


class RunningSync:
    """A `SyncLoop` on its own event loop in a thread."""

    def __init__(self, settings: Settings, options: LoopOptions = FAST_OPTIONS):
        self.loop = SyncLoop(settings, options)
        self.aloop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.error: list[BaseException] = []
        started = threading.Event()
        self.thread = threading.Thread(target=self._main, args=(started,), daemon=True)
        self.thread.start()
        started.wait(10)

    def _main(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.aloop)

        async def body() -> None:
            self.stop_event = asyncio.Event()
            started.set()
            await self.loop.run(self.stop_event)

        try:
            self.aloop.run_until_complete(body())
        except BaseException as exc:  # surfaced by stop()
            self.error.append(exc)
        finally:
            self.aloop.run_until_complete(self.aloop.shutdown_asyncgens())
            self.aloop.close()

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.aloop).result(WAIT)

    def stop(self, *, release: bool = True) -> None:
        """Stop; ``release=False`` leaves the leader lock to lapse (a crash)."""
        if not self.thread.is_alive():
            return
        self.loop.release_on_stop = release
        assert self.stop_event is not None
        self.aloop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        assert not self.error, self.error


@pytest.fixture
def start_sync(
    cluster: LocalCluster, consul_server: Any, tmp_path: Path
) -> Iterator[Callable[..., RunningSync]]:
    started: list[RunningSync] = []

    def start(
        options: LoopOptions = FAST_OPTIONS, *, leads: bool = True, **extra: str
    ) -> RunningSync:
        settings = sync_settings(cluster, consul_server.address, tmp_path, **extra)
        running = RunningSync(settings, options)
        started.append(running)
        if leads:  # following Mesos events, so lags are measured from now on
            wait_for(lambda: running.loop.watching or running.error)
        return running

    yield start
    for running in reversed(started):
        running.stop()


class Framework:
    """A pymesos framework that launches labelled tasks with ports on demand."""

    def __init__(self, recorder: Recorder, driver: Any) -> None:
        self.recorder = recorder
        self.driver = driver
        self._next_port = 31000
        self._used: set[str] = set()

    def launch(
        self, task_id: str, labels: dict[str, str], *, ports: int = 1
    ) -> dict[str, Any]:
        """Launch on the next offer; the offer used (its agent, its hostname)."""
        offer = self._fresh_offer()
        begin = self._next_port
        self._next_port += ports
        task = {
            "task_id": {"value": task_id},
            "agent_id": offer["agent_id"],
            "name": task_id,
            "resources": [
                _scalar("cpus", 0.1),
                _scalar("mem", 16),
                {
                    "name": "ports",
                    "type": "RANGES",
                    "ranges": {"range": [{"begin": begin, "end": begin + ports - 1}]},
                },
            ],
            "command": {"value": "true", "shell": True},
            "labels": {"labels": [{"key": k, "value": v} for k, v in labels.items()]},
        }
        self.driver.launchTasks(offer["id"], [task])
        self.recorder.wait_state(task_id, "TASK_RUNNING")
        return dict(offer)

    def _fresh_offer(self) -> Any:
        """An offer not used yet and not rescinded; revive until one comes."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with self.recorder.cond:
                gone = {p["value"] for k, p in self.recorder.events if k == "rescind"}
                events = self.recorder.events
                # Offers do not survive a re-subscription.
                start = max(
                    (i for i, (k, _) in enumerate(events) if k == "disconnected"),
                    default=-1,
                )
                for kind, offer in events[start + 1 :]:
                    oid = offer["id"]["value"] if kind == "offer" else None
                    if oid and oid not in self._used and oid not in gone:
                        self._used.add(oid)
                        return offer
            mark = self.recorder.mark()
            self.driver.reviveOffers()
            try:
                self.recorder.wait("offer", after=mark, timeout=1.0)
            except AssertionError:
                continue
        raise AssertionError("no usable offer")

    def kill(self, task_id: str) -> None:
        self.driver.killTask({"value": task_id})
        self.recorder.wait_state(task_id, "TASK_KILLED")


def _scalar(name: str, value: float) -> dict[str, Any]:
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


@pytest.fixture
def framework(cluster: LocalCluster) -> Iterator[Framework]:
    recorder = Recorder()
    info = framework_info("sync-test", capabilities=[{"type": "TASK_KILLING_STATE"}])
    with running_driver(recorder, cluster.address, info) as driver:
        recorder.wait("registered")
        yield Framework(recorder, driver)
