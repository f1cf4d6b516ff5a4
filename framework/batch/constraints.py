"""Marathon-style placement constraints, parsed and evaluated as pure functions.

A constraint is ``[field, OPERATOR, value?]`` where ``field`` is ``hostname`` or
the name of an agent attribute. The operators and the value each one takes are
Marathon's:

==========  ==============================  ====================================
operator    value                           holds on an agent when
==========  ==============================  ====================================
UNIQUE      none                            no task of the job has this value
CLUSTER     optional                        the value equals ``value`` or, when
                                            absent, the value the job's first
                                            task landed on
GROUP_BY    none or an int (groups)         the value holds the fewest tasks of
                                            the job among the groups
MAX_PER     int, required                   fewer than ``value`` tasks of the job
                                            have this value
LIKE        regex, required                 the value matches (whole string)
UNLIKE      regex, required                 the value does not match
IS          ``^[a-zA-Z0-9_/.-]*$``          the value equals ``value``
==========  ==============================  ====================================

An agent without the attribute meets only ``UNLIKE`` (as in Marathon).

Invariants: evaluation never mutates its inputs except ``JobPlacements.add``;
an unmet constraint always comes with a reason a user can read, naming the
constraint, the agent and the value seen. ``is_static`` constraints depend on
the agent alone, so callers may cache their result per agent.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

OPERATORS: tuple[str, ...] = (
    "UNIQUE",
    "CLUSTER",
    "GROUP_BY",
    "MAX_PER",
    "LIKE",
    "UNLIKE",
    "IS",
)

#: Operators whose outcome depends on where the job's other tasks are.
DYNAMIC_OPERATORS = frozenset({"UNIQUE", "GROUP_BY", "MAX_PER"})

_IS_VALUE = re.compile(r"^[a-zA-Z0-9_/.-]*$")


class ConstraintSyntaxError(ValueError):
    """A constraint is malformed; ``position`` is the bad element (0, 1 or 2)."""

    def __init__(self, position: int | None, message: str) -> None:
        super().__init__(message)
        self.position = position
        self.message = message


@dataclass(frozen=True, slots=True)
class Constraint:
    """One parsed constraint; build it with ``parse_constraint``."""

    field: str
    operator: str
    value: str | None = None

    @property
    def is_static(self) -> bool:
        """True when the outcome depends on the agent alone, not on placements."""
        if self.operator == "CLUSTER":
            return self.value is not None
        return self.operator not in DYNAMIC_OPERATORS

    def __str__(self) -> str:
        parts = [self.field, self.operator]
        if self.value is not None:
            parts.append(self.value)
        return "[" + ", ".join(parts) + "]"


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """What constraints look at on an agent."""

    agent_id: str
    hostname: str
    attributes: Mapping[str, str] = field(default_factory=dict)


def parse_constraint(raw: object) -> Constraint:
    """Validate a ``[field, OPERATOR, value?]`` list as Marathon does.

    The operator is upper-cased. Numbers given as values (``["rack", "MAX_PER",
    2]``) are accepted and kept as strings. Raises ``ConstraintSyntaxError``.
    """
    if isinstance(raw, Constraint):
        return raw
    if not isinstance(raw, list | tuple) or not 2 <= len(raw) <= 3:
        raise ConstraintSyntaxError(
            None,
            "a constraint is a list [field, OPERATOR] or [field, OPERATOR, value],"
            f" got {raw!r}; e.g. [hostname, UNIQUE] or [rack, MAX_PER, 2]",
        )
    name, operator = raw[0], raw[1]
    if not isinstance(name, str) or not name:
        raise ConstraintSyntaxError(
            0, "the field must be 'hostname' or an agent attribute name; set it"
        )
    if not isinstance(operator, str) or operator.upper() not in OPERATORS:
        raise ConstraintSyntaxError(
            1, f"unknown operator {operator!r}; use one of {', '.join(OPERATORS)}"
        )
    value = _value_text(raw[2]) if len(raw) == 3 else None
    operator = operator.upper()
    _check_value(operator, value)
    return Constraint(field=name, operator=operator, value=value)


def _value_text(value: object) -> str:
    """The constraint value as text; ints are allowed for GROUP_BY/MAX_PER."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConstraintSyntaxError(
            2, f"the value must be a string or an integer, got {value!r}"
        )
    return str(value)


def _check_value(operator: str, value: str | None) -> None:
    """Raise when ``value`` is not what ``operator`` takes (see module table)."""
    if operator == "UNIQUE" and value is not None:
        raise ConstraintSyntaxError(2, "UNIQUE takes no value; remove it")
    if operator == "GROUP_BY" and value not in (None, "") and not _is_int(value):
        raise ConstraintSyntaxError(
            2, f"GROUP_BY takes nothing or a number of groups, got {value!r}"
        )
    if operator == "MAX_PER" and (value is None or not _is_int(value)):
        raise ConstraintSyntaxError(
            2, "MAX_PER needs a positive integer value, e.g. [rack, MAX_PER, 2]"
        )
    if operator in ("LIKE", "UNLIKE"):
        _check_regex(operator, value)
    if operator == "IS" and (value is None or not _IS_VALUE.match(value)):
        raise ConstraintSyntaxError(
            2,
            "IS needs a value matching ^[a-zA-Z0-9_/.-]*$ (letters, digits, "
            f"'_', '/', '.', '-'), got {value!r}",
        )


