"""HTTP plumbing of the local Consul: routing, ACL, blocking queries, replies.

Invariants:

* Every route declares its methods; any other method gets 405 "method X not
  allowed" with an ``Allow`` header, as Consul (writes are PUT only).
* Errors are plain text with Consul's status codes: ``DecodeError`` → 400,
  ``StoreError`` → its own status, an unknown ``dc`` → 500 "No path to
  datacenter".
* ACL (only with a master token): the token comes from ``X-Consul-Token``,
  ``Authorization: Bearer`` or ``?token=``. The master token may do anything.
  An unknown token gets 403 "ACL not found". No token (the anonymous token,
  default policy deny) gets 403 "Permission denied" on every write and every
  single-object read, while list reads answer as if empty with
  ``X-Consul-Results-Filtered-By-ACLs: true``: that is what Consul does with
  ``default_policy = "deny"`` and an anonymous token without policies. The
  ``/v1/status`` endpoints need no token at all. (Checked against a real
  Consul 1.8.7 by tests/local_consul/test_acl_and_restart.py.)
  TODO(acl policies): only the master token exists; no ``/v1/acl`` endpoints.
* A blocking read (``?index=N``) answers at once when the query's index is
  above N, else waits for a change of the tables it reads or for ``wait``
  (Go duration, default 5 min, capped at 10 min, plus up to wait/16 jitter),
  woken by the store's per-table events, never by polling. The reported
  index is at least 1.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from framework.local.consul.agent import LocalAgent
from framework.local.consul.store import Store, StoreError
from framework.local.consul.wire import (
    DATACENTER,
    DEFAULT_WAIT,
    MAX_WAIT,
    DecodeError,
    go_duration,
)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ANONYMOUS_KEY = web.RequestKey("consul_anonymous", bool)
FILTERED_HEADER = "X-Consul-Results-Filtered-By-ACLs"


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    path: str
    handler: Handler
    anonymous_list: bool = False  # an anonymous caller sees an empty result
    no_acl: bool = False  # answered without any token (Consul's /v1/status/*)


class Closing:
    """Set when the server stops, so held blocking queries return at once."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.held = 0  # blocking queries waiting right now


def install(
    app: web.Application, routes: Iterable[Route], acl_token: str | None
) -> None:
    """Add ``routes`` to ``app`` behind the method, dc and ACL checks."""
    for route in routes:
        app.router.add_route("*", route.path, _guarded(route, acl_token))


def _guarded(route: Route, acl_token: str | None) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method not in route.methods:
            return web.Response(
                status=405,
                text=f"method {request.method} not allowed",
                headers={"Allow": ", ".join(route.methods)},
            )
        dc = request.query.get("dc")
        if dc and dc != DATACENTER:
            return text_error(500, "No path to datacenter")
        denied = _acl_denial(request, route, acl_token)
        if denied is not None:
            return denied
        try:
            return await route.handler(request)
        except DecodeError as exc:
            return text_error(400, str(exc))
        except StoreError as exc:
            return text_error(exc.status, exc.message)

    return handle


def _acl_denial(
    request: web.Request, route: Route, acl_token: str | None
) -> web.Response | None:
    request[ANONYMOUS_KEY] = False
    if acl_token is None or route.no_acl:
        return None
    token = request_token(request)
    if token and hmac.compare_digest(token.encode(), acl_token.encode()):
        return None
    if token:
        return text_error(403, "ACL not found")
    if route.anonymous_list and request.method == "GET":
        request[ANONYMOUS_KEY] = True
        return None
    return text_error(403, "Permission denied")


def request_token(request: web.Request) -> str:
    token = request.headers.get("X-Consul-Token", "")
    auth = request.headers.get("Authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    return token or request.query.get("token", "")


def anonymous(request: web.Request) -> bool:
    """True when ACLs hide every entry from this caller."""
    return bool(request.get(ANONYMOUS_KEY))


def text_error(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message, content_type="text/plain")


def reply(
    request: web.Request,
    data: Any,
    *,
    index: int | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A JSON reply with Consul's read headers (index ones when ``index`` is set)."""
    out = dict(headers or {})
    if index is not None:
        out.update(index_headers(request, index))
    if anonymous(request):
        out[FILTERED_HEADER] = "true"
    pretty = "pretty" in request.query
    body = json.dumps(data, indent=4 if pretty else None)
    # Consul sends the bare media type; aiohttp would add "; charset=utf-8".
    out["Content-Type"] = "application/json"
    return web.Response(status=status, body=body.encode(), headers=out)


def index_headers(request: web.Request, index: int) -> dict[str, str]:
    consistency = "leader"
    if "stale" in request.query:
        consistency = "stale"
    elif "consistent" in request.query:
        consistency = "consistent"
    return {
        "X-Consul-Index": str(max(index, 1)),
        "X-Consul-KnownLeader": "true",
        "X-Consul-LastContact": "0",
        "X-Consul-Effective-Consistency": consistency,
    }


def blocking_params(request: web.Request) -> tuple[int, float]:
    """``(index, wait)`` of a read; index 0 means "answer at once"."""
    raw_index = request.query.get("index", "")
    try:
        min_index = int(raw_index) if raw_index else 0
    except ValueError:
        raise DecodeError("Invalid index") from None
    if min_index < 0:
        raise DecodeError("Invalid index")
    raw_wait = request.query.get("wait", "")
    wait = go_duration(raw_wait) if raw_wait else DEFAULT_WAIT
    if wait is None or wait < 0:
        raise DecodeError("Invalid wait time")
    return min_index, min(wait, MAX_WAIT)


async def block(
    request: web.Request,
    store: Store,
    closing: Closing,
    tables: tuple[str, ...],
    index_of: Callable[[], int],
) -> int:
    """Hold a blocking read until ``index_of()`` passes ``?index`` or wait ends."""
    min_index, wait = blocking_params(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait + random.uniform(0, wait / 16)
    index = index_of()
    closing.held += 1
    try:
        while min_index and index <= min_index and not closing.event.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await wait_any([*store.events(tables), closing.event], remaining)
            index = index_of()
    finally:
        closing.held -= 1
    return max(index, 1)


async def wait_any(events: list[asyncio.Event], timeout: float) -> None:
    """Return when any of ``events`` is set or after ``timeout`` seconds."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(
            waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for waiter in waiters:
            waiter.cancel()


async def json_body(request: web.Request) -> Any:
    """The decoded JSON body, ``None`` when empty; 400 with Consul's wording if bad."""
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise DecodeError(f"Request decode failed: {exc}") from exc


@dataclass(frozen=True)
class Context:
    """What every handler module needs."""

    store: Store
    agent: LocalAgent
    closing: Closing
