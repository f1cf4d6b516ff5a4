"""Validation: shape errors and Marathon/lint rules, each with path and fix."""

from __future__ import annotations

import json
from typing import Any

import pytest

from framework.marathon.rules import AgentTotals, CheckOptions, check_app
from framework.marathon.spec import Issue, SpecInvalid, parse_app

SERVICE: dict[str, Any] = {
    "id": "/team/web",
    "cmd": "python3 -m http.server $PORT0",
    "cpus": 0.1,
    "mem": 64,
    "portDefinitions": [{"port": 0, "name": "http"}],
    "healthChecks": [
        {"protocol": "HTTP", "path": "/", "gracePeriodSeconds": 60, "timeoutSeconds": 5}
    ],
}
AGENTS = [AgentTotals("a1", 2, 2048, 10000), AgentTotals("a2", 4, 1024, 10000)]


def issues(app: dict[str, Any], **options: Any) -> list[Issue]:
    raw, spec = parse_app(json.dumps(app))
    return check_app(raw, spec, CheckOptions(**{"agents": AGENTS, **options}))


def shape_errors(text: str) -> list[Issue]:
    with pytest.raises(SpecInvalid) as caught:
        parse_app(text)
    return caught.value.issues


def test_a_good_service_has_no_issues() -> None:
    assert issues(SERVICE) == []


def test_invalid_json_names_line_and_column() -> None:
    [issue] = shape_errors('{"id": "/x",}')
    assert issue.rule == "json" and "line 1" in issue.message


def test_unknown_field_suggests_the_close_name() -> None:
    [issue] = shape_errors(json.dumps({**SERVICE, "cpu": 1}))
    assert (issue.path, issue.rule) == ("$.cpu", "extra_forbidden")
    assert "'cpus'" in issue.fix


def test_read_only_field_says_marathon_sets_it() -> None:
    [issue] = shape_errors(json.dumps({**SERVICE, "version": "2024"}))
    assert "Marathon sets it" in issue.fix


def test_nested_type_error_has_the_json_path() -> None:
    bad = {**SERVICE, "healthChecks": [{"protocol": "HTTP", "portIndex": "0"}]}
    [issue] = shape_errors(json.dumps(bad))
    assert issue.path == "$.healthChecks[0].portIndex"
    assert issue.fix.startswith("write a")


def test_strategy_out_of_range_is_rejected_with_the_bound() -> None:
    bad = {**SERVICE, "upgradeStrategy": {"minimumHealthCapacity": 1.5}}
    [issue] = shape_errors(json.dumps(bad))
    assert issue.path == "$.upgradeStrategy.minimumHealthCapacity"
    assert "1" in issue.fix


def test_bad_id_segment_is_reported() -> None:
    found = issues({**SERVICE, "id": "/Team/web_1"})
    assert {i.rule for i in found} == {"id-pattern"}
    assert all(i.path == "$.id" for i in found)


def test_reserved_last_segment_is_reported() -> None:
    assert [i.rule for i in issues({**SERVICE, "id": "/team/tasks"})] == ["id-reserved"]


def test_cmd_and_args_together_are_rejected() -> None:
    found = issues({**SERVICE, "args": ["x"]})
    assert [i.rule for i in found] == ["cmd-xor-args"]


def test_no_command_and_no_container_is_rejected() -> None:
    app = {k: v for k, v in SERVICE.items() if k != "cmd"}
    assert [i.rule for i in issues(app)] == ["cmd-or-container"]


def test_service_without_health_check_is_an_error_unless_allowed() -> None:
    app = {**SERVICE, "healthChecks": []}
    [issue] = issues(app)
    assert issue.rule == "service-health-check"
    assert "--allow-no-health-check" in issue.fix
    assert issues(app, allow_no_health_check=True) == []


def test_marathons_default_port_counts_as_a_port() -> None:
    app = {k: v for k, v in SERVICE.items() if k not in ("portDefinitions",)}
    app["healthChecks"] = []
    [issue] = issues(app)
    assert "default port" in issue.message and "portDefinitions" in issue.fix


def test_worker_without_ports_needs_no_health_check() -> None:
    app = {**SERVICE, "portDefinitions": [], "healthChecks": []}
    assert issues(app) == []


def test_health_check_port_index_out_of_range() -> None:
    checks = [{**SERVICE["healthChecks"][0], "portIndex": 2}]
    [issue] = issues({**SERVICE, "healthChecks": checks})
    assert issue.path == "$.healthChecks[0].portIndex"
    assert "0 to 0" in issue.fix


def test_grace_shorter_than_interval_is_an_error() -> None:
    checks = [
        {
            "protocol": "TCP",
            "gracePeriodSeconds": 5,
            "intervalSeconds": 10,
            "timeoutSeconds": 2,
        }
    ]
    [issue] = issues({**SERVICE, "healthChecks": checks})
    assert issue.rule == "health-grace" and ">= 10" in issue.fix


def test_two_mesos_level_checks_are_rejected() -> None:
    check = {"protocol": "MESOS_TCP", "gracePeriodSeconds": 60, "timeoutSeconds": 5}
    found = issues({**SERVICE, "healthChecks": [check, check]})
    assert "one-mesos-check" in {i.rule for i in found}


@pytest.mark.parametrize(
    ("constraint", "words"),
    [
        (["hostname", "FOO"], "unknown operator"),
        (["hostname", "UNIQUE", "x"], "no value"),
        (["rack", "MAX_PER"], "number"),
        (["rack", "LIKE", "("], "regular expression"),
        (["a"], "2 or 3"),
    ],
)
def test_constraint_grammar(constraint: list[str], words: str) -> None:
    [issue] = issues({**SERVICE, "constraints": [constraint]})
    assert issue.path == "$.constraints[0]" and words in issue.message


def test_valid_constraints_pass() -> None:
    ok = [["hostname", "unique"], ["rack", "GROUP_BY", "2"], ["rack", "IS", "r1"]]
    assert issues({**SERVICE, "constraints": ok}) == []


def test_instance_bigger_than_every_agent_is_an_error() -> None:
    [issue] = issues({**SERVICE, "mem": 4096})
    assert (issue.path, issue.rule) == ("$.mem", "fits-agent")
    assert "2048" in issue.fix


def test_size_rule_is_a_note_when_the_master_is_unreachable() -> None:
    [issue] = issues({**SERVICE, "mem": 4096}, agents=None, agents_note="down")
    assert issue.severity == "note" and "down" in issue.message


def test_docker_without_image_and_gpus_with_docker() -> None:
    app = {**SERVICE, "gpus": 1, "container": {"type": "DOCKER"}}
    rules = {i.rule for i in issues(app)}
    assert rules == {"docker-image", "gpus-docker", "fits-agent"}  # no agent GPUs


def test_every_example_app_validates() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "marathon_apps"
    for path in sorted(root.glob("*.json")):
        raw, spec = parse_app(path.read_text())
        found = check_app(raw, spec, CheckOptions(agents=AGENTS))
        assert found == [], (path.name, found)
