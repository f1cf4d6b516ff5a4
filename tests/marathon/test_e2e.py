"""The deployer against the local Marathon on a real local cluster.

Tasks are real processes (python3 -m http.server); health checks are real
HTTP probes. No test asserts a duration.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from framework.cli.main import main
from framework.clients.marathon_api import MarathonApi
from framework.local.cluster import LocalCluster
from framework.marathon.canary import CanaryPlan
from framework.marathon.executor import Deployer, Timing
from framework.marathon.follow import FollowPolicy
from tests.marathon.conftest import service

pytestmark = pytest.mark.slow
POLICY = FollowPolicy(progress_deadline=20, max_failures=3)
FAST = Timing(poll_interval=2.0, fallback_poll=0.2, revert_timeout=60)


def deployer(api: MarathonApi) -> Deployer:
    return Deployer(api, timing=FAST)


def healthy_by_version(api: MarathonApi, app_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in api.get_app(app_id, tasks=True).get("tasks", []):
        results = task.get("healthCheckResults") or []
        if (
            task.get("state") == "TASK_RUNNING"
            and results
            and all(r.get("alive") for r in results)
        ):
            counts[task["version"]] = counts.get(task["version"], 0) + 1
    return counts


@contextmanager
def watch_capacity(api: MarathonApi, app_id: str) -> Iterator[list[int]]:
    """Poll how many instances are healthy until the block ends.

    The bad version is never healthy, so every healthy instance is a good one
    (the rollback's own instances carry a new version stamp).
    """
    seen: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            seen.append(sum(healthy_by_version(api, app_id).values()))
            stop.wait(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(5)


def test_deploy_succeeds_and_follows_with_few_calls(api: MarathonApi) -> None:
    d = deployer(api)
    outcome = d.deploy(service("v1"), wait=True, policy=POLICY)
    assert outcome.ok, outcome.reason
    assert sum(healthy_by_version(api, "/e2e/web").values()) == 2
    assert api.calls["GET /v2/events"] == 1
    assert api.total_calls < 20


def test_unhealthy_update_is_reverted_keeping_old_capacity(api: MarathonApi) -> None:
    d = deployer(api)
    assert d.deploy(service("v1"), wait=True, policy=POLICY).ok
    with watch_capacity(api, "/e2e/web") as seen:
        outcome = d.deploy(service("v2", health="no"), wait=True, policy=POLICY)
    assert not outcome.ok and outcome.reverted
    assert "unhealthy" in outcome.reason or "failed" in outcome.reason
    assert seen and min(seen) >= 2  # never fewer healthy old instances
    app = api.get_app("/e2e/web")
    assert app["env"]["APP_VERSION"] == "v1" and not app.get("deployments")


def test_progress_deadline_reverts(api: MarathonApi) -> None:
    d = deployer(api)
    assert d.deploy(service("v1"), wait=True, policy=POLICY).ok
    slow = service("v2", health="no")
    slow["healthChecks"][0]["gracePeriodSeconds"] = 3000  # never judged in time
    outcome = d.deploy(slow, wait=True, policy=FollowPolicy(progress_deadline=2))
    assert not outcome.ok and "progress deadline" in outcome.reason
    assert api.get_app("/e2e/web")["env"]["APP_VERSION"] == "v1"


def test_canary_promotes_after_every_step(api: MarathonApi) -> None:
    d = deployer(api)
    assert d.deploy(service("v1"), wait=True, policy=POLICY).ok
    plan = CanaryPlan(steps=(50, 100), interval=0.5, instances=1)
    outcome = d.canary(service("v2"), plan, check="true", policy=POLICY)
    assert outcome.ok, outcome.reason
    stable = api.get_app("/e2e/web")
    assert stable["env"]["APP_VERSION"] == "v2" and stable["instances"] == 2
    assert stable["labels"]["mesos-adapter.canary"] == "false"
    assert api.find_app("/e2e/web-canary") is None


def test_canary_aborts_on_a_failing_check(api: MarathonApi) -> None:
    d = deployer(api)
    assert d.deploy(service("v1"), wait=True, policy=POLICY).ok
    before = api.get_app("/e2e/web")["version"]
    plan = CanaryPlan(steps=(10, 100), interval=0.3, instances=1)
    outcome = d.canary(service("v2"), plan, check="false", policy=POLICY)
    assert not outcome.ok and "check failed" in outcome.reason
    assert api.get_app("/e2e/web")["version"] == before
    assert d.wait_done("/e2e/web-canary", "") and _gone(d, "/e2e/web-canary")


def _gone(d: Deployer, app_id: str) -> bool:
    return d._wait_gone(app_id)


def test_rollback_to_the_previous_definition_and_scale(api: MarathonApi) -> None:
    d = deployer(api)
    assert d.deploy(service("v1"), wait=True, policy=POLICY).ok
    assert d.deploy(service("v2"), wait=True, policy=POLICY).ok
    assert d.scale("/e2e/web", 3, force=False, wait=True).ok
    assert api.get_app("/e2e/web")["instances"] == 3
    outcome = d.rollback("/e2e/web", None, force=False, wait=True)
    assert outcome.ok
    assert api.get_app("/e2e/web")["env"]["APP_VERSION"] == "v1"


def cli(cluster: LocalCluster, url: str, *args: str) -> int:
    argv = ["--marathon-url", url, "--mesos-master", cluster.address, *args]
    return main(argv)


def test_cli_exit_codes(
    cluster: LocalCluster,
    marathon_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(service("v1")))
    bad.write_text(json.dumps({**service("v1"), "cpu": 1}))
    assert cli(cluster, marathon_url, "apps", "validate", str(bad)) == 2
    assert cli(cluster, marathon_url, "apps", "deploy", str(bad)) == 2
    assert cli(cluster, marathon_url, "apps", "plan", str(good)) == 0
    assert cli(cluster, marathon_url, "apps", "deploy", str(good)) == 0
    assert cli(cluster, marathon_url, "apps", "plan", str(good)) == 2
    assert cli(cluster, marathon_url, "apps", "status", "/e2e/web") == 0
    assert cli(cluster, marathon_url, "apps", "status", "/e2e/nope") == 2
    assert cli(cluster, marathon_url, "apps", "restart", "/e2e/web", "--no-wait") == 0
    # A second change while the restart runs is refused with a 409.
    good.write_text(json.dumps(service("v2")))
    assert cli(cluster, marathon_url, "apps", "deploy", str(good), "--no-wait") in (
        0,
        2,
    )
    assert cli(cluster, marathon_url, "apps", "destroy", "/e2e/web") == 0
