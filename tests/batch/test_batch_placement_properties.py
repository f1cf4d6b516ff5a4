"""Property tests of the planner's invariants on random offers and queues.

For any offers, queue, quotas and running tasks: no offer is over-committed,
no port is used twice or outside its offer, every placed task meets its
constraints, no team passes its quota, and a job left waiting for resources
really fits on no offer's leftovers.
"""

from __future__ import annotations

from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.batch.constraints import OPERATORS, AgentInfo, parse_constraint
from framework.batch.placement import (
    BinPack,
    NoFit,
    Offer,
    PlacementPlan,
    Quota,
    Spread,
    TaskRequest,
    plan_placements,
    verify_plan,
)
from framework.batch.resources import SCALARS, Resources, to_milli
from framework.ids import AgentId, JobId, OfferId, TaskId, TeamName

HOSTS = [f"h{i}" for i in range(6)]
CONSTRAINTS = [
    ["hostname", "UNIQUE"],
    ["rack", "UNIQUE"],
    ["rack", "MAX_PER", 2],
    ["rack", "GROUP_BY"],
    ["rack", "CLUSTER"],
    ["rack", "CLUSTER", "r1"],
    ["rack", "LIKE", "r[12]"],
    ["rack", "UNLIKE", "r1"],
    ["zone", "IS", "z1"],
    ["hostname", "MAX_PER", 3],
]


def tenths(lo: int, hi: int) -> st.SearchStrategy[float]:
    return st.integers(lo, hi).map(lambda n: n / 10)


@st.composite
def port_ranges(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    starts = sorted(draw(st.sets(st.integers(0, 9), max_size=3)))
    return tuple(
        (31000 + 10 * s, 31000 + 10 * s + draw(st.integers(0, 4))) for s in starts
    )


@st.composite
def offers(draw: st.DrawFn) -> list[Offer]:
    result = []
    for i in range(draw(st.integers(0, 10))):
        host = draw(st.sampled_from(HOSTS))
        attributes = {"zone": draw(st.sampled_from(["z1", "z2"]))}
        if draw(st.booleans()):
            attributes["rack"] = draw(st.sampled_from(["r1", "r2", "r3"]))
        result.append(
            Offer(
                OfferId(f"o{i}"),
                AgentId(f"a-{host}"),
                host,
                cpus=draw(tenths(0, 80)),
                mem=draw(st.integers(0, 8192)),
                disk=draw(st.integers(0, 100)),
                gpus=draw(st.integers(0, 4)),
                port_ranges=draw(port_ranges()),
                attributes=attributes,
            )
        )
    return result


@st.composite
def queues(draw: st.DrawFn) -> list[TaskRequest]:
    jobs = []
    for j in range(draw(st.integers(0, 6))):
        resources = Resources(
            cpus=draw(tenths(1, 20)),
            mem=draw(st.integers(1, 2048)),
            disk=draw(st.integers(0, 50)),
            gpus=draw(st.sampled_from([0, 0, 0, 1, 2])),
            ports=draw(st.integers(0, 3)),
        )
        raw = draw(st.lists(st.sampled_from(CONSTRAINTS), max_size=2, unique_by=str))
        constraints = tuple(parse_constraint(c) for c in raw)
        team = TeamName(draw(st.sampled_from(["t1", "t2"])))
        for i in range(draw(st.integers(1, 6))):
            request = TaskRequest(
                TaskId(f"j{j}.{i}"), JobId(f"j{j}"), team, resources, constraints
            )
            jobs.append(request)
    return draw(st.permutations(jobs))


@st.composite
def running(draw: st.DrawFn) -> dict[JobId, list[AgentInfo]]:
    result: dict[JobId, list[AgentInfo]] = {}
    for j in range(draw(st.integers(0, 3))):
        hosts = draw(st.lists(st.sampled_from(HOSTS), max_size=3))
        result[JobId(f"j{j}")] = [
            AgentInfo(f"a-{h}", h, {"rack": "r1", "zone": "z1"}) for h in hosts
        ]
    return result


quotas = st.dictionaries(
    st.sampled_from([TeamName("t1"), TeamName("t2")]),
    st.builds(Quota, cpus=st.one_of(st.none(), tenths(0, 100))),
)
policies = st.sampled_from([BinPack(), Spread()])
SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def leftovers(offers: list[Offer], plan: PlacementPlan) -> dict[str, list[int]]:
    left = {
        o.offer_id: [to_milli(getattr(o, n)) for n in SCALARS] + [_ports(o)]
        for o in offers
    }
    for launch in plan.all_launches():
        for i, name in enumerate(SCALARS):
            left[launch.offer_id][i] -= to_milli(launch.resources.get(name))
        left[launch.offer_id][4] -= len(launch.ports)
    return left


def _ports(offer: Offer) -> int:
    return sum(e - b + 1 for b, e in offer.port_ranges)


@SETTINGS
@given(offers(), queues(), running(), quotas, policies)
def test_plans_never_overcommit_reuse_ports_or_break_constraints(
    offers_: list[Offer],
    queue: list[TaskRequest],
    running_: dict[JobId, list[AgentInfo]],
    quotas_: dict[TeamName, Quota],
    policy: BinPack | Spread,
) -> None:
    plan = plan_placements(
        offers_, queue, now=0, running=running_, quotas=quotas_, policy=policy
    )
    assert verify_plan(offers_, plan, queue, running_) == []
    for left in leftovers(offers_, plan).values():
        assert min(left) >= 0


@SETTINGS
@given(offers(), queues(), quotas, policies)
def test_every_launch_is_a_queued_task_once_and_within_quota(
    offers_: list[Offer],
    queue: list[TaskRequest],
    quotas_: dict[TeamName, Quota],
    policy: BinPack | Spread,
) -> None:
    plan = plan_placements(offers_, queue, now=0, quotas=quotas_, policy=policy)
    by_id = {r.task_id: r for r in queue}
    launches = plan.all_launches()
    launched = {x.task_id for x in launches}
    assert len(launched) == len(launches)
    used: dict[TeamName, float] = defaultdict(float)
    for launch in launches:
        assert by_id[launch.task_id].resources == launch.resources
        used[by_id[launch.task_id].team] += to_milli(launch.resources.cpus)
    for team, quota in quotas_.items():
        if quota.cpus is not None:
            assert used[team] <= to_milli(quota.cpus)
    waiting_jobs = {r.job_id for r in queue if r.task_id not in launched}
    assert waiting_jobs <= set(plan.pending)


@SETTINGS
@given(offers(), queues(), policies)
def test_a_job_waiting_for_resources_fits_on_no_leftover(
    offers_: list[Offer], queue: list[TaskRequest], policy: BinPack | Spread
) -> None:
    plan = plan_placements(offers_, queue, now=0, policy=policy)
    left = leftovers(offers_, plan)
    need_of = {r.job_id: r.resources for r in queue}
    for job, reason in plan.pending.items():
        if not isinstance(reason, NoFit):
            continue
        need = need_of[job]
        need_vector = [to_milli(need.get(n)) for n in SCALARS] + [need.ports]
        for offer_left in left.values():
            assert any(n > f for n, f in zip(need_vector, offer_left, strict=True))


def test_constraint_strategy_covers_every_operator() -> None:
    assert {parse_constraint(c).operator for c in CONSTRAINTS} == set(OPERATORS)
