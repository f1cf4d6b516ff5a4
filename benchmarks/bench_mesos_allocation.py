"""Allocation speed and memory of the local Mesos master at 10,000 agents.

* ``mesos_allocation_cycle_10k_agents``: wall time of one master allocation
  cycle that offers all 10,000 simulated agents to one framework subscribed
  with the real pymesos driver over a real socket (DRF decision, offer records,
  JSON encoding of the OFFERS event; measured by the master around the cycle).
  The cycle measured is the one after the framework declined every offer and
  revived, i.e. a warm, full re-offer.
* ``mesos_allocation_cycles_per_second``: full decisions per second of the pure
  allocator (`allocate`) over the same 10,000 agents, without effects.
* ``mesos_master_rss_10k_agents``: resident memory of this process with the
  cluster up and the 10,000 offers outstanding.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

AGENTS = 10_000
TIMEOUT = 120.0


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cycle_after(master: Any, cycles: int) -> float:
    deadline = time.monotonic() + TIMEOUT
    while master.allocation_cycles <= cycles:
        if time.monotonic() > deadline:
            raise RuntimeError("no allocation cycle ran")
        time.sleep(0.01)
    return float(master.allocation_seconds)


def _full_cycle() -> tuple[float, float]:
    from pymesos import MesosSchedulerDriver, Scheduler

    from framework.local.cluster import ClusterConfig, LocalCluster

    class Holder(Scheduler):  # type: ignore[misc]
        def __init__(self) -> None:
            self.offers: list[Any] = []
            self.cond = threading.Condition()

        def resourceOffers(self, driver: Any, offers: list[Any]) -> None:
            with self.cond:
                self.offers += offers
                self.cond.notify_all()

        def wait(self, count: int) -> list[Any]:
            with self.cond:
                assert self.cond.wait_for(lambda: len(self.offers) >= count, TIMEOUT)
                taken, self.offers = self.offers, []
                return taken

    config = ClusterConfig(
        port=0, agents=AGENTS, simulated=True, allocation_interval=3600.0
    )
    cluster = LocalCluster(config)
    cluster.start_in_thread(timeout=TIMEOUT)
    sched = Holder()
    driver = MesosSchedulerDriver(
        sched, {"user": "bench", "name": "bench"}, cluster.address
    )
    try:
        driver.start()
        offers = sched.wait(AGENTS)
        cycles = cluster.master.allocation_cycles
        driver.declineOffer([o["id"] for o in offers], {"refuse_seconds": 0})
        driver.reviveOffers()
        seconds = _cycle_after(cluster.master, cycles)
        sched.wait(AGENTS)
        rss = _rss_mib()
    finally:
        driver.stop()
        driver.join()
        cluster.stop(timeout=TIMEOUT)
    return seconds, rss


def _pure_cycles_per_second() -> float:
    from framework.ids import AgentId, FrameworkId
    from framework.local.mesos_allocator import Client, allocate
    from framework.local.mesos_state import AgentRecord
    from framework.local.mesos_wire import Resources

    agents = [
        AgentRecord(
            AgentId(f"a{i}"),
            "h",
            Resources(4, 8192, 65536),
            Resources(4, 8192, 65536),
            [],
            0.0,
        )
        for i in range(AGENTS)
    ]
    clients = [Client(FrameworkId("f"), "*", (0.0, 0.0, 0.0, 0.0))]
    total = (4.0 * AGENTS, 8192.0 * AGENTS, 65536.0 * AGENTS, 0.0)
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < 2.0:
        allocate(agents, clients, total, 0.0)
        runs += 1
    return runs / (time.perf_counter() - started)


def run() -> dict[str, dict[str, Any]]:
    seconds, rss = _full_cycle()
    return {
        "mesos_allocation_cycle_10k_agents": {
            "value": seconds,
            "unit": "s",
            "target": 1.0,
        },
        "mesos_allocation_cycles_per_second": {
            "value": _pure_cycles_per_second(),
            "unit": "cycles/s",
            "target": None,
        },
        "mesos_master_rss_10k_agents": {"value": rss, "unit": "MiB", "target": None},
    }


if __name__ == "__main__":
    for name, figure in run().items():
        value, unit, target = figure["value"], figure["unit"], figure["target"]
        print(f"{name}: {value:.3f} {unit} (target {target})")
