"""Which master leads: ``MESOS_MASTER`` as ``host:port`` or ``zk://...``.

The scheduler driver (pymesos) follows ZooKeeper itself; this module serves the
HTTP clients that talk to the master directly (operator API, state, files).
Mesos masters contend in ZooKeeper with ephemeral sequential ``json.info_``
nodes holding their MasterInfo as JSON; the lowest sequence leads.

Errors: ZooKeeper unreachable or no master registered is a ``TemporaryError``
(callers retry); a malformed URL or MasterInfo is a ``PermanentError``.
"""

from __future__ import annotations

import json
import logging
import re

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

from framework.errors import PermanentError, TemporaryError

logger = logging.getLogger(__name__)

_ZK = re.compile(r"^zk://(?:[^@/]+@)?(?P<hosts>[^/]+)(?P<path>/\S*)$")
NODE_PREFIX = "json.info_"


def leading_master(master: str, *, timeout: float = 10.0) -> str:
    """``host:port`` of the leading master named by ``master``."""
    if not master.startswith("zk://"):
        return master if ":" in master else f"{master}:5050"
    match = _ZK.match(master)
    if match is None:
        raise PermanentError(f"{master!r} is not zk://host:port[,host:port]/path")
    hosts, path = match.group("hosts"), match.group("path").rstrip("/") or "/"
    client = KazooClient(hosts=hosts, timeout=timeout)
    try:
        client.start(timeout=timeout)
        return _read_leader(client, path, master)
    except (KazooException, KazooTimeoutError) as exc:
        raise TemporaryError(f"ZooKeeper {hosts} unreachable: {exc!r}") from exc
    finally:
        client.stop()
        client.close()


def _read_leader(client: KazooClient, path: str, master: str) -> str:
    try:
        children = [c for c in client.get_children(path) if c.startswith(NODE_PREFIX)]
    except NoNodeError:
        children = []
    if not children:
        raise TemporaryError(f"no Mesos master registered in ZooKeeper at {master}")
    data, _ = client.get(f"{path}/{min(children)}")
    try:
        address = json.loads(data)["address"]
        leader = f"{address['ip']}:{int(address['port'])}"
    except (ValueError, KeyError, TypeError) as exc:
        raise PermanentError(f"unreadable MasterInfo in {path}: {exc!r}") from exc
    logger.debug("leading Mesos master per %s is %s", master, leader)
    return leader
