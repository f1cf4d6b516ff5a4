"""Pending queue order (weighted DRF, priority, age) and fits_anywhere."""

from __future__ import annotations

import pytest

from framework.batch.placement import TaskRequest
from framework.batch.queue import dominant_share, fits_anywhere, order_pending
from framework.batch.resources import Resources
from framework.batch.spec import parse_job_spec
from framework.ids import JobId, TaskId, TeamName

TOTALS = Resources(cpus=100, mem=1000)


def task(
    name: str,
    team: str,
    *,
    cpus: float = 1,
    mem: float = 10,
    priority: int = 0,
    at: float = 0,
) -> TaskRequest:
    return TaskRequest(
        TaskId(name),
        JobId(name.split(".")[0]),
        TeamName(team),
        Resources(cpus, mem),
        priority=priority,
        submitted_at=at,
    )


def names(tasks: list[TaskRequest]) -> list[str]:
    return [t.task_id for t in tasks]


def test_dominant_share_is_the_largest_share_over_resources() -> None:
    assert dominant_share(Resources(cpus=10, mem=500), TOTALS) == 0.5
    assert dominant_share(Resources(gpus=1), TOTALS) == 0.0  # no gpus in cluster


def test_team_with_lower_dominant_share_goes_first() -> None:
    pending = [task("a.0", "big"), task("b.0", "small")]
    usage = {TeamName("big"): Resources(cpus=50), TeamName("small"): Resources(mem=100)}
    assert names(order_pending(pending, usage, TOTALS, {})) == ["b.0", "a.0"]


def test_drf_interleaves_teams_as_tasks_are_charged() -> None:
    pending = [task(f"a.{i}", "a", cpus=10) for i in range(3)]
    pending += [task(f"b.{i}", "b", mem=100) for i in range(3)]
    order = names(order_pending(pending, {}, TOTALS, {}))
    assert order == ["a.0", "b.0", "a.1", "b.1", "a.2", "b.2"]


def test_weight_two_team_gets_twice_the_share_before_waiting() -> None:
    pending = [task(f"a.{i}", "a", cpus=10) for i in range(4)]
    pending += [task(f"b.{i}", "b", cpus=10) for i in range(2)]
    order = names(order_pending(pending, {}, TOTALS, {TeamName("a"): 2.0}))
    assert order == ["a.0", "b.0", "a.1", "a.2", "b.1", "a.3"]


def test_within_a_team_higher_priority_then_older_goes_first() -> None:
    pending = [
        task("new.0", "t", at=5),
        task("old.0", "t", at=1),
        task("urgent.0", "t", priority=9, at=9),
    ]
    assert names(order_pending(pending, {}, TOTALS)) == ["urgent.0", "old.0", "new.0"]


def test_equal_shares_fall_back_to_priority_then_age_across_teams() -> None:
    pending = [
        task("x.0", "x", at=2),
        task("y.0", "y", at=1),
        task("z.0", "z", priority=1),
    ]
    assert names(order_pending(pending, {}, TOTALS)) == ["z.0", "y.0", "x.0"]


def test_order_is_a_permutation_of_the_input() -> None:
    pending = [task(f"j{i % 3}.{i}", f"t{i % 4}", at=i) for i in range(20)]
    assert sorted(names(order_pending(pending, {}, TOTALS))) == sorted(names(pending))


def test_non_positive_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="weights must be > 0"):
        order_pending([task("a.0", "a")], {}, TOTALS, {TeamName("a"): 0})


SPEC = "id: big\nteam: t\ncommand: x\nresources: {cpus: %s, mem: %s, gpus: %s}\n"
AGENTS = {
    "node-1": Resources(cpus=32, mem=65536, gpus=0, ports=1000),
    "node-2": Resources(cpus=16, mem=262144, gpus=4, ports=1000),
}


def test_job_that_fits_some_agent_is_accepted() -> None:
    assert (
        fits_anywhere(parse_job_spec(SPEC % (16, 1000, 2), source="x"), AGENTS) is None
    )


def test_job_too_big_for_every_agent_names_resource_and_largest_agent() -> None:
    reason = fits_anywhere(parse_job_spec(SPEC % (64, 1000, 0), source="x"), AGENTS)
    assert reason is not None
    assert reason.startswith("resources.cpus: a task needs 64 cpus")
    assert "largest agent, node-1, has 32" in reason


def test_job_too_big_in_gpus_names_gpus() -> None:
    reason = fits_anywhere(parse_job_spec(SPEC % (1, 1000, 8), source="x"), AGENTS)
    assert reason is not None and "resources.gpus" in reason and "node-2" in reason


def test_job_fitting_each_resource_somewhere_but_nowhere_at_once() -> None:
    reason = fits_anywhere(parse_job_spec(SPEC % (32, 100000, 0), source="x"), AGENTS)
    assert reason is not None and "at once" in reason


def test_no_agents_known_is_a_reason_not_a_crash() -> None:
    assert fits_anywhere(parse_job_spec(SPEC % (1, 1, 0), source="x"), {}) is not None
