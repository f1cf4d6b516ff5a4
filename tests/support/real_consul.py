"""A real Consul agent in dev mode, for running stand-in tests against Consul.

`make test` installs Consul 1.8.7 into the venv (tools/install_consul.py). A
test that wants the real thing asks for `RealConsul.start(...)`; when the binary
is missing, `binary()` returns None and the caller skips with `SKIP_REASON`.

Each agent gets its own ports (all picked free), an in-memory dev server, and,
when asked, ACLs with a master token, so tests can run in parallel with any
other Consul on the machine. `stop()` ends the process and removes nothing it
did not create.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

VERSION = "1.8.7"
SKIP_REASON = (
    f"real Consul {VERSION} not installed (make install runs tools/install_consul.py)"
)


@functools.cache
def binary() -> str | None:
    """The first Consul 1.8.7 among $MESOS_ADAPTER_TEST_CONSUL, the venv's, PATH.

    The venv is the one running the tests (``make test VENV=...`` installs the
    binary into that venv's bin directory), found through ``sys.executable``.
    Another release is passed over: the tests state what 1.8.7 answers.
    """
    candidates = [
        os.environ.get("MESOS_ADAPTER_TEST_CONSUL"),
        str(Path(sys.executable).parent / "consul"),
        shutil.which("consul"),
    ]
    for candidate in candidates:
        if candidate and _reports_version(candidate):
            return candidate
    return None


def _reports_version(path: str) -> bool:
    try:
        out = subprocess.run(
            [path, "version"], capture_output=True, text=True, timeout=30
        ).stdout
    except OSError:
        return False
    return out.startswith(f"Consul v{VERSION}")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def ports_config(
    http: int, serf_lan: int, serf_wan: int, server: int
) -> dict[str, int]:
    """Consul's ``ports`` block: these four, DNS and gRPC off."""
    return {
        "http": http,
        "dns": -1,
        "grpc": -1,
        "serf_lan": serf_lan,
        "serf_wan": serf_wan,
        "server": server,
    }


@contextmanager
def started(node_name: str = "n1") -> Iterator[RealConsul | None]:
    """A running agent for the block, or None when Consul is not installed."""
    executable = binary()
    if executable is None:
        yield None
        return
    agent = RealConsul.start(executable, node_name=node_name)
    try:
        yield agent
    finally:
        agent.stop()


def agent_for(
    request: pytest.FixtureRequest, acl_master_token: str | None = None
) -> Iterator[RealConsul]:
    """Yield a started agent for a fixture, or skip the test with the reason.

    A test marked ``stand_in_only`` skips here: it checks a knob of the stand-in
    that a real Consul does not have.
    """
    marker = request.node.get_closest_marker("stand_in_only")
    if marker is not None:
        pytest.skip(f"stand-in only: {marker.args[0]}")
    executable = binary()
    if executable is None:
        pytest.skip(SKIP_REASON)
    agent = RealConsul.start(executable, acl_master_token=acl_master_token)
    try:
        yield agent
    finally:
        agent.stop()


class RealConsul:
    """One `consul agent -dev` process on loopback."""

    def __init__(
        self, executable: str, port: int, workdir: Path, token: str | None
    ) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self._executable = executable
        self._workdir = workdir
        self._token = token

    @classmethod
    def start(
        cls, executable: str, node_name: str = "n1", acl_master_token: str | None = None
    ) -> RealConsul:
        http, *others = free_ports(4)
        config: dict[str, object] = {
            "node_name": node_name,
            "datacenter": "dc1",
            "bind_addr": "127.0.0.1",
            "client_addr": "127.0.0.1",
            "disable_update_check": True,
            "ports": ports_config(http, *others),
        }
        if acl_master_token:
            config["acl"] = {
                "enabled": True,
                "default_policy": "deny",
                "tokens": {"master": acl_master_token},
            }
        workdir = Path(tempfile.mkdtemp(prefix="real-consul-"))
        (workdir / "agent.json").write_text(json.dumps(config))
        agent = cls(executable, http, workdir, acl_master_token)
        agent.resume()
        return agent

    def resume(self) -> None:
        """Start the agent process (again): same ports, empty dev-mode state."""
        log = (self._workdir / "agent.log").open("ab")
        config = self._workdir / "agent.json"
        self.process = subprocess.Popen(
            [self._executable, "agent", "-dev", "-config-file", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.wait_ready(self._token)

    def wait_ready(self, token: str | None, timeout: float = 30.0) -> None:
        """Wait until the agent has a leader and its node is in the catalog."""
        headers = {"X-Consul-Token": token} if token else {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"consul exited: {self.log_tail()}")
            try:
                leader = requests.get(
                    f"http://{self.address}/v1/status/leader", timeout=1
                )
                nodes = requests.get(
                    f"http://{self.address}/v1/catalog/nodes",
                    headers=headers,
                    timeout=1,
                )
                if leader.ok and leader.json() and nodes.ok and nodes.json():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"consul not ready after {timeout}s: {self.log_tail()}")

    def log_tail(self) -> str:
        path = self._workdir / "agent.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def halt(self) -> None:
        """End the agent process; `resume()` starts it again on the same ports."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self._workdir, ignore_errors=True)
