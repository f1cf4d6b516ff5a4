"""The exception tree of mesos-adapter.

Callers catch the branch that tells them what to do next; the HTTP and client
libraries underneath are replaceable, so their exceptions never leak past the
client layer: they are re-raised as one of these, chained with ``from``.

::

    MesosAdapterError
    ├── InputError               bad input from a user: fix it and retry (exit 2)
    │   ├── ConfigError          a setting, with the source it came from
    │   └── SpecError            a job spec or app definition, with the field path
    └── BackendError             Mesos, Marathon, Consul or ZooKeeper misbehaved
        ├── TemporaryError       worth retrying after ``delay`` seconds (connect
        │                        errors, timeouts, 5xx, 503 "no leader")
        └── PermanentError       retrying will not help (4xx, protocol violations)

The two ``BackendError`` kinds are the retry vocabulary of every loop: the
scheduler, the deployer and the sync loop retry a ``TemporaryError`` with
backoff (tenacity) and give up on a ``PermanentError`` at once.
"""

from __future__ import annotations

import http.client

# What a call on a pymesos scheduler driver raises when the master refuses it or
# the connection drops mid-call (pymesos 0.3.15): RuntimeError for a refusal or
# "Not connected yet", OSError for socket errors, http.client.HTTPException when
# the driver's own thread closed the shared connection between the request and
# its response (seen as ResponseNotReady while a master stops). The driver
# reconnects by itself, so callers log these and let reconciliation repair.
DRIVER_CALL_ERRORS: tuple[type[Exception], ...] = (
    RuntimeError,
    OSError,
    http.client.HTTPException,
)


class MesosAdapterError(Exception):
    """Root of every error raised on purpose by mesos-adapter."""


class InputError(MesosAdapterError):
    """The user gave us something we cannot use; nothing was changed."""


class ConfigError(InputError):
    """A setting is malformed.

    ``source`` names where it came from (``MESOS_MASTER``, ``config.toml:3``,
    ``--mesos-master``) so that the one-line message points at the fix.
    """

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


class SpecError(InputError):
    """A job spec or app definition is invalid at ``path`` (a JSON path)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class BackendError(MesosAdapterError):
    """A backend (Mesos, Marathon, Consul, ZooKeeper) failed a request."""


class TemporaryError(BackendError):
    """The backend may succeed later; retry after ``delay`` seconds."""

    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(BackendError):
    """The backend refused the request; retrying it unchanged will not help."""
