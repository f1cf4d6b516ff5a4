"""Marathon's ``/v2/apps`` and ``/v2/events`` (SSE) over aiohttp, read-only.

The sync loop needs app labels, versions, health check definitions and each
task's health results: ``GET /v2/apps?embed=apps.tasks`` gives them all at
once, and the event stream (``Accept: text/event-stream``; frames of
``event: <type>`` and ``data: <json>`` lines ended by a blank line) tells what
changed. marathon-python is not used here: its strict models refuse keys newer
Marathons send, and its event stream is blocking.

Invariants: failures leave as `TemporaryError` (connection, timeout, 5xx, the
stream ending) or `PermanentError` (4xx); URLs are tried in order; the aiohttp
session is closed by ``close()``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

from framework.errors import PermanentError, TemporaryError

JsonDict = dict[str, Any]
EVENT_TYPES = (
    "status_update_event",
    "health_status_changed_event",
    "instance_health_changed_event",
    "deployment_success",
    "deployment_step_success",
    "api_post_event",
    "app_terminated_event",
)


class SseDecoder:
    """Incremental SSE decoder: feed text, get (event type, data) pairs back."""

    def __init__(self) -> None:
        self._pending = ""
        self._event = ""
        self._data: list[str] = []

    def feed(self, text: str) -> list[tuple[str, str]]:
        self._pending += text
        out: list[tuple[str, str]] = []
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            line = line.rstrip("\r")
            if not line:
                if self._data:
                    out.append((self._event or "message", "\n".join(self._data)))
                self._event, self._data = "", []
            elif line.startswith("event:"):
                self._event = line[6:].strip()
            elif line.startswith("data:"):
                self._data.append(line[5:].lstrip())
        return out


class MarathonEvents:
    """Read-only access to Marathon for the sync loop."""

    def __init__(self, urls: str, *, timeout: float = 10.0) -> None:
        self.urls = [u.strip().rstrip("/") for u in urls.split(",") if u.strip()]
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def apps_with_tasks(self) -> list[JsonDict]:
        """Every app with its tasks (and their health check results)."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        last: Exception | None = None
        for base in self.urls:
            try:
                async with self._http().get(
                    f"{base}/v2/apps",
                    params={"embed": "apps.tasks"},
                    headers={"Accept": "application/json"},
                    timeout=timeout,
                ) as response:
                    _check_status(response, "GET /v2/apps")
                    body: JsonDict = await response.json(content_type=None)
                    return list(body.get("apps", []))
            except (TimeoutError, aiohttp.ClientError) as exc:
                last = exc
        raise TemporaryError(f"Marathon unreachable at {self.urls}: {last!r}")

    async def events(
        self, *, idle_timeout: float = 60.0
    ) -> AsyncGenerator[JsonDict, None]:
        """Yield decoded events until the stream ends (then TemporaryError)."""
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self.timeout, sock_read=idle_timeout
        )
        params = [("event_type", kind) for kind in EVENT_TYPES]
        headers = {"Accept": "text/event-stream"}
        decoder = SseDecoder()
        # TODO(failover): the stream uses the first URL only; apps_with_tasks
        # tries them all.
        base = self.urls[0]
        try:
            async with self._http().get(
                f"{base}/v2/events", params=params, headers=headers, timeout=timeout
            ) as response:
                _check_status(response, "GET /v2/events")
                async for chunk in response.content.iter_any():
                    for kind, data in decoder.feed(chunk.decode("utf-8", "replace")):
                        event = _decode(kind, data)
                        if event is not None:
                            yield event
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TemporaryError(f"GET {base}/v2/events: {exc!r}") from exc
        raise TemporaryError(f"GET {base}/v2/events: Marathon closed the stream")


def _decode(kind: str, data: str) -> JsonDict | None:
    try:
        event = json.loads(data)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    event.setdefault("eventType", kind)
    return event


def _check_status(response: aiohttp.ClientResponse, what: str) -> None:
    if response.status >= 500:
        raise TemporaryError(f"{what} on {response.url}: HTTP {response.status}")
    if response.status >= 400:
        raise PermanentError(f"{what} on {response.url}: HTTP {response.status}")
