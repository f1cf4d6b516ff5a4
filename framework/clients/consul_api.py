"""The Consul calls of the sync loop, over py-consul, in our own error tree.

What the loop needs and nothing more: agent-level reads (services and checks
of the agent we talk to, cheap even for 10,000 instances), agent writes
(register, deregister, maintenance), catalog reads and deregistration for
entries on other nodes, and a session lock for leader election.

Invariants: every py-consul or requests exception leaves this module as a
`TemporaryError` (connection errors, timeouts, 5xx) or a `PermanentError`
(4xx: bad request, permission denied), chained with ``from``; the ACL token
goes only into the client, never into a message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import consul
import consul.exceptions
import requests
from consul.callback import CB

from framework.clients.consul import new_client
from framework.errors import PermanentError, TemporaryError
from framework.settings import ConsulSettings

T = TypeVar("T")
JsonDict = dict[str, Any]
_PERMANENT = (
    consul.exceptions.ACLPermissionDenied,
    consul.exceptions.BadRequest,
    consul.exceptions.ACLDisabled,
)


def _guard(what: str, call: Callable[[], T]) -> T:
    """Run one py-consul call; map its failures onto our error tree."""
    try:
        return call()
    except _PERMANENT as exc:
        raise PermanentError(f"Consul refused {what}: {exc}") from exc
    except consul.exceptions.ConsulException as exc:
        raise TemporaryError(f"Consul failed {what}: {exc}") from exc
    except (requests.RequestException, OSError) as exc:
        raise TemporaryError(f"Consul unreachable for {what}: {exc}") from exc


class ConsulApi:
    """One Consul agent, as the sync loop uses it."""

    def __init__(self, settings: ConsulSettings, *, timeout: float = 10.0) -> None:
        self._client = new_client(settings, timeout=timeout)

    def close(self) -> None:
        self._client.http.session.close()

    # -- agent reads ----------------------------------------------------------

    def node_name(self) -> str:
        # Not `agent.self()`: py-consul 1.8 sends no token with it, and with ACLs
        # on (default deny) Consul then answers 403.
        body = _guard(
            "GET /v1/agent/self",
            lambda: self._client.http.get(
                CB.json(), "/v1/agent/self", headers=self._client.prepare_headers()
            ),
        )
        return str(body["Config"]["NodeName"])

    def agent_services(self) -> dict[str, JsonDict]:
        result: dict[str, JsonDict] = _guard(
            "GET /v1/agent/services", self._client.agent.services
        )
        return result

    def agent_checks(self) -> dict[str, JsonDict]:
        result: dict[str, JsonDict] = _guard(
            "GET /v1/agent/checks", self._client.agent.checks
        )
        return result

    # -- agent writes ---------------------------------------------------------

    def register(
        self,
        *,
        service_id: str,
        name: str,
        address: str,
        port: int,
        tags: list[str],
        meta: Mapping[str, str],
        weights: Mapping[str, int],
        check: JsonDict | None,
    ) -> None:
        """Register (or replace) an instance; checks not given are removed."""
        # TODO(agent scale): every instance goes onto the one agent we talk to.
        # A real Consul 1.8.7 agent slows down with the services it holds (27
        # registrations/s at 2,000 against 365/s for catalog writes, see
        # benchmarks/bench_consul_sync.py), so past a few thousand instances the
        # one-second target fails on a real cluster. Registering each instance
        # on the agent of its own Mesos host keeps the agent-run health checks
        # and spreads that cost.
        ok = _guard(
            f"register {service_id}",
            lambda: self._client.agent.service.register(
                name,
                service_id=service_id,
                address=address,
                port=port,
                tags=tags,
                meta=dict(meta),
                weights=dict(weights),
                check=check,
                replace_existing_checks=True,
            ),
        )
        if not ok:
            raise PermanentError(f"Consul did not register {service_id}")

    def deregister(self, service_id: str) -> bool:
        """Remove an instance from our agent; False if it was not there."""
        return bool(
            _guard(
                f"deregister {service_id}",
                lambda: self._client.agent.service.deregister(service_id),
            )
        )

    def maintenance(self, service_id: str, *, enable: bool, reason: str) -> None:
        _guard(
            f"maintenance of {service_id}",
            lambda: self._client.agent.service.maintenance(
                service_id, "true" if enable else "false", reason
            ),
        )

    # -- catalog --------------------------------------------------------------

    def catalog_services(self) -> dict[str, list[str]]:
        _, body = _guard("GET /v1/catalog/services", self._client.catalog.services)
        return dict(body or {})

    def catalog_service(self, name: str, *, owner_filter: str) -> list[JsonDict]:
        """Instances of ``name`` on every node matching the ``filter`` expression."""
        _, body = _guard(
            f"GET /v1/catalog/service/{name}",
            lambda: self._client.catalog.service(name, filter_expr=owner_filter),
        )
        return list(body or [])

    def catalog_deregister(self, node: str, service_id: str) -> None:
        _guard(
            f"catalog deregister of {service_id} on {node}",
            lambda: self._client.catalog.deregister(node, service_id=service_id),
        )

    def catalog_register(self, body: JsonDict) -> None:
        """Low-level catalog write (tests and tools seed other nodes with it)."""
        _guard(
            "catalog register",
            lambda: self._client.http.put(
                CB.boolean(),
                "/v1/catalog/register",
                data=json.dumps(body),
                headers=self._client.prepare_headers(),
            ),
        )

    # -- sessions and the leader lock -------------------------------------------

    def create_session(self, name: str, *, ttl: int, lock_delay: int) -> str:
        session: str = _guard(
            "session create",
            lambda: self._client.session.create(
                name=name, ttl=ttl, lock_delay=lock_delay, behavior="release"
            ),
        )
        return session

    def renew_session(self, session_id: str) -> bool:
        """False when the session is gone (expired or destroyed)."""

        def renew() -> bool:
            try:
                return self._client.session.renew(session_id) is not None
            except consul.exceptions.NotFound:
                return False

        return _guard("session renew", renew)

    def destroy_session(self, session_id: str) -> None:
        _guard("session destroy", lambda: self._client.session.destroy(session_id))

    def acquire(self, key: str, session_id: str, value: str) -> bool:
        return bool(
            _guard(
                f"lock {key}",
                lambda: self._client.kv.put(key, value, acquire=session_id),
            )
        )

    def release(self, key: str, session_id: str) -> bool:
        return bool(
            _guard(
                f"unlock {key}",
                lambda: self._client.kv.put(key, None, release=session_id),
            )
        )

    def lock_holder(self, key: str) -> str | None:
        """The session holding ``key``, if any."""
        _, entry = _guard(f"GET kv {key}", lambda: self._client.kv.get(key))
        if not entry:
            return None
        session = entry.get("Session")
        return str(session) if session else None
