"""The pure DRF allocator: fairness, filters, GPUs and the minimum offer."""

from __future__ import annotations

from dataclasses import dataclass

from framework.ids import AgentId, FrameworkId
from framework.local.mesos_allocator import Client, Filter, allocate, dominant_share
from framework.local.mesos_wire import Resources


@dataclass
class Agent:
    agent_id: AgentId
    free: Resources


def agents(
    n: int, cpus: float = 4.0, mem: float = 4096.0, gpus: float = 0.0
) -> list[Agent]:
    return [
        Agent(AgentId(f"a{i}"), Resources(cpus, mem, 100.0, gpus)) for i in range(n)
    ]


def client(
    name: str, allocated: tuple[float, float, float, float] = (0, 0, 0, 0), **kw: object
) -> Client:
    return Client(FrameworkId(name), "*", allocated, **kw)  # type: ignore[arg-type]


TOTAL = (40.0, 40960.0, 1000.0, 0.0)


def test_dominant_share_is_the_largest_fraction() -> None:
    assert dominant_share((4.0, 1024.0, 0, 0), (40.0, 2048.0, 1, 0)) == 0.5


def test_two_equal_frameworks_split_the_agents_evenly() -> None:
    plan = allocate(agents(10), [client("f1"), client("f2")], TOTAL, now=0.0)
    owners = [p.framework_id for p in plan]
    assert owners.count(FrameworkId("f1")) == 5
    assert owners.count(FrameworkId("f2")) == 5


def test_the_framework_with_the_lower_share_goes_first() -> None:
    rich = client("rich", (20.0, 0, 0, 0))
    plan = allocate(agents(6), [rich, client("poor")], TOTAL, now=0.0)
    owners = [p.framework_id for p in plan]
    assert owners[:5] == [FrameworkId("poor")] * 5  # poor catches up to 50%
    assert set(owners) == {FrameworkId("rich"), FrameworkId("poor")}


def test_an_active_filter_skips_the_agent_for_that_framework_only() -> None:
    pool = agents(2)
    flt = {AgentId("a0"): Filter(expiry=10.0, resources=Resources(4.0, 4096.0, 100.0))}
    plan = allocate(pool, [client("f1", filters=flt)], TOTAL, now=5.0)
    assert [p.agent_id for p in plan] == [AgentId("a1")]
    plan = allocate(pool, [client("f1", filters=flt), client("f2")], TOTAL, now=5.0)
    assert {(p.framework_id, p.agent_id) for p in plan} == {
        (FrameworkId("f2"), AgentId("a0")),
        (FrameworkId("f1"), AgentId("a1")),
    }


def test_a_filter_expires_or_lifts_when_more_resources_are_free() -> None:
    flt = {AgentId("a0"): Filter(expiry=10.0, resources=Resources(1.0, 512.0))}
    pool = agents(1)
    assert len(allocate(pool, [client("f1", filters=flt)], TOTAL, now=11.0)) == 1
    assert len(allocate(pool, [client("f1", filters=flt)], TOTAL, now=1.0)) == 1


def test_gpu_agents_go_only_to_gpu_aware_frameworks() -> None:
    pool = agents(2, gpus=1.0)
    assert allocate(pool, [client("plain", gpu_aware=False)], TOTAL, now=0.0) == []
    assert len(allocate(pool, [client("gpu")], TOTAL, now=0.0)) == 2


def test_agents_below_the_minimum_are_not_offered() -> None:
    pool = [Agent(AgentId("tiny"), Resources(0.001, 16.0))]
    assert allocate(pool, [client("f1")], TOTAL, now=0.0) == []


def test_the_whole_free_pool_of_an_agent_is_offered() -> None:
    pool = [Agent(AgentId("a"), Resources(2.0, 100.0, 5.0, 0.0, ((31000, 31010),)))]
    (step,) = allocate(pool, [client("f1")], TOTAL, now=0.0)
    assert step.resources == Resources(2.0, 100.0, 5.0, 0.0, ((31000, 31010),))


def test_no_clients_means_no_offers() -> None:
    assert allocate(agents(3), [], TOTAL, now=0.0) == []


def test_local_agents_on_one_host_get_disjoint_port_ranges() -> None:
    from framework.local.cluster import split_ports

    ranges = ((31000, 31009), (31020, 31021))
    shares = [split_ports(ranges, 3, i) for i in range(3)]
    assert shares == [
        ((31000, 31003),),
        ((31004, 31007),),
        ((31008, 31009), (31020, 31021)),
    ]
    assert split_ports(((1, 2),), 5, 3) == ((1, 2),)
