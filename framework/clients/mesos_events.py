"""The Mesos operator API over aiohttp: GET_STATE and the SUBSCRIBE event stream.

SUBSCRIBE on ``POST /api/v1`` answers 200 with a chunked body of RecordIO
records (``<decimal length>\\n<JSON>``); the first event is SUBSCRIBED carrying
the full state (``get_state``), then TASK_ADDED, TASK_UPDATED, AGENT_ADDED,
AGENT_REMOVED, FRAMEWORK_* and HEARTBEAT events follow as they happen.

Invariants: chunk boundaries are never trusted (`RecordIO` buffers across
them); a stream that ends, stalls past ``idle_timeout`` or fails to connect
raises `TemporaryError`, a 4xx answer `PermanentError`; the caller owns the
retry policy. The aiohttp session is closed by ``close()``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

from framework.clients.mesos_leader import leading_master
from framework.errors import PermanentError, TemporaryError

JsonDict = dict[str, Any]
MAX_RECORD = 256 * 1024 * 1024


class RecordIO:
    """Incremental RecordIO decoder: feed bytes, get whole records back."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        records: list[bytes] = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                return records
            header = bytes(self._buffer[:newline])
            if not header.isdigit() or not 0 < int(header) <= MAX_RECORD:
                raise PermanentError(f"malformed RecordIO length {header[:20]!r}")
            end = newline + 1 + int(header)
            if len(self._buffer) < end:
                return records
            records.append(bytes(self._buffer[newline + 1 : end]))
            del self._buffer[:end]


class OperatorApi:
    """One Mesos master's operator API (``host:port``)."""

    def __init__(self, master: str, *, timeout: float = 10.0) -> None:
        # A zk:// master is looked up again before every request, so a master
        # failover is followed. TODO(307): a non-leading master's redirect is
        # not followed (ZooKeeper names the leader, so it rarely matters).
        self.master = master
        self.url = f"http://{master}/api/v1"
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def _resolve(self) -> None:
        if self.master.startswith("zk://"):
            leader = await asyncio.to_thread(
                leading_master, self.master, timeout=self.timeout
            )
            self.url = f"http://{leader}/api/v1"

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get_state(self) -> JsonDict:
        """GET_STATE: tasks, agents, frameworks and executors."""
        await self._resolve()
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with self._http().post(
                self.url, json={"type": "GET_STATE"}, timeout=timeout
            ) as response:
                _check_status(response, "GET_STATE")
                body: JsonDict = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TemporaryError(f"GET_STATE on {self.url}: {exc!r}") from exc
        state: JsonDict = body.get("get_state", {})
        return state

    async def subscribe(
        self, *, idle_timeout: float = 60.0
    ) -> AsyncGenerator[JsonDict, None]:
        """Yield operator events until the stream ends (then TemporaryError)."""
        await self._resolve()
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self.timeout, sock_read=idle_timeout
        )
        headers = {"Accept": "application/json"}
        decoder = RecordIO()
        try:
            async with self._http().post(
                self.url, json={"type": "SUBSCRIBE"}, headers=headers, timeout=timeout
            ) as response:
                _check_status(response, "SUBSCRIBE")
                async for chunk in response.content.iter_any():
                    for record in decoder.feed(chunk):
                        yield json.loads(record)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TemporaryError(f"SUBSCRIBE on {self.url}: {exc!r}") from exc
        raise TemporaryError(f"SUBSCRIBE on {self.url}: the master closed the stream")


def _check_status(response: aiohttp.ClientResponse, what: str) -> None:
    if response.status >= 500:
        raise TemporaryError(f"{what} on {response.url}: HTTP {response.status}")
    if response.status >= 400:
        raise PermanentError(f"{what} on {response.url}: HTTP {response.status}")
