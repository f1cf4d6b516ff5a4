"""Discovery scenarios: tasks the batch framework runs show up in Consul."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from framework.clients import consul as consul_client
from framework.consul_sync.loop import LoopOptions
from tests.batch.conftest import InProcessScheduler, job_state, wait_final
from tests.cluster.conftest import Target
from tests.consul_sync.conftest import RunningSync
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(300)

SERVICE_JOB = """\
id: echo-svc
team: web
command: 'exec python3 -m http.server "$PORT0" --bind 127.0.0.1'
resources: {cpus: 0.1, mem: 32, ports: 1}
labels: {consul.name: echo-svc, consul.tags: "demo"}
"""


def answers(url: str) -> int | None:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.ConnectionError:
        return None


def passing(client: Any, name: str) -> list[dict[str, Any]]:
    _, entries = client.health.service(name, passing=True)
    return list(entries)


@pytest.mark.discovery
def test_a_batch_service_task_is_discoverable_then_removed(target: Target) -> None:
    options = LoopOptions(marathon=False, lock_delay=0)
    sync = RunningSync(target.settings, options)
    scheduler = InProcessScheduler(target.settings)
    client = consul_client.new_client(target.settings.consul)
    try:
        requests.post(f"{scheduler.url}/v1/jobs", data=SERVICE_JOB, timeout=30)
        entries = wait_for(lambda: passing(client, "echo-svc"), what="registered")
        service = entries[0]["Service"]
        attempt = job_state(scheduler.url, "echo-svc")["attempts"][0]
        assert service["Port"] == attempt["ports"][0]
        assert "demo" in service["Tags"]
        assert service["Meta"]["managed-by"] == "mesos-adapter"
        # Registered on RUNNING (batch tasks have no health check): the server
        # may still be binding its port, so give it a moment to answer.
        url = f"http://127.0.0.1:{service['Port']}/"
        assert wait_for(lambda: answers(url), what="the service answers") == 200

        requests.delete(f"{scheduler.url}/v1/jobs/echo-svc", timeout=30)
        wait_final(scheduler.url, "echo-svc")
        wait_for(lambda: not passing(client, "echo-svc"), what="deregistered")
    finally:
        client.http.session.close()
        scheduler.stop()
        sync.stop()
