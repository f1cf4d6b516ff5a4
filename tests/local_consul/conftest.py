"""Fixtures: a running local Consul with short timings and py-consul clients.

Every test talks to the stand-in over a real loopback socket through py-consul
(or plain ``requests`` where py-consul cannot express the request).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import consul
import pytest
import requests

from framework.local.consul import LocalConsul, Timing
from tests.support import real_consul

FAST = Timing(
    min_check_interval=0.02,
    min_deregister_critical_after=0.0,
    reap_interval=0.05,
    session_ttl_multiplier=0.02,  # a 10 s session TTL lapses after 0.2 s
    flush_delay=0.01,
)


class Clients:
    """py-consul clients whose HTTP sessions are closed at teardown."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._open: list[Any] = []

    def new(self, token: str | None = None) -> Any:
        client = consul.Consul(host="127.0.0.1", port=self.port, token=token)
        self._open.append(client)
        return client

    def close(self) -> None:
        for client in self._open:
            client.http.session.close()


@pytest.fixture(autouse=True)
def _no_consul_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_SSL"):
        monkeypatch.delenv(name, raising=False)


def answers_like_1_8(server: Any) -> bool:
    """True for the real Consul 1.8.7: some answers changed in later releases.

    The stand-in answers as the release it reports (wire.CONSUL_VERSION); where
    1.8.7 answers differently, a test checks each server against its own release
    so the difference stays written down and tested both ways.
    """
    return isinstance(server, real_consul.RealConsul)


@pytest.fixture(params=["local", f"consul-{real_consul.VERSION}"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The stand-in, then the same test against a real Consul agent."""
    if request.param != "local":
        yield from real_consul.agent_for(request)
        return
    local = LocalConsul(
        port=0, data_dir=tmp_path / "consul", node_name="n1", timing=FAST
    )
    local.start_in_thread()
    yield local
    local.stop_in_thread()


@pytest.fixture
def clients(server: LocalConsul) -> Iterator[Clients]:
    made = Clients(server.port)
    yield made
    made.close()


@pytest.fixture
def c(clients: Clients) -> Any:
    return clients.new()


@pytest.fixture
def http(server: LocalConsul) -> Iterator[Callable[..., requests.Response]]:
    """Raw requests to the stand-in, for what py-consul does not send."""
    session = requests.Session()

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"http://{server.address}{path}"
        return session.request(method, url, timeout=10, **kwargs)

    yield call
    session.close()
