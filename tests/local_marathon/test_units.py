"""The pure parts of the local Marathon: validation, planning, health, offers."""

from __future__ import annotations

import http.client
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.ids import AgentId, AppId, OfferId, TaskId
from framework.local.marathon import commands, health, offers, planner
from framework.local.marathon.core import Decline, Kill, MarathonCore, Revive
from framework.local.marathon.model import (
    HealthState,
    MarathonTiming,
    format_ts,
    parse_ts,
    task_id_prefix,
)
from framework.local.marathon.service import DriverWorker
from framework.local.marathon.validation import NO_CMD, AppInvalid, normalize_app


def errors_of(body: Any) -> tuple[int, list[dict[str, Any]]]:
    with pytest.raises(AppInvalid) as caught:
        normalize_app(body)
    return caught.value.status, caught.value.details


# -- validation ------------------------------------------------------------------------


def test_defaults_are_marathons_and_ids_become_absolute() -> None:
    spec = normalize_app({"id": "team/web", "cmd": "sleep 1"})
    assert spec["id"] == "/team/web"
    assert (spec["instances"], spec["cpus"], spec["mem"], spec["disk"]) == (
        1,
        1,
        128,
        0,
    )
    assert spec["portDefinitions"] == [
        {"port": 0, "name": "default", "protocol": "tcp"}
    ]
    assert spec["upgradeStrategy"] == {
        "minimumHealthCapacity": 1.0,
        "maximumOverCapacity": 1.0,
    }
    assert (spec["backoffSeconds"], spec["backoffFactor"]) == (1, 1.15)
    assert spec["maxLaunchDelaySeconds"] == 300


def test_health_check_defaults_follow_the_protocol() -> None:
    checks = [
        {"protocol": "HTTP"},
        {"protocol": "TCP"},
        {"protocol": "COMMAND", "command": "true"},
    ]
    spec = normalize_app({"id": "a", "cmd": "x", "healthChecks": checks})
    http, tcp, command = spec["healthChecks"]
    assert http["path"] == "/" and http["portIndex"] == 0
    assert http["gracePeriodSeconds"] == 300 and http["intervalSeconds"] == 60
    assert http["timeoutSeconds"] == 20 and http["maxConsecutiveFailures"] == 3
    assert "path" not in tcp and tcp["portIndex"] == 0
    assert command["command"] == {"value": "true"} and "portIndex" not in command


def test_normalising_twice_changes_nothing() -> None:
    spec = normalize_app(
        {"id": "a", "cmd": "x", "healthChecks": [{"protocol": "TCP"}], "ports": [0, 0]}
    )
    assert normalize_app(commands.editable(spec)) == spec


def test_an_app_without_cmd_args_or_container_is_refused() -> None:
    status, details = errors_of({"id": "a"})
    assert status == 422 and details == [{"path": "/", "errors": [NO_CMD]}]


def test_wrong_json_types_are_400_with_play_error_codes() -> None:
    status, details = errors_of({"id": "a", "cmd": "x", "instances": "three"})
    assert status == 400
    assert details == [{"path": "/instances", "errors": ["error.expected.jsnumber"]}]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"id": "Bad_Id", "cmd": "x"}, "/id"),
        ({"id": "a/tasks", "cmd": "x"}, "/id"),
        ({"id": "a", "cmd": "x", "instances": -1}, "/instances"),
        ({"id": "a", "cmd": "x", "backoffFactor": 0.5}, "/backoffFactor"),
        (
            {"id": "a", "cmd": "x", "constraints": [["hostname", "NEAR"]]},
            "/constraints(0)",
        ),
        (
            {"id": "a", "cmd": "x", "constraints": [["host", "LIKE", "["]]},
            "/constraints(0)",
        ),
        ({"id": "a", "cmd": "x", "constraints": [["h", "MAX_PER"]]}, "/constraints(0)"),
        (
            {"id": "a", "cmd": "x", "healthChecks": [{"portIndex": 3}]},
            "/healthChecks(0)",
        ),
        (
            {"id": "a", "cmd": "x", "upgradeStrategy": {"minimumHealthCapacity": 1.5}},
            "/upgradeStrategy/minimumHealthCapacity",
        ),
    ],
)
def test_semantic_errors_name_the_field(body: dict[str, Any], path: str) -> None:
    status, details = errors_of(body)
    assert status == 422
    assert [d["path"] for d in details] == [path]


def test_constraint_operators_are_case_insensitive() -> None:
    spec = normalize_app(
        {"id": "a", "cmd": "x", "constraints": [["hostname", "unique"]]}
    )
    assert spec["constraints"] == [["hostname", "unique"]]


def test_timestamps_round_trip_in_marathons_format() -> None:
    text = format_ts(1700000000.123)
    assert text == "2023-11-14T22:13:20.123Z"
    assert parse_ts(text) == pytest.approx(1700000000.123)
    assert task_id_prefix(AppId("/team/web")) == "team_web"


# -- planning --------------------------------------------------------------------------


