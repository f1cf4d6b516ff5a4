"""Plans: diffs after defaults, rolling-update steps, cluster fit."""

from __future__ import annotations

from typing import Any

from framework.marathon.plan import (
    agent_free,
    carry_service_ports,
    diff_apps,
    fits,
    restarts_tasks,
    rolling_steps,
)
from framework.marathon.rules import AgentTotals

NEW: dict[str, Any] = {
    "id": "web",
    "cmd": "serve",
    "instances": 2,
    "healthChecks": [{"protocol": "HTTP", "path": "/health"}],
}
# What Marathon returns for NEW: every default explicit, ports assigned.
RUNNING: dict[str, Any] = {
    **NEW,
    "id": "/web",
    "cpus": 1,
    "mem": 128,
    "disk": 0,
    "backoffFactor": 1.15,
    "portDefinitions": [{"port": 10001, "protocol": "tcp", "name": "default"}],
    "healthChecks": [
        {
            "protocol": "HTTP",
            "path": "/health",
            "portIndex": 0,
            "gracePeriodSeconds": 300,
            "intervalSeconds": 60,
            "timeoutSeconds": 20,
            "maxConsecutiveFailures": 3,
            "delaySeconds": 15,
            "ignoreHttp1xx": False,
        }
    ],
    "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
    "version": "2024-01-01T00:00:00.000Z",
    "tasksRunning": 2,
    "tasks": [],
}


def test_unchanged_defaults_and_read_only_fields_are_not_changes() -> None:
    assert diff_apps(RUNNING, NEW) == []


def test_a_changed_nested_field_is_reported_by_path() -> None:
    new = {**NEW, "healthChecks": [{"protocol": "HTTP", "path": "/ready"}]}
    [change] = diff_apps(RUNNING, new)
    assert change.path == "$.healthChecks[0].path"
    assert change.line() == '~ $.healthChecks[0].path: "/health" -> "/ready"'


def test_an_added_label_and_a_default_changed() -> None:
    new = {**NEW, "labels": {"team": "a"}, "mem": 256}
    paths = {c.path for c in diff_apps(RUNNING, new)}
    assert paths == {"$.labels.team", "$.mem"}


def test_a_new_app_is_one_change() -> None:
    assert [c.line() for c in diff_apps(None, NEW)] == ['+ $: "(new app)"']


def test_scale_only_does_not_restart() -> None:
    assert not restarts_tasks(diff_apps(RUNNING, {**NEW, "instances": 5}))
    assert restarts_tasks(diff_apps(RUNNING, {**NEW, "cmd": "serve2"}))


def test_service_port_zero_keeps_the_assigned_port() -> None:
    body = {"id": "/web", "portDefinitions": [{"port": 0}, {"port": 0}]}
    out = carry_service_ports(RUNNING, body)
    assert [p["port"] for p in out["portDefinitions"]] == [10001, 0]


def test_default_strategy_replaces_all_in_one_step_with_double_capacity() -> None:
    steps = rolling_steps(4, 4, 1.0, 1.0, restart=True)
    assert (steps.replaced, steps.steps, steps.peak_extra, steps.min_healthy) == (
        4,
        1,
        4,
        4,
    )


def test_half_over_capacity_takes_two_steps() -> None:
    steps = rolling_steps(4, 4, 1.0, 0.5, restart=True)
    assert (steps.steps, steps.peak_extra, steps.min_healthy) == (2, 2, 4)


def test_half_health_capacity_stops_old_first() -> None:
    steps = rolling_steps(4, 4, 0.5, 0.0, restart=True)
    assert (steps.steps, steps.peak_extra, steps.min_healthy) == (2, 0, 2)


def test_full_health_no_over_capacity_goes_one_by_one_and_says_so() -> None:
    steps = rolling_steps(3, 3, 1.0, 0.0, restart=True)
    assert steps.steps == 3 and steps.min_healthy == 2 and steps.notes


def test_scale_up_without_restart_is_one_step() -> None:
    steps = rolling_steps(2, 5, 1.0, 1.0, restart=False)
    assert (steps.replaced, steps.steps, steps.peak_extra) == (0, 1, 3)


def test_fit_counts_instances_per_agent() -> None:
    free = [AgentTotals("a", 1.0, 1000, 100), AgentTotals("b", 0.25, 4000, 100)]
    app = {"id": "/w", "cmd": "x", "cpus": 0.5, "mem": 100}
    assert fits(app, 2, free).fits
    result = fits(app, 3, free)
    assert not result.fits and result.room == 2 and "wait" in result.reason


def test_agent_free_counts_offers_as_free() -> None:
    def res(cpus: float, mem: float) -> list[dict[str, Any]]:
        return [
            {"name": "cpus", "scalar": {"value": cpus}},
            {"name": "mem", "scalar": {"value": mem}},
        ]

    agent = {
        "agent_info": {"id": {"value": "S0"}},
        "total_resources": res(4, 4096),
        "allocated_resources": res(3, 3000),
        "offered_resources": res(1, 1000),
    }
    [free] = agent_free([agent])
    assert (free.cpus, free.mem) == (2.0, 2096.0)
