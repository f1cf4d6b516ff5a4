"""Agent service registration through py-consul, as a Consul agent answers it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import consul
import pytest
import requests

from tests.local_consul.conftest import answers_like_1_8


def test_registered_service_is_listed_with_consul_defaults(c: Any, server: Any) -> None:
    assert c.agent.service.register("web", service_id="web-1", port=8080)

    listed = c.agent.services()["web-1"]

    assert listed["Service"] == "web"
    assert listed["Tags"] == []
    assert listed["Meta"] == {}
    assert listed["Weights"] == {"Passing": 1, "Warning": 1}
    assert listed["EnableTagOverride"] is False
    if answers_like_1_8(server):
        assert "Datacenter" not in listed  # added to this listing after 1.8
    else:
        assert listed["Datacenter"] == "dc1"


def test_service_id_defaults_to_the_name(c: Any) -> None:
    c.agent.service.register("api")

    assert "api" in c.agent.services()


def test_deregistered_service_leaves_agent_catalog_and_health(c: Any) -> None:
    c.agent.service.register("web", service_id="web-1", check=consul.Check.ttl("30s"))

    assert c.agent.service.deregister("web-1") is True

    assert "web-1" not in c.agent.services()
    assert "service:web-1" not in c.agent.checks()
    assert c.catalog.service("web")[1] == []
    assert c.health.service("web")[1] == []


def test_deregistering_an_unknown_service_is_404_with_consuls_message(
    c: Any, server: Any, http: Callable[..., requests.Response]
) -> None:
    if answers_like_1_8(server):
        # 1.8 accepted it silently; later releases answer 404.
        assert c.agent.service.deregister("nope") is True
        return
    assert c.agent.service.deregister("nope") is False

    response = http("PUT", "/v1/agent/service/deregister/nope")

    assert response.status_code == 404
    assert 'Unknown service ID "nope"' in response.text


def test_get_on_a_write_endpoint_is_405(http: Callable[..., requests.Response]) -> None:
    response = http("GET", "/v1/agent/service/register")

    assert response.status_code == 405
    assert "PUT" in response.headers["Allow"]


def test_missing_name_is_400(http: Callable[..., requests.Response]) -> None:
    response = http("PUT", "/v1/agent/service/register", json={"Port": 1})

    assert response.status_code == 400
    assert response.text == "Missing service name"


def test_keys_are_case_insensitive_and_snake_case_is_accepted(
    c: Any, server: Any, http: Callable[..., requests.Response]
) -> None:
    body = {
        "NAME": "db",
        "iD": "db-1",
        "enable_tag_override": True,
        "Checks": [{"ttl": "5s", "deregister_critical_service_after": "90s"}],
    }
    assert http("PUT", "/v1/agent/service/register", json=body).status_code == 200

    service = c.agent.services()["db-1"]
    check = c.agent.checks()["service:db-1"]
    assert service["EnableTagOverride"] is True
    assert check["Type"] == "ttl"
    if answers_like_1_8(server):
        assert check["Definition"] == {}  # 1.8 echoed no TTL check definition
    else:
        assert check["Definition"]["DeregisterCriticalServiceAfter"] == "1m30s"


def test_several_checks_get_numbered_ids_and_start_critical(c: Any) -> None:
    c.agent.service.register(
        "web",
        service_id="w",
        check=consul.Check.ttl("30s"),
        extra_checks=[consul.Check.ttl("30s")],
    )

    checks = c.agent.checks()

    assert {"service:w:1", "service:w:2"} <= set(checks)
    assert checks["service:w:1"]["Status"] == "critical"
    assert checks["service:w:1"]["Name"] == "Service 'web' check"


def test_replace_existing_checks_drops_checks_missing_from_the_request(c: Any) -> None:
    first = {"CheckID": "a", "TTL": "30s"}
    c.agent.service.register("web", service_id="w", check=first)
    c.agent.check.register("extra", check=consul.Check.ttl("30s"), service_id="w")

    c.agent.service.register(
        "web", service_id="w", check=first, replace_existing_checks=True
    )

    assert set(c.agent.checks()) == {"a"}


def test_reregistering_keeps_check_status_and_the_catalog_index(c: Any) -> None:
    check = {"CheckID": "ttl", "TTL": "30s"}
    c.agent.service.register("web", service_id="w", tags=["v1"], check=check)
    c.agent.check.ttl_pass("ttl")
    index, _ = c.health.service("web")

    c.agent.service.register("web", service_id="w", tags=["v1"], check=check)

    again, entries = c.health.service("web")
    assert again == index
    assert entries[0]["Checks"][-1]["Status"] == "passing"


def test_maintenance_adds_a_critical_check_and_removes_it(c: Any) -> None:
    c.agent.service.register("web", service_id="w")

    assert c.agent.service.maintenance("w", True, "upgrading")
    check = c.agent.checks()["_service_maintenance:w"]
    assert check["Status"] == "critical"
    assert check["Notes"] == "upgrading"
    assert c.health.service("web", passing=True)[1] == []

    assert c.agent.service.maintenance("w", False)
    assert "_service_maintenance:w" not in c.agent.checks()


def test_service_definition_carries_a_content_hash(c: Any) -> None:
    c.agent.service.register("web", service_id="w", port=1)

    definition = c.agent.service_definition("w")

    assert definition["Port"] == 1
    assert len(definition["ContentHash"]) == 16


def test_agent_self_reports_dc1_and_a_version(c: Any) -> None:
    config = c.agent.self()["Config"]

    assert config["Datacenter"] == "dc1"
    assert config["NodeName"] == "n1"
    assert config["Version"].count(".") == 2


def test_filter_selects_services_by_tag_and_meta(c: Any) -> None:
    c.agent.service.register("a", tags=["blue"], meta={"team": "x"})
    c.agent.service.register("b", tags=["green"], meta={"team": "y"})

    assert set(c.agent.services(filter_expr='"blue" in Tags')) == {"a"}
    assert set(c.agent.services(filter_expr='Meta.team == "y"')) == {"b"}
    assert set(c.agent.services(filter_expr='not "blue" in Tags')) == {"b"}


def test_a_bad_filter_is_400(c: Any) -> None:
    with pytest.raises(consul.ConsulException):
        c.agent.services(filter_expr="Tags ===")


def test_unknown_datacenter_is_500(c: Any) -> None:
    with pytest.raises(consul.ConsulException, match="No path to datacenter"):
        c.catalog.services(dc="dc9")


def test_node_maintenance_fails_every_instance_on_the_node(c: Any) -> None:
    c.agent.service.register("web", service_id="w")

    assert c.agent.maintenance(True, "kernel upgrade")
    _, entries = c.health.service("web")
    assert c.health.service("web", passing=True)[1] == []
    assert "_node_maintenance" in [x["CheckID"] for x in entries[0]["Checks"]]

    assert c.agent.maintenance(False)
    assert len(c.health.service("web", passing=True)[1]) == 1
