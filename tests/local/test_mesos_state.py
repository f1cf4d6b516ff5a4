"""The master state machine without sockets, driven by a fake clock."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from framework.ids import AgentId, FrameworkId, StreamId, TaskId
from framework.local.executor_api import TaskReport
from framework.local.mesos_state import (
    Close,
    Effect,
    Kill,
    Launch,
    MasterState,
    Send,
    StateSettings,
    refuse_seconds,
)
from framework.local.mesos_wire import Resources, master_info, record

AGENT = AgentId("agent-0")
STREAM = StreamId("stream-1")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sent(effects: list[Effect], kind: str | None = None) -> list[dict[str, Any]]:
    events = [e.payload() for e in effects if isinstance(e, Send)]
    return [e for e in events if kind is None or e["type"] == kind]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> MasterState:
    info = master_info("m1", "127.0.0.1", 5050, "127.0.0.1")
    st = MasterState(info, StateSettings(update_backoff=10.0), clock, clock)
    st.add_agent(
        AGENT, "h0", Resources(4.0, 4096.0, 1000.0, 0.0, ((31000, 31099),)), []
    )
    return st


def subscribe(
    state: MasterState, stream: StreamId = STREAM, **info: Any
) -> FrameworkId:
    effects, refusal = state.subscribe({"user": "u", "name": "n", **info}, [], stream)
    assert refusal is None
    subscribed = sent(effects, "SUBSCRIBED")[0]["subscribed"]
    assert [e["type"] for e in sent(effects)][:2] == ["SUBSCRIBED", "HEARTBEAT"]
    return FrameworkId(subscribed["framework_id"]["value"])


def one_offer(state: MasterState) -> dict[str, Any]:
    (event,) = sent(state.allocate(), "OFFERS")
    (offer,) = event["offers"]["offers"]
    return offer


def launch(
    state: MasterState,
    fid: FrameworkId,
    offer: dict[str, Any],
    *tasks: Any,
    **accept: Any,
) -> list[Effect]:
    body = {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}],
        **accept,
    }
    return state.handle(fid, {"type": "ACCEPT", "accept": body})


def task(tid: str, cpus: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {
        "task_id": {"value": tid},
        "agent_id": {"value": AGENT},
        "name": tid,
        "command": {"value": "true"},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}}],
        **extra,
    }


def test_record_frames_json_with_its_length() -> None:
    assert record({"type": "HEARTBEAT"}) == b'20\n{"type":"HEARTBEAT"}'


def test_refuse_seconds_defaults_and_caps() -> None:
    assert refuse_seconds(None) == 5.0
    assert refuse_seconds({"refuse_seconds": -1}) == 5.0
    assert refuse_seconds({"refuse_seconds": 1e12}) == 31536000.0
    assert refuse_seconds({"refuse_seconds": 0}) == 0.0


def test_offer_carries_resources_ports_and_allocation_role(state: MasterState) -> None:
    fid = subscribe(state)
    offer = one_offer(state)
    assert offer["framework_id"] == {"value": fid}
    ports = next(r for r in offer["resources"] if r["name"] == "ports")
    assert ports["ranges"]["range"] == [{"begin": 31000, "end": 31099}]
    assert offer["allocation_info"] == {"role": "*"}
    assert sent(state.allocate()) == []  # held offers are not offered again


def test_decline_filter_blocks_until_expiry_and_revive_clears_it(
    state: MasterState, clock: Clock
) -> None:
    fid = subscribe(state)
    offer = one_offer(state)
    state.handle(
        fid,
        {
            "type": "DECLINE",
            "decline": {"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 30}},
        },
    )
    assert sent(state.allocate()) == []
    clock.now += 31
    offer = one_offer(state)
    state.handle(
        fid,
        {
            "type": "DECLINE",
            "decline": {"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 30}},
        },
    )
    state.handle(fid, {"type": "REVIVE"})
    assert one_offer(state)


def test_suppressed_framework_gets_no_offers_until_revive(state: MasterState) -> None:
    fid = subscribe(state)
    state.handle(fid, {"type": "SUPPRESS"})
    assert sent(state.allocate()) == []
    state.handle(fid, {"type": "REVIVE", "revive": {"roles": ["*"]}})
    assert one_offer(state)


def test_partial_accept_filters_the_rest_until_a_task_ends(state: MasterState) -> None:
    fid = subscribe(state)
    offer = one_offer(state)
    effects = launch(state, fid, offer, task("t1"))
    assert any(isinstance(e, Launch) for e in effects)
    assert sent(state.allocate()) == []  # the unused 3 cpus are filtered for 5 s
    state.task_report(AGENT, TaskId("t1"), TaskReport("TASK_FINISHED"))
    again = one_offer(state)  # more is free now than was refused
    cpus = next(r for r in again["resources"] if r["name"] == "cpus")
    assert cpus["scalar"]["value"] == 4.0


def test_invalid_tasks_get_task_error_and_resources_stay_free(
    state: MasterState,
) -> None:
    fid = subscribe(state)
    offer = one_offer(state)
    effects = launch(state, fid, offer, task("big", cpus=5.0), task("ok"), task("ok"))
    errors = [e["update"]["status"] for e in sent(effects, "UPDATE")]
    assert [s["task_id"]["value"] for s in errors] == ["big", "ok"]
    assert {s["reason"] for s in errors} == {"REASON_TASK_INVALID"}
    assert state.agents[AGENT].free.cpus == 3.0


def test_unknown_offer_loses_the_tasks_without_uuid(state: MasterState) -> None:
    fid = subscribe(state)
    fake = {"id": {"value": "nope"}}
    (update,) = sent(launch(state, fid, fake, task("t")), "UPDATE")
    status = update["update"]["status"]
    assert (status["state"], status["reason"]) == ("TASK_LOST", "REASON_INVALID_OFFERS")
    assert status["source"] == "SOURCE_MASTER" and "uuid" not in status


def test_updates_are_sent_one_at_a_time_and_retried_until_acked(
    state: MasterState, clock: Clock
) -> None:
    fid = subscribe(state)
    launch(state, fid, one_offer(state), task("t"))
    first = sent(state.task_report(AGENT, TaskId("t"), TaskReport("TASK_STARTING")))
    assert sent(state.task_report(AGENT, TaskId("t"), TaskReport("TASK_RUNNING"))) == []
    status = first[0]["update"]["status"]
    assert len(base64.b64decode(status["uuid"])) == 16
    assert status["agent_id"] == {"value": AGENT}

    clock.now += 10.5
    (retry,) = sent(state.tick())
    assert retry["update"]["status"]["uuid"] == status["uuid"]

    ack = {
        "agent_id": {"value": AGENT},
        "task_id": {"value": "t"},
        "uuid": status["uuid"],
    }
    (nxt,) = sent(state.handle(fid, {"type": "ACKNOWLEDGE", "acknowledge": ack}))
    assert nxt["update"]["status"]["state"] == "TASK_RUNNING"


def test_terminal_ack_forgets_the_task(state: MasterState) -> None:
    fid = subscribe(state)
    launch(state, fid, one_offer(state), task("t"))
    (event,) = sent(
        state.task_report(AGENT, TaskId("t"), TaskReport("TASK_FAILED", None, "exit 1"))
    )
    status = event["update"]["status"]
    ack = {
        "agent_id": {"value": AGENT},
        "task_id": {"value": "t"},
        "uuid": status["uuid"],
    }
    state.handle(fid, {"type": "ACKNOWLEDGE", "acknowledge": ack})
    assert TaskId("t") not in state.frameworks[fid].tasks
    assert state.frameworks[fid].completed[-1].state == "TASK_FAILED"


def test_kill_sends_killing_to_capable_frameworks_and_uses_the_policy(
    state: MasterState,
) -> None:
    fid = subscribe(state, capabilities=[{"type": "TASK_KILLING_STATE"}])
    policy = {"grace_period": {"nanoseconds": 2_500_000_000}}
    launch(state, fid, one_offer(state), task("t", kill_policy=policy))
    effects = state.handle(fid, {"type": "KILL", "kill": {"task_id": {"value": "t"}}})
    (kill,) = [e for e in effects if isinstance(e, Kill)]
    assert kill.grace == 2.5
    assert sent(effects, "UPDATE")[0]["update"]["status"]["state"] == "TASK_KILLING"


def test_reconcile_unknown_task_depends_on_partition_awareness(
    state: MasterState,
) -> None:
    plain = subscribe(state)
    aware = subscribe(state, StreamId("s2"), capabilities=[{"type": "PARTITION_AWARE"}])
    ask = {
        "type": "RECONCILE",
        "reconcile": {
            "tasks": [{"task_id": {"value": "x"}, "agent_id": {"value": AGENT}}]
        },
    }
    (lost,) = sent(state.handle(plain, ask))
    (gone,) = sent(state.handle(aware, ask))
    assert lost["update"]["status"]["state"] == "TASK_LOST"
    assert gone["update"]["status"]["state"] == "TASK_GONE"
    assert (
        gone["update"]["status"]["message"]
        == "Reconciliation: Task is unknown to the agent"
    )


def test_failover_timeout_removes_the_framework_and_kills_its_tasks(
    state: MasterState, clock: Clock
) -> None:
    fid = subscribe(state, failover_timeout=10.0)
    launch(state, fid, one_offer(state), task("t"))
    state.disconnected(STREAM)
    assert state.framework_status(fid) == "disconnected"
    assert state.tick() == []
    clock.now += 11
    effects = state.tick()
    assert any(isinstance(e, Kill) and e.task_id == "t" for e in effects)
    assert state.framework_status(fid) == "unknown"
    _, refusal = state.subscribe(
        {"user": "u", "name": "n", "id": {"value": fid}}, [], StreamId("s3")
    )
    assert refusal == "Framework has been removed"


def test_resubscribe_closes_the_old_stream_with_an_error(state: MasterState) -> None:
    fid = subscribe(state, failover_timeout=10.0)
    effects, _ = state.subscribe(
        {"user": "u", "name": "n", "id": {"value": fid}}, [], StreamId("new")
    )
    old = [e for e in effects if isinstance(e, Send) and e.stream_id == STREAM]
    assert old[0].payload() == {
        "type": "ERROR",
        "error": {"message": "Framework failed over"},
    }
    assert Close(STREAM) in effects


def test_agent_removal_reports_gone_tasks_and_failure(state: MasterState) -> None:
    fid = subscribe(state, capabilities=[{"type": "PARTITION_AWARE"}])
    launch(state, fid, one_offer(state), task("t"))
    effects = state.remove_agent(AGENT)
    (update,) = sent(effects, "UPDATE")
    assert update["update"]["status"]["state"] == "TASK_GONE"
    assert update["update"]["status"]["reason"] == "REASON_AGENT_REMOVED"
    assert sent(effects, "FAILURE") == [
        {"type": "FAILURE", "failure": {"agent_id": {"value": AGENT}}}
    ]


def test_launch_group_fails_whole_when_one_task_is_invalid(state: MasterState) -> None:
    fid = subscribe(state)
    offer = one_offer(state)
    group_task = {k: v for k, v in task("g1").items() if k != "command"}
    executor = {"executor_id": {"value": "ex"}, "type": "DEFAULT", "resources": []}
    body = {
        "offer_ids": [offer["id"]],
        "operations": [
            {
                "type": "LAUNCH_GROUP",
                "launch_group": {
                    "executor": executor,
                    "task_group": {"tasks": [group_task, task("g2", cpus=9.0)]},
                },
            }
        ],
    }
    effects = state.handle(fid, {"type": "ACCEPT", "accept": body})
    states = [e["update"]["status"]["state"] for e in sent(effects, "UPDATE")]
    assert states == ["TASK_ERROR", "TASK_ERROR"]
    assert not any(isinstance(e, Launch) for e in effects)


def test_master_failover_keeps_tasks_and_their_framework(state: MasterState) -> None:
    fid = subscribe(state, failover_timeout=10.0)
    launch(state, fid, one_offer(state), task("t"))
    new = state.recovered(master_info("m2", "127.0.0.1", 5050, "127.0.0.1"))
    assert new.framework_status(fid) == "disconnected"
    assert new.agents[AGENT].free.cpus == 3.0
    _, refusal = new.subscribe(
        {"user": "u", "name": "n", "id": {"value": fid}}, [], StreamId("s9")
    )
    assert refusal is None
    assert TaskId("t") in new.frameworks[fid].tasks
