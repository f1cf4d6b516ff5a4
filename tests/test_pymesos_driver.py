"""pymesos installs and parses a real chunked RecordIO stream on Python 3.11+.

This proves the http-parser workaround (a pure-Python wheel built from the
sdist): without it pymesos does not import, and with a broken parser the
driver never sees the SUBSCRIBED and OFFERS events below, which the server
cuts into 7-byte chunks so that records straddle chunk boundaries.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from framework.clients import mesos as mesos_client
from framework.settings import MesosSettings

FRAMEWORK_ID = "fw-0001"
STREAM_ID = "5f2e5b8e-0000-4000-8000-000000000001"
OFFER = {
    "id": {"value": "offer-1"},
    "framework_id": {"value": FRAMEWORK_ID},
    "agent_id": {"value": "agent-1"},
    "hostname": "127.0.0.1",
    "resources": [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0}, "role": "*"},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 1024.0}, "role": "*"},
    ],
}


def record(event: dict[str, Any]) -> bytes:
    body = json.dumps(event).encode()
    return str(len(body)).encode() + b"\n" + body


class StubMaster:
    """A loopback HTTP server that answers like a Mesos master, just enough."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], dict[str, str]]] = []
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(10), "stub master did not start"

    def stop(self) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_get("/version", self._version)
        app.router.add_post("/api/v1/scheduler", self._scheduler)
        runner = web.AppRunner(app, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "1.11.0"})

    async def _scheduler(self, request: web.Request) -> web.StreamResponse:
        call = await request.json()
        self.calls.append((call, dict(request.headers)))
        if call["type"] != "SUBSCRIBE":
            return web.Response(status=202)
        response = web.StreamResponse(
            headers={"Content-Type": "application/json", "Mesos-Stream-Id": STREAM_ID}
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        events = [
            {
                "type": "SUBSCRIBED",
                "subscribed": {
                    "framework_id": {"value": FRAMEWORK_ID},
                    "heartbeat_interval_seconds": 15.0,
                },
            },
            {"type": "HEARTBEAT"},
            {"type": "OFFERS", "offers": {"offers": [OFFER]}},
        ]
        stream = b"".join(record(event) for event in events)
        for start in range(0, len(stream), 7):
            await response.write(stream[start : start + 7])
            await asyncio.sleep(0)
        assert self._stop is not None
        await self._stop.wait()
        return response


class RecordingScheduler(mesos_client.Scheduler):  # type: ignore[misc]
    def __init__(self) -> None:
        self.framework_id: str | None = None
        self.offers: list[dict[str, Any]] = []
        self.got_offers = threading.Event()

    def registered(self, driver: Any, framework_id: Any, master_info: Any) -> None:
        self.framework_id = framework_id["value"]

    def resourceOffers(self, driver: Any, offers: list[dict[str, Any]]) -> None:
        self.offers.extend(offers)
        driver.declineOffer([offer["id"] for offer in offers], {"refuse_seconds": 30})
        self.got_offers.set()


@pytest.fixture
def stub_master() -> Iterator[StubMaster]:
    master = StubMaster()
    master.start()
    yield master
    master.stop()


@pytest.mark.timeout(30)
def test_driver_parses_chunked_recordio_and_declines_offers(
    stub_master: StubMaster,
) -> None:
    scheduler = RecordingScheduler()
    framework = {"user": "nobody", "name": "compat-probe"}
    settings = MesosSettings(master=f"127.0.0.1:{stub_master.port}")
    driver = mesos_client.new_driver(scheduler, framework, settings)
    driver.start()
    try:
        assert scheduler.got_offers.wait(15), "no OFFERS event reached the scheduler"
        assert scheduler.framework_id == FRAMEWORK_ID
        assert [o["id"]["value"] for o in scheduler.offers] == ["offer-1"]
        decline = _wait_for_call(stub_master, "DECLINE")
    finally:
        driver.stop(failover=True)
        driver.join()

    call, headers = decline
    assert call["framework_id"] == {"value": FRAMEWORK_ID}
    assert call["decline"]["offer_ids"] == [{"value": "offer-1"}]
    assert call["decline"]["filters"] == {"refuse_seconds": 30}
    assert headers["Mesos-Stream-Id"] == STREAM_ID
    subscribe, subscribe_headers = stub_master.calls[0]
    assert subscribe["subscribe"]["framework_info"]["name"] == "compat-probe"
    assert subscribe_headers["Content-Type"] == "application/json"


def _wait_for_call(master: StubMaster, kind: str) -> tuple[dict[str, Any], Any]:
    event = threading.Event()
    for _ in range(100):
        for call, headers in master.calls:
            if call["type"] == kind:
                return call, headers
        event.wait(0.05)
    raise AssertionError(f"no {kind} call reached the master: {master.calls}")


def test_installed_http_parser_is_the_pure_python_parser() -> None:
    from http_parser import http

    assert http.HttpParser.__module__ == "http_parser.pyparser"
