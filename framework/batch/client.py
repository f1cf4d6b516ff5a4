"""A small client for the batch scheduler's HTTP API (used by the CLI).

Connection errors are retried with tenacity (the scheduler may be starting);
an answer with an error body raises ``ApiError`` carrying its status and
message, so the CLI can print it in one line.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
import tenacity

from framework.errors import MesosAdapterError

logger = logging.getLogger(__name__)


class ApiError(MesosAdapterError):
    """The scheduler answered with an error (``status``, ``message``, ``path``)."""

    def __init__(self, status: int, message: str, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.status = status
        self.message = message
        self.path = path


class Unreachable(MesosAdapterError):
    """The scheduler's API did not answer."""


class JobsClient:
    def __init__(self, base_url: str, *, timeout: float = 10.0, attempts: int = 3):
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(requests.ConnectionError),
            wait=tenacity.wait_exponential(multiplier=0.3, max=2),
            stop=tenacity.stop_after_attempt(attempts),
            reraise=True,
        )

    def close(self) -> None:
        self._session.close()

    def submit(self, text: str) -> dict[str, Any]:
        return self._call("POST", "/v1/jobs", data=text.encode())  # type: ignore[no-any-return]

    def jobs(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/jobs")["jobs"]  # type: ignore[no-any-return]

    def job(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/jobs/{job_id}")  # type: ignore[no-any-return]

    def why(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/jobs/{job_id}/why")  # type: ignore[no-any-return]

    def kill(self, job_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/jobs/{job_id}")  # type: ignore[no-any-return]

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._retrying(
                self._session.request,
                method,
                self.base + path,
                timeout=self.timeout,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise Unreachable(
                f"the batch scheduler at {self.base} does not answer ({exc}); "
                "start it with 'mesos-adapter scheduler run'"
            ) from exc
        body = response.json() if response.content else {}
        if response.status_code >= 400:
            problem = body.get("error", {}) if isinstance(body, dict) else {}
            raise ApiError(
                response.status_code,
                problem.get("message", response.text),
                problem.get("path"),
            )
        return body
