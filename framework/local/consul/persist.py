"""On-disk state of the local Consul: one JSON snapshot, written atomically.

Durability guarantee (what a client can rely on):

* The file ``<data_dir>/state.json`` is always a complete snapshot: it is
  written to a temporary file, fsync'ed, renamed over the old one, and the
  directory is fsync'ed. A crash never leaves a torn or half-written file.
* Writes are debounced: the first change after a flush schedules the next
  flush ``delay`` seconds later (default 0.1 s), so 1,000 registrations cost a
  handful of fsyncs, not 1,000.
* A clean stop (``LocalConsul.stop``, Ctrl-C, SIGTERM) flushes every
  acknowledged write before returning. A crash or SIGKILL can lose the writes
  acknowledged during the last ``delay`` window plus the time of one flush.

What is kept: nodes, services, checks with their last status and output, KV
entries and tombstones, sessions, every index, and the agent's node ID. What is
not: lock-delays, TTL and session timers (they restart on load, as Consul's
leader resets session timers), and check counters.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

from framework.local.consul import model
from framework.local.consul.store import Store
from framework.local.consul.wire import JsonDict

log = logging.getLogger(__name__)

FORMAT = 1
FILE_NAME = "state.json"


class CorruptState(Exception):
    """The state file exists but cannot be read; nothing was loaded."""


def snapshot(store: Store, node_id: str) -> JsonDict:
    """Everything ``load`` needs, as plain JSON; taken on the loop thread."""
    return {
        "format": FORMAT,
        "node_id": node_id,
        "index": store.index,
        "table_indexes": dict(store.table_indexes),
        "service_indexes": dict(store.service_indexes),
        "nodes": [model.to_json(n) for n in store.nodes.values()],
        "services": [model.to_json(s) for s in store.services.values()],
        "checks": [model.to_json(c) for c in store.checks.values()],
        "kv": [model.to_json(e) for e in store.kv.values()],
        "tombstones": dict(store.tombstones),
        "sessions": [model.to_json(s) for s in store.sessions.values()],
    }


def load(store: Store, path: Path) -> str | None:
    """Fill an empty ``store`` from ``path``; the saved node ID, or None if no file."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CorruptState(
            f"{path}: cannot read the local Consul state: {exc}"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CorruptState(
            f"{path}: unknown state format; move the file away to start fresh"
        )
    try:
        _fill(store, data)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptState(f"{path}: malformed local Consul state: {exc!r}") from exc
    node_id = data.get("node_id")
    return str(node_id) if node_id else None


def _fill(store: Store, data: JsonDict) -> None:
    for raw in data["nodes"]:
        node = model.node_from_json(raw)
        store.nodes[node.name] = node
    store.load(
        [model.service_from_json(raw) for raw in data["services"]],
        [model.check_from_json(raw) for raw in data["checks"]],
    )
    for raw in data["kv"]:
        entry = model.kv_from_json(raw)
        store.kv[entry.key] = entry
    store.tombstones.update({str(k): int(v) for k, v in data["tombstones"].items()})
    for raw in data["sessions"]:
        session = model.session_from_json(raw)
        store.sessions[session.id] = session
    store.restore_indexes(data["index"], data["table_indexes"], data["service_indexes"])
    store.mark_loaded_checks()


def encode(data: JsonDict) -> bytes:
    """The file content for a snapshot (encoded on the loop thread)."""
    return json.dumps(data, separators=(",", ":")).encode()


def write_atomically(path: Path, content: bytes) -> None:
    """Replace ``path`` with ``content``: temp file, fsync, rename, fsync dir."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class Persister:
    """Debounced snapshots of ``store`` to ``data_dir/state.json``."""

    def __init__(
        self, store: Store, data_dir: Path, node_id: str, *, delay: float
    ) -> None:
        self.path = data_dir / FILE_NAME
        self._store = store
        self._node_id = node_id
        self._delay = delay
        self._dirty = False
        self._timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task[None] | None = None
        self.writes = 0  # snapshots written so far (benchmarks read it)

    def changed(self) -> None:
        """Store listener: schedule a flush unless one is already due."""
        self._dirty = True
        if self._timer is None and self._writing is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._delay, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        self._writing = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        self._dirty = False
        content = encode(snapshot(self._store, self._node_id))
        try:
            await asyncio.to_thread(write_atomically, self.path, content)
            self.writes += 1
        except OSError:
            log.exception(
                "Writing %s failed; retrying in %.1fs", self.path, self._delay
            )
            self._dirty = True
        finally:
            self._writing = None
        if self._dirty and self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._delay, self._start_flush)

    async def close(self) -> None:
        """Write every pending change before returning (clean-stop guarantee)."""
        if self._writing is not None:
            await asyncio.shield(self._writing)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._dirty:
            self._dirty = False
            content = encode(snapshot(self._store, self._node_id))
            write_atomically(self.path, content)
            self.writes += 1
