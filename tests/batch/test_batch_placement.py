"""Placement plans: binpack vs spread, ports, GPUs, quotas, backoff, reasons."""

from __future__ import annotations

from framework.batch.constraints import AgentInfo, parse_constraint
from framework.batch.placement import (
    BackingOff,
    BinPack,
    ConstraintUnmet,
    NoFit,
    Offer,
    PlacementPlan,
    PlannerConfig,
    Quota,
    QuotaReached,
    Spread,
    TaskRequest,
    plan_placements,
    task_requests,
    verify_plan,
)
from framework.batch.resources import Resources
from framework.batch.spec import parse_job_spec
from framework.ids import AgentId, JobId, OfferId, TaskId, TeamName


def offer(
    name: str,
    cpus: float = 8,
    mem: float = 8192,
    *,
    gpus: float = 0,
    ports: tuple[tuple[int, int], ...] = (),
    **attributes: str,
) -> Offer:
    return Offer(
        OfferId(f"o-{name}"),
        AgentId(f"a-{name}"),
        name,
        cpus=cpus,
        mem=mem,
        disk=1000,
        gpus=gpus,
        port_ranges=ports,
        attributes=attributes,
    )


def request(
    name: str,
    cpus: float = 1,
    mem: float = 1024,
    *,
    job: str | None = None,
    team: str = "t",
    gpus: int = 0,
    ports: int = 0,
    constraints: tuple[list[object], ...] = (),
    not_before: float = 0,
) -> TaskRequest:
    return TaskRequest(
        TaskId(name),
        JobId(job or name),
        TeamName(team),
        Resources(cpus, mem, 0, gpus, ports),
        tuple(parse_constraint(c) for c in constraints),
        not_before=not_before,
    )


def hosts(plan: PlacementPlan) -> dict[str, str]:
    """task id -> hostname (offer ids are o-<hostname>)."""
    return {x.task_id: x.offer_id.removeprefix("o-") for x in plan.all_launches()}


def test_binpack_puts_a_task_on_the_fullest_offer_that_fits() -> None:
    offers = [offer("empty", 8, 8192), offer("half", 4, 4096), offer("tiny", 0.5, 512)]
    plan = plan_placements(offers, [request("t1")], now=0)
    assert hosts(plan) == {"t1": "half"}


def test_spread_puts_a_task_on_the_emptiest_offer() -> None:
    offers = [offer("empty", 8, 8192), offer("half", 4, 4096)]
    plan = plan_placements(offers, [request("t1")], now=0, policy=Spread())
    assert hosts(plan) == {"t1": "empty"}


def test_binpack_packs_many_tasks_into_one_offer() -> None:
    offers = [offer("a", 4, 4096), offer("b", 4, 4096)]
    queue = [request(f"t{i}", job="j") for i in range(4)]
    plan = plan_placements(offers, queue, now=0)
    assert set(hosts(plan).values()) == {"a"} or set(hosts(plan).values()) == {"b"}
    assert len(plan.launches) == 1
    assert plan.decline is not None and len(plan.decline.offer_ids) == 1


def test_spread_gives_each_agent_one_task_of_the_job_before_a_second() -> None:
    offers = [offer("a", 8, 8192), offer("b", 8, 8192), offer("c", 2, 2048)]
    queue = [request(f"t{i}", job="j") for i in range(3)]
    plan = plan_placements(offers, queue, now=0, policy=Spread())
    assert sorted(hosts(plan).values()) == ["a", "b", "c"]


def test_spread_counts_the_jobs_running_tasks() -> None:
    offers = [offer("a", 8, 8192), offer("b", 2, 2048)]
    running = {JobId("j"): [AgentInfo("a-a", "a")]}
    plan = plan_placements(
        offers, [request("t1", job="j")], now=0, running=running, policy=Spread()
    )
    assert hosts(plan) == {"t1": "b"}


