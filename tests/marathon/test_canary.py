"""The canary app's labels and the step machine."""

from __future__ import annotations

import pytest

from framework.marathon.canary import (
    CanaryObservation,
    CanaryPlan,
    CanaryState,
    after,
    canary_app,
    decide,
    parse_steps,
    promoted_app,
)

PLAN = CanaryPlan(steps=(5, 25, 100), interval=60.0, instances=2)


def test_canary_app_carries_the_sync_labels() -> None:
    new = {
        "id": "/team/web",
        "instances": 6,
        "labels": {"x": "1"},
        "portDefinitions": [{"port": 10001}],
    }
    app = canary_app(new, instances=2, weight=5)
    assert app["id"] == "/team/web-canary" and app["instances"] == 2
    assert app["labels"] == {
        "x": "1",
        "consul.name": "team-web",
        "mesos-adapter.canary": "true",
        "mesos-adapter.weight": "5",
        "mesos-adapter.stable-app": "/team/web",
    }
    assert app["portDefinitions"] == [{"port": 0}]
    assert new["portDefinitions"] == [{"port": 10001}]  # input untouched


def test_promoted_app_takes_stable_identity_and_keeps_its_weight() -> None:
    canary = canary_app({"id": "/web", "cmd": "v2"}, instances=1, weight=100)
    stable = {
        "id": "/web",
        "instances": 4,
        "labels": {"mesos-adapter.weight": "50"},
        "upgradeStrategy": {"minimumHealthCapacity": 0.5},
    }
    app = promoted_app(canary, stable)
    assert (app["id"], app["cmd"], app["instances"]) == ("/web", "v2", 4)
    assert app["labels"]["mesos-adapter.canary"] == "false"
    assert app["labels"]["mesos-adapter.weight"] == "50"
    assert "mesos-adapter.stable-app" not in app["labels"]


@pytest.mark.parametrize("bad", ["", "5,x", "0,50", "50,25", "5,5"])
def test_bad_steps_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="--steps"):
        parse_steps(bad)


def obs(now: float, healthy: int = 2, **kw: object) -> CanaryObservation:
    return CanaryObservation(now, healthy, **kw)  # type: ignore[arg-type]


def run_steps(check_ok: bool | None = None) -> list[str]:
    """Drive the machine with healthy canaries; the decisions taken, in order."""
    state, now, seen = CanaryState(), 0.0, []
    for _ in range(20):
        decision = decide(PLAN, state, obs(now, check_ok=check_ok, check_detail="d"))
        seen.append(f"{decision.kind}:{decision.weight}")
        if decision.kind in ("promote", "abort"):
            return seen
        state = after(state, decision, now)
        now += 30
    raise AssertionError(seen)


def test_healthy_canaries_walk_every_step_then_promote() -> None:
    seen = run_steps()
    assert [s for s in seen if not s.startswith("wait")] == [
        "set_weight:5",
        "advance:25",
        "set_weight:25",
        "advance:100",
        "set_weight:100",
        "promote:100",
    ]


def test_a_failing_check_aborts_at_the_first_step_end() -> None:
    seen = run_steps(check_ok=False)
    assert seen[-1] == "abort:0" and seen.count("set_weight:5") == 1


def test_unhealthy_canaries_at_step_end_abort() -> None:
    state = after(CanaryState(), decide(PLAN, CanaryState(), obs(0)), 0)
    assert decide(PLAN, state, obs(30, healthy=1)).kind == "wait"
    decision = decide(PLAN, state, obs(60, healthy=1))
    assert decision.kind == "abort" and "1/2" in decision.reason


def test_a_failed_canary_task_aborts_at_once() -> None:
    state = after(CanaryState(), decide(PLAN, CanaryState(), obs(0)), 0)
    decision = decide(PLAN, state, obs(1, failures=("t1 (TASK_FAILED)",)))
    assert decision.kind == "abort" and "t1" in decision.reason
