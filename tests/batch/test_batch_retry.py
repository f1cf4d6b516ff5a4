"""Retry decisions: counted failures, infrastructure losses, user kills, backoff."""

from __future__ import annotations

import pytest

from framework.batch.retry import (
    INFRA_BACKOFF_CAP,
    MAX_INFRA_RETRIES,
    Attempt,
    Finished,
    GiveUp,
    Outcome,
    Retry,
    backoff,
    classify,
    decide,
)
from framework.batch.spec import RetrySpec

POLICY = RetrySpec(max_attempts=3, backoff_seconds=5, backoff_factor=2)


def failed(at: float, reason: str | None = None) -> Attempt:
    return Attempt("TASK_FAILED", ended_at=at, reason=reason)


def lost(at: float, reason: str = "REASON_AGENT_REMOVED") -> Attempt:
    return Attempt("TASK_LOST", ended_at=at, reason=reason)


def test_failure_retries_after_base_backoff() -> None:
    assert decide([failed(100)], POLICY) == Retry(
        at=105, counted_failures=1, infra=False
    )


def test_backoff_grows_exponentially() -> None:
    decision = decide([failed(0), failed(10)], POLICY)
    assert decision == Retry(at=20, counted_failures=2, infra=False)


def test_gives_up_after_max_attempts_failures() -> None:
    decision = decide(
        [failed(0), failed(10), failed(20, "REASON_COMMAND_EXECUTOR_FAILED")], POLICY
    )
    assert isinstance(decision, GiveUp)
    assert "failed 3 times" in decision.reason
    assert "REASON_COMMAND_EXECUTOR_FAILED" in decision.reason


def test_backoff_is_capped() -> None:
    policy = RetrySpec(max_attempts=50, backoff_seconds=5, max_backoff_seconds=60)
    assert backoff(10, policy) == 60
    assert backoff(10_000, policy) == 60  # no float overflow
    history = [failed(i) for i in range(20)]
    decision = decide(history, policy)
    assert decision == Retry(at=19 + 60, counted_failures=20, infra=False)


@pytest.mark.parametrize(
    "attempt",
    [
        lost(0, "REASON_AGENT_REMOVED"),
        lost(0, "REASON_AGENT_DISCONNECTED"),
        lost(0, "REASON_AGENT_RESTARTED"),
        lost(0, "REASON_INVALID_OFFERS"),
        lost(0, "REASON_RECONCILIATION"),
        lost(0, "REASON_MASTER_DISCONNECTED"),
        lost(0, "REASON_SLAVE_REMOVED"),
        Attempt("TASK_LOST", ended_at=0),
        Attempt("TASK_FAILED", ended_at=0, reason="REASON_CONTAINER_LAUNCH_FAILED"),
        Attempt("TASK_DROPPED", ended_at=0),
        Attempt("TASK_GONE", ended_at=0, reason="REASON_AGENT_REMOVED"),
        Attempt("TASK_GONE_BY_OPERATOR", ended_at=0),
        Attempt("TASK_UNREACHABLE", ended_at=0, reason="REASON_AGENT_DISCONNECTED"),
    ],
)
def test_infrastructure_endings_are_classified_infra(attempt: Attempt) -> None:
    assert classify(attempt) is Outcome.INFRA


def test_infrastructure_failures_do_not_count_against_max_attempts() -> None:
    history = [failed(0), failed(10), lost(20), lost(30), lost(40)]
    decision = decide(history, POLICY)
    assert isinstance(decision, Retry)
    assert decision.counted_failures == 2 and decision.infra


def test_infrastructure_backoff_is_small_and_capped() -> None:
    policy = RetrySpec(backoff_seconds=5, backoff_factor=2, max_backoff_seconds=300)
    first = decide([lost(100)], policy)
    assert first == Retry(at=105, counted_failures=0, infra=True)
    many = decide([lost(i) for i in range(10)], policy)
    assert isinstance(many, Retry) and many.at == 9 + INFRA_BACKOFF_CAP


def test_infra_backoff_restarts_after_a_real_failure() -> None:
    decision = decide([lost(0), lost(1), lost(2), failed(3), lost(4)], POLICY)
    assert decision == Retry(at=4 + 5, counted_failures=1, infra=True)


def test_endless_infrastructure_losses_eventually_give_up() -> None:
    history = [lost(i) for i in range(MAX_INFRA_RETRIES + 1)]
    assert isinstance(decide(history, POLICY), GiveUp)


def test_user_kill_is_not_retried() -> None:
    kill = Attempt("TASK_KILLED", ended_at=0, killed_by="user")
    decision = decide([kill], POLICY)
    assert isinstance(decision, GiveUp) and "killed by the user" in decision.reason


def test_max_runtime_kill_counts_as_a_failure() -> None:
    timeout = Attempt("TASK_KILLED", ended_at=0, killed_by="max_runtime")
    assert decide([timeout], POLICY) == Retry(at=5, counted_failures=1, infra=False)
    final = decide([timeout, timeout, timeout], POLICY)
    assert isinstance(final, GiveUp) and "max_runtime" in final.reason


def test_mesos_max_completion_time_counts_as_a_failure() -> None:
    attempt = failed(0, "REASON_MAX_COMPLETION_TIME_REACHED")
    assert classify(attempt) is Outcome.FAILURE


def test_kill_without_known_cause_counts_as_a_failure() -> None:
    assert classify(Attempt("TASK_KILLED", ended_at=0)) is Outcome.FAILURE


def test_task_error_gives_up_at_once() -> None:
    decision = decide([Attempt("TASK_ERROR", ended_at=0)], POLICY)
    assert isinstance(decision, GiveUp) and "fix the job spec" in decision.reason


def test_finished_task_needs_no_retry() -> None:
    assert (
        decide([failed(0), Attempt("TASK_FINISHED", ended_at=9)], POLICY) == Finished()
    )


def test_empty_history_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        decide([], POLICY)