def test_binpack_prefers_the_offer_left_fullest_across_resources() -> None:
    # Both fit; "mem-tight" leaves 0.5 cpu and 0 mem, "cpu-tight" more mem.
    offers = [offer("cpu-tight", 1.5, 8192), offer("mem-tight", 2.5, 1024)]
    plan = plan_placements(offers, [request("t1", 1, 1024)], now=0)
    assert hosts(plan) == {"t1": "mem-tight"}


def test_ports_come_from_the_offered_ranges_and_are_never_reused() -> None:
    offers = [offer("a", ports=((31000, 31001), (31005, 31010)))]
    queue = [request("t1", ports=3), request("t2", ports=2)]
    plan = plan_placements(offers, queue, now=0)
    ports = {x.task_id: x.ports for x in plan.all_launches()}
    assert ports == {"t1": (31000, 31001, 31005), "t2": (31006, 31007)}
    assert verify_plan(offers, plan) == []


def test_task_needing_more_ports_than_offered_waits_and_says_ports() -> None:
    offers = [offer("a", ports=((31000, 31001),))]
    plan = plan_placements(offers, [request("t1", ports=3)], now=0)
    reason = plan.pending[JobId("t1")]
    assert isinstance(reason, NoFit) and reason.resource == "ports"


def test_gpu_task_goes_to_a_gpu_agent() -> None:
    offers = [offer("cpu", 32, 65536), offer("gpu", 32, 65536, gpus=4)]
    plan = plan_placements(offers, [request("t1", gpus=2)], now=0)
    assert hosts(plan) == {"t1": "gpu"}


def test_cpu_task_avoids_gpu_agents_while_others_fit() -> None:
    # The GPU agent is the better "fit" by free cpus, but would strand GPUs.
    offers = [offer("cpu", 32, 65536), offer("gpu", 2, 2048, gpus=4)]
    plan = plan_placements(offers, [request("t1")], now=0)
    assert hosts(plan) == {"t1": "cpu"}


def test_cpu_task_uses_a_gpu_agent_when_nothing_else_fits() -> None:
    offers = [offer("cpu", 0.5, 65536), offer("gpu", 2, 2048, gpus=4)]
    plan = plan_placements(offers, [request("t1")], now=0)
    assert hosts(plan) == {"t1": "gpu"}


def test_no_fit_reason_names_the_short_resource_and_the_best_offer() -> None:
    offers = [offer("small", 2, 2048), offer("big", 8, 4096)]
    plan = plan_placements(offers, [request("t1", 4, 8192)], now=0)
    reason = plan.pending[JobId("t1")]
    assert isinstance(reason, NoFit)
    assert reason.resource == "mem" and reason.best_offer == "o-big"
    assert "no offer with enough mem" in reason.message()
    assert "best offer o-big on big" in reason.message()


def test_no_offers_at_all_is_explained() -> None:
    plan = plan_placements([], [request("t1")], now=0)
    reason = plan.pending[JobId("t1")]
    assert isinstance(reason, NoFit) and "no offers" in reason.message()


def test_constraint_unmet_counts_the_agents_that_had_room() -> None:
    offers = [offer("a", rack="r1"), offer("b", rack="r1"), offer("c", 0.1, rack="r2")]
    queue = [request("t1", constraints=(["rack", "IS", "r2"],))]
    plan = plan_placements(offers, queue, now=0)
    reason = plan.pending[JobId("t1")]
    assert isinstance(reason, ConstraintUnmet) and reason.agents == 2
    assert "constraint unmet on 2 agents" in reason.message()


def test_unique_hostname_spreads_an_array_job_and_counts_running_tasks() -> None:
    offers = [offer("a"), offer("b"), offer("c")]
    queue = [
        request(f"t{i}", job="j", constraints=(["hostname", "UNIQUE"],))
        for i in range(3)
    ]
    running = {JobId("j"): [AgentInfo("a-a", "a")]}
    plan = plan_placements(offers, queue, now=0, running=running)
    assert sorted(hosts(plan).values()) == ["b", "c"]
    assert isinstance(plan.pending[JobId("j")], ConstraintUnmet)
    assert verify_plan(offers, plan, queue, running) == []


