"""Health checks: the pure state machine and the probes that feed it.

``judge`` folds one probe result into a task's ``HealthState``, Marathon's
rules:

* a failure before the first success within ``gracePeriodSeconds`` of the
  task starting is ignored (not counted, no event);
* a success resets ``consecutiveFailures`` and makes the check alive;
* a counted failure makes it not alive; at ``maxConsecutiveFailures``
  (0 = never) the task is to be killed and replaced.

``probe`` runs one check against a running task (HTTP/HTTPS GET with 200-399
healthy, TCP connect, COMMAND run locally with the task's environment and
exit 0 healthy; the MESOS_* kinds are probed the same way from here) and
never raises: every failure becomes ``(False, cause)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import aiohttp

from framework.local.marathon.model import HealthState, JsonDict


@dataclass(frozen=True)
class Verdict:
    state: HealthState
    changed: bool  # alive flipped (or became known as alive)
    failed: bool  # a counted failure
    kill: bool


def judge(
    state: HealthState,
    ok: bool,
    cause: str | None,
    *,
    now: float,
    started_at: float,
    check: JsonDict,
    scale: float = 1.0,
) -> Verdict:
    """The next health state of one check after one probe (see module)."""
    if ok:
        new = replace(
            state,
            alive=True,
            consecutive_failures=0,
            first_success=state.first_success or now,
            last_success=now,
            checked=True,
        )
        changed = not (state.checked and state.alive)
        return Verdict(new, changed, failed=False, kill=False)
    grace = float(check["gracePeriodSeconds"]) * scale
    if state.first_success is None and now - started_at < grace:
        return Verdict(state, changed=False, failed=False, kill=False)
    new = replace(
        state,
        alive=False,
        consecutive_failures=state.consecutive_failures + 1,
        last_failure=now,
        last_failure_cause=cause,
        checked=True,
    )
    limit = int(check["maxConsecutiveFailures"])
    kill = limit > 0 and new.consecutive_failures >= limit
    return Verdict(new, state.checked and state.alive, failed=True, kill=kill)


def check_port(check: JsonDict, ports: Sequence[int]) -> int | None:
    """The port a check probes: ``port`` if set, else ``ports[portIndex]``."""
    if check.get("port"):
        return int(check["port"])
    index = check.get("portIndex")
    if index is None or index >= len(ports):
        return None
    return int(ports[index])


async def probe(
    check: JsonDict,
    host: str,
    ports: Sequence[int],
    env: Mapping[str, str],
    timeout: float,
    session: aiohttp.ClientSession,
) -> tuple[bool, str | None]:
    """Run one check once; ``(healthy, failure cause)``; never raises."""
    protocol = str(check["protocol"])
    try:
        if protocol == "COMMAND":
            return await _command(str(check["command"]["value"]), env, timeout)
        port = check_port(check, ports)
        if port is None:
            return False, "no port to check"
        if protocol.endswith("TCP"):
            return await _tcp(host, port, timeout)
        scheme = "https" if protocol.endswith("HTTPS") else "http"
        url = f"{scheme}://{host}:{port}{check.get('path', '/')}"
        return await _http(url, timeout, bool(check.get("ignoreHttp1xx")), session)
    except TimeoutError:
        return False, f"timed out after {timeout:.1f}s"
    except (OSError, aiohttp.ClientError) as exc:
        return False, f"{type(exc).__name__}: {exc}"


async def _http(
    url: str, timeout: float, ignore_1xx: bool, session: aiohttp.ClientSession
) -> tuple[bool, str | None]:
    limit = aiohttp.ClientTimeout(total=timeout)
    async with session.get(url, timeout=limit, ssl=False, allow_redirects=False) as r:
        if 200 <= r.status < 400 or (ignore_1xx and r.status < 200):
            return True, None
        return False, f"HTTP {r.status} from {url}"


async def _tcp(host: str, port: int, timeout: float) -> tuple[bool, str | None]:
    _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, None


async def _command(
    command: str, env: Mapping[str, str], timeout: float
) -> tuple[bool, str | None]:
    process = await asyncio.create_subprocess_shell(
        command,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        code = await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return (True, None) if code == 0 else (False, f"command exited with {code}")
