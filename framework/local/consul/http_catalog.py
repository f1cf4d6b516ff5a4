"""``/v1/catalog/*`` and ``/v1/health/*`` of the local Consul.

Every read is a blocking query (see ``http_common.block``) and answers with
``X-Consul-Index``. Shapes and orders follow Consul: instances ordered by node
then service ID; a health entry lists the node's checks, then the service's.

Invariants:

* ``?tag=`` may repeat; an instance must carry every listed tag.
* ``?passing`` keeps an instance only when all its checks, including the
  node's ``serfHealth``, are passing (warning is not passing).
* ``?node-meta=key:value`` may repeat; a node must match every pair.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiohttp import web

from framework.local.consul.filters import apply_filter
from framework.local.consul.http_common import (
    Context,
    Route,
    anonymous,
    block,
    json_body,
    reply,
)
from framework.local.consul.model import (
    STATUSES,
    Check,
    Node,
    Service,
    catalog_service_view,
    check_view,
    node_service_view,
    node_view,
)
from framework.local.consul.store import passing
from framework.local.consul.wire import DATACENTER, DecodeError, JsonDict, query_flag

CATALOG = ("nodes", "services")
HEALTH = ("nodes", "services", "checks")


def routes(ctx: Context) -> list[Route]:
    h = _CatalogHandlers(ctx)
    put, get = ("PUT",), ("GET",)
    return [
        Route(put, "/v1/catalog/register", h.register),
        Route(put, "/v1/catalog/deregister", h.deregister),
        Route(get, "/v1/catalog/datacenters", h.datacenters),
        Route(get, "/v1/catalog/services", h.services, anonymous_list=True),
        Route(get, "/v1/catalog/service/{name:.+}", h.service, anonymous_list=True),
        Route(get, "/v1/catalog/nodes", h.nodes, anonymous_list=True),
        Route(get, "/v1/catalog/node/{node:.+}", h.node, anonymous_list=True),
        Route(
            get, "/v1/health/service/{name:.+}", h.health_service, anonymous_list=True
        ),
        Route(get, "/v1/health/checks/{name:.+}", h.health_checks, anonymous_list=True),
        Route(get, "/v1/health/state/{state}", h.health_state, anonymous_list=True),
        Route(get, "/v1/health/node/{node:.+}", h.health_node, anonymous_list=True),
    ]


class _CatalogHandlers:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.agent = ctx.agent

    async def _block(
        self, request: web.Request, tables: tuple[str, ...], index_of: Callable[[], int]
    ) -> int:
        return await block(request, self.store, self.ctx.closing, tables, index_of)

    # -- writes -------------------------------------------------------------

    async def register(self, request: web.Request) -> web.Response:
        self.agent.catalog_register(await json_body(request))
        return reply(request, True)

    async def deregister(self, request: web.Request) -> web.Response:
        self.agent.catalog_deregister(await json_body(request))
        return reply(request, True)

    # -- catalog reads ------------------------------------------------------

    async def datacenters(self, request: web.Request) -> web.Response:
        return reply(request, [DATACENTER])

    async def services(self, request: web.Request) -> web.Response:
        index = await self._block(
            request, CATALOG, lambda: self.store.table_index(*CATALOG)
        )
        body: dict[str, list[str]] = {}
        for name in self.store.service_names():
            visible = self._visible(request, self.store.instances(name))
            if visible:
                body[name] = sorted({tag for svc in visible for tag in svc.tags})
        return reply(request, body, index=index)

    async def service(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        index = await self._block(
            request, CATALOG, lambda: self.store.service_index(name)
        )
        views = [
            catalog_service_view(self.store.nodes[svc.node], svc)
            for svc in self._instances(request, name)
        ]
        return reply(request, apply_filter(request, views), index=index)

    async def nodes(self, request: web.Request) -> web.Response:
        index = await self._block(
            request, ("nodes",), lambda: self.store.table_index("nodes")
        )
        found = [n for n in self.store.sorted_nodes() if self._node_ok(request, n)]
        views = [node_view(n) for n in found if not anonymous(request)]
        return reply(request, apply_filter(request, views), index=index)

    async def node(self, request: web.Request) -> web.Response:
        name = request.match_info["node"]
        index = await self._block(
            request, CATALOG, lambda: self.store.table_index(*CATALOG)
        )
        node = self.store.nodes.get(name)
        if node is None or anonymous(request):
            return reply(request, None, index=index)
        services = apply_filter(
            request, [node_service_view(s) for s in self.store.services_of_node(name)]
        )
        body = {"Node": node_view(node), "Services": {s["ID"]: s for s in services}}
        return reply(request, body, index=index)

    # -- health reads -------------------------------------------------------

    async def health_service(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        index = await self._block(
            request, HEALTH, lambda: self.store.service_index(name)
        )
        only_passing = query_flag(request.query.get("passing"))
        entries = []
        for svc in self._instances(request, name):
            checks = self.store.node_checks(svc.node) + self.store.service_checks(
                svc.node, svc.id
            )
            if only_passing and not passing(checks):
                continue
            entries.append(self._health_entry(self.store.nodes[svc.node], svc, checks))
        return reply(request, apply_filter(request, entries), index=index)

    def _health_entry(self, node: Node, svc: Service, checks: list[Check]) -> JsonDict:
        return {
            "Node": node_view(node),
            "Service": node_service_view(svc),
            "Checks": [check_view(c) for c in checks],
        }

    async def health_checks(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        index = await self._block(
            request, HEALTH, lambda: self.store.service_index(name)
        )
        found = [
            c
            for svc in self._instances(request, name)
            for c in self.store.service_checks(svc.node, svc.id)
        ]
        return self._checks_reply(request, found, index)

    async def health_state(self, request: web.Request) -> web.Response:
        state = request.match_info["state"]
        if state != "any" and state not in STATUSES:
            raise DecodeError("Bad check state")
        index = await self._block(
            request, ("checks",), lambda: self.store.table_index("checks")
        )
        found = [
            c
            for c in self.store.all_checks()
            if state == "any" or c.status == state
            if self._node_ok(request, self.store.nodes.get(c.node))
        ]
        return self._checks_reply(request, found, index)

    async def health_node(self, request: web.Request) -> web.Response:
        name = request.match_info["node"]
        index = await self._block(
            request, ("checks",), lambda: self.store.table_index("checks")
        )
        return self._checks_reply(request, self.store.checks_of_node(name), index)

    def _checks_reply(
        self, request: web.Request, found: list[Check], index: int
    ) -> web.Response:
        views = [] if anonymous(request) else [check_view(c) for c in found]
        return reply(request, apply_filter(request, views), index=index)

    # -- selection ----------------------------------------------------------

    def _instances(self, request: web.Request, name: str) -> list[Service]:
        wanted = request.query.getall("tag", [])
        return [
            svc
            for svc in self._visible(request, self.store.instances(name))
            if all(tag in svc.tags for tag in wanted)
        ]

    def _visible(
        self, request: web.Request, services: Iterable[Service]
    ) -> list[Service]:
        if anonymous(request):
            return []
        nodes = self.store.nodes
        return [svc for svc in services if self._node_ok(request, nodes.get(svc.node))]

    def _node_ok(self, request: web.Request, node: Node | None) -> bool:
        if node is None:
            return False
        for pair in request.query.getall("node-meta", []):
            key, _, value = pair.partition(":")
            if node.meta.get(key) != value:
                return False
        return True
