"""The deployer's thin effect layer: carries out plans through MarathonApi.

Every decision comes from the pure modules (``plan``, ``follow``,
``canary``); this module only observes (events first, a slow poll as the
safety net), calls Marathon and reports. Time goes through ``Clock`` so the
deadline and interval logic runs under a fake clock in tests.

Invariants:

* Nothing is sent to Marathon before the definition validated.
* A revert keeps capacity: while a deployment is still running we cancel it
  with ``DELETE /v2/deployments/{id}`` (no force), which is Marathon's own
  rollback: it computes the way back from the *current* state, keeping every
  old instance still running and, under the app's upgradeStrategy, never
  stopping one before its replacement is healthy. Once the deployment is
  over (or the DELETE finds nothing) we PUT the previous version with
  ``force``. A new app that never became healthy is destroyed.
* ``Deployer.api.calls`` counts every Marathon request made.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from framework.clients.marathon_api import (
    EventStream,
    MarathonApi,
    MarathonNotFound,
)
from framework.errors import BackendError, InputError
from framework.marathon import canary as canary_mod
from framework.marathon import follow as follow_mod
from framework.marathon.follow import Decision, FollowPolicy, FollowState
from framework.marathon.plan import carry_service_ports, comparable
from framework.marathon.spec import JsonDict, with_defaults

logger = logging.getLogger(__name__)


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class Reporter(Protocol):
    def say(self, message: str) -> None: ...

    def progress(self, state: FollowState) -> None: ...


class LogReporter:
    """Reports through the module logger (the CLI uses a rich reporter)."""

    def say(self, message: str) -> None:
        logger.info("%s", message)

    def progress(self, state: FollowState) -> None:
        logger.debug("%s: %d/%d ready", state.app_id, state.ready, state.target)


@dataclass
class Outcome:
    ok: bool
    reason: str
    state: FollowState | None = None
    reverted: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Timing:
    poll_interval: float = 10.0  # safety-net poll while events flow
    fallback_poll: float = 1.0  # poll period when the event stream is down
    revert_timeout: float = 600.0


class Deployer:
    """Deploy, follow, revert, canary, rollback, scale, restart, destroy."""

    def __init__(
        self,
        api: MarathonApi,
        *,
        clock: Clock | None = None,
        reporter: Reporter | None = None,
        timing: Timing | None = None,
        check_runner: Callable[[str], tuple[bool, str]] | None = None,
    ) -> None:
        self.api = api
        self.clock = clock or SystemClock()
        self.reporter = reporter or LogReporter()
        self.timing = timing or Timing()
        self.check_runner = check_runner or run_check
        self._stream: EventStream | None = None

    # -- events ------------------------------------------------------------

    def open_events(self) -> None:
        """Subscribe before acting, so no event of our change is missed."""
        if self._stream is not None and self._stream.alive:
            return
        try:
            self._stream = self.api.event_stream(follow_mod.EVENT_TYPES)
        except BackendError as exc:
            logger.warning("no event stream (%s); following by polling", exc)
            self._stream = None

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _next_event(self, timeout: float) -> JsonDict | None:
        stream = self._stream
        if stream is None or (not stream.alive and stream.error):
            self.clock.sleep(min(timeout, self.timing.fallback_poll))
            return None
        return stream.get(timeout)

    def _poll_every(self) -> float:
        stream = self._stream
        alive = stream is not None and (stream.alive or not stream.error)
        return self.timing.poll_interval if alive else self.timing.fallback_poll

    # -- deploy --------------------------------------------------------------

    def deploy(
        self,
        raw: JsonDict,
        *,
        wait: bool,
        policy: FollowPolicy,
        force: bool = False,
    ) -> Outcome:
        """PUT the definition; with ``wait`` follow it and revert on failure."""
        body = with_defaults(raw)
        app_id = str(body["id"])
        previous = self.api.find_app(app_id)
        body = carry_service_ports(previous, body)
        if wait:
            self.open_events()
        result = self.api.put_app(body, force=force)
        deployment_id = str(result.get("deploymentId", ""))
        version = str(result.get("version", ""))
        self.reporter.say(
            f"{app_id}: deployment {deployment_id} started (version {version})"
        )
        if not wait:
            return Outcome(True, f"deployment {deployment_id} started; not waiting")
        decision, state = self.follow(body, deployment_id, version, policy)
        return self._conclude(app_id, decision, state, previous, policy)

    def _conclude(
        self,
        app_id: str,
        decision: Decision,
        state: FollowState,
        previous: JsonDict | None,
        policy: FollowPolicy,
    ) -> Outcome:
        self.reporter.say(f"{app_id}: {decision.kind}: {decision.reason}")
        if decision.kind == "succeeded":
            return Outcome(True, decision.reason, state)
        if decision.kind == "failed":
            return Outcome(False, decision.reason, state)
        reverted = self.revert(app_id, state, previous)
        return Outcome(False, decision.reason, state, reverted=reverted)

    def follow(
        self, app: JsonDict, deployment_id: str, version: str, policy: FollowPolicy
    ) -> tuple[Decision, FollowState]:
        """Fold events and polls until ``decide`` says something final."""
        state = follow_mod.start(app, deployment_id, version, self.clock.now())
        state = self._snapshot(state)
        last_poll = self.clock.now()
        while True:
            now = self.clock.now()
            decision = follow_mod.decide(state, policy, now)
            self.reporter.progress(state)
            if decision.kind != "wait":
                return decision, state

            # Sleep until an event, the next safety poll or the deadline.
            until_poll = last_poll + self._poll_every() - now
            until_deadline = state.last_progress + policy.progress_deadline - now
            event = self._next_event(max(0.0, min(until_poll, until_deadline)) + 0.01)

            # Fold what happened; confirm the end with one authoritative read.
            if event is not None:
                state = follow_mod.fold_event(state, event, self.clock.now())
            finished = event is not None and event.get("id") == deployment_id
            if finished or self.clock.now() - last_poll >= self._poll_every():
                state = self._snapshot(state)
                last_poll = self.clock.now()

    def _snapshot(self, state: FollowState) -> FollowState:
        app = self.api.get_app(state.app_id, tasks=True)
        ids = [str(d.get("id")) for d in app.get("deployments", [])]
        return follow_mod.fold_snapshot(state, app, ids, self.clock.now())

    # -- revert -----------------------------------------------------------------

    def revert(
        self, app_id: str, state: FollowState, previous: JsonDict | None
    ) -> bool:
        """Go back to ``previous`` without dropping below its healthy count."""
        if previous is None:
            self.reporter.say(
                f"{app_id}: reverting: the app is new, so it is destroyed"
            )
            self.api.delete_app(app_id, force=True)
            return True
        result = self._cancel(state.deployment_id)
        if result is None:
            old = str(previous.get("version"))
            self.reporter.say(
                f"{app_id}: reverting: deployment is over, putting back version "
                f"{old} (PUT with force)"
            )
            result = self.api.rollback(app_id, old, force=True)
        ok = self.wait_done(app_id, str(result.get("deploymentId", "")))
        low = state.lowest_healthy
        self.reporter.say(
            f"{app_id}: revert {'finished' if ok else 'still running'}; healthy "
            f"instances never fell below {low} while we watched"
        )
        return ok

    def _cancel(self, deployment_id: str) -> JsonDict | None:
        try:
            result = self.api.delete_deployment(deployment_id)
        except MarathonNotFound:
            return None
        self.reporter.say(
            f"reverting: cancelled deployment {deployment_id}; Marathon rolls "
            f"back from the current state (deployment {result.get('deploymentId')})"
        )
        return result if result.get("deploymentId") else None

    def wait_done(self, app_id: str, deployment_id: str) -> bool:
        """Wait (events first) until ``deployment_id`` is no longer running."""
        if not deployment_id:
            return True
        deadline = self.clock.now() + self.timing.revert_timeout
        last_poll = -1e18
        while self.clock.now() < deadline:
            if self.clock.now() - last_poll >= self._poll_every():
                app = self.api.get_app(app_id)
                last_poll = self.clock.now()
                if deployment_id not in [
                    str(d.get("id")) for d in app.get("deployments", [])
                ]:
                    return True
            event = self._next_event(self._poll_every())
            if event is not None and event.get("id") == deployment_id:
                return True  # success or failed: either way it is over
        return False

    # -- single commands --------------------------------------------------------

    def previous_version(self, app: JsonDict) -> str:
        """The newest older version whose definition differs from the current."""
        app_id, current = str(app["id"]), str(app.get("version"))
        mine = comparable(app)
        for version in self.api.list_versions(app_id)[:10]:
            if version >= current:
                continue
            older = self.api.get_version(app_id, version)
            if comparable({**older, "instances": app.get("instances")}) != mine:
                return version
        raise InputError(
            f"{app_id}: no earlier version with a different definition among the "
            "last 10; pass --to VERSION (see 'apps status')"
        )

    def rollback(
        self, app_id: str, to: str | None, *, force: bool, wait: bool
    ) -> Outcome:
        app = self.api.get_app(app_id)
        version = to or self.previous_version(app)
        result = self.api.rollback(app_id, version, force=force)
        deployment = str(result.get("deploymentId", ""))
        self.reporter.say(f"{app_id}: rolling back to {version} ({deployment})")
        ok = self.wait_done(app_id, deployment) if wait else True
        return Outcome(ok, f"rolled back to {version}", details={"version": version})

    def scale(self, app_id: str, instances: int, *, force: bool, wait: bool) -> Outcome:
        result = self.api.scale(app_id, instances, force=force)
        deployment = str(result.get("deploymentId", ""))
        self.reporter.say(f"{app_id}: scaling to {instances} ({deployment})")
        ok = self.wait_done(app_id, deployment) if wait else True
        return Outcome(ok, f"scaled to {instances}")

    def restart(self, app_id: str, *, force: bool, wait: bool) -> Outcome:
        result = self.api.restart(app_id, force=force)
        deployment = str(result.get("deploymentId", ""))
        self.reporter.say(f"{app_id}: rolling restart ({deployment})")
        ok = self.wait_done(app_id, deployment) if wait else True
        return Outcome(ok, "restarted")

    def destroy(self, app_id: str, *, wait: bool) -> Outcome:
        """Delete the app and, for a stable app, its canary app.

        A canary left behind would keep serving its share of the traffic (its
        Consul entries carry the canary weight) for a service that is gone.
        """
        doomed = [app_id]
        canary = canary_mod.canary_id(app_id)
        if app_id != canary_mod.stable_id_of(app_id):
            canary = ""  # app_id is itself a canary
        if canary and self.api.find_app(canary) is not None:
            doomed.append(canary)
        for target in doomed:
            result = self.api.delete_app(target, force=True)
            deployment = str(result.get("deploymentId", ""))
            self.reporter.say(f"{target}: destroying ({deployment})")
        ok = all(self._wait_gone(target) for target in doomed) if wait else True
        return Outcome(ok, "destroyed" if len(doomed) == 1 else "destroyed with canary")

    def _wait_gone(self, app_id: str) -> bool:
        deadline = self.clock.now() + self.timing.revert_timeout
        while self.clock.now() < deadline:
            if self.api.find_app(app_id) is None:
                return True
            self.clock.sleep(self.timing.fallback_poll)
        return False

    # -- canary -------------------------------------------------------------------

    def canary(
        self,
        raw: JsonDict,
        plan: canary_mod.CanaryPlan,
        *,
        check: str | None,
        policy: FollowPolicy,
    ) -> Outcome:
        """Run the canary steps; promote at the end or abort on any failure."""
        new = with_defaults(raw)
        stable_id = str(new["id"])
        stable = self.api.find_app(stable_id)
        if stable is None:
            raise InputError(
                f"{stable_id}: no stable app to canary against; deploy it first "
                "with 'apps deploy'"
            )
        if self.api.find_app(canary_mod.canary_id(stable_id)) is not None:
            raise InputError(
                f"{canary_mod.canary_id(stable_id)} exists already: finish it with "
                f"'apps promote {stable_id}' or 'apps abort {stable_id}'"
            )
        self.open_events()
        body = canary_mod.canary_app(new, plan.instances, plan.steps[0])
        started = self._deploy_canary(body, policy)
        if started is None:
            return self.abort(stable_id, reason="canaries never became healthy")
        return self._steps(stable_id, body, started, plan, check, policy)

    def _deploy_canary(
        self, body: JsonDict, policy: FollowPolicy
    ) -> FollowState | None:
        result = self.api.put_app(body, force=False)
        decision, state = self.follow(
            body, str(result["deploymentId"]), str(result["version"]), policy
        )
        self.reporter.say(f"{body['id']}: {decision.kind}: {decision.reason}")
        return state if decision.kind == "succeeded" else None

    def _steps(
        self,
        stable_id: str,
        body: JsonDict,
        fstate: FollowState,
        plan: canary_mod.CanaryPlan,
        check: str | None,
        policy: FollowPolicy,
    ) -> Outcome:
        state = canary_mod.CanaryState()
        current_weight = plan.steps[0]
        while True:
            obs = self._observe(fstate, plan, state, check)
            decision = canary_mod.decide(plan, state, obs)
            if decision.kind != "wait":
                self.reporter.say(
                    f"canary {stable_id}: {decision.kind}: {decision.reason}"
                )
            if decision.kind == "promote":
                return self.promote(stable_id, policy=policy)
            if decision.kind == "abort":
                return self.abort(stable_id, reason=decision.reason)
            if decision.kind == "set_weight" and decision.weight != current_weight:
                body = _relabel(body, decision.weight)
                moved = self._deploy_canary(body, policy)
                if moved is None:
                    return self.abort(stable_id, reason="relabelled canaries unhealthy")
                fstate, current_weight = moved, decision.weight
            if decision.kind == "wait":
                fstate = self._watch(fstate, min(plan.interval, self._poll_every()))
            state = canary_mod.after(state, decision, self.clock.now())

    def _observe(
        self,
        fstate: FollowState,
        plan: canary_mod.CanaryPlan,
        state: canary_mod.CanaryState,
        check: str | None,
    ) -> canary_mod.CanaryObservation:
        now = self.clock.now()
        failures = tuple(
            f"{t} ({w})" for t, w in fstate.unhealthy_kills + fstate.failed
        )
        due = state.entered and now - state.step_started >= plan.interval
        ok, detail = (None, "")
        if due:
            fstate = self._snapshot(fstate)
            if check:
                ok, detail = self.check_runner(check)
        return canary_mod.CanaryObservation(
            now,
            len(fstate.healthy) if fstate.health_checked else fstate.ready,
            failures,
            ok,
            detail,
        )

    def _watch(self, fstate: FollowState, seconds: float) -> FollowState:
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            event = self._next_event(end - self.clock.now())
            if event is not None:
                fstate = follow_mod.fold_event(fstate, event, self.clock.now())
        return fstate

    def promote(self, app_id: str, *, policy: FollowPolicy) -> Outcome:
        """Roll the stable app to the canary's definition, then drop the canary."""
        stable_id = canary_mod.stable_id_of(app_id)
        canary_app = self.api.get_app(canary_mod.canary_id(stable_id))
        stable = self.api.find_app(stable_id)
        new = canary_mod.promoted_app(comparable(canary_app), stable)
        self.reporter.say(
            f"{stable_id}: promoting the canary's version (rolling update)"
        )
        outcome = self.deploy(new, wait=True, policy=policy, force=False)
        if not outcome.ok:
            self.reporter.say(
                f"{stable_id}: promotion reverted; the canary app stays for "
                f"inspection: 'apps abort {stable_id}' removes it"
            )
            return outcome
        self.api.delete_app(canary_mod.canary_id(stable_id), force=True)
        self.reporter.say(f"{stable_id}: promoted; canary app removed")
        return Outcome(True, f"promoted: {outcome.reason}", outcome.state)

    def abort(self, app_id: str, *, reason: str = "aborted by hand") -> Outcome:
        """Remove the canary app; the stable app is not touched."""
        stable_id = canary_mod.stable_id_of(app_id)
        canary_id = canary_mod.canary_id(stable_id)
        try:
            self.api.delete_app(canary_id, force=True)
        except MarathonNotFound:
            self.reporter.say(f"{canary_id}: no canary app to remove")
        self.reporter.say(f"{stable_id}: canary aborted ({reason}); stable untouched")
        return Outcome(False, f"canary aborted: {reason}", reverted=True)

    # -- status ------------------------------------------------------------------------

    def status(self, app_id: str) -> JsonDict:
        """Version, instances by health, deployments and the last failure."""
        app = self.api.get_app(app_id, tasks=True)
        counts = {"healthy": 0, "unhealthy": 0, "running": 0, "staging": 0}
        checked = bool(app.get("healthChecks"))
        for task in app.get("tasks", []):
            state = task.get("state", "TASK_RUNNING")
            if state != "TASK_RUNNING":
                counts["staging"] += 1
                continue
            counts["running"] += 1
            results = task.get("healthCheckResults") or []
            if checked and results and all(r.get("alive") for r in results):
                counts["healthy"] += 1
            elif checked and results:
                counts["unhealthy"] += 1
        return {
            "id": app["id"],
            "version": app.get("version"),
            "instances": app.get("instances"),
            "tasks": counts,
            "health_checked": checked,
            "deployments": [d.get("id") for d in app.get("deployments", [])],
            "lastTaskFailure": app.get("lastTaskFailure"),
            "labels": app.get("labels", {}),
        }


def _relabel(body: JsonDict, weight: int) -> JsonDict:
    labels = {**body.get("labels", {}), canary_mod.WEIGHT_LABEL: str(weight)}
    return {**body, "labels": labels}


def run_check(check: str, *, timeout: float = 30.0) -> tuple[bool, str]:
    """A URL must answer 2xx; a command must exit 0. (ok, what happened)."""
    if check.startswith(("http://", "https://")):
        try:
            response = requests.get(check, timeout=timeout)
        except requests.RequestException as exc:
            return False, f"GET {check}: {exc}"
        return response.ok, f"GET {check}: HTTP {response.status_code}"
    try:
        done = subprocess.run(
            ["sh", "-c", check], capture_output=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{check}: {exc}"
    tail = (done.stderr or done.stdout).decode(errors="replace").strip()[-200:]
    return done.returncode == 0, f"{check}: exit {done.returncode} {tail}".strip()