def view(
    n: int, *, current: bool, ready: bool = True, killing: bool = False
) -> planner.InstanceView:
    return planner.InstanceView(TaskId(f"t{n}"), current, ready, float(n), killing)


def test_start_launches_every_instance() -> None:
    plan = planner.plan_app(planner.Strategy(3), [], may_launch=True)
    assert plan == planner.AppPlan(3, ())


def test_scale_down_kills_unready_then_youngest() -> None:
    views = [
        view(1, current=True),
        view(2, current=True, ready=False),
        view(3, current=True),
    ]
    plan = planner.plan_app(planner.Strategy(1), views, may_launch=True)
    assert plan.kill == (TaskId("t2"), TaskId("t3"))


def test_restart_waits_for_new_instances_before_killing_old_ones() -> None:
    strategy = planner.Strategy(2, 1.0, 1.0)
    old = [view(1, current=False), view(2, current=False)]
    assert planner.plan_app(strategy, old, may_launch=True) == planner.AppPlan(2, ())
    starting = [*old, view(3, current=True, ready=False), view(4, current=True)]
    assert planner.plan_app(strategy, starting, may_launch=True).kill == (TaskId("t2"),)


def test_full_capacity_without_headroom_replaces_one_at_a_time() -> None:
    strategy = planner.Strategy(2, 1.0, 0.0)
    old = [view(1, current=False), view(2, current=False)]
    assert planner.plan_app(strategy, old, may_launch=True) == planner.AppPlan(
        0, (TaskId("t2"),)
    )


@given(
    instances=st.integers(1, 6),
    min_health=st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]),
    max_over=st.sampled_from([0.0, 0.5, 1.0]),
    old_ready=st.lists(st.booleans(), max_size=6),
    new_ready=st.lists(st.booleans(), max_size=6),
)
def test_a_plan_never_breaks_the_floor_or_the_ceiling(
    instances: int,
    min_health: float,
    max_over: float,
    old_ready: list[bool],
    new_ready: list[bool],
) -> None:
    strategy = planner.Strategy(instances, min_health, max_over)
    views = [view(i, current=False, ready=r) for i, r in enumerate(old_ready)]
    views += [view(10 + i, current=True, ready=r) for i, r in enumerate(new_ready)]
    plan = planner.plan_app(strategy, views, may_launch=True)
    left = [v for v in views if v.task_id not in plan.kill]
    ready_before = sum(v.ready for v in views)
    ready_after = sum(v.ready for v in left)
    special = strategy.floor == strategy.ceiling == instances and len(plan.kill) == 1
    if not special:
        assert ready_after >= min(ready_before, strategy.floor)
    if plan.launch:
        assert len(views) + plan.launch <= strategy.ceiling


def test_convergence_needs_exactly_the_ready_new_instances() -> None:
    strategy = planner.Strategy(2)
    assert planner.converged(strategy, [view(1, current=True), view(2, current=True)])
    assert not planner.converged(
        strategy, [view(1, current=True), view(2, current=False)]
    )
    assert not planner.converged(strategy, [view(1, current=True)])


def test_backoff_grows_by_the_factor_up_to_the_cap() -> None:
    spec = {"backoffSeconds": 1, "backoffFactor": 2.0, "maxLaunchDelaySeconds": 5}
    delays = [planner.next_delay(spec, None)]
    for _ in range(4):
        delays.append(planner.next_delay(spec, delays[-1]))
    assert delays == [1, 2, 4, 5, 5]


# -- health ----------------------------------------------------------------------------

CHECK = {"gracePeriodSeconds": 10, "maxConsecutiveFailures": 2}


def test_failures_within_the_grace_period_are_ignored() -> None:
    verdict = health.judge(
        HealthState(), False, "down", now=5, started_at=0, check=CHECK
    )
    assert verdict.state == HealthState() and not verdict.failed


def test_failures_count_after_a_success_and_kill_at_the_limit() -> None:
    up = health.judge(HealthState(), True, None, now=1, started_at=0, check=CHECK)
    assert up.changed and up.state.alive
    once = health.judge(up.state, False, "500", now=2, started_at=0, check=CHECK)
    assert once.changed and once.failed and not once.kill
    twice = health.judge(once.state, False, "500", now=3, started_at=0, check=CHECK)
    assert twice.kill and not twice.changed
    assert (
        twice.state.consecutive_failures == 2
        and twice.state.last_failure_cause == "500"
    )


def test_zero_max_failures_never_kills() -> None:
    check = {"gracePeriodSeconds": 0, "maxConsecutiveFailures": 0}
    state = HealthState()
    for now in range(1, 10):
        verdict = health.judge(state, False, "x", now=now, started_at=0, check=check)
        state = verdict.state
        assert not verdict.kill


# -- offers ----------------------------------------------------------------------------


def raw_offer(n: int, hostname: str = "h1", rack: str = "r1") -> dict[str, Any]:
    return {
        "id": {"value": f"o{n}"},
        "agent_id": {"value": f"a{n}"},
        "hostname": hostname,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 1024.0}},
            {
                "name": "ports",
                "type": "RANGES",
                "ranges": {"range": [{"begin": 31000, "end": 31003}]},
            },
        ],
        "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": rack}}],
    }


