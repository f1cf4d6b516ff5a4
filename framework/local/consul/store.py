"""The state store of the local Consul: catalog, health, KV, sessions, indexes.

One ``Store`` holds everything a Consul server would keep in raft, plus the
agent-owned flags of the local agent. It runs on one event loop thread and
never does I/O; callers (``agent``, ``api``) validate input first, so a method
that raises has changed nothing.

Invariants:

* Every write goes through ``Store.write()``: it allocates the next raft-like
  index, stamps the records it changes with it, raises the index of each
  table it touched, then wakes the blocking queries waiting on those tables
  and tells the listeners (persistence). The raft index rises on every write,
  even one that changes nothing; table indexes rise only on a real change, so
  re-registering an identical service does not wake watchers (as Consul).
* Per-service-name indexes (``service_index``) rise when an instance of that
  name, one of its checks, or a check of its node changes; a name that never
  existed reports the catalog's index, like Consul's ``maxIndexForService``.
* The KV index of a prefix is the highest ModifyIndex under it, counting
  tombstones of deleted keys, else the KV table index (Consul ``kvsGetTxn``).
* Sessions bound to a check are invalidated when the check turns critical or
  goes away; invalidation releases (or deletes) their locks and arms the
  session's lock-delay on those keys.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from typing import Any

from framework.local.consul.model import (
    CRITICAL,
    PASSING,
    Check,
    KVEntry,
    Node,
    Service,
    Session,
)

TABLES = ("nodes", "services", "checks", "kvs", "sessions")


class StoreError(Exception):
    """A write the store refuses; ``status`` is the HTTP code Consul uses."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class _Write:
    """What one write changed, collected until it commits."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.tables: set[str] = set()
        self.service_names: set[str] = set()

    def touch(self, *tables: str) -> None:
        self.tables.update(tables)


class Store:
    """Catalog, health checks, KV and sessions with Consul-like indexes."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.index = 0
        self.table_indexes = dict.fromkeys(TABLES, 0)
        self.service_indexes: dict[str, int] = {}
        self.nodes: dict[str, Node] = {}
        self.services: dict[tuple[str, str], Service] = {}
        self.checks: dict[tuple[str, str], Check] = {}
        # Secondary indexes, kept in step by _put_*/_pop_* only.
        self._services_by_name: dict[str, dict[tuple[str, str], Service]] = {}
        self._services_by_node: dict[str, dict[str, Service]] = {}
        self._checks_by_owner: dict[tuple[str, str], dict[str, Check]] = {}
        self._checks_by_node: dict[str, dict[str, Check]] = {}
        self.kv: dict[str, KVEntry] = {}
        self.tombstones: dict[str, int] = {}
        self.sessions: dict[str, Session] = {}
        self.lock_delays: dict[str, float] = {}
        self.listeners: list[Callable[[], None]] = []
        self._events = {table: asyncio.Event() for table in TABLES}

    # -- write plumbing -----------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[_Write]:
        """One raft-like write: allocate an index, commit, wake watchers."""
        change = _Write(self.index + 1)
        try:
            yield change
        finally:
            self._commit(change)

    def _commit(self, change: _Write) -> None:
        self.index = change.index
        for table in change.tables:
            self.table_indexes[table] = change.index
            self._events[table].set()
            self._events[table] = asyncio.Event()
        for name in change.service_names:
            self.service_indexes[name] = change.index
        for listener in self.listeners:
            listener()

    def events(self, tables: tuple[str, ...]) -> list[asyncio.Event]:
        """Events set by the next change of any of ``tables``."""
        return [self._events[table] for table in tables]

    def table_index(self, *tables: str) -> int:
        return max(self.table_indexes[table] for table in tables)

    def service_index(self, name: str) -> int:
        known = self.service_indexes.get(name)
        return known if known is not None else self.table_index("nodes", "services")

    def _touch_service(self, change: _Write, name: str) -> None:
        change.service_names.add(name)

    def _touch_node_services(self, change: _Write, node: str) -> None:
        for svc in self.services_of_node(node):
            change.service_names.add(svc.name)

    # -- catalog reads ------------------------------------------------------

    def sorted_nodes(self) -> list[Node]:
        return [self.nodes[name] for name in sorted(self.nodes)]

    def services_of_node(self, node: str) -> list[Service]:
        found = self._services_by_node.get(node, {})
        return [found[service_id] for service_id in sorted(found)]

    def instances(self, name: str) -> list[Service]:
        """Instances of service ``name`` ordered by node, then service ID."""
        found = self._services_by_name.get(name, {})
        return [found[key] for key in sorted(found)]

    def service_names(self) -> list[str]:
        return sorted(self._services_by_name)

    def node_checks(self, node: str) -> list[Check]:
        return self.service_checks(node, "")

    def service_checks(self, node: str, service_id: str) -> list[Check]:
        found = self._checks_by_owner.get((node, service_id), {})
        return [found[check_id] for check_id in sorted(found)]

    def checks_of_node(self, node: str) -> list[Check]:
        found = self._checks_by_node.get(node, {})
        return [found[check_id] for check_id in sorted(found)]

    def all_checks(self) -> list[Check]:
        return [self.checks[key] for key in sorted(self.checks)]

    # -- record placement (the only code touching the secondary indexes) ----

    def _put_service(self, svc: Service) -> None:
        old = self.services.get((svc.node, svc.id))
        if old is not None:
            self._pop_service(svc.node, svc.id)
        self.services[(svc.node, svc.id)] = svc
        self._services_by_name.setdefault(svc.name, {})[(svc.node, svc.id)] = svc
        self._services_by_node.setdefault(svc.node, {})[svc.id] = svc

    def _pop_service(self, node: str, service_id: str) -> Service | None:
        svc = self.services.pop((node, service_id), None)
        if svc is not None:
            _discard(self._services_by_name, svc.name, (node, service_id))
            _discard(self._services_by_node, node, service_id)
        return svc

    def _put_check(self, check: Check) -> None:
        if (check.node, check.check_id) in self.checks:
            self._pop_check(check.node, check.check_id)
        self.checks[(check.node, check.check_id)] = check
        owner = (check.node, check.service_id)
        self._checks_by_owner.setdefault(owner, {})[check.check_id] = check
        self._checks_by_node.setdefault(check.node, {})[check.check_id] = check

    def _pop_check(self, node: str, check_id: str) -> Check | None:
        check = self.checks.pop((node, check_id), None)
        if check is not None:
            _discard(self._checks_by_owner, (node, check.service_id), check_id)
            _discard(self._checks_by_node, node, check_id)
        return check

    def load(self, services: list[Service], checks: list[Check]) -> None:
        """Place records read from disk (no index changes, no events)."""
        for svc in services:
            self._put_service(svc)
        for check in checks:
            self._put_check(check)

    # -- catalog writes -----------------------------------------------------

    def ensure_node(self, change: _Write, node: Node) -> None:
        existing = self.nodes.get(node.name)
        if existing is not None:
            node = replace(node, create_index=existing.create_index)
            node.modify_index = existing.modify_index
            if node == existing:
                return
        else:
            node.create_index = change.index
        node.modify_index = change.index
        self.nodes[node.name] = node
        change.touch("nodes")
        self._touch_node_services(change, node.name)

    def ensure_service(self, change: _Write, svc: Service) -> None:
        key = (svc.node, svc.id)
        existing = self.services.get(key)
        if existing is not None and existing.same_definition(svc):
            return
        svc.create_index = existing.create_index if existing else change.index
        svc.modify_index = change.index
        self._put_service(svc)
        change.touch("services")
        self._touch_service(change, svc.name)
        if existing is not None and existing.name != svc.name:
            self._touch_service(change, existing.name)
        self._refresh_check_service_fields(change, svc)

    def _refresh_check_service_fields(self, change: _Write, svc: Service) -> None:
        for check in self.service_checks(svc.node, svc.id):
            if check.service_name == svc.name and check.service_tags == svc.tags:
                continue
            check.service_name = svc.name
            check.service_tags = list(svc.tags)
            check.modify_index = change.index
            change.touch("checks")

    def ensure_check(self, change: _Write, check: Check) -> None:
        key = (check.node, check.check_id)
        existing = self.checks.get(key)
        if existing is not None and _same_check(existing, check):
            return
        check.create_index = existing.create_index if existing else change.index
        check.modify_index = change.index
        if check.status != CRITICAL:
            check.critical_since = None
        elif existing is not None and existing.status == CRITICAL:
            check.critical_since = existing.critical_since
        else:
            check.critical_since = self.clock()
        self._put_check(check)
        change.touch("checks")
        self._touch_check_owner(change, check)
        if check.status == CRITICAL:
            self._invalidate_sessions_of_check(change, check.node, check.check_id)

    def _touch_check_owner(self, change: _Write, check: Check) -> None:
        if not check.service_id:
            self._touch_node_services(change, check.node)
        elif check.service_name:
            self._touch_service(change, check.service_name)

    def set_check_status(
        self, node: str, check_id: str, status: str, output: str
    ) -> bool:
        """Record a check result; ``False`` when the check no longer exists.

        An output-only change is kept without raising any index, as Consul
        defers those to its ``check_update_interval``.
        TODO(check_update_interval): Consul syncs such output after 5 min;
        here it reaches the catalog only with the next status change.
        """
        check = self.checks.get((node, check_id))
        if check is None:
            return False
        if check.status == status:
            check.output = output
            return True
        with self.write() as change:
            updated = replace(check, status=status, output=output)
            self.ensure_check(change, updated)
        return True

    def delete_check(self, change: _Write, node: str, check_id: str) -> bool:
        check = self._pop_check(node, check_id)
        if check is None:
            return False
        change.touch("checks")
        self._touch_check_owner(change, check)
        self._invalidate_sessions_of_check(change, node, check_id)
        return True

    def delete_service(self, change: _Write, node: str, service_id: str) -> bool:
        svc = self._pop_service(node, service_id)
        if svc is None:
            return False
        change.touch("services")
        self._touch_service(change, svc.name)
        for check in self.service_checks(node, service_id):
            self.delete_check(change, node, check.check_id)
        return True

    def delete_node(self, change: _Write, name: str) -> bool:
        if name not in self.nodes:
            return False
        for svc in self.services_of_node(name):
            self.delete_service(change, name, svc.id)
        for check in self.checks_of_node(name):
            self.delete_check(change, name, check.check_id)
        for session in [s for s in self.sessions.values() if s.node == name]:
            self._invalidate_session(change, session)
        del self.nodes[name]
        change.touch("nodes")
        return True

    # -- KV -----------------------------------------------------------------

    def kv_list(self, prefix: str) -> list[KVEntry]:
        return [self.kv[k] for k in sorted(self.kv) if k.startswith(prefix)]

    def kv_prefix_index(self, prefix: str) -> int:
        """Index of a recursive read of ``prefix`` (see the module invariants)."""
        if not prefix:
            return self.table_index("kvs")
        live = (e.modify_index for k, e in self.kv.items() if k.startswith(prefix))
        dead = (i for k, i in self.tombstones.items() if k.startswith(prefix))
        return max(max(live, default=0), max(dead, default=0)) or self.table_index(
            "kvs"
        )

    def kv_set(
        self,
        key: str,
        value: bytes | None,
        *,
        flags: int = 0,
        cas: int | None = None,
        acquire: str | None = None,
        release: str | None = None,
    ) -> bool:
        """A KV PUT; ``False`` when a cas, lock or release condition fails."""
        existing = self.kv.get(key)
        if cas is not None and not _cas_matches(existing, cas):
            return False
        if acquire is not None:
            self._require_session(acquire)
            if not self._may_acquire(key, existing, acquire):
                return False
        if release is not None and (existing is None or existing.session != release):
            return False
        with self.write() as change:
            self._put(change, key, value, flags, existing, acquire, release)
        return True

    def _require_session(self, session_id: str) -> None:
        if session_id not in self.sessions:
            raise StoreError(f'invalid session "{session_id}"')

    def _may_acquire(self, key: str, existing: KVEntry | None, session: str) -> bool:
        if existing is not None and existing.session:
            return existing.session == session
        delay_until = self.lock_delays.get(key)
        if delay_until is not None and self.clock() < delay_until:
            return False
        self.lock_delays.pop(key, None)
        return True

    def _put(
        self,
        change: _Write,
        key: str,
        value: bytes | None,
        flags: int,
        existing: KVEntry | None,
        acquire: str | None,
        release: str | None,
    ) -> None:
        entry = KVEntry(key=key, value=value, flags=flags)
        if existing is not None:
            entry.create_index = existing.create_index
            entry.modify_index = existing.modify_index
            entry.session = existing.session
            entry.lock_index = existing.lock_index
        if acquire is not None and entry.session != acquire:
            entry.session = acquire
            entry.lock_index += 1
        if release is not None:
            entry.session = ""
        if existing is not None and entry == existing:
            return
        entry.create_index = entry.create_index or change.index
        entry.modify_index = change.index
        self.kv[key] = entry
        self.tombstones.pop(key, None)
        change.touch("kvs")

    def kv_delete(
        self, key: str, *, recurse: bool = False, cas: int | None = None
    ) -> bool:
        """A KV DELETE; ``False`` when a cas condition fails."""
        if recurse:
            with self.write() as change:
                for entry in self.kv_list(key):
                    self._delete_key(change, entry.key)
            return True
        existing = self.kv.get(key)
        if cas is not None and existing is not None and existing.modify_index != cas:
            return False
        with self.write() as change:
            self._delete_key(change, key)
        return True

    # TODO(tombstone GC): Consul reaps tombstones after 15 minutes; here a
    # tombstone stays until its key is written again.
    def _delete_key(self, change: _Write, key: str) -> None:
        if self.kv.pop(key, None) is None:
            return
        self.tombstones[key] = change.index
        change.touch("kvs")

    # -- sessions -----------------------------------------------------------

    def create_session(self, session: Session) -> Session:
        """Store a new session after checking its node and checks, as Consul."""
        if session.node not in self.nodes:
            raise StoreError(
                f"Failed to create session: node {session.node!r} not found"
            )
        check_ids = list(session.node_checks)
        check_ids += [str(c.get("ID", "")) for c in session.service_checks]
        for check_id in check_ids:
            check = self.checks.get((session.node, check_id))
            if check is None:
                raise StoreError(f"Missing check '{check_id}' registration")
            if check.status == CRITICAL:
                raise StoreError(f"Check '{check_id}' is in {check.status} state")
        with self.write() as change:
            session.id = session.id or str(uuid.uuid4())
            session.create_index = session.modify_index = change.index
            self.sessions[session.id] = session
            change.touch("sessions")
        return session

    def destroy_session(self, session_id: str) -> None:
        session = self.sessions.get(session_id)
        with self.write() as change:
            if session is not None:
                self._invalidate_session(change, session)

    def _invalidate_session(self, change: _Write, session: Session) -> None:
        if self.sessions.pop(session.id, None) is None:
            return
        change.touch("sessions")
        delay_until = self.clock() + session.lock_delay
        for entry in [e for e in self.kv.values() if e.session == session.id]:
            if session.lock_delay > 0:
                self.lock_delays[entry.key] = delay_until
            if session.behavior == "delete":
                self._delete_key(change, entry.key)
                continue
            entry.session = ""
            entry.modify_index = change.index
            change.touch("kvs")

    def _invalidate_sessions_of_check(
        self, change: _Write, node: str, check_id: str
    ) -> None:
        for session in list(self.sessions.values()):
            bound = check_id in session.node_checks or any(
                c.get("ID") == check_id for c in session.service_checks
            )
            if bound and session.node == node:
                self._invalidate_session(change, session)

    # -- persistence --------------------------------------------------------

    def restore_indexes(
        self, index: int, tables: dict[str, int], services: dict[str, int]
    ) -> None:
        self.index = index
        self.table_indexes.update(tables)
        self.service_indexes = dict(services)

    def mark_loaded_checks(self) -> None:
        """Critical checks restored from disk count as critical from now on."""
        now = self.clock()
        for check in self.checks.values():
            check.critical_since = now if check.status == CRITICAL else None


def _same_check(a: Check, b: Check) -> bool:
    ignored = {"create_index", "modify_index", "critical_since"}
    return all(
        getattr(a, f.name) == getattr(b, f.name)
        for f in fields(a)
        if f.name not in ignored
    )


def _discard(index: dict[Any, dict[Any, Any]], outer: Any, inner: Any) -> None:
    bucket = index.get(outer)
    if bucket is None:
        return
    bucket.pop(inner, None)
    if not bucket:
        del index[outer]


def _cas_matches(existing: KVEntry | None, cas: int) -> bool:
    if cas == 0:
        return existing is None
    return existing is not None and existing.modify_index == cas


def passing(checks: list[Check]) -> bool:
    return all(check.status == PASSING for check in checks)
