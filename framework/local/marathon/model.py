"""The local Marathon's state records, timing knobs and timestamp format.

Apps are kept as normalised app-definition dicts (the JSON Marathon stores
and echoes back, see ``validation``); every version of an app is kept so a
rollback can find it. Tasks and deployments are small mutable records owned
by ``core.MarathonCore`` and touched only under its lock.

Invariants: a version string is ``YYYY-MM-DDTHH:MM:SS.fffZ`` (UTC, the only
form marathon-python parses) and versions of one stand-in strictly increase;
a task's ``config_version`` is the app's ``lastConfigChangeAt`` it was
launched from, which is what decides whether a rolling restart replaces it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from framework import taskstates
from framework.ids import AgentId, AppId, DeploymentId, TaskId

JsonDict = dict[str, Any]

TERMINAL_STATES = taskstates.ENDED_STATES
STAGED_STATES = frozenset({"TASK_STAGING", "TASK_STARTING"})
#: Our own first state, before Mesos confirms anything (Marathon's "Created").
LAUNCHED = "TASK_STAGING"


@dataclass(frozen=True)
class MarathonTiming:
    """How fast the stand-in reacts; tests shrink these, values are seconds.

    ``time_scale`` multiplies every duration taken from an app definition
    (health-check grace/interval/timeout, backoff seconds and cap, kill grace)
    so tests keep valid integer app JSON and still run in a fraction of the
    time. Real Marathon has no such knob (a documented local deviation).
    """

    tick_interval: float = 0.5
    revive_interval: float = 2.0
    refuse_seconds: float = 5.0
    time_scale: float = 1.0
    #: A deployment appears in /v2/deployments for at least this long, so a
    #: client polling right after a change sees it (marathon-python's itest).
    min_deployment_seconds: float = 0.0


def format_ts(epoch: float) -> str:
    """``2024-05-01T12:00:00.123Z`` for an epoch time (UTC, milliseconds)."""
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_ts(text: str) -> float:
    """The epoch time of a version string (ValueError if malformed)."""
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            moment = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return moment.replace(tzinfo=dt.UTC).timestamp()
    raise ValueError(f"not a Marathon timestamp: {text!r}")


def task_id_prefix(app_id: AppId) -> str:
    """``/team/web`` -> ``team_web``, the part of a task id before the dot."""
    return app_id.lstrip("/").replace("/", "_")


@dataclass
class HealthState:
    """What Marathon knows about one health check of one task."""

    alive: bool = False
    consecutive_failures: int = 0
    first_success: float | None = None
    last_success: float | None = None
    last_failure: float | None = None
    last_failure_cause: str | None = None
    checked: bool = False  # a result (not ignored for grace) was recorded

    def to_json(self) -> JsonDict:
        return {
            "alive": self.alive,
            "consecutiveFailures": self.consecutive_failures,
            "firstSuccess": self.first_success,
            "lastSuccess": self.last_success,
            "lastFailure": self.last_failure,
            "lastFailureCause": self.last_failure_cause,
            "checked": self.checked,
        }

    @classmethod
    def from_json(cls, raw: JsonDict) -> HealthState:
        return cls(
            alive=bool(raw.get("alive")),
            consecutive_failures=int(raw.get("consecutiveFailures", 0)),
            first_success=raw.get("firstSuccess"),
            last_success=raw.get("lastSuccess"),
            last_failure=raw.get("lastFailure"),
            last_failure_cause=raw.get("lastFailureCause"),
            checked=bool(raw.get("checked")),
        )


@dataclass
class TaskRecord:
    """One instance of an app as Marathon tracks it."""

    task_id: TaskId
    app_id: AppId
    version: str  # the app version it was launched from
    config_version: str  # that version's lastConfigChangeAt
    agent_id: AgentId
    host: str
    ports: list[int]
    service_ports: list[int]
    env: dict[str, str]
    staged_at: float
    state: str = LAUNCHED
    started_at: float | None = None
    killing: bool = False
    kill_sent: float = 0.0
    fields: dict[str, str] = field(default_factory=dict)  # hostname, attributes
    health: list[HealthState] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.state == "TASK_RUNNING"

    def to_json(self) -> JsonDict:
        out = {k: v for k, v in vars(self).items() if k != "health"}
        out["health"] = [h.to_json() for h in self.health]
        return out

    @classmethod
    def from_json(cls, raw: JsonDict) -> TaskRecord:
        values = dict(raw)
        values["health"] = [HealthState.from_json(h) for h in raw.get("health", [])]
        return cls(**values)


@dataclass
class AppRecord:
    """An app: its current definition, every version, backoff and failures."""

    app_id: AppId
    spec: JsonDict  # normalised; carries "version" and "versionInfo"
    versions: dict[str, JsonDict]
    last_task_failure: JsonDict | None = None
    delay_seconds: float | None = None  # current backoff step, None = no delay
    not_before: float = 0.0  # no launch before this epoch time

    @property
    def version(self) -> str:
        return str(self.spec["version"])

    @property
    def config_version(self) -> str:
        return str(self.spec["versionInfo"]["lastConfigChangeAt"])

    def to_json(self) -> JsonDict:
        return dict(vars(self))

    @classmethod
    def from_json(cls, raw: JsonDict) -> AppRecord:
        return cls(**raw)


@dataclass
class DeploymentRecord:
    """A change in progress: which apps, which action, from what to what."""

    deployment_id: DeploymentId
    version: str
    actions: list[tuple[str, AppId]]
    original: dict[AppId, JsonDict | None]
    target: dict[AppId, JsonDict | None]
    started: float

    @property
    def app_ids(self) -> list[AppId]:
        return [app for _, app in self.actions]

    def to_json(self) -> JsonDict:
        out = dict(vars(self))
        out["actions"] = [list(a) for a in self.actions]
        return out

    @classmethod
    def from_json(cls, raw: JsonDict) -> DeploymentRecord:
        values = dict(raw)
        values["actions"] = [(a, AppId(b)) for a, b in raw["actions"]]
        return cls(**values)
