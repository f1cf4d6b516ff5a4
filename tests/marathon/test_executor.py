"""The executor under a fake clock and a fake Marathon: reverts and calls."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from framework.clients.marathon_api import MarathonNotFound
from framework.errors import TemporaryError
from framework.marathon.executor import Deployer, Timing
from framework.marathon.follow import FollowPolicy, FollowState

APP = {
    "id": "/web",
    "cmd": "serve",
    "instances": 2,
    "portDefinitions": [{"port": 0}],
    "healthChecks": [{"protocol": "HTTP", "gracePeriodSeconds": 60}],
}
OLD_VERSION = "2024-01-01T00:00:00.000Z"


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class FakeApi:
    """Marathon with one app whose new version never becomes healthy."""

    def __init__(
        self,
        existing: bool = True,
        deployment_alive: bool = True,
        apps: tuple[str, ...] = ("/web",),
    ) -> None:
        self.existing = existing
        self.apps = set(apps)
        self.deployment_alive = deployment_alive
        self.calls: Counter[str] = Counter()
        self.log: list[str] = []

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def event_stream(self, types: list[str]) -> Any:
        raise TemporaryError("no events here")

    def find_app(self, app_id: str) -> dict[str, Any] | None:
        self.calls["find"] += 1
        if not self.existing or app_id not in self.apps:
            return None
        return {**APP, "version": OLD_VERSION, "portDefinitions": [{"port": 10005}]}

    def put_app(self, body: dict[str, Any], force: bool) -> dict[str, Any]:
        self.log.append(f"put {body['portDefinitions'][0]['port']} force={force}")
        return {"deploymentId": "dep-1", "version": "2024-01-02T00:00:00.000Z"}

    def get_app(self, app_id: str, tasks: bool = False) -> dict[str, Any]:
        self.calls["get"] += 1
        old = {
            "id": "o1",
            "version": OLD_VERSION,
            "healthCheckResults": [{"alive": True}],
        }
        new = {
            "id": "n1",
            "version": "2024-01-02T00:00:00.000Z",
            "healthCheckResults": [{"alive": False}],
        }
        deployments = [{"id": "dep-1"}] if self.deployment_alive else []
        return {**APP, "tasks": [old, old, new], "deployments": deployments}

    def delete_deployment(self, deployment_id: str) -> dict[str, Any]:
        self.log.append(f"delete deployment {deployment_id}")
        if not self.deployment_alive:
            raise MarathonNotFound("gone")
        self.deployment_alive = False  # the rollback finishes at once here
        return {"deploymentId": "dep-2", "version": OLD_VERSION}

    def rollback(self, app_id: str, version: str, force: bool) -> dict[str, Any]:
        self.log.append(f"rollback {version} force={force}")
        return {"deploymentId": "dep-3"}

    def delete_app(self, app_id: str, force: bool) -> dict[str, Any]:
        self.log.append(f"delete app {app_id}")
        self.apps.discard(app_id)
        return {"deploymentId": "dep-4"}


class Quiet:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def say(self, message: str) -> None:
        self.lines.append(message)

    def progress(self, state: FollowState) -> None:
        pass


def deployer(api: FakeApi) -> tuple[Deployer, FakeClock, Quiet]:
    clock, quiet = FakeClock(), Quiet()
    timing = Timing(poll_interval=5, fallback_poll=5, revert_timeout=60)
    return Deployer(api, clock=clock, reporter=quiet, timing=timing), clock, quiet  # type: ignore[arg-type]


def test_deadline_cancels_the_deployment_so_marathon_rolls_back() -> None:
    api = FakeApi()
    d, clock, _ = deployer(api)
    outcome = d.deploy(APP, wait=True, policy=FollowPolicy(progress_deadline=30))
    assert not outcome.ok and outcome.reverted
    assert "progress deadline" in outcome.reason
    assert api.log == ["put 10005 force=False", "delete deployment dep-1"]
    assert 30 <= clock.t < 60  # fake time: the deadline, not wall-clock
    assert outcome.state is not None and outcome.state.lowest_healthy == 2


def test_when_the_deployment_is_over_the_previous_version_is_put_back() -> None:
    api = FakeApi(deployment_alive=True)
    d, _, _ = deployer(api)
    api.deployment_alive = False  # finished, but the new task is unhealthy
    state = FollowState("/web", "dep-1", "v2", 2, True, 0.0)
    assert d.revert("/web", state, {"version": OLD_VERSION})
    assert api.log == ["delete deployment dep-1", f"rollback {OLD_VERSION} force=True"]


def test_destroying_a_stable_app_also_removes_its_canary() -> None:
    api = FakeApi(apps=("/web", "/web-canary"))
    d, _, _ = deployer(api)

    outcome = d.destroy("/web", wait=True)

    assert outcome.ok and outcome.reason == "destroyed with canary"
    assert api.log == ["delete app /web", "delete app /web-canary"]


def test_destroying_a_canary_or_an_app_without_one_removes_only_that_app() -> None:
    for target, apps in (("/web-canary", ("/web", "/web-canary")), ("/web", ("/web",))):
        api = FakeApi(apps=apps)
        d, _, _ = deployer(api)

        assert d.destroy(target, wait=True).ok

        assert api.log == [f"delete app {target}"]


def test_a_new_app_that_fails_is_destroyed() -> None:
    api = FakeApi(existing=False)
    d, _, _ = deployer(api)
    outcome = d.deploy(APP, wait=True, policy=FollowPolicy(progress_deadline=10))
    assert not outcome.ok and api.log[-1] == "delete app /web"


def test_without_wait_nothing_is_followed() -> None:
    api = FakeApi()
    d, clock, _ = deployer(api)
    assert d.deploy(APP, wait=False, policy=FollowPolicy()).ok
    assert api.calls["get"] == 0 and clock.t == 0


@pytest.mark.parametrize("url_ok", [True, False])
def test_check_command_exit_code(url_ok: bool) -> None:
    from framework.marathon.executor import run_check

    ok, detail = run_check("true" if url_ok else "sh -c 'echo nope >&2; exit 3'")
    assert ok is url_ok
    assert url_ok or "exit 3" in detail
