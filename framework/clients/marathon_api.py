"""Typed Marathon calls for the deployer, over marathon-python, with retries.

Every call returns plain JSON (dicts and lists in Marathon's camelCase wire
shape), so the deployer's planners never see a marathon-python model.

Invariants:

* Connection errors, "no server answered" and 5xx are retried with tenacity
  (exponential backoff) and, once the attempts are spent, raised as
  `TemporaryError`; a 4xx is never retried: 404 is `MarathonNotFound`, 409
  `MarathonConflict` (with the ids of the deployments holding the lock), any
  other 4xx `MarathonRejected` (with Marathon's ``details``). All three are
  `PermanentError` subclasses carrying the server's own message.
* ``calls`` counts every HTTP request this object made (per endpoint), so
  the deployer can report how many Marathon calls following a deployment cost.
* App bodies are sent as our own JSON through the client's request method:
  marathon-python's ``update_app`` serialises through its models with
  ``minimal=True``, which drops empty lists and maps, so a PUT could never
  clear ``constraints``, ``env`` or ``healthChecks`` (Marathon's PUT is a
  partial update). Reads go through the public methods and their models.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import requests
import tenacity

from framework.clients.marathon import new_client
from framework.clients.marathon_compat import marathon
from framework.errors import PermanentError, TemporaryError
from framework.settings import MarathonSettings

logger = logging.getLogger(__name__)
# marathon-python logs every 4xx at ERROR (a 404 from find_app is an answer,
# not an error) and deprecation chatter on reads; we map and log them here.
logging.getLogger("marathon").setLevel(logging.CRITICAL)
T = TypeVar("T")
JsonDict = dict[str, Any]

_errors = marathon.exceptions


class MarathonNotFound(PermanentError):
    """The app, version, task or deployment does not exist (HTTP 404)."""


class MarathonConflict(PermanentError):
    """HTTP 409: the app exists already, or a deployment holds its lock."""

    def __init__(self, message: str, deployments: list[str]) -> None:
        super().__init__(message)
        self.deployments = deployments


class MarathonRejected(PermanentError):
    """Any other 4xx (400 bad JSON, 422 invalid, 401/403): fix and retry."""

    def __init__(self, message: str, status: int, details: list[Any]) -> None:
        super().__init__(message)
        self.status = status
        self.details = details


def _message(exc: Any) -> str:
    return str(getattr(exc, "error_message", "") or exc)


def map_error(exc: BaseException, what: str) -> Exception:
    """The `framework.errors` exception for one marathon-python failure."""
    if isinstance(exc, _errors.NotFoundError):
        return MarathonNotFound(f"{what}: {_message(exc)}")
    if isinstance(exc, _errors.ConflictError):
        return MarathonConflict(f"{what}: {_message(exc)}", _lock_holders(exc))
    if isinstance(exc, _errors.InternalServerError):
        return TemporaryError(f"{what}: Marathon answered HTTP {exc.status_code}")
    if isinstance(exc, _errors.MarathonHttpError):
        details = getattr(exc, "error_details", None) or []
        status = int(exc.status_code)
        return MarathonRejected(f"{what}: {_message(exc)}", status, details)
    if isinstance(exc, requests.RequestException | _errors.MarathonError):
        return TemporaryError(f"{what}: Marathon unreachable ({exc})")
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def _lock_holders(exc: Any) -> list[str]:
    # The 409 body names the deployments; marathon-python keeps only message.
    response = getattr(exc, "response", None)
    try:
        body = response.json() if response is not None else {}
    except ValueError:
        body = {}
    return [str(d.get("id")) for d in body.get("deployments", []) if d.get("id")]


def _log_retry(state: tenacity.RetryCallState) -> None:
    delay = state.next_action.sleep if state.next_action else 0.0
    error = state.outcome.exception() if state.outcome else "?"
    logger.warning("Marathon call failed (%s); retrying in %.1fs", error, delay)


class _SseSession(requests.Session):
    """A session that remembers its streaming responses so they can be closed."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[requests.Response] = []

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:
        response = super().get(url, **kwargs)
        self.responses.append(response)
        return response

    def close(self) -> None:
        for response in self.responses:
            response.close()
        super().close()


class EventStream:
    """``/v2/events`` read on a daemon thread into a queue of event dicts.

    ``get(timeout)`` returns the next event or None; ``error`` is set when
    the stream ended (the deployer then falls back to polling).
    """

    def __init__(self, lines: Iterator[str], on_close: Callable[[], None]) -> None:
        self._events: queue.Queue[JsonDict] = queue.Queue()
        self._on_close = on_close
        self.closed = threading.Event()
        self.error: str | None = None
        self._thread = threading.Thread(
            target=self._pump, args=(lines,), name="marathon-events", daemon=True
        )
        self._thread.start()

    def _pump(self, lines: Iterator[str]) -> None:
        try:
            for line in lines:
                if self.closed.is_set():
                    return
                event = json.loads(line)
                if isinstance(event, dict):
                    self._events.put(event)
            self.error = "event stream ended"
        except Exception as exc:  # any failure ends the stream; we poll instead
            if not self.closed.is_set():
                self.error = f"event stream failed: {exc}"
                logger.warning("%s; following by polling from now on", self.error)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def get(self, timeout: float) -> JsonDict | None:
        try:
            return self._events.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None

    def close(self) -> None:
        self.closed.set()
        try:
            self._on_close()
        except Exception:  # closing a half-read socket may raise; it is closed
            logger.debug("closing the event stream raised; ignored")