def _check_regex(operator: str, value: str | None) -> None:
    if value is None:
        raise ConstraintSyntaxError(
            2, f"{operator} needs a regular expression value, e.g. [rack, LIKE, r1.*]"
        )
    try:
        re.compile(value)
    except re.error as error:
        raise ConstraintSyntaxError(
            2, f"{operator} value {value!r} is not a valid regex ({error}); fix it"
        ) from None


def _is_int(value: str) -> bool:
    return value.isdigit() and int(value) >= 1


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def agent_value(constraint_field: str, agent: AgentInfo) -> str | None:
    """The value ``constraint_field`` has on ``agent``; None when absent."""
    if constraint_field == "hostname":
        return agent.hostname
    return agent.attributes.get(constraint_field)


class JobPlacements:
    """Where a job's tasks already are: per constrained field, tasks per value.

    Built from the agents running (or just planned for) the job's tasks; the
    planner calls ``add`` after each placement it makes.

    ``group_counts`` says how many distinct values each field has across the
    cluster (as far as the caller knows); GROUP_BY without a value spreads over
    that many groups.
    """

    __slots__ = ("counts", "fields", "group_counts")

    def __init__(
        self,
        fields: Iterable[str],
        agents: Iterable[AgentInfo] = (),
        group_counts: Mapping[str, int] | None = None,
    ) -> None:
        self.fields = tuple(dict.fromkeys(fields))
        self.counts: dict[str, Counter[str]] = {f: Counter() for f in self.fields}
        self.group_counts = dict(group_counts or {})
        for agent in agents:
            self.add(agent)

    def add(self, agent: AgentInfo) -> None:
        """Count one more task of the job on ``agent``."""
        for name in self.fields:
            value = agent_value(name, agent)
            if value is not None:
                self.counts[name][value] += 1


def unmet_reason(
    constraint: Constraint, agent: AgentInfo, placed: JobPlacements | None = None
) -> str | None:
    """Why ``constraint`` does not hold on ``agent``; None when it holds.

    ``placed`` is needed for the dynamic operators (UNIQUE, GROUP_BY, MAX_PER,
    CLUSTER without value); without it they see a job with no tasks yet.
    """
    value = agent_value(constraint.field, agent)
    if value is None:
        if constraint.operator == "UNLIKE":
            return None
        return f"{constraint}: agent {agent.hostname} has no {constraint.field!r}"
    counts: Counter[str] | None = None
    groups = 0
    if placed is not None:
        counts = placed.counts.get(constraint.field)
        groups = placed.group_counts.get(constraint.field, 0)
    check = _CHECKS[constraint.operator]
    problem = check(constraint, value, counts or Counter(), groups)
    if problem is None:
        return None
    if constraint.field == "hostname":
        return f"{constraint}: host {value} {problem}"
    return f"{constraint}: {constraint.field}={value} on {agent.hostname} {problem}"


def unmet_reasons(
    constraints: Sequence[Constraint],
    agent: AgentInfo,
    placed: JobPlacements | None = None,
) -> str | None:
    """The first unmet constraint's reason, or None when all hold."""
    for constraint in constraints:
        reason = unmet_reason(constraint, agent, placed)
        if reason is not None:
            return reason
    return None


def _unique(c: Constraint, value: str, counts: Counter[str], groups: int) -> str | None:
    if counts[value]:
        return "already runs a task of this job"
    return None


def _cluster(
    c: Constraint, value: str, counts: Counter[str], groups: int
) -> str | None:
    if c.value is not None:
        return None if value == c.value else f"is not {c.value}"
    used = [v for v, n in counts.items() if n]
    if used and value != used[0]:
        return f"differs from {used[0]}, where the job's tasks are"
    return None


# TODO(group_by): without a value, the groups are the values the caller knows
# (offered and running agents); an idle rack that sends no offer is not a group.
def _group_by(
    c: Constraint, value: str, counts: Counter[str], groups: int
) -> str | None:
    groups = int(c.value) if c.value else groups
    seen = [n for n in counts.values() if n]
    floor = min(seen) if seen and len(seen) >= groups else 0
    if counts[value] > floor:
        return f"holds {counts[value]} tasks of this job; another group holds {floor}"
    return None


def _max_per(
    c: Constraint, value: str, counts: Counter[str], groups: int
) -> str | None:
    limit = int(c.value or 0)
    if counts[value] >= limit:
        return f"already holds {counts[value]} tasks of this job (max {limit})"
    return None


def _like(c: Constraint, value: str, counts: Counter[str], groups: int) -> str | None:
    if _regex(c.value or "").fullmatch(value):
        return None
    return f"does not match {c.value}"


def _unlike(c: Constraint, value: str, counts: Counter[str], groups: int) -> str | None:
    if _regex(c.value or "").fullmatch(value):
        return f"matches {c.value}"
    return None


def _is(c: Constraint, value: str, counts: Counter[str], groups: int) -> str | None:
    return None if value == c.value else f"is not {c.value}"


_CHECKS = {
    "UNIQUE": _unique,
    "CLUSTER": _cluster,
    "GROUP_BY": _group_by,
    "MAX_PER": _max_per,
    "LIKE": _like,
    "UNLIKE": _unlike,
    "IS": _is,
}
