"""Canary releases: the canary app's definition and the step machine.

The new version runs as a separate app ``<stable id>-canary`` beside the
stable one, both under one Consul service name. Labels carry the contract
with the Consul sync (framework/consul_sync/labels.py):

* ``consul.name``: the shared service name (default from the stable id,
  ``/team/web`` -> ``team-web``);
* ``mesos-adapter.canary``: ``true`` on the canary app (tag ``canary``);
* ``mesos-adapter.weight``: the canary's traffic share in percent at the
  current step (1..100); the stable app keeps its own weight label;
* ``mesos-adapter.stable-app``: the stable app id, so ``promote``/``abort``
  by hand can find it.

Changing a label is a config change, and Marathon restarts tasks on it. We
accept that: the canary app's upgradeStrategy is 1.0/1.0, so each step's
relabel starts replacement canaries before stopping the old ones (no drop in
canary capacity), and a step's interval starts only once the relabelled
canaries are healthy again, which re-proves the new version at every step.

``decide(plan, state, obs)`` is the pure step machine: ``set_weight`` (enter
a step), ``wait``, ``advance``, ``promote`` or ``abort``, each with a reason.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Literal

from framework.marathon.spec import JsonDict

NAME_LABEL = "consul.name"
CANARY_LABEL = "mesos-adapter.canary"
WEIGHT_LABEL = "mesos-adapter.weight"
STABLE_LABEL = "mesos-adapter.stable-app"
CANARY_SUFFIX = "-canary"


def service_name(app_id: str) -> str:
    """``/team/web`` -> ``team-web`` (the Consul sync's default)."""
    return app_id.strip("/").replace("/", "-")


def canary_id(stable_id: str) -> str:
    return stable_id.rstrip("/") + CANARY_SUFFIX


def stable_id_of(app_id: str) -> str:
    """The stable app id for either id (``/web-canary`` or ``/web``)."""
    return app_id.removesuffix(CANARY_SUFFIX)


def canary_app(new: JsonDict, instances: int, weight: int) -> JsonDict:
    """The canary app: the new version, its own id, canary labels."""
    stable = str(new["id"])
    app = copy.deepcopy(new)
    labels = dict(app.get("labels") or {})
    labels.setdefault(NAME_LABEL, service_name(stable))
    labels.update(
        {
            CANARY_LABEL: "true",
            WEIGHT_LABEL: str(weight),
            STABLE_LABEL: stable,
        }
    )
    app.update(
        id=canary_id(stable),
        instances=instances,
        labels=labels,
        upgradeStrategy={"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0},
    )
    for port in app.get("portDefinitions") or []:
        port["port"] = 0  # the canary gets its own service ports
    return app


def promoted_app(canary: JsonDict, stable: JsonDict | None) -> JsonDict:
    """The stable app's new definition: the canary's, with stable's identity."""
    app = {k: copy.deepcopy(v) for k, v in canary.items()}
    labels = dict(app.get("labels") or {})
    stable_id = labels.pop(STABLE_LABEL, stable_id_of(str(canary["id"])))
    labels.pop(WEIGHT_LABEL, None)
    labels[CANARY_LABEL] = "false"
    old_labels = (stable or {}).get("labels") or {}
    if WEIGHT_LABEL in old_labels:
        labels[WEIGHT_LABEL] = old_labels[WEIGHT_LABEL]
    app.update(id=stable_id, labels=labels)
    if stable is not None:
        app["instances"] = stable.get("instances", 1)
        app["upgradeStrategy"] = stable.get("upgradeStrategy", {})
        app["portDefinitions"] = stable.get(
            "portDefinitions", app.get("portDefinitions")
        )
    return app


def parse_steps(text: str) -> tuple[int, ...]:
    """``"5,25,100"`` -> (5, 25, 100); ValueError naming the fix otherwise."""
    try:
        steps = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--steps {text!r}: write percentages like 5,25,100") from None
    if not steps or any(not 1 <= s <= 100 for s in steps):
        raise ValueError(f"--steps {text!r}: each step must be 1..100")
    if list(steps) != sorted(set(steps)):
        raise ValueError(f"--steps {text!r}: steps must increase, e.g. 5,25,100")
    return steps


@dataclass(frozen=True)
class CanaryPlan:
    steps: tuple[int, ...]
    interval: float
    instances: int


@dataclass(frozen=True)
class CanaryState:
    step: int = 0  # index into plan.steps
    entered: bool = False  # the current step's weight is applied and healthy
    step_started: float = 0.0


@dataclass(frozen=True)
class CanaryObservation:
    now: float
    healthy: int  # healthy canary instances of the current canary version
    failures: tuple[str, ...] = ()  # canary tasks that failed or were killed
    check_ok: bool | None = None  # None: no --check given or not run yet
    check_detail: str = ""


@dataclass(frozen=True)
class CanaryDecision:
    kind: Literal["set_weight", "wait", "advance", "promote", "abort"]
    reason: str
    weight: int = 0


def decide(
    plan: CanaryPlan, state: CanaryState, obs: CanaryObservation
) -> CanaryDecision:
    """The next move of a canary release."""
    weight = plan.steps[state.step]
    if obs.failures:
        return CanaryDecision("abort", f"canary task failed: {obs.failures[0]}")
    if not state.entered:
        return CanaryDecision(
            "set_weight", f"step {state.step + 1}/{len(plan.steps)}: {weight}%", weight
        )
    if obs.now - state.step_started < plan.interval:
        left = plan.interval - (obs.now - state.step_started)
        return CanaryDecision("wait", f"{weight}% for {left:.0f}s more", weight)
    if obs.healthy < plan.instances:
        return CanaryDecision(
            "abort",
            f"only {obs.healthy}/{plan.instances} canaries healthy after "
            f"{plan.interval:g}s at {weight}%",
        )
    if obs.check_ok is False:
        return CanaryDecision("abort", f"check failed at {weight}%: {obs.check_detail}")
    passed = f"{plan.instances} canaries healthy for {plan.interval:g}s at {weight}%"
    if obs.check_ok:
        passed += f", check passed ({obs.check_detail})"
    if state.step + 1 >= len(plan.steps):
        return CanaryDecision("promote", passed, weight)
    return CanaryDecision("advance", passed, plan.steps[state.step + 1])


def after(state: CanaryState, decision: CanaryDecision, now: float) -> CanaryState:
    """The state once the executor carried out ``decision`` at ``now``."""
    if decision.kind == "set_weight":
        return replace(state, entered=True, step_started=now)
    if decision.kind == "advance":
        return CanaryState(step=state.step + 1, entered=False, step_started=now)
    return state
