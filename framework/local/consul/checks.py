"""Health checks the local Consul agent runs for real: HTTP, TCP and TTL.

``CheckRunner`` owns one asyncio task per HTTP/TCP check and one timer per TTL
check of the local agent, and reports each result to the store through a
Consul-like status handler (``SuccessBeforePassing``, ``FailuresBeforeWarning``,
``FailuresBeforeCritical``).

Invariants:

* The first probe of an interval check runs after a random stagger within its
  interval, then every ``Interval``; each probe is bounded by ``Timeout``.
* HTTP: 2xx is passing, 429 warning, anything else (or no answer) critical;
  Output reads like Consul's ("HTTP GET <url>: 200 OK Output: <body>"), the body
  capped at 4 KiB. TCP: a completed connect is passing.
* A TTL check turns critical with Output "TTL expired" when no pass/warn/fail
  arrived within its TTL; every update re-arms the timer.
* gRPC, H2PING, UDP, OS-service and alias checks are not run: they keep the
  status they were registered with (TODO(no grpc/h2 client here): run them).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import random
from dataclasses import dataclass

import aiohttp

from framework.local.consul.model import CRITICAL, PASSING, WARNING, Check, CheckSpec
from framework.local.consul.store import Store

log = logging.getLogger(__name__)

OUTPUT_LIMIT = 4096
GO_CLIENT_TIMEOUT = (
    "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
)
NOT_RUN = (
    "The local Consul stand-in does not run {kind} checks; the status stays as "
    "registered or as set through /v1/agent/check/update."
)


@dataclass
class _Counters:
    successes: int = 0
    failures: int = 0


class CheckRunner:
    """Runs the local agent's checks and records their results in ``store``."""

    def __init__(self, store: Store, node: str) -> None:
        self._store = store
        self._node = node
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._ttl_timers: dict[str, asyncio.TimerHandle] = {}
        self._counters: dict[str, _Counters] = {}
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(auto_decompress=True)

    async def close(self) -> None:
        for check_id in list(self._tasks) + list(self._ttl_timers):
            self.unschedule(check_id)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None

    def schedule(self, check: Check) -> None:
        """(Re)start running ``check``; a no-op for kinds the stand-in does not run."""
        self.unschedule(check.check_id)
        spec = check.spec
        if spec.kind in ("http", "tcp"):
            task = asyncio.create_task(self._loop(check.check_id, spec))
            self._tasks[check.check_id] = task
        elif spec.kind == "ttl":
            self.arm_ttl(check.check_id, spec.ttl)

    def unschedule(self, check_id: str) -> None:
        task = self._tasks.pop(check_id, None)
        if task is not None:
            task.cancel()
        timer = self._ttl_timers.pop(check_id, None)
        if timer is not None:
            timer.cancel()
        self._counters.pop(check_id, None)

    def arm_ttl(self, check_id: str, ttl: float) -> None:
        old = self._ttl_timers.pop(check_id, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._ttl_timers[check_id] = loop.call_later(ttl, self._ttl_expired, check_id)

    def _ttl_expired(self, check_id: str) -> None:
        self._ttl_timers.pop(check_id, None)
        check = self._store.checks.get((self._node, check_id))
        if check is None:
            return
        last = check.output
        output = "TTL expired"
        if last and not last.startswith("TTL expired"):
            output = f"TTL expired (last output before timeout follows): {last}"
        log.info("TTL check %s expired; it is critical until the next update", check_id)
        self._store.set_check_status(self._node, check_id, CRITICAL, output)

    async def _loop(self, check_id: str, spec: CheckSpec) -> None:
        # Spread first probes over the interval, as Consul staggers them.
        await asyncio.sleep(random.uniform(0, spec.interval))
        while True:
            # Probe, then record through the threshold rules.
            if spec.kind == "http":
                status, output = await self._probe_http(spec)
            else:
                status, output = await probe_tcp(spec.tcp, spec.timeout)
            self._report(check_id, spec, status, output[:OUTPUT_LIMIT])

            # Wait for the next round.
            await asyncio.sleep(spec.interval)

    def _report(self, check_id: str, spec: CheckSpec, status: str, output: str) -> None:
        counters = self._counters.setdefault(check_id, _Counters())
        if status in (PASSING, WARNING):
            counters.successes += 1
            counters.failures = 0
            if counters.successes < spec.success_before_passing:
                return
        else:
            counters.failures += 1
            counters.successes = 0
            if counters.failures < spec.failures_before_critical:
                before_warning = (
                    spec.failures_before_warning or spec.failures_before_critical
                )
                if counters.failures < before_warning:
                    return
                status = WARNING
        self._store.set_check_status(self._node, check_id, status, output)

    async def _probe_http(self, spec: CheckSpec) -> tuple[str, str]:
        assert self._http is not None, "CheckRunner.start() was not awaited"
        method = spec.method or "GET"
        headers = [("User-Agent", "Consul Health Check")]
        headers.append(("Accept", "text/plain, text/*, */*"))
        headers += [(k, v) for k, values in spec.header.items() for v in values]
        go_op = f'{method.capitalize()} "{spec.http}"'
        try:
            async with self._http.request(
                method,
                spec.http,
                headers=headers,
                data=spec.body.encode() or None,
                timeout=aiohttp.ClientTimeout(total=spec.timeout),
                ssl=not spec.tls_skip_verify,
            ) as resp:
                body = (await resp.content.read(OUTPUT_LIMIT)).decode(errors="replace")
                status = _http_status(resp.status)
                line = f"HTTP {method} {spec.http}: {resp.status} {resp.reason}"
                return status, f"{line} Output: {body}"
        except TimeoutError:
            return CRITICAL, f"{go_op}: {GO_CLIENT_TIMEOUT}"
        except aiohttp.ClientConnectorError as exc:
            return (
                CRITICAL,
                f"{go_op}: {_dial_error(f'{exc.host}:{exc.port}', exc.os_error)}",
            )
        except (aiohttp.ClientError, ValueError) as exc:
            return CRITICAL, f"{go_op}: {exc}"


def _http_status(code: int) -> str:
    if 200 <= code < 300:
        return PASSING
    return WARNING if code == 429 else CRITICAL


async def probe_tcp(target: str, timeout: float) -> tuple[str, str]:
    """Connect to ``host:port`` like Consul's TCP check; (status, output)."""
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, int(port)), timeout
        )
    except TimeoutError:
        return CRITICAL, f"dial tcp {target}: i/o timeout"
    except (OSError, ValueError) as exc:
        return CRITICAL, _dial_error(target, exc)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return PASSING, f"TCP connect {target}: Success"


def _dial_error(target: str, exc: BaseException) -> str:
    """Go's wording for a failed dial, for the errors a local check meets."""
    code = getattr(exc, "errno", None)
    if code == errno.ECONNREFUSED:
        return f"dial tcp {target}: connect: connection refused"
    if code is not None:
        return f"dial tcp {target}: connect: {os.strerror(code).lower()}"
    return f"dial tcp {target}: {exc}"
