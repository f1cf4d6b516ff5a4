"""Pure decisions: how many instances to launch and which to kill, per app.

One function, ``plan_app``, serves every deployment kind and the steady
state: start and scale are a restart with no old instances, stop is a target
of zero, a crashed task is a missing instance. Instances launched from the
app's current configuration are *new*, the others *old*; a new instance is
*ready* once running and healthy (running, if the app has no health checks).

Rolling restart rules (``upgradeStrategy``), as Marathon applies them:

* floor: keep at least ``ceil(minimumHealthCapacity * instances)`` ready
  instances, old and new together; an old instance that is not ready may
  always go, a ready one only while the floor holds without it;
* ceiling: at most ``floor((1 + maximumOverCapacity) * instances)`` live
  (not yet terminal) instances, including ones being killed;
* when neither a launch nor a kill is possible and nothing is in flight
  (``minimumHealthCapacity`` 1 with ``maximumOverCapacity`` 0), one old
  instance is killed anyway, as Marathon does, or the restart never ends.

Scale-down order: unready first, then ``killSelection`` (YOUNGEST_FIRST by
default). Nothing here reads a clock or touches a socket.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from framework.ids import TaskId
from framework.local.marathon.model import JsonDict

#: Fields whose change is *not* a configuration change (a scale or a no-op).
NON_CONFIG_FIELDS = ("instances", "version", "versionInfo")


@dataclass(frozen=True)
class InstanceView:
    """What the planner needs to know about one live task."""

    task_id: TaskId
    current: bool
    ready: bool
    staged_at: float
    killing: bool = False


@dataclass(frozen=True)
class AppPlan:
    launch: int
    kill: tuple[TaskId, ...]


@dataclass(frozen=True)
class Strategy:
    instances: int
    minimum_health_capacity: float = 1.0
    maximum_over_capacity: float = 1.0
    kill_selection: str = "YOUNGEST_FIRST"

    @classmethod
    def of(cls, spec: JsonDict) -> Strategy:
        upgrade = spec["upgradeStrategy"]
        return cls(
            int(spec["instances"]),
            float(upgrade["minimumHealthCapacity"]),
            float(upgrade["maximumOverCapacity"]),
            str(spec["killSelection"]),
        )

    @property
    def floor(self) -> int:
        return math.ceil(self.instances * self.minimum_health_capacity - 1e-9)

    @property
    def ceiling(self) -> int:
        return max(
            self.instances,
            math.floor(self.instances * (1 + self.maximum_over_capacity) + 1e-9),
        )


def kill_order(views: Sequence[InstanceView], selection: str) -> list[InstanceView]:
    """Which instances go first when some must: unready, then by selection."""
    youngest_first = selection != "OLDEST_FIRST"
    by_age = sorted(views, key=lambda v: v.staged_at, reverse=youngest_first)
    return sorted(by_age, key=lambda v: v.ready)


def plan_app(
    strategy: Strategy, views: Sequence[InstanceView], *, may_launch: bool
) -> AppPlan:
    """Launches and kills that move the app towards its target (see module)."""
    live = [v for v in views if not v.killing]
    new = [v for v in live if v.current]
    old = [v for v in live if not v.current]
    kills: list[InstanceView] = []

    # Too many new instances (scale down): drop the extras.
    surplus = len(new) - strategy.instances
    if surplus > 0:
        extras = kill_order(new, strategy.kill_selection)[:surplus]
        kills += extras
        new = [v for v in new if v not in extras]

    # Old instances go while the health floor holds without them.
    ready = sum(v.ready for v in new) + sum(v.ready for v in old)
    budget = ready - strategy.floor
    for view in kill_order(old, strategy.kill_selection):
        if not view.ready:
            kills.append(view)
        elif budget > 0:
            kills.append(view)
            budget -= 1

    # New instances fill the gap, within the over-capacity ceiling.
    missing = strategy.instances - len(new)
    room = strategy.ceiling - len(views)
    launch = max(0, min(missing, room)) if may_launch else 0

    # Marathon's escape from minHealth 1 / maxOver 0: replace one at a time.
    in_flight = any(v.killing for v in views) or any(not v.ready for v in new)
    if missing > 0 and room <= 0 and not kills and not in_flight and old:
        kills.append(kill_order(old, strategy.kill_selection)[0])
    return AppPlan(launch, tuple(v.task_id for v in kills))


def converged(strategy: Strategy, views: Sequence[InstanceView]) -> bool:
    """Exactly ``instances`` ready new instances and nothing else alive."""
    if any(v.killing or not v.current for v in views):
        return False
    return len(views) == strategy.instances and all(v.ready for v in views)


def is_config_change(before: JsonDict | None, after: JsonDict) -> bool:
    """True unless only ``instances`` (or nothing) differs."""
    if before is None:
        return True
    strip = [
        {k: v for k, v in s.items() if k not in NON_CONFIG_FIELDS}
        for s in (before, after)
    ]
    return strip[0] != strip[1]


def next_delay(spec: JsonDict, current: float | None) -> float:
    """The next launch delay after a task failure (seconds, unscaled)."""
    first = float(spec["backoffSeconds"])
    cap = float(spec["maxLaunchDelaySeconds"])
    if current is None:
        return min(first, cap)
    return min(current * float(spec["backoffFactor"]), cap)
