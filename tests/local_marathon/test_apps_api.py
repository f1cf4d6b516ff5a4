"""marathon-python 0.13 against the local Marathon on a real local Mesos.

Apps run real processes (``sleep``); every call goes through the unchanged
client, so these tests also prove the stand-in emits only keys the client's
strict models accept.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from framework.clients.marathon_compat import marathon
from framework.local.marathon import LocalMarathon
from framework.local.marathon.model import parse_ts
from tests.local_marathon.conftest import app_of, raw, settled
from tests.support.waiting import wait_for

errors = marathon.exceptions
App = marathon.MarathonApp
SMALL: dict[str, Any] = {"cpus": 0.1, "mem": 16}


def sleeper(instances: int = 1, **extra: Any) -> Any:
    return App(cmd="sleep 600", instances=instances, **SMALL, **extra)


def never_healthy(instances: int = 1) -> Any:
    """An app whose tasks run but never pass their (never-killing) check."""
    check = marathon.models.MarathonHealthCheck(
        protocol="TCP",  # nothing listens on PORT0
        grace_period_seconds=0,
        interval_seconds=1,
        max_consecutive_failures=0,
    )
    return sleeper(instances, health_checks=[check])


def test_create_shows_one_deployment_then_runs_every_instance(client: Any) -> None:
    created = client.create_app("web", sleeper(3, labels={"team": "a"}))
    assert created.id == "/web" and len(created.deployments) == 1
    assert len(client.list_deployments()) == 1

    wait_for(lambda: settled(client, "/web", 3), what="3 running instances")
    assert client.list_deployments() == []
    app = app_of(client, "/web")
    assert app.tasks_staged == 0
    assert app.version_info.last_config_change_at.timestamp() == parse_ts(app.version)
    assert {t.id.split(".")[0] for t in app.tasks} == {"web"}
    assert all(
        t.started_at and t.ports and t.service_ports == [10000] for t in app.tasks
    )
    assert [a.id for a in client.list_apps(label="team==a")] == ["/web"]
    assert client.list_apps(app_id="nomatch") == []
    assert len(client.list_tasks("/web")) == 3


def test_task_environment_reaches_the_process(client: Any, tmp_path: Any) -> None:
    out = tmp_path / "env.json"
    script = (
        "import json, os; json.dump({k: v for k, v in os.environ.items()}, "
        f"open({str(out)!r}, 'w')); import time; time.sleep(600)"
    )
    app = App(
        cmd=f'python3 -c "{script}"',
        port_definitions=[{"port": 0, "name": "http"}, {"port": 0}],
        **SMALL,
    )
    client.create_app("/team/env", app)
    env = wait_for(
        lambda: out.exists() and out.stat().st_size and json.loads(out.read_text())
    )
    (task,) = client.list_tasks("/team/env")
    assert task.id.startswith("team_env.") and env["MESOS_TASK_ID"] == task.id
    assert env["PORT0"] == env["PORT_HTTP"] == str(task.ports[0])
    assert env["PORTS"] == ",".join(str(p) for p in task.ports)
    assert env["MARATHON_APP_ID"] == "/team/env" and env["HOST"] == task.host
    assert env["MARATHON_APP_VERSION"] == task.version


def test_update_scale_versions_and_rollback(client: Any) -> None:
    client.create_app("web", sleeper(1))
    wait_for(lambda: settled(client, "/web", 1))
    first = client.get_app("/web").version

    result = client.scale_app("/web", instances=3)
    assert set(result) == {"deploymentId", "version"}
    wait_for(lambda: settled(client, "/web", 3), what="scaled to 3")
    app = client.get_app("/web")
    changed_at = app.version_info.last_config_change_at.timestamp()
    assert changed_at == parse_ts(first) and app.version != first  # a scale only

    client.update_app("/web", App(cmd="sleep 601"))
    wait_for(
        lambda: (
            settled(client, "/web", 3)
            and all(
                t.version == client.get_app("/web").version
                for t in client.list_tasks("/web")
            )
        ),
        what="restart onto the new command",
    )
    versions = client.list_versions("/web")
    assert len(versions) == 3 and versions[-1] == first
    assert client.get_version("/web", first).cmd == "sleep 600"

    client.rollback_app("/web", first)
    wait_for(
        lambda: settled(client, "/web", 1) and client.get_app("/web").cmd == "sleep 600"
    )


def test_kill_tasks_with_and_without_scale(client: Any) -> None:
    client.create_app("web", sleeper(3))
    wait_for(lambda: settled(client, "/web", 3))
    victim = client.list_tasks("/web")[0]

    killed = client.kill_task("/web", victim.id)
    assert killed.id == victim.id

    def replaced() -> bool:
        # Three live tasks, none of them the victim: the replacement runs.
        running = [t for t in client.list_tasks("/web") if t.state == "TASK_RUNNING"]
        ids = {t.id for t in running}
        return settled(client, "/web", 3) and len(ids) == 3 and victim.id not in ids

    wait_for(replaced, what="a replacement")

    result = client.kill_tasks("/web", scale=True)
    assert "deploymentId" in result
    wait_for(lambda: settled(client, "/web", 0), what="scaled to zero")
    assert client.get_app("/web").instances == 0

    with pytest.raises(errors.NotFoundError, match="Task 'nope' does not exist"):
        client.kill_task("/web", "nope")


def test_kill_given_tasks_and_delete(client: Any) -> None:
    client.create_app("web", sleeper(2))
    wait_for(lambda: settled(client, "/web", 2))
    ids = [t.id for t in client.list_tasks()]
    assert client.kill_given_tasks(ids[:1], scale=True)
    wait_for(lambda: settled(client, "/web", 1))
    assert [t.id for t in client.list_tasks()] == ids[1:]

    assert "deploymentId" in client.delete_app("/web")
    with pytest.raises(errors.NotFoundError):
        client.get_app("/web")
    wait_for(lambda: not client.list_tasks() and not client.list_deployments())


def test_restart_replaces_every_task(client: Any) -> None:
    client.create_app("web", sleeper(2))
    wait_for(lambda: settled(client, "/web", 2))
    before = {t.id for t in client.list_tasks("/web")}
    client.restart_app("/web")
    wait_for(
        lambda: (
            settled(client, "/web", 2)
            and not before & {t.id for t in client.list_tasks("/web")}
        ),
        what="all tasks replaced",
    )


def test_a_locked_app_answers_409_until_forced(client: Any) -> None:
    client.create_app("stuck", never_healthy())
    (deployment,) = client.list_deployments()
    with pytest.raises(errors.ConflictError) as caught:
        client.update_app("/stuck", App(instances=2))
    assert caught.value.error_message == (
        "App is locked by one or more deployments. Override with the option "
        f"'?force=true'. View details at '/v2/deployments/{deployment.id}'."
    )
    client.update_app("/stuck", App(instances=2), force=True)
    assert [d.id for d in client.list_deployments()] != [deployment.id]


def test_deleting_a_deployment_rolls_back_or_just_cancels(client: Any) -> None:
    client.create_app("stuck", never_healthy())
    (deployment,) = client.list_deployments()
    rollback = client.delete_deployment(deployment.id)
    assert "deploymentId" in rollback
    wait_for(
        lambda: (
            not (client.list_apps() or client.list_tasks() or client.list_deployments())
        ),
        what="rolled back",
    )

    client.create_app("stuck", never_healthy())
    (deployment,) = client.list_deployments()
    assert client.delete_deployment(deployment.id, force=True) == {}
    assert client.list_deployments() == [] and client.get_app("/stuck").instances == 1
    with pytest.raises(errors.NotFoundError, match="does not exist"):
        client.delete_deployment("nope")


def test_errors_reach_the_client_as_its_exceptions(
    client: Any, server: LocalMarathon
) -> None:
    with pytest.raises(errors.NotFoundError) as missing:
        client.get_app("/missing")
    assert missing.value.error_message == "App '/missing' does not exist"

    with pytest.raises(errors.MarathonHttpError) as invalid:
        client.create_app("nocmd", App(instances=1))
    assert invalid.value.status_code == 422
    assert invalid.value.error_message == "Object is not valid"
    assert "must either contain one of 'cmd' or 'args'" in str(
        invalid.value.error_details
    )

    with pytest.raises(errors.MarathonHttpError) as wrong_type:
        client.create_app("typed", App(cmd="x", instances="three"))
    assert wrong_type.value.status_code == 400
    assert wrong_type.value.error_details[0]["path"] == "/instances"

    client.create_app("web", sleeper())
    with pytest.raises(errors.ConflictError, match=r"already exists"):
        client.create_app("web", sleeper())

    bad = raw(
        server,
        "POST",
        "/v2/apps",
        data="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert bad.status_code == 400 and bad.json()["message"] == "Invalid JSON"
    operator = raw(
        server,
        "POST",
        "/v2/apps",
        json={"id": "c", "cmd": "x", "constraints": [["hostname", "NEAR"]]},
    )
    assert operator.status_code == 422
    assert (
        "must be one of the following UNIQUE"
        in operator.json()["details"][0]["errors"][0]
    )


def test_put_creates_with_201_and_lists_update_many(
    server: LocalMarathon, client: Any
) -> None:
    created = raw(
        server, "PUT", "/v2/apps/made?force=False", json={"cmd": "sleep 600", **SMALL}
    )
    assert created.status_code == 201 and created.headers["Marathon-Deployment-Id"]
    result = client.update_apps(
        [App(id="/made", instances=2), App(id="/other", cmd="sleep 600", **SMALL)],
        force=True,
    )
    assert "deploymentId" in result
    wait_for(lambda: settled(client, "/made", 2) and settled(client, "/other", 1))


def test_groups_info_leader_queue_and_metrics(
    client: Any, server: LocalMarathon
) -> None:
    client.create_app("/team/web", sleeper())
    client.create_app("/solo", sleeper())
    (team,) = client.list_groups()
    assert team.id == "/team" and [a.id for a in team.apps] == ["/team/web"]
    assert [a.id for a in client.get_group("/team").apps] == ["/team/web"]
    info = client.get_info()
    assert info.name == "marathon" and info.framework_id
    assert client.get_leader() == {"leader": f"127.0.0.1:{server.port}"}
    assert client.ping().strip() == b"pong"
    assert client.list_queue() is not None
    assert "gauges" in client.get_metrics()


def test_dev_marathon_command_serves_until_sigterm(cluster: Any, tmp_path: Any) -> None:
    import os
    import signal
    import subprocess
    import sys

    script = (
        "from framework.cli.dev_marathon import marathon; "
        "marathon(['--port', '0', '--data-dir', sys.argv[1]])"
    )
    env = {**os.environ, "MESOS_MASTER": cluster.address}
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; " + script, str(tmp_path / "m")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        export = process.stdout.readline().strip()
        assert first.startswith("Local Marathon: http://127.0.0.1:")
        url = export.removeprefix("export MARATHON_URL=")
        api = marathon.MarathonClient(url)
        assert api.ping().strip() == b"pong"
        api.session.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        if process.stdout is not None:
            process.stdout.close()
