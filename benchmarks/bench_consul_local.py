"""Throughput of the local Consul stand-in through py-consul over a real socket.

* ``consul_local_register_1000_services``: wall time of 1,000 sequential
  ``agent.service.register`` calls (each with one TTL check), one client.
* ``consul_local_health_passing_1000_reads``: wall time of 1,000 sequential
  ``health.service(name, passing=True)`` reads of a service with 100 instances.
* ``consul_local_state_writes_for_1000_registrations``: how many times the
  state file was replaced while the 1,000 registrations ran (debouncing).

The server runs in its own process (so the client's and the server's Python
threads do not share a GIL) with Consul's default timings and a temporary
data dir, so disk writes are included. The write count covers the whole run.

With the real Consul 1.8.7 installed (tools/install_consul.py), the first two
figures are measured again against a real ``consul agent -dev`` under names
starting ``consul_real_``: the yardstick for the stand-in's own targets.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

COUNT = 1000
READ_INSTANCES = 100


def _register_all(client: Any) -> float:
    started = time.perf_counter()
    for number in range(COUNT):
        client.agent.service.register(
            f"svc-{number % 10}",
            service_id=f"svc-{number}",
            port=20000 + number,
            tags=["bench"],
            check={"CheckID": f"ttl-{number}", "TTL": "1h", "Status": "passing"},
        )
    return time.perf_counter() - started


def _read_all(client: Any) -> float:
    started = time.perf_counter()
    for _ in range(COUNT):
        _, entries = client.health.service("svc-0", passing=True)
        assert len(entries) == READ_INSTANCES
    return time.perf_counter() - started


def _serve(data_dir: str, ports: Any, stop: Any, writes: Any) -> None:
    """Child process: run the stand-in until ``stop``; report its disk writes."""
    from framework.local.consul import LocalConsul

    server = LocalConsul(port=0, data_dir=data_dir, node_name="bench")
    ports.put(server.start_in_thread())
    stop.wait()
    counted = server.state_writes
    server.stop_in_thread()
    writes.put(counted)


def _measure(port: int) -> tuple[float, float]:
    """Seconds for the 1,000 registrations, then for the 1,000 reads."""
    import consul

    client = consul.Consul(host="127.0.0.1", port=port)
    try:
        return _register_all(client), _read_all(client)
    finally:
        client.http.session.close()


def _real() -> dict[str, dict[str, Any]]:
    from tests.support import real_consul

    with real_consul.started("bench") as agent:
        if agent is None:
            print(f"bench_consul_local: {real_consul.SKIP_REASON}; no real figures")
            return {}
        register, read = _measure(agent.port)
    return {
        "consul_real_register_1000_services": {
            "value": register,
            "unit": "s",
            "target": None,
        },
        "consul_real_health_passing_1000_reads": {
            "value": read,
            "unit": "s",
            "target": None,
        },
    }


def run() -> dict[str, dict[str, Any]]:
    figures = _stand_in()
    figures.update(_real())
    return figures


def _stand_in() -> dict[str, dict[str, Any]]:
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    ports, writes, stop = spawn.Queue(), spawn.Queue(), spawn.Event()
    with tempfile.TemporaryDirectory() as data_dir:
        child = spawn.Process(target=_serve, args=(data_dir, ports, stop, writes))
        child.start()
        try:
            register, read = _measure(ports.get(timeout=60))
        finally:
            stop.set()
            flushed = writes.get(timeout=60)
            child.join(60)
    return {
        "consul_local_register_1000_services": {
            "value": register,
            "unit": "s",
            "target": 5.0,
        },
        "consul_local_health_passing_1000_reads": {
            "value": read,
            "unit": "s",
            "target": 5.0,
        },
        "consul_local_state_writes_for_1000_registrations": {
            "value": flushed,
            "unit": "file replacements",
            "target": 100,
        },
    }


if __name__ == "__main__":
    for name, figure in run().items():
        value, unit, target = figure["value"], figure["unit"], figure["target"]
        print(f"{name}: {value:.4g} {unit} (target {target})")
