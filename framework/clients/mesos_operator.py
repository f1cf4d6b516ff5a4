"""The Mesos operator API (``POST /api/v1``) and master state, over requests.

Used for what a scheduler cannot learn from offers: every agent's total
resources (to reject a job that can never fit) and where a task's sandbox is
(to read its logs through the files API). Connection errors and 5xx are
retried with tenacity; 4xx are not.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
import tenacity

from framework.clients.mesos_leader import leading_master
from framework.errors import PermanentError, TemporaryError

logger = logging.getLogger(__name__)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, TemporaryError)


def _log_retry(state: tenacity.RetryCallState) -> None:
    delay = state.next_action.sleep if state.next_action else 0.0
    logger.warning(
        "Mesos master unreachable (%s); retrying in %.1fs",
        state.outcome.exception() if state.outcome else "?",
        delay,
    )


class OperatorClient:
    """Read-only calls to one master (``host:port``)."""

    def __init__(
        self, master: str, *, timeout: float = 10.0, attempts: int = 5
    ) -> None:
        self.master = master  # host:port, or zk://... resolved at first use
        self._base: str | None = None
        self.timeout = timeout
        self._session = requests.Session()
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_retryable),
            wait=tenacity.wait_exponential(multiplier=0.5, max=8),
            stop=tenacity.stop_after_attempt(attempts),
            before_sleep=_log_retry,
            reraise=True,
        )

    @property
    def base(self) -> str:
        """``http://leader:port``; a zk:// master is looked up once, lazily."""
        if self._base is None:
            self._base = f"http://{leading_master(self.master, timeout=self.timeout)}"
        return self._base

    def close(self) -> None:
        self._session.close()

    def call(self, body: dict[str, Any]) -> dict[str, Any]:
        """One operator API call with JSON in and out."""
        result: dict[str, Any] = self._retrying(self._post, "/api/v1", body)
        return result

    def get(self, endpoint: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``endpoint`` with query ``params``; the decoded JSON body."""
        return self._retrying(self._get, endpoint, params or {})

    def agents(self) -> list[dict[str, Any]]:
        """GET_AGENTS: each agent's ``agent_info`` and ``total_resources``."""
        result = self.call({"type": "GET_AGENTS"})
        agents: list[dict[str, Any]] = result.get("get_agents", {}).get("agents", [])
        return agents

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._request("POST", path, json=body)
        data: dict[str, Any] = response.json()
        return data

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        return self._request("GET", path, params=params).json()

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Accept": "application/json"}
        try:
            response = self._session.request(
                method,
                self.base + path,
                headers=headers,
                timeout=self.timeout,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise TemporaryError(f"{method} {self.base}{path}: {exc}") from exc
        if response.status_code >= 500:
            raise TemporaryError(
                f"{method} {self.base}{path}: HTTP {response.status_code}"
            )
        if response.status_code >= 400:
            raise PermanentError(
                f"{method} {self.base}{path}: HTTP {response.status_code} "
                f"{response.text[:200]}"
            )
        return response
