"""The deployment-follow state machine: succeed, revert, or leave alone."""

from __future__ import annotations

from typing import Any

from framework.marathon.follow import (
    FollowPolicy,
    FollowState,
    decide,
    fold_event,
    fold_snapshot,
    start,
)

APP = {"id": "/web", "instances": 2, "healthChecks": [{"protocol": "HTTP"}]}
NEW, OLD = "2024-01-02T00:00:00.000Z", "2024-01-01T00:00:00.000Z"
POLICY = FollowPolicy(progress_deadline=60, max_failures=2)


def begin() -> FollowState:
    return start(APP, "dep-1", NEW, now=0.0)


def status(task: str, state: str, version: str = NEW, **extra: Any) -> dict[str, Any]:
    return {
        "eventType": "status_update_event",
        "appId": "/web",
        "taskId": task,
        "taskStatus": state,
        "version": version,
        **extra,
    }


def healthy(task: str, alive: bool = True, version: str = NEW) -> dict[str, Any]:
    return {
        "eventType": "health_status_changed_event",
        "appId": "/web",
        "taskId": task,
        "alive": alive,
        "version": version,
    }


def fold(state: FollowState, *events: dict[str, Any], now: float) -> FollowState:
    for event in events:
        state = fold_event(state, event, now)
    return state


def test_waits_while_instances_come_up() -> None:
    state = fold(begin(), status("t1", "TASK_RUNNING"), healthy("t1"), now=5)
    decision = decide(state, POLICY, now=5)
    assert decision.kind == "wait" and "1/2" in decision.reason


def test_succeeds_when_the_deployment_ends_with_all_healthy() -> None:
    state = fold(
        begin(),
        healthy("t1"),
        healthy("t2"),
        {"eventType": "deployment_success", "id": "dep-1"},
        now=5,
    )
    assert decide(state, POLICY, now=5).kind == "succeeded"


def test_other_deployments_and_apps_are_ignored() -> None:
    other = {"eventType": "deployment_success", "id": "dep-2"}
    state = fold(begin(), other, {**healthy("t1"), "appId": "/x"}, now=1)
    assert not state.done and state.ready == 0


def test_old_version_health_does_not_count() -> None:
    state = fold(begin(), healthy("old", version=OLD), now=1)
    assert state.ready == 0


def test_deadline_without_progress_reverts() -> None:
    state = fold(begin(), healthy("t1"), now=30)
    assert decide(state, POLICY, now=89).kind == "wait"
    decision = decide(state, POLICY, now=90)
    assert decision.kind == "revert" and "progress deadline" in decision.reason


def test_progress_restarts_the_deadline() -> None:
    state = fold(begin(), healthy("t1"), now=50)
    state = fold(state, healthy("t2"), now=100)
    assert decide(state, POLICY, now=150).kind == "wait"


def test_unhealthy_kill_of_a_new_task_reverts_at_once() -> None:
    kill = {
        "eventType": "unhealthy_task_kill_event",
        "appId": "/web",
        "taskId": "t1",
        "version": NEW,
        "reason": "HTTP health check failed: 500",
    }
    decision = decide(fold(begin(), kill, now=1), POLICY, now=1)
    assert decision.kind == "revert" and "t1" in decision.reason
    assert "500" in decision.reason


def test_repeated_task_failures_revert() -> None:
    state = fold(begin(), status("t1", "TASK_FAILED", message="exit 1"), now=1)
    assert decide(state, POLICY, now=1).kind == "wait"
    state = fold(state, status("t2", "TASK_FAILED"), status("t2", "TASK_FAILED"), now=2)
    decision = decide(state, POLICY, now=2)
    assert decision.kind == "revert" and "2 new-version tasks failed" in decision.reason


def test_tasks_killed_by_marathon_are_not_failures() -> None:
    state = fold(
        begin(), status("t1", "TASK_KILLED"), status("t2", "TASK_KILLED"), now=1
    )
    assert state.failed == ()


def test_a_deployment_ended_by_someone_else_is_not_reverted() -> None:
    state = fold(begin(), {"eventType": "deployment_failed", "id": "dep-1"}, now=1)
    decision = decide(state, POLICY, now=1)
    assert decision.kind == "failed" and "not reverting" in decision.reason


def test_snapshot_counts_new_healthy_and_old_capacity() -> None:
    app = {
        **APP,
        "deployments": [],
        "tasks": [
            {"id": "o1", "version": OLD, "healthCheckResults": [{"alive": True}]},
            {"id": "n1", "version": NEW, "healthCheckResults": [{"alive": True}]},
            {"id": "n2", "version": NEW, "healthCheckResults": [{"alive": True}]},
        ],
    }
    state = fold_snapshot(begin(), app, [], now=3)
    assert (state.ready, state.old_healthy, state.done) == (2, 1, True)
    assert state.lowest_healthy == 3
    assert decide(state, POLICY, now=3).kind == "succeeded"


def test_snapshot_picks_up_a_last_task_failure_of_the_new_version() -> None:
    failure = {"taskId": "n9", "version": NEW, "state": "TASK_FAILED", "message": "x"}
    app = {**APP, "tasks": [], "lastTaskFailure": failure}
    state = fold_snapshot(begin(), app, ["dep-1"], now=1)
    state = fold_snapshot(state, app, ["dep-1"], now=2)
    assert state.failed == (("n9", "TASK_FAILED: x"),)


def test_app_without_health_checks_counts_running_tasks() -> None:
    state = start({"id": "/web", "instances": 1}, "dep-1", NEW, now=0)
    state = fold(
        state,
        status("t1", "TASK_RUNNING"),
        {"eventType": "deployment_success", "id": "dep-1"},
        now=1,
    )
    assert decide(state, POLICY, now=1).kind == "succeeded"
