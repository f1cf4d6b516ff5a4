"""Pieces of the sync loop without sockets: decoders, the world, the executor."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.clients.marathon_events import SseDecoder
from framework.clients.mesos_events import RecordIO
from framework.consul_sync.consul_state import (
    entries_from_agent,
    entry_of,
    normal_duration,
    register_kwargs,
)
from framework.consul_sync.executor import Executor
from framework.consul_sync.model import CheckSpec, Plan, Register
from framework.consul_sync.planner import differences
from framework.consul_sync.sync_metrics import SyncMetrics
from framework.consul_sync.world import World
from framework.errors import PermanentError, TemporaryError
from tests.consul_sync.test_planner import marathon_observed, observed, task


def _records(events: list[dict[str, Any]]) -> bytes:
    out = b""
    for event in events:
        data = json.dumps(event).encode()
        out += str(len(data)).encode() + b"\n" + data
    return out


@given(st.lists(st.integers(min_value=1, max_value=50), max_size=30))
def test_recordio_survives_any_chunking(cuts: list[int]) -> None:
    events = [{"type": "HEARTBEAT"}, {"type": "X", "x": {"k": "v" * 40}}] * 3
    wire = _records(events)
    decoder, got, at = RecordIO(), [], 0
    for cut in [*cuts, len(wire)]:
        got += decoder.feed(wire[at : at + cut])
        at += cut
    got += decoder.feed(wire[at:])
    assert [json.loads(r) for r in got] == events


def test_recordio_refuses_a_bad_length() -> None:
    with pytest.raises(PermanentError):
        RecordIO().feed(b"abc\n{}")


def test_sse_frames_are_decoded_across_chunks() -> None:
    decoder = SseDecoder()
    text = 'event: a\ndata: {"x":1}\n\nevent: b\r\ndata: {"y":2}\r\n\r\n'
    got = decoder.feed(text[:13]) + decoder.feed(text[13:30]) + decoder.feed(text[30:])
    assert got == [("a", '{"x":1}'), ("b", '{"y":2}')]


def _task_json(state: str = "TASK_RUNNING") -> dict[str, Any]:
    return {
        "task_id": {"value": "t1"},
        "framework_id": {"value": "f1"},
        "agent_id": {"value": "a1"},
        "state": state,
        "labels": {"labels": [{"key": "consul.name", "value": "web"}]},
        "resources": [
            {"name": "ports", "ranges": {"range": [{"begin": 5, "end": 6}]}},
        ],
        "statuses": [{"state": state, "timestamp": 12.5}],
    }


def test_the_world_follows_mesos_events() -> None:
    world = World()
    agent = {"agent_info": {"id": {"value": "a1"}, "hostname": "h1"}}
    world.apply_mesos({"type": "AGENT_ADDED", "agent_added": {"agent": agent}})
    added = {"type": "TASK_ADDED", "task_added": {"task": _task_json()}}
    assert world.apply_mesos(added) == {"t1"}
    assert world.tasks["t1"].ports == (5, 6)
    assert world.tasks["t1"].labels == {"consul.name": "web"}
    update = {
        "type": "TASK_UPDATED",
        "task_updated": {
            "state": "TASK_KILLED",
            "status": {"task_id": {"value": "t1"}, "timestamp": 13.0},
        },
    }
    assert world.apply_mesos(update) == {"t1"}
    assert world.tasks["t1"].state == "TASK_KILLED" and world.tasks["t1"].since == 13.0
    removed = {"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": "a1"}}}
    assert world.apply_mesos(removed) == {"t1"} and world.agents == {}


def test_the_world_follows_marathon_health() -> None:
    world = World()
    app = {
        "id": "/web",
        "version": "v1",
        "healthChecks": [{"protocol": "HTTP", "portIndex": 0}],
        "tasks": [{"id": "web.instance-1._app.1", "ports": [7], "version": "v1"}],
    }
    world.load_marathon_apps([app])
    assert world.marathon_tasks["web.instance-1._app.1"].healthy is None
    event = {
        "eventType": "health_status_changed_event",
        "instanceId": "web.instance-1",
        "alive": True,
    }
    assert world.apply_marathon(event) == {"web.instance-1._app.1"}
    assert world.marathon_tasks["web.instance-1._app.1"].healthy is True


def test_an_entry_read_back_from_consul_equals_what_we_registered() -> None:
    for obs in (observed(task()), marathon_observed(True)):
        plan = _plan(obs)
        for instruction in plan.adds:
            reg = instruction.registration
            kwargs = register_kwargs(reg)
            services = {
                reg.service_id: {
                    "Service": kwargs["name"],
                    "Address": kwargs["address"],
                    "Port": kwargs["port"],
                    "Tags": kwargs["tags"],
                    "Meta": kwargs["meta"],
                    "Weights": kwargs["weights"],
                }
            }
            checks = {}
            if kwargs["check"]:
                body = kwargs["check"]
                checks[body["CheckID"]] = {
                    "Type": "http",
                    "Definition": {
                        "HTTP": body.get("HTTP"),
                        "Interval": "1m0s" if body["Interval"] == "60s" else "5s",
                        "Timeout": "20s",
                    },
                }
            (entry,) = entries_from_agent(services, checks, "n1")
            assert differences(reg, entry) == ()
            assert entry == entry_of(reg, "n1")


def _plan(obs: Any) -> Plan:
    from framework.consul_sync.planner import plan_sync

    return plan_sync(obs, [])


@pytest.mark.parametrize(
    ("text", "expected"), [("10s", "10s"), ("1m0s", "60s"), ("500ms", "0.5s")]
)
def test_durations_have_one_normal_form(text: str, expected: str) -> None:
    assert normal_duration(text) == expected


class FlakyConsul:
    """Fails ``failures`` calls with TemporaryError, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.registered: list[str] = []

    def register(self, **kwargs: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise TemporaryError("connection refused")
        self.registered.append(kwargs["service_id"])


def test_the_executor_hands_back_what_consul_did_not_take() -> None:
    plan = _plan(observed(task()))
    slept: list[float] = []
    api = FlakyConsul(failures=100)
    executor = Executor(api, "n1", SyncMetrics(), sleep=slept.append)  # type: ignore[arg-type]
    cache: dict[Any, Any] = {}
    outcome = executor.execute(plan, cache)
    assert outcome.done == 0 and len(outcome.pending) == 2
    assert isinstance(outcome.error, TemporaryError)
    assert cache == {} and len(slept) == 2  # three attempts, two backoffs


def test_the_executor_retries_a_blip_and_records_the_write() -> None:
    plan = _plan(observed(task()))
    metrics = SyncMetrics()
    api = FlakyConsul(failures=1)
    executor = Executor(api, "n1", metrics, sleep=lambda _: None)  # type: ignore[arg-type]
    cache: dict[Any, Any] = {}
    outcome = executor.execute(plan, cache)
    assert outcome.done == 2 and outcome.error is None
    assert api.registered == ["team_web.1:0", "team_web.1:1"]
    assert set(cache) == {("n1", "team_web.1:0"), ("n1", "team_web.1:1")}
    assert metrics.writes["register"] == 2
    assert all(isinstance(i, Register) for i in plan.instructions)


def test_check_specs_compare_by_value() -> None:
    assert CheckSpec("http", "u", "5s", "1s") == CheckSpec("http", "u", "5s", "1s")
