"""Leader election among ``sync run`` processes through a Consul session lock.

Each process creates a session (TTL ``ttl`` seconds, behaviour ``release``) and
tries to acquire the KV key ``mesos-adapter/<cluster>/sync-leader`` with it.
The holder renews its session every ``ttl / 3`` seconds; if it dies, Consul
invalidates the session after the TTL, the lock is released, and a waiting
process acquires it on its next try.

Invariants: only the holder of the lock writes to Consul; a holder that fails
to renew (session gone) stops acting as leader at once and competes again with
a fresh session; the lock delay (``lock_delay``) keeps a new leader from
starting before the old one's in-flight writes have landed.
"""

from __future__ import annotations

import logging
import os
import socket

from framework.clients.consul_api import ConsulApi

logger = logging.getLogger(__name__)


def leader_key(cluster: str) -> str:
    return f"mesos-adapter/{cluster}/sync-leader"


class LeaderLock:
    """A Consul session lock; every method is blocking (run it in a thread)."""

    def __init__(
        self,
        api: ConsulApi,
        cluster: str,
        *,
        ttl: int = 10,
        lock_delay: int = 1,
        owner: str | None = None,
        renew_every: float | None = None,
    ) -> None:
        self.api = api
        self.key = leader_key(cluster)
        self.ttl = ttl
        self.lock_delay = lock_delay
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.renew_every = renew_every or ttl / 3
        self.session: str | None = None

    def try_acquire(self) -> bool:
        """True if we hold the lock now (taking it if it is free)."""
        if self.session is not None and not self.api.renew_session(self.session):
            self.session = None  # expired while we waited; take a fresh one
        if self.session is None:
            self.session = self.api.create_session(
                f"sync leader {self.owner}", ttl=self.ttl, lock_delay=self.lock_delay
            )
        return self.api.acquire(self.key, self.session, self.owner)

    def renew(self) -> bool:
        """Keep the session alive; False once it is gone (leadership lost)."""
        if self.session is None:
            return False
        if self.api.renew_session(self.session):
            return True
        logger.warning(
            "leader session of %s expired; stepping down and competing again",
            self.owner,
        )
        self.session = None
        return False

    def release(self) -> None:
        """Give the lock up (clean shutdown) so another process takes over now."""
        if self.session is None:
            return
        session, self.session = self.session, None
        self.api.release(self.key, session)
        self.api.destroy_session(session)
