"""``/v1/agent/*`` and ``/v1/status/*`` of the local Consul.

Agent reads are not index-blocking (Consul sends no ``X-Consul-Index`` on
them); ``/v1/agent/service/{id}`` blocks on ``?hash=`` like Consul's
hash-based blocking. Writes go through ``LocalAgent``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from framework.local.consul.filters import apply_filter
from framework.local.consul.http_common import (
    Context,
    Route,
    anonymous,
    blocking_params,
    json_body,
    reply,
    text_error,
    wait_any,
)
from framework.local.consul.model import (
    CRITICAL,
    PASSING,
    STATUSES,
    WARNING,
    agent_service_view,
    check_view,
    content_hash,
)
from framework.local.consul.wire import CONSUL_VERSION, DATACENTER, DecodeError, Fields

GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def routes(ctx: Context) -> list[Route]:
    h = _AgentHandlers(ctx)
    put, get = ("PUT",), ("GET",)
    return [
        Route(put, "/v1/agent/service/register", h.register_service),
        Route(put, "/v1/agent/service/deregister/{id:.+}", h.deregister_service),
        Route(put, "/v1/agent/service/maintenance/{id:.+}", h.maintenance),
        Route(get, "/v1/agent/services", h.services, anonymous_list=True),
        Route(get, "/v1/agent/service/{id:.+}", h.service),
        Route(get, "/v1/agent/checks", h.checks, anonymous_list=True),
        Route(put, "/v1/agent/check/register", h.register_check),
        Route(put, "/v1/agent/check/deregister/{id:.+}", h.deregister_check),
        Route(put, "/v1/agent/check/pass/{id:.+}", h.ttl_pass),
        Route(put, "/v1/agent/check/warn/{id:.+}", h.ttl_warn),
        Route(put, "/v1/agent/check/fail/{id:.+}", h.ttl_fail),
        Route(put, "/v1/agent/check/update/{id:.+}", h.check_update),
        Route(put, "/v1/agent/maintenance", h.node_maintenance),
        Route(get, "/v1/agent/self", h.self),
        Route(get, "/v1/agent/members", h.members, anonymous_list=True),
        Route(get, "/v1/status/leader", h.leader, no_acl=True),
        Route(get, "/v1/status/peers", h.peers, no_acl=True),
    ]


class _AgentHandlers:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.agent = ctx.agent

    # -- services -----------------------------------------------------------

    async def register_service(self, request: web.Request) -> web.Response:
        replace = request.query.get("replace-existing-checks", "") in GO_TRUE
        self.agent.register_service(await json_body(request), replace_checks=replace)
        return web.Response()

    async def deregister_service(self, request: web.Request) -> web.Response:
        self.agent.deregister_service(request.match_info["id"])
        return web.Response()

    async def maintenance(self, request: web.Request) -> web.Response:
        enable, reason = _maintenance_params(request)
        self.agent.set_maintenance(request.match_info["id"], enable, reason)
        return web.Response()

    async def node_maintenance(self, request: web.Request) -> web.Response:
        enable, reason = _maintenance_params(request)
        self.agent.set_node_maintenance(enable, reason)
        return web.Response()

    async def services(self, request: web.Request) -> web.Response:
        local = [
            svc
            for svc in self.store.services_of_node(self.agent.node_name)
            if svc.agent and not anonymous(request)
        ]
        views = apply_filter(request, [agent_service_view(s) for s in local])
        return reply(request, {view["ID"]: view for view in views})

    async def service(self, request: web.Request) -> web.Response:
        service_id = request.match_info["id"]
        view = self._service_definition(service_id)
        if view is None:
            return text_error(404, f"unknown service ID: {service_id}")
        wanted = request.query.get("hash")
        if wanted and view["ContentHash"] == wanted:
            view = await self._wait_for_new_hash(request, service_id, wanted) or view
        return reply(
            request, view, headers={"X-Consul-ContentHash": view["ContentHash"]}
        )

    def _service_definition(self, service_id: str) -> dict[str, Any] | None:
        svc = self.store.services.get((self.agent.node_name, service_id))
        if svc is None or not svc.agent:
            return None
        view = agent_service_view(svc)
        view["ContentHash"] = content_hash(view)
        return view

    async def _wait_for_new_hash(
        self, request: web.Request, service_id: str, wanted: str
    ) -> dict[str, Any] | None:
        _, wait = blocking_params(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while not self.ctx.closing.event.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            events = [*self.store.events(("services",)), self.ctx.closing.event]
            await wait_any(events, remaining)
            view = self._service_definition(service_id)
            if view is None or view["ContentHash"] != wanted:
                return view
        return None

    # -- checks -------------------------------------------------------------

    async def checks(self, request: web.Request) -> web.Response:
        local = [
            check
            for check in self.store.checks_of_node(self.agent.node_name)
            if check.agent and not anonymous(request)
        ]
        views = apply_filter(
            request, [check_view(c, with_indexes=False) for c in local]
        )
        return reply(request, {view["CheckID"]: view for view in views})

    async def register_check(self, request: web.Request) -> web.Response:
        self.agent.register_check(await json_body(request))
        return web.Response()

    async def deregister_check(self, request: web.Request) -> web.Response:
        self.agent.deregister_check(request.match_info["id"])
        return web.Response()

    async def ttl_pass(self, request: web.Request) -> web.Response:
        return self._ttl(request, PASSING)

    async def ttl_warn(self, request: web.Request) -> web.Response:
        return self._ttl(request, WARNING)

    async def ttl_fail(self, request: web.Request) -> web.Response:
        return self._ttl(request, CRITICAL)

    def _ttl(self, request: web.Request, status: str) -> web.Response:
        note = request.query.get("note", "")
        self.agent.update_ttl(request.match_info["id"], status, note)
        return web.Response()

    async def check_update(self, request: web.Request) -> web.Response:
        f = Fields(await json_body(request))
        status = f.text("Status")
        if status not in STATUSES:
            raise DecodeError(f"Invalid check status: '{status}'")
        self.agent.update_ttl(request.match_info["id"], status, f.text("Output"))
        return web.Response()

    # -- agent and cluster --------------------------------------------------

    async def self(self, request: web.Request) -> web.Response:
        agent = self.agent
        config = {
            "Datacenter": DATACENTER,
            "PrimaryDatacenter": DATACENTER,
            "NodeName": agent.node_name,
            "NodeID": agent.node_id,
            "Revision": "local",
            "Server": True,
            "Version": CONSUL_VERSION,
            "BuildDate": "2023-11-01T00:00:00Z",
        }
        body = {
            "Config": config,
            "DebugConfig": {"Datacenter": DATACENTER, "NodeName": agent.node_name},
            "Coord": {
                "Vec": [0.0] * 8,
                "Error": 1.5,
                "Adjustment": 0.0,
                "Height": 1e-05,
            },
            "Member": self._member(),
            "Stats": {
                "consul": {"server": "true", "leader": "true", "known_datacenters": "1"}
            },
            "Meta": {"consul-network-segment": "", "consul-version": CONSUL_VERSION},
            "xDS": {
                "SupportedProxies": {},
                "Port": -1,
                "Ports": {"Plaintext": -1, "TLS": -1},
            },
        }
        return reply(request, body)

    def _member(self) -> dict[str, Any]:
        return {
            "Name": self.agent.node_name,
            "Addr": "127.0.0.1",
            "Port": 8301,
            "Tags": {"dc": DATACENTER, "role": "consul", "build": CONSUL_VERSION},
            "Status": 1,
            "ProtocolMin": 1,
            "ProtocolMax": 5,
            "ProtocolCur": 2,
            "DelegateMin": 2,
            "DelegateMax": 5,
            "DelegateCur": 4,
        }

    async def members(self, request: web.Request) -> web.Response:
        return reply(request, [] if anonymous(request) else [self._member()])

    async def leader(self, request: web.Request) -> web.Response:
        return reply(request, "127.0.0.1:8300")

    async def peers(self, request: web.Request) -> web.Response:
        return reply(request, ["127.0.0.1:8300"])


def _maintenance_params(request: web.Request) -> tuple[bool, str]:
    raw = request.query.get("enable")
    if raw is None:
        raise DecodeError("Missing value for enable")
    if raw not in GO_TRUE + GO_FALSE:
        raise DecodeError(f'Invalid value for enable: "{raw}"')
    return raw in GO_TRUE, request.query.get("reason", "")
