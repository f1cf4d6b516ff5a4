"""Lag and pass time of the Consul sync loop against the local stand-ins.

* ``consul_sync_register_lag_p99``: p99, over 250 tasks, of the time from the
  TASK_RUNNING status (the master's timestamp) to the return of the Consul
  write that made the instance visible and passing (no health check, so
  passing at once); measured by the loop itself (`SyncMetrics` samples).
* ``consul_sync_deregister_lag_p99``: the same from TASK_FINISHED to the
  deregistration. 250 starts + 250 ends = 500 task changes.
* ``consul_sync_pass_10000_tasks``: wall time of one anti-entropy repair
  (read agent services and checks, scan the catalog for our entries on other
  nodes, plan, write nothing) over 10,000 synthetic running tasks that are
  already registered; ``consul_sync_pass_10000_writes`` is its write count.

Consul and the simulated Mesos cluster run in their own processes (spawn), so
their Python threads do not share the sync loop's GIL. Tasks come from a small
pymesos framework here; they finish on their own (label ``local.duration``).

When `make test`/`make bench` installed the real Consul 1.8.7
(tools/install_consul.py), the lag figures are measured again against a real
`consul agent -dev`, under names ending in ``_real_consul``, and
``consul_real_{agent,catalog}_registrations_per_s_at_2000`` show what a real
agent does with many services (see `_registration_rates`).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

TASKS = 250
BIG = 10_000
NAMES = 100
RATE_SERVICES = 2_000  # services already on the real agent when measured
RATE_LAST = 500  # registrations timed, the last of the RATE_SERVICES
DURATION = "1.0"
Figures = dict[str, dict[str, Any]]


def _serve_consul(data_dir: str, ports: Any, stop: Any) -> None:
    from framework.local.consul import LocalConsul

    server = LocalConsul(port=0, data_dir=data_dir, node_name="bench")
    ports.put(server.start_in_thread())
    stop.wait()
    server.stop_in_thread()


def _serve_mesos(ports: Any, stop: Any) -> None:
    from framework.local.cluster import ClusterConfig, LocalCluster

    cluster = LocalCluster(
        ClusterConfig(
            port=0,
            agents=4,
            simulated=True,
            agent_cpus=64,
            agent_mem=65536,
            allocation_interval=0.05,
            heartbeat_interval=5.0,
            update_backoff=0.5,
        )
    )
    ports.put(cluster.start_in_thread())
    stop.wait()
    cluster.stop()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("inf")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Launcher:
    """A pymesos scheduler that launches queued tasks on every offer."""

    def __init__(self) -> None:
        from framework.clients.mesos import Scheduler

        outer = self

        class _Sched(Scheduler):  # type: ignore[misc]
            def resourceOffers(self, driver: Any, offers: list[Any]) -> None:
                outer.offers(driver, offers)

        self.scheduler = _Sched()
        self.queue: list[str] = []
        self.lock = threading.Lock()
        self.port = 31000

    def offers(self, driver: Any, offers: list[Any]) -> None:
        for offer in offers:
            with self.lock:
                batch, self.queue = self.queue[:20], self.queue[20:]
            if not batch:
                driver.declineOffer(offer["id"], {"refuse_seconds": 0.05})
                continue
            driver.launchTasks(offer["id"], [self._task(t, offer) for t in batch])

    def _task(self, task_id: str, offer: Any) -> dict[str, Any]:
        self.port = 31000 + (self.port - 30999) % 1000
        labels = {
            "consul.name": f"svc-{hash(task_id) % 10}",
            "local.duration": DURATION,
        }
        return {
            "task_id": {"value": task_id},
            "agent_id": offer["agent_id"],
            "name": task_id,
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.01}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 1}},
                {
                    "name": "ports",
                    "type": "RANGES",
                    "ranges": {"range": [{"begin": self.port, "end": self.port}]},
                },
            ],
            "command": {"value": "true", "shell": True},
            "labels": {"labels": [{"key": k, "value": v} for k, v in labels.items()]},
        }


def _settings(master: str, consul_port: int, tmp: str) -> Any:
    from framework.settings import load_settings

    env = {
        "MESOS_MASTER": master,
        "CONSUL_HTTP_ADDR": f"127.0.0.1:{consul_port}",
        "MESOS_ADAPTER_SYNC_CLUSTER_NAME": "bench",
        "MESOS_ADAPTER_SYNC_ANTI_ENTROPY_SECONDS": "30",
        "XDG_CONFIG_HOME": str(Path(tmp) / "no-config"),
    }
    return load_settings(env=env).settings


def _lags(master: str, consul_port: int, tmp: str) -> Figures:
    from framework.clients.mesos import new_driver
    from framework.consul_sync.loop import LoopOptions, SyncLoop

    settings = _settings(master, consul_port, tmp)
    sync = SyncLoop(settings, LoopOptions(marathon=False, lock_delay=0))
    aloop = asyncio.new_event_loop()
    stop = asyncio.Event()
    runner = threading.Thread(
        target=aloop.run_until_complete, args=(sync.run(stop),), daemon=True
    )
    runner.start()
    while not sync.watching:
        time.sleep(0.05)

    # Launch TASKS tasks a few at a time; each ends on its own after DURATION.
    launcher = _Launcher()
    info = {"user": "nobody", "name": "bench-sync"}
    driver = new_driver(launcher.scheduler, info, settings.mesos)
    driver.start()
    for number in range(TASKS):
        with launcher.lock:
            launcher.queue.append(f"bench.{number}")
        time.sleep(0.01)
    deadline = time.monotonic() + 120
    metrics = sync.metrics
    while time.monotonic() < deadline and (
        len(metrics.register_samples) < TASKS or len(metrics.deregister_samples) < TASKS
    ):
        time.sleep(0.1)
    driver.stop()
    driver.join()
    aloop.call_soon_threadsafe(stop.set)
    runner.join(30)
    aloop.close()
    return {
        "consul_sync_register_lag_p99": {
            "value": _percentile(list(metrics.register_samples), 0.99),
            "unit": "s",
            "target": 1.0,
        },
        "consul_sync_deregister_lag_p99": {
            "value": _percentile(list(metrics.deregister_samples), 0.99),
            "unit": "s",
            "target": 1.0,
        },
        "consul_sync_task_changes_measured": {
            "value": len(metrics.register_samples) + len(metrics.deregister_samples),
            "unit": "changes",
            "target": 2 * TASKS,
        },
    }


def _big_world(sync: Any) -> None:
    from framework.consul_sync.model import AgentView, TaskView
    from framework.ids import AgentId, TaskId

    agents = {
        AgentId(f"a{i}"): AgentView(AgentId(f"a{i}"), f"host-{i}") for i in range(100)
    }
    sync.world.agents = agents
    sync.world.tasks = {
        TaskId(f"task.{i}"): TaskView(
            task_id=TaskId(f"task.{i}"),
            framework_id="fw",
            agent_id=AgentId(f"a{i % 100}"),
            state="TASK_RUNNING",
            labels={"consul.name": f"svc-{i % NAMES}", "consul.tags": "bench"},
            ports=(20000 + i % 1000,),
        )
        for i in range(BIG)
    }


def _pass(consul_port: int, tmp: str) -> Figures:
    from framework.consul_sync.loop import LoopOptions, SyncLoop

    settings = _settings("127.0.0.1:1", consul_port, tmp)
    sync = SyncLoop(settings, LoopOptions(marathon=False))
    _big_world(sync)

    async def passes() -> tuple[float, int]:
        await sync.repair()  # registers all 10,000 (not timed)
        started = time.perf_counter()
        _, writes = await sync.repair()
        return time.perf_counter() - started, writes

    try:
        seconds, writes = asyncio.run(passes())
    finally:
        sync.consul.close()
    return {
        "consul_sync_pass_10000_tasks": {"value": seconds, "unit": "s", "target": 10.0},
        "consul_sync_pass_10000_writes": {
            "value": writes,
            "unit": "writes",
            "target": 0,
        },
    }


def _against_real_consul(master: str, tmp: str) -> Figures:
    from tests.support import real_consul

    with real_consul.started("bench-real") as agent:
        if agent is None:
            print(f"bench_consul_sync: {real_consul.SKIP_REASON}; no real figures")
            return {}
        lags = _lags(master, agent.port, tmp)
    figures = {f"{name}_real_consul": figure for name, figure in lags.items()}
    figures.update(_registration_rates())
    return figures


def _registration_rates() -> Figures:
    """Writes/s of a real agent once it holds RATE_SERVICES services.

    The sync loop registers every instance on the one agent it talks to. The
    stand-in's cost per registration is flat; a real Consul 1.8.7 agent's grows
    with the services it already holds, while catalog writes stay flat. The
    10,000-task pass is therefore not measured on the real agent (registering
    10,000 services there takes many minutes); these two figures say why.
    """
    from tests.support import real_consul

    figures: Figures = {}
    for kind, path in (
        ("agent", "/v1/agent/service/register"),
        ("catalog", "/v1/catalog/register"),
    ):
        with real_consul.started("bench-rate") as agent:
            assert agent is not None  # the caller checked that Consul is installed
            seconds = _time_last_registrations(f"http://{agent.address}{path}", kind)
        figures[f"consul_real_{kind}_registrations_per_s_at_{RATE_SERVICES}"] = {
            "value": RATE_LAST / seconds,
            "unit": "writes/s",
            "target": None,
        }
    return figures


def _time_last_registrations(url: str, kind: str) -> float:
    """Register RATE_SERVICES instances; seconds taken by the last RATE_LAST."""
    import requests

    with requests.Session() as session:
        for number in range(RATE_SERVICES):
            if number == RATE_SERVICES - RATE_LAST:
                started = time.perf_counter()
            response = session.put(url, json=_rate_body(kind, number), timeout=30)
            response.raise_for_status()
    return time.perf_counter() - started


def _rate_body(kind: str, number: int) -> dict[str, Any]:
    service = {
        "ID": f"task.{number}:0",
        "Name": f"svc-{number % NAMES}",
        "Port": 20000 + number % 1000,
        "Meta": {"managed-by": "mesos-adapter"},
    }
    if kind == "agent":
        return {**service, "Address": "10.0.0.1"}
    host = number % 100
    name = service.pop("Name")
    catalog = {**service, "Service": name}
    return {"Node": f"host-{host}", "Address": f"10.0.1.{host}", "Service": catalog}


def run() -> Figures:
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        ports, stop = spawn.Queue(), spawn.Event()
        consul = spawn.Process(target=_serve_consul, args=(tmp + "/c1", ports, stop))
        mesos = spawn.Process(target=_serve_mesos, args=(ports, stop))
        big = spawn.Process(target=_serve_consul, args=(tmp + "/c2", ports, stop))
        consul.start()
        consul_port = ports.get(timeout=60)
        mesos.start()
        master = f"127.0.0.1:{ports.get(timeout=60)}"
        big.start()
        big_port = ports.get(timeout=60)
        try:
            figures = _lags(master, consul_port, tmp)
            figures.update(_pass(big_port, tmp))
            figures.update(_against_real_consul(master, tmp))
        finally:
            stop.set()
            for child in (consul, mesos, big):
                child.join(60)
    return figures


if __name__ == "__main__":
    for name, figure in run().items():
        value, unit, target = figure["value"], figure["unit"], figure["target"]
        print(f"{name}: {value:.4g} {unit} (target {target} {unit})")