def test_unique_hostname_puts_one_instance_per_host() -> None:
    spec = normalize_app(
        {
            "id": "a",
            "cmd": "x",
            "cpus": 0.1,
            "mem": 10,
            "constraints": [["hostname", "UNIQUE"]],
        }
    )
    parsed = [
        offers.parse_offer(raw_offer(1, "h1")),
        offers.parse_offer(raw_offer(2, "h2")),
    ]
    placed = offers.match(parsed, [offers.Want(spec, 3)])
    assert sorted(p.hostname for p in placed) == ["h1", "h2"]


def test_like_constraint_and_ports_come_from_the_offer() -> None:
    spec = normalize_app(
        {
            "id": "a",
            "cmd": "x",
            "cpus": 0.1,
            "mem": 10,
            "ports": [0, 0],
            "constraints": [["rack", "LIKE", "r2"]],
        }
    )
    parsed = [
        offers.parse_offer(raw_offer(1, rack="r1")),
        offers.parse_offer(raw_offer(2, rack="r2")),
    ]
    (placed,) = offers.match(parsed, [offers.Want(spec, 1)])
    assert placed.offer_id == OfferId("o2") and placed.ports == (31000, 31001)


def test_task_environment_has_marathons_variables() -> None:
    spec = normalize_app(
        {
            "id": "/team/web",
            "cmd": "x",
            "portDefinitions": [{"port": 0, "name": "http"}],
            "env": {"A": "1"},
        }
    )
    spec["version"] = "2024-01-01T00:00:00.000Z"
    env = offers.task_environment(spec, "team_web.1", "h1", [31005], [10001])
    assert (
        env["PORT0"] == env["PORT"] == env["PORT_HTTP"] == env["PORT_10001"] == "31005"
    )
    assert env["PORTS"] == "31005" and env["HOST"] == "h1" and env["A"] == "1"
    assert (
        env["MARATHON_APP_ID"] == "/team/web" and env["MESOS_TASK_ID"] == "team_web.1"
    )
    assert env["MARATHON_APP_VERSION"] == spec["version"]


# -- the core with a fake clock --------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_tasks_back_off_and_a_new_version_resets_the_delay() -> None:
    clock = Clock()
    core = MarathonCore(MarathonTiming(), clock)
    body = {"id": "crash", "cmd": "exit 1", "cpus": 0.1, "mem": 10, "backoffFactor": 2}
    commands.create_app(core, body)
    core.tick()
    delays = []
    for n in range(3):
        core.on_offers([raw_offer(n)])
        (task,) = core.tasks.values()
        core.on_status(
            {
                "task_id": {"value": task.task_id},
                "state": "TASK_FAILED",
                "message": "exit 1",
            }
        )
        app = core.apps[AppId("/crash")]
        delays.append(app.not_before - clock.now)
        core.tick()
        assert isinstance(core.on_offers([raw_offer(9)])[0], Decline)
        clock.now = app.not_before
        core.tick()
    assert delays == [1, 2, 4]
    assert (
        app.last_task_failure is not None
        and app.last_task_failure["state"] == "TASK_FAILED"
    )
    commands.put_app(core, "crash", {"cmd": "exit 0"}, force=True)
    assert app.delay_seconds is None


def test_a_change_to_a_locked_app_is_409_unless_forced() -> None:
    core = MarathonCore(MarathonTiming(), Clock())
    _, first = commands.create_app(core, {"id": "a", "cmd": "x"})
    with pytest.raises(commands.ApiError) as caught:
        commands.put_app(core, "a", {"instances": 2}, force=False)
    assert caught.value.status == 409
    assert f"/v2/deployments/{first.deployment_id}" in caught.value.body["message"]
    commands.put_app(core, "a", {"instances": 2}, force=True)
    assert first.deployment_id not in core.deployments


def test_unknown_running_tasks_are_killed() -> None:
    core = MarathonCore(MarathonTiming(), Clock())
    update = {
        "task_id": {"value": "x.1"},
        "agent_id": {"value": "a1"},
        "state": "TASK_RUNNING",
    }
    assert core.on_status(update) == [Kill(TaskId("x.1"), AgentId("a1"))]


class FlakyDriver:
    """Drops the connection on the first decline, as pymesos does mid-stop."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def declineOffer(self, offer_ids: Any, filters: Any) -> None:
        self.calls.append("decline")
        raise http.client.ResponseNotReady("Idle")

    def reviveOffers(self) -> None:
        self.calls.append("revive")


def test_driver_worker_survives_a_connection_dropped_mid_call() -> None:
    worker = DriverWorker()
    worker.driver = FlakyDriver()
    worker.start()

    worker.submit([Decline((OfferId("o1"),), 5.0), Revive()])
    worker.stop()

    assert worker.driver.calls == ["decline", "revive"]