def test_group_by_spreads_tasks_evenly_over_racks() -> None:
    offers = [offer(f"h{i}", rack=f"r{i % 3}") for i in range(6)]
    queue = [
        request(f"t{i}", job="j", constraints=(["rack", "GROUP_BY"],)) for i in range(6)
    ]
    plan = plan_placements(offers, queue, now=0)
    racks = sorted(int(h[1:]) % 3 for h in hosts(plan).values())
    assert racks == [0, 0, 1, 1, 2, 2]


def test_team_over_quota_waits_and_other_teams_go_ahead() -> None:
    offers = [offer("a", 16, 16384)]
    queue = [
        request("x1", 4, job="x", team="x"),
        request("x2", 4, job="x", team="x"),
        request("y1", 4, job="y", team="y"),
    ]
    quotas = {TeamName("x"): Quota(cpus=6)}
    usage = {TeamName("x"): Resources(cpus=1)}
    plan = plan_placements(offers, queue, now=0, quotas=quotas, usage=usage)
    assert set(hosts(plan)) == {"x1", "y1"}
    reason = plan.pending[JobId("x")]
    assert isinstance(reason, QuotaReached) and reason.resource == "cpus"
    assert "quota reached" in reason.message()


def test_task_in_backoff_waits_until_its_time() -> None:
    offers = [offer("a")]
    queue = [request("t1", not_before=50)]
    early = plan_placements(offers, queue, now=10)
    assert early.pending[JobId("t1")] == BackingOff(50)
    assert hosts(plan_placements(offers, queue, now=50)) == {"t1": "a"}


def test_unused_offers_are_declined_short_while_work_is_pending() -> None:
    config = PlannerConfig(refuse_seconds_pending=3, refuse_seconds_idle=90)
    offers = [offer("a", 1, 1024), offer("b", 1, 512)]
    busy = plan_placements(offers, [request("big", 4)], now=0, config=config)
    assert busy.decline is not None and busy.decline.refuse_seconds == 3
    assert set(busy.decline.offer_ids) == {"o-a", "o-b"}
    idle = plan_placements(offers, [request("t1")], now=0, config=config)
    assert idle.decline is not None
    assert idle.decline.offer_ids == ("o-b",) and idle.decline.refuse_seconds == 90


def test_launch_carries_the_requested_resources_and_agent() -> None:
    plan = plan_placements([offer("a")], [request("t1", 1.5, 300)], now=0)
    (launch,) = plan.launches[OfferId("o-a")]
    assert launch.agent_id == "a-a" and launch.job_id == "t1"
    assert launch.resources == Resources(1.5, 300)


def test_requests_built_from_a_spec_are_placed() -> None:
    spec = parse_job_spec(
        "id: arr\nteam: t\ncommand: x\ninstances: 3\nresources: {cpus: 1, mem: 64}\n",
        source="x",
    )
    queue = task_requests(spec, submitted_at=0)
    plan = plan_placements([offer("a")], queue, now=0, policy=BinPack())
    assert sorted(hosts(plan)) == ["arr.0.0", "arr.1.0", "arr.2.0"]


def test_fractional_cpus_pack_exactly_without_float_drift() -> None:
    queue = [request(f"t{i}", 0.1, 1, job="j") for i in range(10)]
    plan = plan_placements([offer("a", 1.0, 10)], queue, now=0)
    assert len(plan.all_launches()) == 10
    assert verify_plan([offer("a", 1.0, 10)], plan) == []


def test_failing_diagnoses_are_bounded_but_still_name_a_resource() -> None:
    config = PlannerConfig(max_diagnosed_jobs=1)
    queue = [request("big1", 64), request("big2", 1, 10**6)]
    plan = plan_placements([offer("a")], queue, now=0, config=config)
    second = plan.pending[JobId("big2")]
    assert isinstance(second, NoFit)
    assert second.resource == "mem" and second.best_offer is None
