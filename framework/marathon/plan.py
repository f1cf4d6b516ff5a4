"""What a deploy would change: field diff, rolling-update steps, cluster fit.

``diff_apps(old, new)`` compares two definitions after Marathon's defaults
are filled into both (so an unchanged default is not reported) and only over
the fields we manage (read-only fields like ``version`` or ``tasks`` never
show). ``rolling_steps`` simulates Marathon's task replacement under
``upgradeStrategy`` to say how many instances are replaced, in how many steps
and how many extra instances run at the peak. ``fits`` compares that peak
with the agents' free resources.

Invariants: pure; a new service port of 0 matches whatever port Marathon
assigned before (``0`` means "pick one"), so it is never a change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from framework.marathon.rules import AgentTotals
from framework.marathon.spec import FIELDS, JsonDict, with_defaults

# Fields whose change makes Marathon replace every task (anything but these).
NO_RESTART = frozenset({"instances"})


@dataclass(frozen=True)
class Change:
    path: str  # $.healthChecks[0].path
    old: Any  # _MISSING when added
    new: Any  # _MISSING when removed

    def line(self) -> str:
        if self.old is MISSING:
            return f"+ {self.path}: {_show(self.new)}"
        if self.new is MISSING:
            return f"- {self.path}: {_show(self.old)}"
        return f"~ {self.path}: {_show(self.old)} -> {_show(self.new)}"


class _Missing:
    def __repr__(self) -> str:
        return "(unset)"


MISSING: Any = _Missing()


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 70 else text[:67] + "..."


def comparable(app: JsonDict) -> JsonDict:
    """The managed fields of ``app`` with Marathon's defaults filled in."""
    filled = with_defaults({k: v for k, v in app.items() if k in FIELDS})
    return {k: filled[k] for k in FIELDS if k in filled}


def diff_apps(old: JsonDict | None, new: JsonDict) -> list[Change]:
    """Field-level changes from ``old`` (running) to ``new`` (the file)."""
    if old is None:
        return [Change("$", MISSING, "(new app)")]
    before, after = comparable(old), comparable(new)
    changes: list[Change] = []
    for key in FIELDS:
        _diff(f"$.{key}", before.get(key, MISSING), after.get(key, MISSING), changes)
    return changes


def _diff(path: str, old: Any, new: Any, out: list[Change]) -> None:
    if _same(path, old, new):
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            sub = (
                f"{path}.{key}"
                if key.replace("_", "").isalnum()
                else f"{path}[{key!r}]"
            )
            _diff(sub, old.get(key, MISSING), new.get(key, MISSING), out)
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            _diff(f"{path}[{index}]", a, b, out)
        return
    out.append(Change(path, old, new))


def _same(path: str, old: Any, new: Any) -> bool:
    if new == 0 and path.endswith((".port", ".servicePort")) and old is not MISSING:
        return True  # 0 = "Marathon picks"; the assigned port is not a change
    if isinstance(old, bool) or isinstance(new, bool):
        return old is new
    if isinstance(old, int | float) and isinstance(new, int | float):
        return math.isclose(old, new)
    return bool(old == new)


def carry_service_ports(old: JsonDict | None, body: JsonDict) -> JsonDict:
    """``body`` with port 0 replaced by the port Marathon assigned before."""
    if old is None or "portDefinitions" not in body:
        return body
    before = old.get("portDefinitions") or []
    ports = []
    for index, port in enumerate(body["portDefinitions"]):
        keep = before[index].get("port", 0) if index < len(before) else 0
        ports.append({**port, "port": port.get("port") or keep})
    return {**body, "portDefinitions": ports}


def restarts_tasks(changes: Sequence[Change]) -> bool:
    """True when a change makes Marathon replace running tasks."""
    return any(c.path.split(".")[1].split("[")[0] not in NO_RESTART for c in changes)


@dataclass(frozen=True)
class StepPlan:
    """How Marathon will move from ``old`` running instances to ``target``."""

    replaced: int  # old instances replaced by new-version ones
    started: int  # new-version instances started in total
    steps: int  # rounds of "start a batch, wait healthy, stop old"
    peak_extra: int  # most instances above today's count at any moment
    min_healthy: int  # fewest healthy instances at any moment
    notes: tuple[str, ...] = ()


def rolling_steps(
    old: int, target: int, min_health: float, over: float, *, restart: bool
) -> StepPlan:
    """Simulate Marathon's replacement of ``old`` tasks by ``target`` new ones."""
    if not restart:
        return StepPlan(
            0,
            max(0, target - old),
            1 if target != old else 0,
            max(0, target - old),
            min(old, target),
        )
    min_healthy = math.ceil(target * min_health)
    max_total = max(target, math.floor(target * (1 + over)))
    notes: list[str] = []
    running_old, new, steps, peak, lowest = old, 0, 0, old, old

    # Marathon first stops the old instances above the healthy minimum.
    running_old = min(running_old, max(min_healthy, 0))
    lowest = min(lowest, running_old)

    # Each round starts what capacity allows, then stops old ones it covers.
    while new < target:
        launch = min(target - new, max_total - running_old - new)
        if launch <= 0:
            notes.append(
                "minimumHealthCapacity 1 with no over-capacity: Marathon stops "
                "one old instance before each new one starts"
            )
            running_old -= 1
            lowest = min(lowest, running_old + new)
            launch = 1
        new += launch
        steps += 1
        peak = max(peak, running_old + new)
        running_old = min(running_old, max(0, min_healthy - new))
    return StepPlan(
        replaced=min(old, target) if old else 0,
        started=target,
        steps=steps,
        peak_extra=max(0, peak - old),
        min_healthy=lowest,
        notes=tuple(dict.fromkeys(notes)),
    )


@dataclass(frozen=True)
class Fit:
    fits: bool
    room: int  # instances of this size the free resources hold
    needed: int
    reason: str


def fits(app: JsonDict, needed: int, free: Sequence[AgentTotals]) -> Fit:
    """Whether ``needed`` more instances of ``app`` fit the free resources."""
    full = with_defaults(app)
    room = sum(_instances_on(full, agent) for agent in free)
    if needed <= room:
        reason = f"{needed} extra instance(s) needed, room for {room}"
        return Fit(True, room, needed, reason)
    reason = (
        f"{needed} extra instance(s) needed during the update but the free "
        f"resources hold {room}: the update would wait for resources"
    )
    return Fit(False, room, needed, reason)


def _instances_on(app: JsonDict, agent: AgentTotals) -> int:
    counts = []
    for name in ("cpus", "mem", "disk", "gpus"):
        want = float(app.get(name, 0) or 0)
        if want > 0:
            counts.append(math.floor(float(getattr(agent, name)) / want + 1e-9))
    return max(0, min(counts)) if counts else 0


def agent_free(agents: list[JsonDict]) -> list[AgentTotals]:
    """Free resources per agent: total minus allocated, offers counted free.

    Outstanding offers are counted as free: an offer not used is declined or
    rescinded, and Marathon itself holds offers it would use for this app.
    """
    out = []
    for agent in agents:
        amount = {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}
        for key, sign in (
            ("total_resources", 1.0),
            ("allocated_resources", -1.0),
            ("offered_resources", 1.0),
        ):
            for resource in agent.get(key, []):
                if resource.get("name") in amount:
                    value = float(resource.get("scalar", {}).get("value", 0.0))
                    amount[resource["name"]] += sign * value
        agent_id = str(agent.get("agent_info", {}).get("id", {}).get("value", "?"))
        out.append(AgentTotals(agent_id, **{k: max(0.0, v) for k, v in amount.items()}))
    return out
