"""Service scenarios: deploy, revert, canary, and discovery of Marathon apps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework.cli.main import main
from framework.clients import consul as consul_client
from framework.clients.marathon_api import MarathonApi
from framework.consul_sync.loop import LoopOptions
from tests.cluster.conftest import Target
from tests.consul_sync.conftest import RunningSync
from tests.support.waiting import wait_for

APP = Path(__file__).resolve().parents[2] / "marathon_apps" / "http-service.json"

pytestmark = pytest.mark.timeout(300)


def app_file(tmp_path: Path, name: str, **changes: Any) -> Path:
    app = json.loads(APP.read_text())
    app["id"] = "/scenario/web"
    app["labels"]["consul.name"] = "scenario-web"
    app.update(changes)
    path = tmp_path / name
    path.write_text(json.dumps(app))
    return path


def apps(target: Target, *args: str) -> int:
    return main(["--marathon-url", target.settings.marathon.url, "apps", *args])


def test_deploy_then_a_bad_version_is_reverted(target: Target, tmp_path: Path) -> None:
    good = app_file(tmp_path, "v1.json", env={"GREETING": "v1"})
    broken_cmd = "exec python3 -m http.server $PORT0 --bind 127.0.0.1"  # no /health
    bad = app_file(tmp_path, "v2.json", env={"GREETING": "v2"}, cmd=broken_cmd)
    assert apps(target, "deploy", str(good), "--wait") == 0
    assert apps(target, "deploy", str(bad), "--wait", "--progress-deadline", "20") == 1

    api = MarathonApi(target.settings.marathon)
    try:
        app = api.get_app("/scenario/web")
        assert app["env"]["GREETING"] == "v1"
        assert app["tasksHealthy"] == app["instances"] == 2
    finally:
        api.close()
        apps(target, "destroy", "/scenario/web")


@pytest.mark.discovery
def test_canary_is_discoverable_and_promotion_leaves_one_stable_app(
    target: Target, tmp_path: Path
) -> None:
    sync = RunningSync(target.settings, LoopOptions(lock_delay=0))
    client = consul_client.new_client(target.settings.consul)
    try:
        assert apps(target, "deploy", str(app_file(tmp_path, "v1.json")), "--wait") == 0
        wait_for(lambda: len(passing(client, "scenario-web")) == 2, what="stable")

        v2 = app_file(tmp_path, "v2.json", env={"GREETING": "v2"})
        code = apps(
            target, "canary", str(v2), "--instances", "1", "--steps", "50,100",
            "--interval", "1s",
        )  # fmt: skip
        assert code == 0
        entries = wait_for(
            lambda: (
                [
                    e
                    for e in passing(client, "scenario-web")
                    if "stable" in e["Service"]["Tags"]
                ]
                if len(passing(client, "scenario-web")) == 2
                else None
            ),
            what="promoted instances registered",
        )
        assert {e["Service"]["Meta"]["app-id"] for e in entries} == {"/scenario/web"}
    finally:
        apps(target, "destroy", "/scenario/web")
        client.http.session.close()
        sync.stop()


def passing(client: Any, name: str) -> list[dict[str, Any]]:
    _, entries = client.health.service(name, passing=True)
    return list(entries)
