"""Following one deployment: fold events and polls into state, then decide.

``FollowState`` is what we know about a deployment of version ``version``:
which new-version tasks are running and healthy, which ended or were killed
for failing health checks, and whether Marathon finished or failed it. Events
(``/v2/events``) and snapshots (``GET /v2/apps/{id}?embed=app.tasks``) are
folded in by pure functions; ``decide`` turns the state and the time into
one `Decision`:

* ``succeeded``: the deployment is gone and ``target`` new instances are
  healthy (running, for an app without health checks);
* ``revert``: a new-version task was killed as unhealthy, new-version tasks
  failed ``max_failures`` times, or no progress was made for
  ``progress_deadline`` seconds (Nomad's semantics: the deadline restarts
  whenever one more new instance becomes healthy);
* ``failed``: Marathon ended the deployment itself (cancelled, superseded by
  a forced change): we do not revert someone else's change;
* ``wait``: none of the above.

Invariants: pure (the caller passes ``now``); folding the same event twice
changes nothing; tasks of other versions never count toward the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from framework import taskstates

JsonDict = dict[str, Any]
TERMINAL = taskstates.ENDED_STATES
# Events the deployer subscribes to (filtering keeps the stream small).
EVENT_TYPES = [
    "status_update_event",
    "health_status_changed_event",
    "unhealthy_task_kill_event",
    "failed_health_check_event",
    "deployment_success",
    "deployment_failed",
]


@dataclass(frozen=True)
class FollowPolicy:
    progress_deadline: float = 300.0
    max_failures: int = 3


@dataclass(frozen=True)
class FollowState:
    app_id: str
    deployment_id: str
    version: str
    target: int
    health_checked: bool
    last_progress: float
    running: frozenset[str] = frozenset()
    healthy: frozenset[str] = frozenset()
    old_healthy: int = 0
    failed: tuple[tuple[str, str], ...] = ()  # (task id, why), new version only
    unhealthy_kills: tuple[tuple[str, str], ...] = ()
    done: bool = False
    ended_by_marathon: str | None = None
    lowest_healthy: int | None = None  # fewest healthy (old + new) seen
    events: int = field(default=0, compare=False)

    @property
    def ready(self) -> int:
        return len(self.healthy if self.health_checked else self.running)

    @property
    def capacity(self) -> int:
        return self.old_healthy + self.ready


@dataclass(frozen=True)
class Decision:
    kind: Literal["wait", "succeeded", "revert", "failed"]
    reason: str


def start(app: JsonDict, deployment_id: str, version: str, now: float) -> FollowState:
    """The state right after the PUT that created ``deployment_id``."""
    return FollowState(
        app_id=str(app["id"]),
        deployment_id=deployment_id,
        version=version,
        target=int(app.get("instances", 1)),
        health_checked=bool(app.get("healthChecks")),
        last_progress=now,
    )


def _progress(state: FollowState, before: int, now: float) -> FollowState:
    low = state.capacity
    if state.lowest_healthy is not None:
        low = min(low, state.lowest_healthy)
    moved = state.ready > before
    return replace(
        state, lowest_healthy=low, last_progress=now if moved else state.last_progress
    )


def fold_event(state: FollowState, event: JsonDict, now: float) -> FollowState:
    """``state`` after one Marathon event (others' apps are ignored)."""
    kind = event.get("eventType")
    if kind in ("deployment_success", "deployment_failed"):
        if event.get("id") != state.deployment_id:
            return state
        if kind == "deployment_success":
            return replace(state, done=True)
        return replace(state, ended_by_marathon="Marathon reported it failed")
    if event.get("appId") != state.app_id:
        return state
    before = state.ready
    state = replace(state, events=state.events + 1)
    if kind == "status_update_event":
        state = _fold_status(state, event)
    elif kind == "health_status_changed_event":
        state = _fold_health(state, event)
    elif kind == "unhealthy_task_kill_event" and event.get("version") == state.version:
        entry = (str(event.get("taskId")), str(event.get("reason", "unhealthy")))
        if entry not in state.unhealthy_kills:
            state = replace(state, unhealthy_kills=(*state.unhealthy_kills, entry))
    return _progress(state, before, now)


def _fold_status(state: FollowState, event: JsonDict) -> FollowState:
    task, status = str(event.get("taskId")), str(event.get("taskStatus"))
    if event.get("version") != state.version:
        return state
    if status == "TASK_RUNNING":
        return replace(state, running=state.running | {task})
    if status not in TERMINAL:
        return state
    state = replace(
        state, running=state.running - {task}, healthy=state.healthy - {task}
    )
    if status in ("TASK_KILLED", "TASK_FINISHED") or any(
        t == task for t, _ in state.failed
    ):
        return state  # killed by Marathon (scale-down, rollback) is not a failure
    why = f"{status}: {event.get('message') or 'no message'}"
    return replace(state, failed=(*state.failed, (task, why)))


def _fold_health(state: FollowState, event: JsonDict) -> FollowState:
    task = str(event.get("taskId") or event.get("instanceId"))
    if event.get("version") not in (None, state.version):
        return state
    if event.get("alive"):
        return replace(state, healthy=state.healthy | {task})
    return replace(state, healthy=state.healthy - {task})


def fold_snapshot(
    state: FollowState, app: JsonDict, deployment_ids: list[str] | None, now: float
) -> FollowState:
    """``state`` after a GET of the app with its tasks (authoritative counts)."""
    before = state.ready
    running, healthy, old_healthy = set(), set(), 0
    for task in app.get("tasks", []):
        alive = _alive(task, state.health_checked)
        if task.get("version") != state.version:
            old_healthy += bool(alive)
            continue
        if task.get("state", "TASK_RUNNING") == "TASK_RUNNING":
            running.add(str(task["id"]))
        if alive:
            healthy.add(str(task["id"]))
    state = replace(
        state,
        running=frozenset(running),
        healthy=frozenset(healthy),
        old_healthy=old_healthy,
        target=int(app.get("instances", state.target)),
    )
    if deployment_ids is not None and state.deployment_id not in deployment_ids:
        state = replace(state, done=True)
    state = _fold_last_failure(state, app.get("lastTaskFailure"))
    return _progress(state, before, now)


def _alive(task: JsonDict, checked: bool) -> bool:
    if task.get("state", "TASK_RUNNING") != "TASK_RUNNING":
        return False
    results = task.get("healthCheckResults") or []
    if not checked:
        return True
    return bool(results) and all(r.get("alive") for r in results)


def _fold_last_failure(state: FollowState, failure: JsonDict | None) -> FollowState:
    if not failure or failure.get("version") != state.version:
        return state
    task = str(failure.get("taskId"))
    if any(t == task for t, _ in state.failed):
        return state
    why = f"{failure.get('state')}: {failure.get('message') or 'no message'}"
    return replace(state, failed=(*state.failed, (task, why)))


def decide(state: FollowState, policy: FollowPolicy, now: float) -> Decision:
    """What to do now about the deployment ``state`` describes."""
    progress = f"{state.ready}/{state.target} new instance(s) ready"
    if state.ended_by_marathon:
        return Decision(
            "failed",
            f"deployment {state.deployment_id} ended without us: "
            f"{state.ended_by_marathon} (cancelled or superseded by a forced "
            "change); not reverting someone else's change, see 'apps status'",
        )
    if state.done and state.ready >= state.target:
        return Decision("succeeded", f"deployment finished, {progress}")
    if state.unhealthy_kills:
        task, why = state.unhealthy_kills[0]
        return Decision(
            "revert", f"new-version task {task} was killed as unhealthy ({why})"
        )
    if len(state.failed) >= policy.max_failures:
        task, why = state.failed[-1]
        return Decision(
            "revert",
            f"{len(state.failed)} new-version tasks failed (last: {task}, {why})",
        )
    stalled = now - state.last_progress
    if stalled >= policy.progress_deadline:
        return Decision(
            "revert",
            f"progress deadline: no new instance became ready for "
            f"{stalled:.0f}s (limit {policy.progress_deadline:g}s), {progress}",
        )
    return Decision("wait", progress)
