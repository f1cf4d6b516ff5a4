"""Retry or give up after a task ends: a pure function of its attempt history.

``decide(history, policy)`` looks at every finished attempt of one instance
and returns ``Retry(at=...)``, ``GiveUp(reason)`` or ``Finished``. Time is
given by the attempts (``ended_at``); nothing here reads a clock.

What an ending means (the first matching row wins):

==============================  ===========================  ==================
state                           reason / cause               outcome
==============================  ===========================  ==================
TASK_FINISHED                   any                          Finished
TASK_KILLED                     killed by the user           GiveUp, no retry
any                             killed for max_runtime       counts as failure
TASK_ERROR                      any                          GiveUp at once
                                                             (the TaskInfo is
                                                             invalid; resending
                                                             it cannot work)
TASK_DROPPED, TASK_GONE,        any                          infrastructure
TASK_GONE_BY_OPERATOR,
TASK_UNREACHABLE
TASK_LOST, TASK_FAILED,         an ``INFRA_REASONS`` reason  infrastructure
TASK_KILLED                     (agent removed, restarted,
                                disconnected, invalid
                                offers, container launch
                                failed, reconciliation,
                                master disconnected, ...)
TASK_LOST                       no reason                    infrastructure
TASK_FAILED, TASK_LOST,         anything else (incl.         counts as failure
TASK_KILLED                     REASON_MAX_COMPLETION_TIME_
                                REACHED)
==============================  ===========================  ==================

A counted failure uses up one of ``max_attempts``; after the last one, GiveUp.
Its backoff is ``backoff_seconds * backoff_factor ** (failures - 1)``, capped at
``max_backoff_seconds``. An infrastructure failure does not count, but still
backs off a little: the same formula over the current run of consecutive
infrastructure failures, capped at ``INFRA_BACKOFF_CAP`` seconds.

Invariant: a decision depends only on the history and the policy; the same
inputs give the same decision (the scheduler may recompute it after restart).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from framework.batch.spec import RetrySpec

INFRA_STATES = frozenset(
    {"TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNREACHABLE"}
)

INFRA_REASONS = frozenset(
    {
        "REASON_AGENT_REMOVED",
        "REASON_AGENT_REMOVED_BY_OPERATOR",
        "REASON_AGENT_DISCONNECTED",
        "REASON_AGENT_RESTARTED",
        "REASON_AGENT_REREGISTERED",
        "REASON_AGENT_UNKNOWN",
        "REASON_INVALID_OFFERS",
        "REASON_CONTAINER_LAUNCH_FAILED",
        "REASON_CONTAINER_PREEMPTED",
        "REASON_RECONCILIATION",
        "REASON_MASTER_DISCONNECTED",
        "REASON_RESOURCES_UNKNOWN",
        # Pre-1.0 masters still send the old names.
        "REASON_SLAVE_REMOVED",
        "REASON_SLAVE_DISCONNECTED",
        "REASON_SLAVE_RESTARTED",
        "REASON_SLAVE_UNKNOWN",
    }
)

#: Most seconds to wait after infrastructure failures, whatever the policy says.
INFRA_BACKOFF_CAP = 30.0

#: A safety net: a "launch failed" that is really a bad image would otherwise
#: retry forever without ever counting.
MAX_INFRA_RETRIES = 20

KillCause = Literal["user", "max_runtime"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt ended."""

    state: str  # terminal Mesos TaskState name, e.g. "TASK_FAILED"
    ended_at: float
    reason: str | None = None  # Mesos TaskStatus.Reason name
    killed_by: KillCause | None = None  # set when we asked for the kill


class Outcome(Enum):
    """What one attempt's ending means for retrying (see the module table)."""

    FINISHED = "finished"
    USER_KILLED = "killed by user"
    INVALID = "task invalid"
    INFRA = "infrastructure failure"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class Retry:
    """Launch a new attempt no earlier than ``at``."""

    at: float
    counted_failures: int
    infra: bool  # True when the last ending did not count


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Do not retry; ``reason`` is shown to the user."""

    reason: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The last attempt succeeded; nothing to retry."""


Decision = Retry | GiveUp | Finished


def classify(attempt: Attempt) -> Outcome:
    """The row of the module table that ``attempt`` falls in."""
    if attempt.state == "TASK_FINISHED":
        return Outcome.FINISHED
    if attempt.killed_by == "user":
        return Outcome.USER_KILLED
    if attempt.killed_by == "max_runtime":
        return Outcome.FAILURE
    if attempt.state == "TASK_ERROR":
        return Outcome.INVALID
    if attempt.state in INFRA_STATES or attempt.reason in INFRA_REASONS:
        return Outcome.INFRA
    if attempt.state == "TASK_LOST" and attempt.reason is None:
        return Outcome.INFRA
    return Outcome.FAILURE


def decide(history: Sequence[Attempt], policy: RetrySpec) -> Decision:
    """Retry or not after the last attempt of ``history`` (oldest first)."""
    if not history:
        raise ValueError("decide() needs at least one finished attempt")
    outcomes = [classify(attempt) for attempt in history]
    last, ended_at = outcomes[-1], history[-1].ended_at
    if last is Outcome.FINISHED:
        return Finished()
    if last is Outcome.USER_KILLED:
        return GiveUp("killed by the user; not retried")
    if last is Outcome.INVALID:
        return GiveUp(f"{history[-1].state}: the task is invalid; fix the job spec")
    failures = outcomes.count(Outcome.FAILURE)
    if last is Outcome.INFRA:
        return _after_infra(outcomes, failures, ended_at, policy)
    if failures >= policy.max_attempts:
        return GiveUp(
            f"failed {failures} times (max_attempts {policy.max_attempts}); "
            f"last: {_describe(history[-1])}"
        )
    return Retry(ended_at + backoff(failures, policy), failures, infra=False)


def _after_infra(
    outcomes: Sequence[Outcome], failures: int, ended_at: float, policy: RetrySpec
) -> Decision:
    infra_total = outcomes.count(Outcome.INFRA)
    if infra_total > MAX_INFRA_RETRIES:
        return GiveUp(
            f"lost to infrastructure failures {infra_total} times; giving up "
            "(check the agents and the container image)"
        )
    streak = _trailing(outcomes, Outcome.INFRA)
    delay = min(backoff(streak, policy), INFRA_BACKOFF_CAP)
    return Retry(ended_at + delay, failures, infra=True)


def backoff(n: int, policy: RetrySpec) -> float:
    """Seconds to wait after the ``n``-th failure (n >= 1), capped."""
    try:
        raw = policy.backoff_seconds * policy.backoff_factor ** max(0, n - 1)
    except OverflowError:
        return policy.max_backoff_seconds
    return min(raw, policy.max_backoff_seconds)


def _trailing(outcomes: Sequence[Outcome], kind: Outcome) -> int:
    count = 0
    for outcome in reversed(outcomes):
        if outcome is not kind:
            break
        count += 1
    return count


def _describe(attempt: Attempt) -> str:
    if attempt.killed_by == "max_runtime":
        return "killed after exceeding max_runtime"
    return attempt.state + (f" ({attempt.reason})" if attempt.reason else "")
