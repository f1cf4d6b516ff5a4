"""Checks run for real against loopback servers: HTTP, TCP, TTL, and the reaper."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import consul
import pytest

from tests.local_consul.conftest import answers_like_1_8
from tests.support.waiting import wait_for


class _Handler(BaseHTTPRequestHandler):
    """/ok → 200, /busy → 429, anything else → 500; echoes X-Probe."""

    def do_GET(self) -> None:
        codes = {"/ok": 200, "/busy": 429}
        code = codes.get(self.path, 500)
        body = f"{self.path} probe={self.headers.get('X-Probe', '')}".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _status(c: Any, check_id: str) -> str:
    check = c.agent.checks().get(check_id)
    return str(check["Status"]) if check else ""


def test_http_check_passes_on_200_with_consuls_output(c: Any, web: str) -> None:
    check = consul.Check.http(f"{web}/ok", "50ms", header={"X-Probe": ["yes"]})
    c.agent.service.register("web", service_id="w", check=check)

    wait_for(lambda: _status(c, "service:w") == "passing")

    output = c.agent.checks()["service:w"]["Output"]
    assert output == f"HTTP GET {web}/ok: 200 OK Output: /ok probe=yes"
    # The catalog learns it from the agent's next sync, not in the same write.
    wait_for(lambda: c.health.service("web", passing=True)[1])


def test_http_check_is_warning_on_429_and_critical_on_500(c: Any, web: str) -> None:
    c.agent.check.register("busy", check=consul.Check.http(f"{web}/busy", "50ms"))
    c.agent.check.register("bad", check=consul.Check.http(f"{web}/bad", "50ms"))

    wait_for(lambda: _status(c, "busy") == "warning")
    wait_for(lambda: "500" in c.agent.checks()["bad"]["Output"])

    assert _status(c, "bad") == "critical"


def test_http_check_against_a_closed_port_is_critical(c: Any) -> None:
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/"
    c.agent.check.register("down", check=consul.Check.http(url, "50ms", timeout="1s"))

    output = wait_for(lambda: c.agent.checks()["down"]["Output"])

    assert _status(c, "down") == "critical"
    assert "connection refused" in output


def test_tcp_check_follows_the_listener(c: Any) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    c.agent.check.register("tcp", check=consul.Check.tcp("127.0.0.1", port, "50ms"))

    wait_for(lambda: _status(c, "tcp") == "passing")
    assert c.agent.checks()["tcp"]["Output"] == f"TCP connect 127.0.0.1:{port}: Success"

    listener.close()
    wait_for(lambda: _status(c, "tcp") == "critical")


def test_ttl_check_passes_then_expires_to_critical(c: Any) -> None:
    c.agent.service.register("job", service_id="j", check=consul.Check.ttl("300ms"))
    assert _status(c, "service:j") == "critical"

    assert c.agent.check.ttl_pass("service:j", "alive")
    assert _status(c, "service:j") == "passing"
    assert c.agent.checks()["service:j"]["Output"] == "alive"

    wait_for(lambda: _status(c, "service:j") == "critical")
    output = c.agent.checks()["service:j"]["Output"]
    assert output.startswith("TTL expired")


def test_ttl_warn_and_fail_set_the_status(c: Any) -> None:
    c.agent.check.register("t", check=consul.Check.ttl("30s"))

    c.agent.check.ttl_warn("t", "slow")
    assert _status(c, "t") == "warning"
    c.agent.check.ttl_fail("t", "dead")
    assert _status(c, "t") == "critical"


def test_ttl_update_of_an_unknown_check_is_404(c: Any, server: Any) -> None:
    if answers_like_1_8(server):
        with pytest.raises(
            consul.ConsulException, match="does not have associated TTL"
        ):
            c.agent.check.ttl_pass("nope")  # 1.8 answered 500
        return
    assert c.agent.check.ttl_pass("nope") is False


def test_check_on_an_unknown_service_is_refused(c: Any) -> None:
    with pytest.raises(consul.ConsulException):
        c.agent.check.register("x", check=consul.Check.ttl("5s"), service_id="ghost")


def test_script_checks_are_refused_like_an_agent_without_script_checks(c: Any) -> None:
    with pytest.raises(consul.ConsulException, match="Scripts are disabled"):
        c.agent.check.register("s", check=consul.Check.script(["true"], "10s"))


def test_check_without_a_type_is_400(c: Any) -> None:
    with pytest.raises(consul.ConsulException, match="Invalid check"):
        c.agent.check.register("s", check={"interval": "10s"})


@pytest.mark.stand_in_only("Consul's minimum DeregisterCriticalServiceAfter is 1m")
def test_deregister_critical_service_after_removes_the_service(c: Any) -> None:
    check = consul.Check.ttl("100ms")
    check["DeregisterCriticalServiceAfter"] = "200ms"
    c.agent.service.register("flaky", service_id="f", check=check)
    c.agent.service.register("steady", service_id="s", check=consul.Check.ttl("1h"))

    wait_for(lambda: "f" not in c.agent.services())

    assert c.catalog.service("flaky")[1] == []
    assert "s" in c.agent.services()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