class MarathonApi:
    """The Marathon calls the deployer makes, typed, retried and counted."""

    def __init__(
        self,
        settings: MarathonSettings | None = None,
        *,
        client: Any = None,
        attempts: int = 4,
        max_wait: float = 4.0,
    ) -> None:
        self._sse = _SseSession()
        if client is None:
            client = new_client(settings or MarathonSettings())
            client.sse_session = self._sse
        self.client = client
        self.calls: Counter[str] = Counter()
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TemporaryError),
            wait=tenacity.wait_exponential(multiplier=0.25, max=max_wait),
            stop=tenacity.stop_after_attempt(attempts),
            before_sleep=_log_retry,
            reraise=True,
        )

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        def once() -> T:
            self.calls[what] += 1
            try:
                return fn()
            except (_errors.MarathonError, requests.RequestException) as exc:
                raise map_error(exc, what) from exc

        return self._retrying(once)

    # Reads.

    def get_app(self, app_id: str, *, tasks: bool = False) -> JsonDict:
        """The app as Marathon has it (with counts, deployments, last failure)."""
        app = self._call(
            f"GET /v2/apps{app_id}",
            lambda: self.client.get_app(
                app_id,
                embed_tasks=tasks,
                embed_counts=True,
                embed_deployments=True,
                embed_last_task_failure=True,
            ),
        )
        return _as_json(app)

    def find_app(self, app_id: str) -> JsonDict | None:
        """The app, or None when Marathon does not know it."""
        try:
            return self.get_app(app_id)
        except MarathonNotFound:
            return None

    def list_versions(self, app_id: str) -> list[str]:
        """Version timestamps of the app, newest first (Marathon's order)."""
        versions = self._call(
            f"GET /v2/apps{app_id}/versions",
            lambda: self.client.list_versions(app_id),
        )
        return sorted((str(v) for v in versions), reverse=True)

    def get_version(self, app_id: str, version: str) -> JsonDict:
        app = self._call(
            f"GET /v2/apps{app_id}/versions/{version}",
            lambda: self.client.get_version(app_id, version),
        )
        return _as_json(app)

    def list_deployments(self) -> list[JsonDict]:
        found = self._call("GET /v2/deployments", self.client.list_deployments)
        return [_as_json(d) for d in found]

    def list_tasks(self, app_id: str) -> list[JsonDict]:
        found = self._call(
            f"GET /v2/apps{app_id}/tasks", lambda: self.client.list_tasks(app_id)
        )
        return [_as_json(t) for t in found]

    # Writes.

    def put_app(self, app: JsonDict, *, force: bool = False) -> JsonDict:
        """Create or replace the app with ``app`` (our JSON); the deployment."""
        app_id = str(app["id"])
        body = json.dumps(app, sort_keys=True)
        response = self._call(
            f"PUT /v2/apps{app_id}",
            lambda: self.client._do_request(
                "PUT", f"/v2/apps{app_id}", params={"force": force}, data=body
            ),
        )
        return _body(response)

    def rollback(self, app_id: str, version: str, *, force: bool = False) -> JsonDict:
        """Make ``version`` the app's definition again (a new deployment)."""
        return dict(
            self._call(
                f"PUT /v2/apps{app_id} (version)",
                lambda: self.client.rollback_app(app_id, version, force=force),
            )
        )

    def scale(self, app_id: str, instances: int, *, force: bool = False) -> JsonDict:
        """Set the instance count (one PUT; no restart of running tasks)."""
        model = marathon.MarathonApp(instances=instances)
        return dict(
            self._call(
                f"PUT /v2/apps{app_id} (scale)",
                lambda: self.client.update_app(app_id, model, force=force),
            )
        )

    def restart(self, app_id: str, *, force: bool = False) -> JsonDict:
        return dict(
            self._call(
                f"POST /v2/apps{app_id}/restart",
                lambda: self.client.restart_app(app_id, force=force),
            )
        )

    def delete_app(self, app_id: str, *, force: bool = False) -> JsonDict:
        return dict(
            self._call(
                f"DELETE /v2/apps{app_id}",
                lambda: self.client.delete_app(app_id, force=force),
            )
        )

    def delete_deployment(self, deployment_id: str, *, force: bool = False) -> JsonDict:
        """Cancel a deployment; without force Marathon rolls it back."""
        return dict(
            self._call(
                f"DELETE /v2/deployments/{deployment_id}",
                lambda: self.client.delete_deployment(deployment_id, force=force),
            )
            or {}
        )

    # Events.

    def event_stream(self, event_types: list[str] | None = None) -> EventStream:
        """Open ``/v2/events`` (one call) and pump it on a daemon thread."""
        lines = self._call(
            "GET /v2/events",
            lambda: self.client.event_stream(raw=True, event_types=event_types or []),
        )
        return EventStream(lines, self.close)

    def close(self) -> None:
        # TODO(blocking close): closing a streaming response blocks while the
        # pump thread sits in recv() on a quiet stream, so close off-thread.
        threading.Thread(target=self._sse.close, daemon=True).start()


def _as_json(model: Any) -> JsonDict:
    if isinstance(model, dict):
        return model
    data: JsonDict = _strip_none(json.loads(model.to_json(minimal=False)))
    return data


def _strip_none(value: Any) -> Any:
    # minimal=False keeps empty lists (meaningful) but also every unset None.
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


def _body(response: Any) -> JsonDict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
