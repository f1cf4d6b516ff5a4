"""Raw HTTP against the local master: status codes in Mesos's order of checks,
invalid launches, the operator API and the v0 endpoints."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pymesos import MesosOperatorMasterDriver, OperatorMaster

from framework.local.cluster import LocalCluster
from tests.local.mesos_helpers import (
    RawStream,
    Recorder,
    framework_info,
    running_driver,
    task_info,
)

pytestmark = pytest.mark.timeout(60)
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def subscribed(cluster: LocalCluster) -> Iterator[tuple[RawStream, dict[str, Any]]]:
    """A framework subscribed over a raw stream, and its first offer."""
    url = f"http://{cluster.address}/api/v1/scheduler"
    info = framework_info(failover_timeout=60.0)
    stream = RawStream(
        url, {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
    )
    stream.next_of("SUBSCRIBED")
    offer = stream.next_of("OFFERS")["offers"]["offers"][0]
    yield stream, offer
    stream.close()


def call(
    cluster: LocalCluster, body: Any, headers: dict[str, str] | None = None
) -> requests.Response:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return requests.post(
        f"http://{cluster.address}/api/v1/scheduler", data=data, headers=headers or JSON
    )


def test_version_is_numeric_and_health_and_redirect_answer(
    cluster: LocalCluster,
) -> None:
    base = f"http://{cluster.address}"
    assert requests.get(f"{base}/version").json()["version"] == "1.11.0"
    assert requests.get(f"{base}/health").status_code == 200
    assert requests.get(f"{base}/master/health").status_code == 200
    reply = requests.get(f"{base}/master/redirect", allow_redirects=False)
    assert reply.status_code == 307
    assert reply.headers["Location"] == f"//{cluster.address}"


def test_http_level_errors_come_in_mesos_order(cluster: LocalCluster) -> None:
    url = f"http://{cluster.address}/api/v1/scheduler"
    assert requests.get(url).status_code == 405
    assert requests.post(url, data=b"{}").status_code == 400  # no Content-Type
    assert call(cluster, {}, {"Content-Type": "text/plain"}).status_code == 415
    assert call(cluster, b"{not json").status_code == 400
    assert call(cluster, {"type": "NO_SUCH_CALL"}).status_code == 400
    assert (
        call(cluster, {"type": "ACCEPT", "framework_id": {"value": "x"}}).status_code
        == 400
    )
    decline = {
        "type": "DECLINE",
        "framework_id": {"value": "x"},
        "decline": {"offer_ids": []},
    }
    reply = call(cluster, decline)
    assert (reply.status_code, reply.text) == (400, "Framework cannot be found")
    subscribe = {"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info()}}
    only_protobuf = {**JSON, "Accept": "application/x-protobuf"}
    assert call(cluster, subscribe, only_protobuf).status_code == 406
    assert (
        call(cluster, subscribe, {**JSON, "Mesos-Stream-Id": "abc"}).status_code == 400
    )
    missing_user = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "x"}}}
    assert call(cluster, missing_user).status_code == 400
    big = b'{"type":"TEARDOWN","pad":"' + b"x" * (10 * 1024 * 1024) + b'"}'
    assert call(cluster, big).status_code == 413


def test_calls_of_a_subscribed_framework_need_its_stream_id(
    cluster: LocalCluster, subscribed: tuple[RawStream, dict[str, Any]]
) -> None:
    stream, offer = subscribed
    fid = offer["framework_id"]
    decline = {"type": "DECLINE", "framework_id": fid, "decline": {"offer_ids": []}}
    assert call(cluster, decline).status_code == 400
    assert (
        call(cluster, decline, {**JSON, "Mesos-Stream-Id": "wrong"}).status_code == 400
    )
    good = {**JSON, "Mesos-Stream-Id": stream.stream_id or ""}
    reply = call(cluster, decline, good)
    assert (reply.status_code, reply.content) == (202, b"")
    unknown = {**decline, "decline": {"offer_ids": [{"value": "never-made"}]}}
    assert call(cluster, unknown, good).status_code == 202
    bad_uuid = {
        "type": "ACKNOWLEDGE",
        "framework_id": fid,
        "acknowledge": {
            "agent_id": offer["agent_id"],
            "task_id": {"value": "t"},
            "uuid": "AAAA",
        },
    }
    assert call(cluster, bad_uuid, good).status_code == 400
    assert (
        call(cluster, {"type": "UNKNOWN", "framework_id": fid}, good).status_code == 501
    )


def test_calls_of_a_disconnected_framework_get_403(
    cluster: LocalCluster, subscribed: tuple[RawStream, dict[str, Any]]
) -> None:
    stream, offer = subscribed
    stream_id = stream.stream_id or ""
    stream.close()
    decline = {
        "type": "DECLINE",
        "framework_id": offer["framework_id"],
        "decline": {"offer_ids": []},
    }
    headers = {**JSON, "Mesos-Stream-Id": stream_id}
    for _ in range(100):
        reply = call(cluster, decline, headers)
        if reply.status_code != 202:
            break
        threading.Event().wait(0.05)
    assert (reply.status_code, reply.text) == (403, "Framework is not subscribed")


def _accept(
    cluster: LocalCluster, stream: RawStream, offer: Any, tasks: list[Any]
) -> int:
    body = {
        "type": "ACCEPT",
        "framework_id": offer["framework_id"],
        "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
        },
    }
    return call(
        cluster, body, {**JSON, "Mesos-Stream-Id": stream.stream_id or ""}
    ).status_code


def test_invalid_launches_get_the_updates_mesos_sends(
    cluster: LocalCluster, subscribed: tuple[RawStream, dict[str, Any]]
) -> None:
    stream, offer = subscribed
    tasks = [
        task_info("ok", offer, "sleep 5"),
        task_info("ok", offer, "true"),  # duplicate id
        task_info("huge", offer, "true", cpus=1000.0),
        task_info("nocmd", offer, None),
    ]
    assert _accept(cluster, stream, offer, tasks) == 202
    errors = {}
    while len(errors) < 3:
        status = stream.next_of("UPDATE")["update"]["status"]
        if status["state"] == "TASK_ERROR":
            errors[status["message"]] = status
    assert all(s["reason"] == "REASON_TASK_INVALID" for s in errors.values())
    assert all(
        s["source"] == "SOURCE_MASTER" and "uuid" not in s for s in errors.values()
    )
    messages = " | ".join(errors)
    assert "duplicate ID" in messages
    assert "more resources" in messages
    assert "CommandInfo or ExecutorInfo" in messages

    # The same offer again: it was used, so the launch is lost.
    assert _accept(cluster, stream, offer, [task_info("late", offer, "true")]) == 202
    while True:
        status = stream.next_of("UPDATE")["update"]["status"]
        if status["task_id"]["value"] == "late":
            break
    assert status["state"] == "TASK_LOST"
    assert status["reason"] == "REASON_INVALID_OFFERS"
    assert "uuid" not in status


def test_removed_framework_calls_are_refused(cluster: LocalCluster) -> None:
    sched = Recorder()
    with running_driver(sched, cluster.address):
        sched.wait("registered")
    fid = {"value": sched.framework_id}
    decline = {"type": "DECLINE", "framework_id": fid, "decline": {"offer_ids": []}}
    assert call(cluster, decline).status_code == 400


def test_master_state_has_the_v0_shape(cluster: LocalCluster) -> None:
    sched = Recorder()
    with running_driver(sched, cluster.address) as driver:
        offer = sched.wait("offer")
        driver.launchTasks(offer["id"], [task_info("shape", offer, "sleep 10")])
        sched.wait_state("shape", "TASK_RUNNING")
        state = requests.get(f"http://{cluster.address}/master/state").json()
    assert state["version"] == "1.11.0"
    assert len(state["slaves"]) == 2
    framework = state["frameworks"][0]
    task = framework["tasks"][0]
    assert task["slave_id"] == offer["agent_id"]["value"]
    assert task["state"] == "TASK_RUNNING"
    assert task["resources"]["cpus"] == 0.1
    assert framework["used_resources"]["mem"] == 32.0


class Operator(OperatorMaster):  # type: ignore[misc]
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.cond = threading.Condition()

    def _add(self, kind: str, payload: Any) -> None:
        with self.cond:
            self.events.append((kind, payload))
            self.cond.notify_all()

    def taskAdded(self, task_info: Any) -> None:
        self._add("TASK_ADDED", task_info)

    def taskUpdated(self, task_info: Any) -> None:
        self._add("TASK_UPDATED", task_info)

    def frameworkAdded(self, framework_info: Any) -> None:
        self._add("FRAMEWORK_ADDED", framework_info)

    def frameworkUpdated(self, framework_info: Any) -> None:
        self._add("FRAMEWORK_UPDATED", framework_info)

    def frameworkRemoved(self, framework_info: Any) -> None:
        self._add("FRAMEWORK_REMOVED", framework_info)

    def agentAdded(self, agent_info: Any) -> None:
        self._add("AGENT_ADDED", agent_info)

    def agentRemoved(self, agent_id: Any) -> None:
        self._add("AGENT_REMOVED", agent_id)

    def wait_for(self, kind: str) -> None:
        with self.cond:
            assert self.cond.wait_for(
                lambda: any(k == kind for k, _ in self.events), 15
            )


def test_operator_subscribe_streams_events_in_order(cluster: LocalCluster) -> None:
    url = f"http://{cluster.address}/api/v1"
    raw = RawStream(url, {"type": "SUBSCRIBE"})
    operator = Operator()
    driver = MesosOperatorMasterDriver(cluster.address, operator)
    driver.start()
    try:
        first = raw.next()
        assert first is not None and first["type"] == "SUBSCRIBED"
        assert len(first["subscribed"]["get_state"]["get_agents"]["agents"]) == 2
        assert raw.next() == {"type": "HEARTBEAT"}
        # Both operator streams (raw and pymesos's) must be open before the
        # framework subscribes, or the driver can miss FRAMEWORK_ADDED.
        deadline = time.monotonic() + 10
        while len(cluster.master._operators) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        sched = Recorder()
        with running_driver(sched, cluster.address) as sd:
            offer = sched.wait("offer")
            sd.launchTasks(offer["id"], [task_info("watched", offer, "true")])
            sched.wait_state("watched", "TASK_FINISHED")
        cluster.remove_agent(offer["agent_id"]["value"])
        operator.wait_for("AGENT_REMOVED")
        kinds = []
        while (event := raw.next()) is not None and event["type"] != "AGENT_REMOVED":
            if event["type"] != "HEARTBEAT":
                kinds.append(event["type"])
                if event["type"] == "TASK_UPDATED":
                    kinds[-1] += ":" + event["task_updated"]["state"]
    finally:
        driver.stop()
        driver.join()
        raw.close()
    assert kinds[0] == "FRAMEWORK_ADDED"
    task_events = [k for k in kinds if k.startswith("TASK_")]
    assert task_events == [
        "TASK_ADDED",
        "TASK_UPDATED:TASK_STARTING",
        "TASK_UPDATED:TASK_RUNNING",
        "TASK_UPDATED:TASK_FINISHED",
    ]
    assert kinds[-1] == "FRAMEWORK_REMOVED"
    seen = [k for k, _ in operator.events]
    assert (
        seen.index("FRAMEWORK_ADDED")
        < seen.index("TASK_ADDED")
        < seen.index("AGENT_REMOVED")
    )


def test_operator_get_calls_answer_with_their_shapes(cluster: LocalCluster) -> None:
    url = f"http://{cluster.address}/api/v1"
    for kind in (
        "GET_HEALTH",
        "GET_VERSION",
        "GET_STATE",
        "GET_AGENTS",
        "GET_FRAMEWORKS",
        "GET_TASKS",
    ):
        reply = requests.post(url, json={"type": kind})
        assert reply.status_code == 200, kind
        assert reply.json()["type"] == kind
        assert kind.lower() in reply.json()
    assert requests.post(url, json={"type": "GET_HEALTH"}).json()["get_health"] == {
        "healthy": True
    }
    assert requests.get(url).status_code == 405
