"""Catalog and health reads: shapes, tag and passing filters, other nodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import consul
import requests


def _register(c: Any, service_id: str, tags: list[str], *, healthy: bool) -> None:
    check = {"CheckID": f"ttl-{service_id}", "TTL": "1h"}
    c.agent.service.register("web", service_id=service_id, tags=tags, check=check)
    if healthy:
        c.agent.check.ttl_pass(f"ttl-{service_id}")


def test_health_service_entry_has_node_service_and_checks(c: Any) -> None:
    _register(c, "w1", ["a"], healthy=True)

    index, entries = c.health.service("web")

    assert int(index) >= 1
    (entry,) = entries
    assert entry["Node"]["Node"] == "n1"
    assert entry["Node"]["Address"] == "127.0.0.1"
    assert entry["Service"]["ID"] == "w1"
    check_ids = [check["CheckID"] for check in entry["Checks"]]
    assert check_ids == ["serfHealth", "ttl-w1"]


def test_passing_with_several_tags_keeps_only_healthy_instances_with_all_tags(
    c: Any,
) -> None:
    _register(c, "w1", ["a", "b"], healthy=True)
    _register(c, "w2", ["a", "b"], healthy=False)
    _register(c, "w3", ["a"], healthy=True)
    c.agent.service.register("web", service_id="w4", tags=["a", "b", "c"])

    _, entries = c.health.service("web", passing=True, tag=["a", "b"])

    assert [e["Service"]["ID"] for e in entries] == ["w1", "w4"]


def test_warning_is_not_passing(c: Any) -> None:
    _register(c, "w1", [], healthy=False)
    c.agent.check.ttl_warn("ttl-w1")

    assert c.health.service("web", passing=True)[1] == []
    assert len(c.health.service("web")[1]) == 1


def test_catalog_service_filters_by_tag(c: Any) -> None:
    _register(c, "w1", ["blue"], healthy=True)
    _register(c, "w2", ["green"], healthy=True)

    _, entries = c.catalog.service("web", tag="green")

    assert [e["ServiceID"] for e in entries] == ["w2"]
    assert entries[0]["ServiceTags"] == ["green"]
    assert entries[0]["Node"] == "n1"


def test_catalog_services_lists_names_with_their_tags(c: Any) -> None:
    _register(c, "w1", ["b"], healthy=True)
    _register(c, "w2", ["a"], healthy=True)

    _, services = c.catalog.services()

    assert sorted(services["web"]) == ["a", "b"]  # Consul leaves the order open
    assert services["consul"] == []


def test_unknown_service_is_an_empty_list_and_unknown_node_is_none(c: Any) -> None:
    assert c.health.service("ghost")[1] == []
    assert c.catalog.service("ghost")[1] == []
    assert c.catalog.node("ghost")[1] is None


def test_another_nodes_service_registers_and_deregisters_through_the_catalog(
    c: Any,
) -> None:
    service = {"Service": "task", "ID": "task-1", "Port": 31000, "Tags": ["mesos"]}
    check = {
        "CheckID": "task-1-alive",
        "Name": "alive",
        "Status": "passing",
        "ServiceID": "task-1",
    }
    assert c.catalog.register("agent-7", "10.0.0.7", service=service, check=check)

    _, entries = c.health.service("task", passing=True)
    assert [(e["Node"]["Node"], e["Service"]["ID"]) for e in entries] == [
        ("agent-7", "task-1")
    ]
    assert "agent-7" in [n["Node"] for n in c.catalog.nodes()[1]]

    assert c.catalog.deregister("agent-7", service_id="task-1")

    assert c.health.service("task")[1] == []
    assert c.health.checks("task")[1] == []
    _, node = c.catalog.node("agent-7")
    assert node["Services"] == {}


def test_catalog_deregister_of_a_whole_node_removes_everything_on_it(c: Any) -> None:
    service = {"Service": "task", "ID": "t"}
    c.catalog.register("dead", "10.0.0.8", service=service)

    assert c.catalog.deregister("dead")

    assert c.catalog.node("dead")[1] is None
    assert c.catalog.service("task")[1] == []


def test_catalog_check_for_a_missing_service_is_refused(c: Any) -> None:
    check = {"CheckID": "x", "ServiceID": "ghost"}
    try:
        c.catalog.register("n9", "10.0.0.9", check=check)
    except consul.ConsulException:
        pass
    else:
        raise AssertionError("expected the registration to be refused")


def test_health_state_and_node_list_checks(c: Any) -> None:
    _register(c, "w1", [], healthy=False)

    _, critical = c.health.state("critical")
    _, on_node = c.health.node("n1")

    assert [x["CheckID"] for x in critical] == ["ttl-w1"]
    assert {x["CheckID"] for x in on_node} == {"serfHealth", "ttl-w1"}


def test_health_service_filter_expression(c: Any) -> None:
    _register(c, "w1", ["x"], healthy=True)
    _register(c, "w2", ["y"], healthy=True)

    _, entries = c.health.service("web", filter_expr='"y" in Service.Tags')

    assert [e["Service"]["ID"] for e in entries] == ["w2"]


def test_json_replies_carry_the_bare_json_media_type(
    c: Any, http: Callable[..., requests.Response]
) -> None:
    _register(c, "w1", ["a"], healthy=True)

    for path in ("/v1/catalog/services", "/v1/health/service/web", "/v1/agent/self"):
        response = http("GET", path)

        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
