"""``/v1/kv/*`` and ``/v1/session/*`` of the local Consul.

Invariants (reference section 3.5):

* A read answers a JSON list even for one key; a missing key or an empty
  prefix is 404 with an empty body and ``X-Consul-Index`` still set.
* The index of a single-key read is the KV table's; of ``recurse``/``keys`` the
  highest ModifyIndex under the prefix, tombstones included.
* PUT stores the body raw (empty → ``Value: null``) and answers ``true`` or
  ``false``; ``cas``, ``acquire``, ``release`` and ``flags`` as Consul.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from framework.local.consul.http_common import (
    Context,
    Route,
    anonymous,
    block,
    json_body,
    reply,
    text_error,
)
from framework.local.consul.model import KVEntry, Session, kv_view, session_view
from framework.local.consul.store import StoreError
from framework.local.consul.wire import MAX_KV_VALUE, DecodeError, query_flag

KV = ("kvs",)
SESSIONS = ("sessions",)


def routes(ctx: Context) -> list[Route]:
    h = _KVHandlers(ctx)
    put, get = ("PUT",), ("GET",)
    return [
        Route(("GET", "PUT", "DELETE"), "/v1/kv/{key:.*}", h.kv, anonymous_list=True),
        Route(put, "/v1/session/create", h.create),
        Route(put, "/v1/session/destroy/{id}", h.destroy),
        Route(put, "/v1/session/renew/{id}", h.renew),
        Route(get, "/v1/session/info/{id}", h.info, anonymous_list=True),
        Route(get, "/v1/session/node/{node:.+}", h.node_sessions, anonymous_list=True),
        Route(get, "/v1/session/list", h.list_sessions, anonymous_list=True),
    ]


class _KVHandlers:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.agent = ctx.agent

    async def kv(self, request: web.Request) -> web.StreamResponse:
        if request.method == "PUT":
            return await self._put(request)
        if request.method == "DELETE":
            return self._delete(request)
        return await self._get(request)

    # -- reads --------------------------------------------------------------

    async def _get(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        query = request.query
        listing = "recurse" in query or "keys" in query
        if not key and not listing:
            raise DecodeError("Missing key name")
        if anonymous(request) and not listing:
            return text_error(403, "Permission denied")
        if "keys" in query:
            return await self._keys(request, key, query.get("separator", ""))
        if listing:
            index = await self._block(request, lambda: self.store.kv_prefix_index(key))
            entries = [] if anonymous(request) else self.store.kv_list(key)
            return self._entries(request, entries, index)
        index = await self._block(request, lambda: self.store.table_index(*KV))
        entry = self.store.kv.get(key)
        if entry is not None and "raw" in query:
            return self._raw(request, entry, index)
        return self._entries(request, [entry] if entry else [], index)

    async def _block(self, request: web.Request, index_of: Callable[[], int]) -> int:
        return await block(request, self.store, self.ctx.closing, KV, index_of)

    async def _keys(
        self, request: web.Request, prefix: str, separator: str
    ) -> web.Response:
        index = await self._block(request, lambda: self.store.kv_prefix_index(prefix))
        found: list[str] = []
        for entry in [] if anonymous(request) else self.store.kv_list(prefix):
            key = entry.key
            cut = key.find(separator, len(prefix)) if separator else -1
            if cut >= 0:
                key = key[: cut + len(separator)]
            if not found or found[-1] != key:
                found.append(key)
        if not found:
            return self._not_found(request, index)
        return reply(request, found, index=index)

    def _entries(
        self, request: web.Request, entries: list[KVEntry], index: int
    ) -> web.Response:
        if not entries:
            return self._not_found(request, index)
        return reply(request, [kv_view(e) for e in entries], index=index)

    def _not_found(self, request: web.Request, index: int) -> web.Response:
        response = reply(request, None, index=index, status=404)
        response.body = b""
        return response

    def _raw(self, request: web.Request, entry: KVEntry, index: int) -> web.Response:
        response = reply(request, None, index=index)
        response.body = entry.value or b""
        response.content_type = "application/octet-stream"
        return response

    # -- writes -------------------------------------------------------------

    async def _put(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        if not key:
            raise DecodeError("Missing key name")
        body = await request.read()
        if len(body) > MAX_KV_VALUE:
            message = (
                f"Request body({len(body)} bytes) too large, "
                f"max size: {MAX_KV_VALUE} bytes. See "
                "https://developer.hashicorp.com/consul/docs/agent/config/config-files#kv_max_value_size."
            )
            return text_error(413, message)
        query = request.query
        done = self.store.kv_set(
            key,
            body or None,
            flags=_uint(query.get("flags"), "flags") or 0,
            cas=_uint(query.get("cas"), "cas"),
            acquire=query.get("acquire") or None,
            release=query.get("release") or None,
        )
        return reply(request, done)

    def _delete(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        recurse = query_flag(request.query.get("recurse"))
        if not key and not recurse:
            raise DecodeError("Missing key name")
        cas = _uint(request.query.get("cas"), "cas")
        return reply(request, self.store.kv_delete(key, recurse=recurse, cas=cas))

    # -- sessions -----------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        session = self.agent.create_session(await json_body(request))
        return reply(request, {"ID": session.id})

    async def destroy(self, request: web.Request) -> web.Response:
        self.agent.destroy_session(request.match_info["id"])
        return reply(request, True)

    async def renew(self, request: web.Request) -> web.Response:
        session_id = request.match_info["id"]
        session = self.agent.renew_session(session_id)
        if session is None:
            raise StoreError(f"Session id '{session_id}' not found", status=404)
        return reply(request, [session_view(session)])

    async def info(self, request: web.Request) -> web.Response:
        session_id = request.match_info["id"]
        return await self._sessions(request, lambda s: s.id == session_id)

    async def node_sessions(self, request: web.Request) -> web.Response:
        node = request.match_info["node"]
        return await self._sessions(request, lambda s: s.node == node)

    async def list_sessions(self, request: web.Request) -> web.Response:
        return await self._sessions(request, lambda s: True)

    async def _sessions(
        self, request: web.Request, keep: Callable[[Session], bool]
    ) -> web.Response:
        index = await block(
            request,
            self.store,
            self.ctx.closing,
            SESSIONS,
            lambda: self.store.table_index(*SESSIONS),
        )
        found: list[Session] = (
            [] if anonymous(request) else list(self.store.sessions.values())
        )
        views = [session_view(s) for s in sorted(found, key=lambda s: s.id) if keep(s)]
        return reply(request, views, index=index)


def _uint(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise DecodeError(f"Invalid {name}: {raw!r}") from None
    if value < 0 or value >= 2**64:
        raise DecodeError(f"Invalid {name}: {raw!r}")
    return value
