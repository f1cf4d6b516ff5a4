"""Health checks, events, rolling restarts, backoff and failover of the stand-in.

Apps are a tiny real HTTP server (``SERVER``) whose ``/health`` answers 500
while a file named after its task id exists in ``fail_dir``, so a test can
make one chosen task unhealthy. Durations in app JSON are scaled by the
fixture's ``time_scale`` (0.1).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from framework.clients.marathon_compat import marathon
from tests.local_marathon.conftest import Stand, app_of, settled
from tests.support.waiting import wait_for

App = marathon.MarathonApp
HealthCheck = marathon.models.MarathonHealthCheck
SERVER = """
import http.server, os, sys
fail = os.path.join(sys.argv[1], os.environ["MESOS_TASK_ID"])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        bad = os.path.exists(fail) or os.path.exists(os.path.join(sys.argv[1], "all"))
        self.send_response(500 if bad else 200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT0"])), Handler).serve_forever()
"""


@pytest.fixture
def fail_dir(tmp_path: Path) -> Path:
    path = tmp_path / "fail"
    path.mkdir()
    return path


def web_app(fail_dir: Path, instances: int = 1, **extra: Any) -> Any:
    script = fail_dir.parent / "server.py"
    script.write_text(SERVER)
    check = HealthCheck(
        protocol="HTTP",
        path="/health",
        grace_period_seconds=30,
        interval_seconds=1,
        timeout_seconds=20,
        max_consecutive_failures=3,
    )
    return App(
        cmd=f"{sys.executable} {script} {fail_dir}",
        instances=instances,
        cpus=0.1,
        mem=32,
        health_checks=[check],
        **extra,
    )


def healthy(client: Any, app_id: str, instances: int) -> bool:
    app = app_of(client, app_id)
    return app.tasks_healthy == instances and settled(client, app_id, instances)


class Recorder(requests.Session):
    """An SSE session that remembers its responses so the test can close them."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[requests.Response] = []

    def get(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = super().get(*args, **kwargs)
        self.responses.append(response)
        return response


class Listener:
    """Reads ``client.event_stream`` on a thread until ``until`` is seen."""

    def __init__(self, client: Any, kinds: list[str], until: Any) -> None:
        self.session = Recorder()
        client.sse_session = self.session
        self.events: list[Any] = []
        self.error: BaseException | None = None
        self._stream = client.event_stream(event_types=kinds)
        self._until = until
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        # The stream connects lazily: wait until it is attached.
        wait_for(lambda: self.events or self.error, what="event_stream_attached")

    def _run(self) -> None:
        try:
            for item in self._stream:
                self.events.append(item)
                if self._until(item):
                    break
        except BaseException as exc:  # reported by join()
            self.error = exc

    def join(self) -> list[Any]:
        self._thread.join(30)
        assert not self._thread.is_alive(), "the awaited event never came"
        self._stream.close()
        for response in self.session.responses:
            response.close()
        self.session.close()
        assert self.error is None
        return self.events

    def kinds(self) -> list[str]:
        return [e.event_type for e in self.events]


def test_events_are_parsed_by_marathon_python(client: Any, fail_dir: Path) -> None:
    kinds = [
        "event_stream_attached",
        "deployment_info",
        "deployment_success",
        "status_update_event",
        "health_status_changed_event",
        "api_post_event",
    ]
    listener = Listener(client, kinds, lambda e: e.event_type == "deployment_success")
    client.create_app("web", web_app(fail_dir))
    events = listener.join()
    assert events[0].event_type == "event_stream_attached"
    names = listener.kinds()
    assert {"deployment_info", "api_post_event", "status_update_event"} <= set(names)
    assert names.index("health_status_changed_event") < names.index(
        "deployment_success"
    )
    info = next(e for e in events if e.event_type == "deployment_info")
    assert info.plan.steps[0].actions[0].app == "/web"
    running = [e for e in events if e.event_type == "status_update_event"]
    assert running[-1].task_status == "TASK_RUNNING" and running[-1].app_id == "/web"
    alive = next(e for e in events if e.event_type == "health_status_changed_event")
    assert alive.alive is True and alive.app_id == "/web"


def test_unhealthy_task_is_killed_and_replaced(client: Any, fail_dir: Path) -> None:
    client.create_app("web", web_app(fail_dir, 2))
    wait_for(lambda: healthy(client, "/web", 2), what="2 healthy tasks")
    task = client.list_tasks("/web")[0]
    result = task.health_check_results[0]
    assert result.alive and result.consecutive_failures == 0 and result.first_success

    kind = "unhealthy_task_kill_event"
    listener = Listener(client, [kind], lambda e: e.event_type == kind)
    (fail_dir / task.id).touch()
    _attached, kill = listener.join()
    assert kill.task_id == task.id and "HTTP 500" in kill.reason
    wait_for(
        lambda: (
            healthy(client, "/web", 2)
            and task.id not in {t.id for t in client.list_tasks("/web")}
        ),
        what="a healthy replacement",
    )


def test_rolling_restart_never_drops_below_minimum_health(
    client: Any, fail_dir: Path
) -> None:
    strategy = {"minimum_health_capacity": 0.5, "maximum_over_capacity": 0.0}
    app = web_app(
        fail_dir,
        4,
        upgrade_strategy=marathon.models.app.MarathonUpgradeStrategy(**strategy),
    )
    client.create_app("web", app)
    wait_for(lambda: healthy(client, "/web", 4), what="4 healthy tasks")
    before = {t.id for t in client.list_tasks("/web")}

    client.restart_app("/web")
    seen_healthy, seen_live = [], []
    # Sample the app as often as we can until the restart is done.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tasks = client.list_tasks("/web")
        seen_live.append(len(tasks))
        seen_healthy.append(
            sum(
                all(r.alive for r in t.health_check_results)
                and bool(t.health_check_results)
                for t in tasks
            )
        )
        if not client.list_deployments():
            break
    assert min(seen_healthy) >= 2 and max(seen_live) <= 4
    assert not before & {t.id for t in client.list_tasks("/web")}
    assert healthy(client, "/web", 4)


def test_crashing_app_backs_off_and_shows_in_the_queue(
    client: Any, server: Any
) -> None:
    app = App(
        cmd="exit 3",
        cpus=0.1,
        mem=16,
        backoff_seconds=1,
        backoff_factor=2,
        max_launch_delay_seconds=20,
    )
    client.create_app("crash", app)
    core = server.service.core
    wait_for(
        lambda: (core.apps["/crash"].delay_seconds or 0) >= 4, what="a growing delay"
    )
    failure = client.get_app("/crash").last_task_failure
    assert failure.state == "TASK_FAILED" and failure.app_id == "/crash"
    (item,) = wait_for(lambda: client.list_queue(), what="a queue entry")
    assert item.app.id == "/crash" and item.count == 1
    wait_for(
        lambda: (
            client.list_queue() and client.list_queue()[0].delay.time_left_seconds >= 0
        )
    )
    client.reset_delay("/crash")
    assert (
        core.apps["/crash"].delay_seconds is None
        or core.apps["/crash"].delay_seconds == 1
    )


@pytest.mark.filterwarnings(
    # marathon-python logs through the deprecated Logger.warn when it parses
    # a COMMAND check as Marathon returns it ({"value": ...}).
    "ignore:The 'warn' method is deprecated:DeprecationWarning"
)
def test_command_health_checks_run_with_the_task_environment(
    client: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "checked"
    check = HealthCheck(
        protocol="COMMAND",
        command=f'test -n "$PORT0" && echo $MESOS_TASK_ID > {marker}',
        grace_period_seconds=30,
        interval_seconds=1,
    )
    client.create_app(
        "cmd", App(cmd="sleep 600", cpus=0.1, mem=16, health_checks=[check])
    )
    wait_for(lambda: healthy(client, "/cmd", 1), what="a healthy command check")
    (task,) = client.list_tasks("/cmd")
    assert marker.read_text().strip() == task.id


def test_restarted_marathon_recovers_mid_deployment(
    stand: Stand, fail_dir: Path
) -> None:
    server = stand.start()
    client = marathon.MarathonClient(server.url)
    (fail_dir / "all").touch()
    app = web_app(fail_dir, 2)
    app.health_checks[0].grace_period_seconds = 0
    app.health_checks[0].max_consecutive_failures = 0
    client.create_app("web", app)
    wait_for(lambda: settled_running(client, 2), what="2 running, unhealthy tasks")
    (deployment,) = client.list_deployments()
    tasks = {t.id for t in client.list_tasks("/web")}
    framework_id = server.framework_id
    client.session.close()
    stand.stop()

    again = stand.start()
    client = marathon.MarathonClient(again.url)
    try:
        assert [d.id for d in client.list_deployments()] == [deployment.id]
        wait_for(
            lambda: again.service is not None and again.service.connected,
            what="re-registration",
        )
        assert again.framework_id == framework_id
        (fail_dir / "all").unlink()
        wait_for(lambda: healthy(client, "/web", 2), what="the deployment to finish")
        assert {t.id for t in client.list_tasks("/web")} == tasks
        assert client.list_deployments() == []
    finally:
        client.session.close()


def settled_running(client: Any, instances: int) -> bool:
    return app_of(client, "/web").tasks_running == instances
