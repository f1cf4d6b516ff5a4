"""The batch scheduler's offer path end to end, minus the socket.

Offers go through ``BatchScheduler.resourceOffers`` exactly as pymesos calls
it: DRF ordering, placement, the SQLite write-ahead of every launched attempt
(WAL, synchronous=FULL, on this machine's disk) and building the TaskInfos; the
driver is a stub that only counts calls. Figures:

* ``batch_offers_per_second_idle``: offers handled per second when nothing
  waits (each is declined), target >= 10,000/s on one core;
* ``batch_placements_per_second``: tasks placed per second sustained while
  100,000 queued tasks are placed on offers from 10,000 agents, target >=
  1,000/s;
* ``batch_scheduler_rss_100k_tasks``: the scheduler process's resident memory
  with 100,000 tasks known, target <= 1 GiB.
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from framework.batch import core, scheduler
from framework.batch.spec import parse_job_spec
from framework.batch.store import JobStore

AGENTS = 10_000
TASKS = 100_000
INSTANCES_PER_JOB = 100


class CountingDriver:
    def __init__(self) -> None:
        self.launched = 0
        self.declined = 0

    def launchTasks(self, offer_ids: Any, tasks: list[Any]) -> None:
        self.launched += len(tasks)

    def declineOffer(self, offer_ids: Any, filters: Any = None) -> None:
        self.declined += len(offer_ids)

    def suppressOffers(self) -> None:
        pass

    def reviveOffers(self) -> None:
        pass


def offer(serial: int, agent: int) -> dict[str, Any]:
    return {
        "id": {"value": f"o{serial}"},
        "framework_id": {"value": "bench"},
        "agent_id": {"value": f"agent-{agent}"},
        "hostname": f"host-{agent}",
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 8.0}, "role": "*"},
            {
                "name": "mem",
                "type": "SCALAR",
                "scalar": {"value": 32768.0},
                "role": "*",
            },
            {
                "name": "ports",
                "type": "RANGES",
                "ranges": {"range": [{"begin": 31000, "end": 32000}]},
                "role": "*",
            },
        ],
        "attributes": [
            {"name": "rack", "type": "TEXT", "text": {"value": f"r{agent % 40}"}}
        ],
    }


def service(tmp: Path) -> tuple[scheduler.BatchService, CountingDriver]:
    batch = core.BatchCore(JobStore(tmp / "bench.sqlite"))
    svc = scheduler.BatchService(batch)
    driver = CountingDriver()
    svc.driver = driver
    return svc, driver


def idle_offers_per_second(tmp: Path) -> float:
    svc, driver = service(tmp)
    callbacks = scheduler.BatchScheduler(svc)
    batches = [[offer(b * 1000 + i, i) for i in range(1000)] for b in range(20)]
    started = time.perf_counter()
    for batch in batches:
        callbacks.resourceOffers(driver, batch)
    elapsed = time.perf_counter() - started
    return driver.declined / elapsed


def placements_per_second(tmp: Path) -> tuple[float, int]:
    svc, driver = service(tmp)
    callbacks = scheduler.BatchScheduler(svc)
    for job in range(TASKS // INSTANCES_PER_JOB):
        text = json.dumps(
            {
                "id": f"job-{job}",
                "team": f"team-{job % 10}",
                "command": "true",
                "instances": INSTANCES_PER_JOB,
                "resources": {
                    "cpus": 0.5 + (job % 4) * 0.5,
                    "mem": 512 * (1 + job % 3),
                },
            }
        )
        svc.submit(parse_job_spec(text, source="bench"))

    # One allocation cycle offers every agent; cycles repeat until all placed.
    serial = 0
    started = time.perf_counter()
    while driver.launched < TASKS:
        before = driver.launched
        for first in range(0, AGENTS, 1000):
            batch = [offer(serial + i, first + i) for i in range(1000)]
            serial += 1000
            callbacks.resourceOffers(driver, batch)
        if driver.launched == before:
            break
    elapsed = time.perf_counter() - started
    return driver.launched / elapsed, rss_mib()


def rss_mib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def run() -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        idle = idle_offers_per_second(Path(tmp) / "idle")
        rate, rss = placements_per_second(Path(tmp) / "place")
    return {
        "batch_offers_per_second_idle": {
            "value": round(idle),
            "unit": "offers/s",
            "target": 10_000,
        },
        "batch_placements_per_second": {
            "value": round(rate),
            "unit": "placements/s",
            "target": 1_000,
        },
        "batch_scheduler_rss_100k_tasks": {"value": rss, "unit": "MiB", "target": 1024},
    }


if __name__ == "__main__":
    for name, figure in run().items():
        print(f"{name}: {figure['value']} {figure['unit']} (target {figure['target']})")
