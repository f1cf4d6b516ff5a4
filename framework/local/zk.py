"""Registration of the local master in ZooKeeper, as Mesos's contender does it.

The master creates an ephemeral sequential znode ``<path>/json.info_<seq>``
holding its MasterInfo JSON; the lowest sequence is the leader. pymesos's
detector (``zk://host:port/path`` master URLs) watches the children of
``<path>``, reads the lowest one and connects to ``address.ip:address.port``.

Invariants: only ``json.info_`` nodes are written (never the old protobuf
``info_`` ones, which pymesos would prefer); a new registration deletes this
master's previous node first; every call blocks, so callers run it in a
thread.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from kazoo.client import KazooClient

from framework.errors import ConfigError

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0


def parse_zk_url(url: str) -> tuple[str, str]:
    """``zk://h1:2181,h2:2181/mesos`` -> (``h1:2181,h2:2181``, ``/mesos``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("zk", "zoo") or not parts.netloc:
        raise ConfigError("--zk", f"expected zk://host:port/path, got {url!r}")
    path = parts.path.rstrip("/") or "/mesos"
    return parts.netloc.rpartition("@")[2], path


class ZkRegistration:
    """This master's node under the Mesos path (see module docstring)."""

    def __init__(self, url: str) -> None:
        self.hosts, self.path = parse_zk_url(url)
        self._client: Any = None
        self.node: str | None = None

    def register(self, master_info: dict[str, Any]) -> str:
        """Create (or replace) this master's ``json.info_`` node; return its path."""
        if self._client is None:
            self._client = KazooClient(hosts=self.hosts, timeout=CONNECT_TIMEOUT)
            self._client.start(timeout=CONNECT_TIMEOUT)
        self._delete_node()
        data = json.dumps(master_info).encode()
        self.node = str(
            self._client.create(
                f"{self.path}/json.info_",
                data,
                ephemeral=True,
                sequence=True,
                makepath=True,
            )
        )
        logger.info("registered the master in ZooKeeper at %s%s", self.hosts, self.node)
        return self.node

    def _delete_node(self) -> None:
        if self.node is not None and self._client is not None:
            try:
                self._client.delete(self.node)
            except Exception as exc:
                logger.warning(
                    "could not delete %s (%s); its session drops it", self.node, exc
                )
            self.node = None

    def close(self) -> None:
        """Delete the node and end the session (ephemeral nodes go with it)."""
        if self._client is None:
            return
        self._delete_node()
        self._client.stop()
        self._client.close()
        self._client = None
