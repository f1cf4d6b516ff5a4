"""``plan_sync`` without sockets: observed state in, instructions out."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from framework.consul_sync.model import (
    AgentView,
    AppView,
    CatalogDeregister,
    Deregister,
    Drain,
    Entry,
    HealthCheck,
    MarathonTask,
    Observed,
    Register,
    Registration,
    TaskView,
    Undrain,
)
from framework.consul_sync.planner import plan_sync
from framework.ids import AgentId, AppId, TaskId

NODE = "n1"
A1 = AgentId("agent-1")
T1 = TaskId("team_web.1")


def task(state: str = "TASK_RUNNING", **over: Any) -> TaskView:
    base = TaskView(
        task_id=T1,
        framework_id="fw-batch",
        agent_id=A1,
        state=state,
        labels={"consul.name": "web", "mesos-adapter/job": "job-1"},
        ports=(31000, 31001),
    )
    return replace(base, **over)


def observed(*tasks: TaskView, **over: Any) -> Observed:
    base = Observed(
        cluster="prod",
        node=NODE,
        tasks={t.task_id: t for t in tasks},
        agents={A1: AgentView(A1, "host-1")},
    )
    return replace(base, **over)


def as_entry(reg: Registration, node: str = NODE, **over: Any) -> Entry:
    entry = Entry(
        service_id=reg.service_id,
        node=node,
        name=reg.name,
        address=reg.address,
        port=reg.port,
        tags=reg.tags,
        meta=reg.meta,
        weights=reg.weights,
        check=reg.check,
    )
    return replace(entry, **over)


def registered(obs: Observed) -> list[Entry]:
    """The entries Consul holds after the plan for ``obs`` was carried out."""
    plan = plan_sync(obs, [])
    return [
        as_entry(i.registration) for i in plan.instructions if isinstance(i, Register)
    ]


def test_a_running_task_with_ports_registers_one_instance_per_port() -> None:
    plan = plan_sync(observed(task()), [])
    regs = [i.registration for i in plan.instructions if isinstance(i, Register)]
    assert [r.service_id for r in regs] == ["team_web.1:0", "team_web.1:1"]
    assert {r.address for r in regs} == {"host-1"}
    assert [r.port for r in regs] == [31000, 31001]
    meta = regs[0].meta_dict()
    assert meta["managed-by"] == "mesos-adapter" and meta["cluster"] == "prod"
    assert meta["task-id"] == T1 and meta["app-id"] == "job-1"
    assert regs[0].tags == ("stable",)


@pytest.mark.parametrize("state", ["TASK_STAGING", "TASK_STARTING"])
def test_a_task_that_is_not_running_yet_is_not_registered(state: str) -> None:
    assert plan_sync(observed(task(state)), []).instructions == ()


def test_tasks_without_ports_or_a_name_are_skipped() -> None:
    assert plan_sync(observed(task(ports=())), []).instructions == ()
    assert plan_sync(observed(task(labels={})), []).instructions == ()


def test_an_unhealthy_mesos_task_is_not_registered_and_a_pending_one_waits() -> None:
    assert plan_sync(observed(task(healthy=False)), []).instructions == ()
    pending = task(has_health_check=True)
    assert plan_sync(observed(pending), []).instructions == ()


def test_nothing_changed_means_nothing_to_do() -> None:
    obs = observed(task())
    assert plan_sync(obs, registered(obs)).instructions == ()


def test_a_changed_field_reregisters_naming_the_field() -> None:
    obs = observed(task())
    entries = [replace(e, tags=("old",)) for e in registered(obs)]
    plan = plan_sync(obs, entries)
    assert [(type(i), i.changed) for i in plan.instructions] == [  # type: ignore[union-attr]
        (Register, ("tags",)),
        (Register, ("tags",)),
    ]


def test_killing_drains_then_the_end_deregisters() -> None:
    obs = observed(task())
    entries = registered(obs)
    plan = plan_sync(observed(task("TASK_KILLING")), entries)
    assert [type(i) for i in plan.instructions] == [Drain, Drain]
    drained = [replace(e, drained=True) for e in entries]
    assert plan_sync(observed(task("TASK_KILLING")), drained).instructions == ()
    done = plan_sync(observed(task("TASK_KILLED")), drained)
    assert [type(i) for i in done.instructions] == [Deregister, Deregister]


def test_killing_never_registers_a_task_that_is_not_there() -> None:
    assert plan_sync(observed(task("TASK_KILLING")), []).instructions == ()


@pytest.mark.parametrize(
    "state",
    [
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_LOST",
        "TASK_GONE",
        "TASK_DROPPED",
        "TASK_ERROR",
    ],
)
def test_each_end_state_deregisters_at_once(state: str) -> None:
    entries = registered(observed(task()))
    plan = plan_sync(observed(task(state)), entries)
    assert [type(i) for i in plan.instructions] == [Deregister, Deregister]
    assert all(state in i.reason for i in plan.instructions)  # type: ignore[union-attr]


def test_a_task_mesos_forgot_is_deregistered() -> None:
    entries = registered(observed(task()))
    plan = plan_sync(observed(), entries)
    assert [type(i) for i in plan.instructions] == [Deregister, Deregister]


def test_agent_loss_removes_entries_on_other_nodes_through_the_catalog() -> None:
    obs = observed(task())
    entries = [replace(e, node="host-1") for e in registered(obs)]
    entries += registered(obs)  # also on our own node
    plan = plan_sync(observed(task(), agents={}), entries)
    catalog = [i for i in plan.instructions if isinstance(i, CatalogDeregister)]
    agent = [i for i in plan.instructions if isinstance(i, Deregister)]
    assert [(i.node, i.service_id) for i in catalog] == [
        ("host-1", "team_web.1:0"),
        ("host-1", "team_web.1:1"),
    ]
    assert len(agent) == 2 and "agent" in agent[0].reason


def test_entries_on_other_nodes_of_live_tasks_are_left_alone() -> None:
    obs = observed(task())
    elsewhere = [replace(e, node="other") for e in registered(obs)]
    plan = plan_sync(obs, elsewhere + registered(obs))
    assert plan.instructions == ()


def test_foreign_entries_are_never_touched() -> None:
    obs = observed(task())
    base = registered(obs)[0]
    meta = dict(base.meta)
    foreign = [
        replace(base, meta=()),
        replace(base, meta=tuple({**meta, "cluster": "other"}.items())),
        replace(base, meta=tuple({**meta, "managed-by": "someone"}.items())),
    ]
    for entry in foreign:
        gone = observed()  # the task is unknown: ours would be removed
        assert plan_sync(gone, [entry]).instructions == ()


def test_canary_and_weight_labels_set_tags_and_weights() -> None:
    labels = {
        "consul.name": "web",
        "consul.tags": "http,v2",
        "mesos-adapter.canary": "true",
        "mesos-adapter.weight": "10",
    }
    plan = plan_sync(observed(task(labels=labels)), [])
    reg = plan.adds[0].registration
    assert reg.tags == ("http", "v2", "canary")
    assert reg.weights == (10, 1)


@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("consul.name", "Bad Name"),
        ("consul.tags", "ok,has space"),
        ("mesos-adapter.weight", "0"),
        ("mesos-adapter.weight", "101"),
        ("mesos-adapter.canary", "maybe"),
    ],
)
def test_a_bad_label_skips_that_app_only(label: str, value: str) -> None:
    bad = task(
        task_id=TaskId("bad.1"),
        labels={"consul.name": "bad", label: value, "mesos-adapter/job": "job-bad"},
    )
    plan = plan_sync(observed(task(), bad), [])
    assert {i.registration.task_id for i in plan.adds} == {T1}
    assert [(p.app_id, label in p.message) for p in plan.problems] == [
        ("job-bad", True)
    ]


def test_a_bad_label_keeps_the_apps_existing_entries() -> None:
    entries = registered(observed(task()))
    bad = task(labels={"consul.name": "web", "consul.tags": "a b"})
    assert plan_sync(observed(bad), entries).instructions == ()


# -- Marathon ---------------------------------------------------------------------

APP = AppId("/team/web")
CHECK = HealthCheck("HTTP", port_index=0, path="/health", interval_seconds=5)


def marathon_observed(healthy: bool | None, **app: Any) -> Observed:
    view = AppView(APP, version="v1", labels={}, health_checks=(CHECK,))
    return observed(
        task(labels={}, framework_name="marathon"),
        apps={APP: replace(view, **app)},
        marathon_tasks={T1: MarathonTask(T1, APP, "v1", (31000,), healthy)},
        marathon_enabled=True,
    )


def test_a_healthy_marathon_task_registers_with_a_mirrored_check() -> None:
    plan = plan_sync(marathon_observed(True), [])
    (reg,) = [i.registration for i in plan.adds]
    assert reg.name == "team-web" and reg.port == 31000
    assert reg.tags == ("version=v1", "stable")
    assert reg.check is not None and reg.check.kind == "http"
    assert reg.check.target == "http://host-1:31000/health"
    assert reg.meta_dict()["app-id"] == APP and reg.meta_dict()["version"] == "v1"


def test_an_unhealthy_marathon_task_is_removed_and_an_unknown_one_kept() -> None:
    entries = registered(marathon_observed(True))
    removed = plan_sync(marathon_observed(False), entries)
    assert [type(i) for i in removed.instructions] == [Deregister]
    assert plan_sync(marathon_observed(None), entries).instructions == ()
    assert plan_sync(marathon_observed(None), []).instructions == ()


def test_a_marathon_task_waits_for_marathon_before_anything_happens() -> None:
    entries = registered(marathon_observed(True))
    waiting = replace(marathon_observed(True), marathon_tasks={}, apps={})
    assert plan_sync(waiting, entries).instructions == ()


def test_app_labels_override_and_an_app_without_checks_needs_no_health() -> None:
    obs = marathon_observed(None, health_checks=(), labels={"consul.name": "web2"})
    (reg,) = [i.registration for i in plan_sync(obs, []).adds]
    assert reg.name == "web2" and reg.check is None


def test_a_drained_entry_of_a_running_task_is_undrained() -> None:
    entries = [replace(e, drained=True) for e in registered(observed(task()))]
    plan = plan_sync(observed(task()), entries)
    assert [type(i) for i in plan.instructions] == [Undrain, Undrain]


def test_only_limits_the_plan_to_the_tasks_named() -> None:
    other = task(task_id=TaskId("other.1"))
    obs = observed(task(), other)
    plan = plan_sync(obs, [], only={T1})
    assert {i.registration.task_id for i in plan.adds} == {T1}
