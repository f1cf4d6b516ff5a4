"""Marathon constraint operators evaluated against agents and earlier placements."""

from __future__ import annotations

import pytest

from framework.batch.constraints import (
    AgentInfo,
    Constraint,
    ConstraintSyntaxError,
    JobPlacements,
    parse_constraint,
    unmet_reason,
    unmet_reasons,
)


def agent(host: str, **attributes: str) -> AgentInfo:
    return AgentInfo(f"id-{host}", host, attributes)


A1 = agent("a1", rack="r1", zone="z1")
A2 = agent("a2", rack="r1", zone="z2")
B1 = agent("b1", rack="r2", zone="z1")
NO_RACK = agent("c1")


def placed_on(constraint: Constraint, *agents: AgentInfo, groups: int = 0):
    return JobPlacements([constraint.field], agents, {constraint.field: groups})


def test_unique_hostname_refuses_a_host_already_used_by_the_job() -> None:
    c = parse_constraint(["hostname", "UNIQUE"])
    placed = placed_on(c, A1)
    reason = unmet_reason(c, A1, placed)
    assert reason is not None and "already runs a task of this job" in reason
    assert unmet_reason(c, A2, placed) is None


def test_unique_attribute_allows_one_task_per_value() -> None:
    c = parse_constraint(["rack", "UNIQUE"])
    assert unmet_reason(c, A2, placed_on(c, A1)) is not None
    assert unmet_reason(c, B1, placed_on(c, A1)) is None


def test_cluster_with_value_requires_that_value() -> None:
    c = parse_constraint(["rack", "CLUSTER", "r2"])
    assert unmet_reason(c, B1) is None
    assert "is not r2" in (unmet_reason(c, A1) or "")


def test_cluster_without_value_follows_the_first_task() -> None:
    c = parse_constraint(["rack", "CLUSTER"])
    assert unmet_reason(c, B1, placed_on(c)) is None
    assert unmet_reason(c, A2, placed_on(c, A1)) is None
    assert "differs from r1" in (unmet_reason(c, B1, placed_on(c, A1)) or "")


def test_group_by_sends_the_next_task_to_the_emptiest_group() -> None:
    c = parse_constraint(["zone", "GROUP_BY"])
    placed = placed_on(c, A1, groups=2)  # z1 has one task, z2 none
    assert unmet_reason(c, A2, placed) is None
    assert unmet_reason(c, B1, placed) is not None
    even = placed_on(c, A1, A2, groups=2)
    assert unmet_reason(c, B1, even) is None


def test_group_by_with_explicit_group_count_waits_for_unseen_groups() -> None:
    c = parse_constraint(["zone", "GROUP_BY", 3])
    placed = placed_on(c, A1, A2)  # z1 and z2 hold one each, z3 none yet
    assert unmet_reason(c, B1, placed) is not None
    assert unmet_reason(c, agent("d1", zone="z3"), placed) is None


def test_max_per_caps_tasks_per_value() -> None:
    c = parse_constraint(["rack", "MAX_PER", "2"])
    assert unmet_reason(c, A2, placed_on(c, A1)) is None
    reason = unmet_reason(c, A2, placed_on(c, A1, A1))
    assert reason is not None and "max 2" in reason


def test_like_matches_the_whole_value() -> None:
    c = parse_constraint(["rack", "LIKE", "r[12]"])
    assert unmet_reason(c, A1) is None
    assert unmet_reason(parse_constraint(["rack", "LIKE", "r"]), A1) is not None


def test_unlike_rejects_matching_values_and_accepts_missing_attribute() -> None:
    c = parse_constraint(["rack", "UNLIKE", "r1"])
    assert unmet_reason(c, A1) is not None
    assert unmet_reason(c, B1) is None
    assert unmet_reason(c, NO_RACK) is None


def test_is_requires_exact_value() -> None:
    c = parse_constraint(["zone", "IS", "z2"])
    assert unmet_reason(c, A2) is None
    assert unmet_reason(c, A1) is not None


@pytest.mark.parametrize("operator", ["UNIQUE", "CLUSTER", "LIKE", "IS", "MAX_PER"])
def test_missing_attribute_fails_every_operator_but_unlike(operator: str) -> None:
    value = {"LIKE": ".*", "IS": "x", "MAX_PER": "5", "CLUSTER": "x"}.get(operator)
    raw = ["rack", operator] + ([value] if value else [])
    reason = unmet_reason(parse_constraint(raw), NO_RACK)
    assert reason is not None and "has no 'rack'" in reason


def test_hostname_field_uses_the_agent_hostname() -> None:
    c = parse_constraint(["hostname", "LIKE", "a.*"])
    assert unmet_reason(c, A1) is None
    assert unmet_reason(c, B1) is not None


def test_first_unmet_reason_is_returned() -> None:
    cs = [
        parse_constraint(["rack", "IS", "r1"]),
        parse_constraint(["zone", "IS", "z9"]),
    ]
    reason = unmet_reasons(cs, A1)
    assert reason is not None and reason.startswith("[zone, IS, z9]")


def test_static_and_dynamic_constraints_are_told_apart() -> None:
    assert parse_constraint(["rack", "LIKE", "x"]).is_static
    assert parse_constraint(["rack", "CLUSTER", "x"]).is_static
    assert not parse_constraint(["rack", "CLUSTER"]).is_static
    assert not parse_constraint(["rack", "UNIQUE"]).is_static


def test_bool_value_is_a_syntax_error() -> None:
    with pytest.raises(ConstraintSyntaxError) as caught:
        parse_constraint(["rack", "MAX_PER", True])
    assert caught.value.position == 2
