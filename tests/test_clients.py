"""The client factories build upstream clients from settings, secrets included."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.clients import consul as consul_client
from framework.clients import marathon as marathon_client
from framework.settings import ConsulSettings, MarathonSettings, Secret


@pytest.mark.parametrize(
    ("addr", "parts"),
    [
        ("127.0.0.1:8500", ("http", "127.0.0.1", 8500)),
        ("https://consul.example:8501", ("https", "consul.example", 8501)),
        ("http://c:8500/", ("http", "c", 8500)),
        ("consul", ("http", "consul", 8500)),
    ],
)
def test_consul_addr_forms_split_like_consul_does(
    addr: str, parts: tuple[str, str, int]
) -> None:
    assert consul_client.split_addr(addr) == parts


def test_consul_client_sends_the_acl_token() -> None:
    client = consul_client.new_client(
        ConsulSettings(addr="https://c:8501", token=Secret("t0k"))
    )
    assert client.token == "t0k"
    assert client.http.base_uri == "https://c:8501"


def test_marathon_client_tries_every_url_in_order_with_basic_auth() -> None:
    settings = MarathonSettings(
        url="http://m1:8080, http://m2:8080",
        username="ops",
        password=Secret("pw"),
    )
    client = marathon_client.new_client(settings)
    assert client.servers == ["http://m1:8080", "http://m2:8080"]
    assert client.auth == ("ops", "pw")


def test_ca_cert_is_used_to_verify_marathon_and_consul(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    marathon = marathon_client.new_client(
        MarathonSettings(url="https://m:8443"), ca_cert=str(bundle)
    )
    assert marathon.verify == str(bundle)
    consul = consul_client.new_client(
        ConsulSettings(addr="https://c:8501"), ca_cert=str(bundle)
    )
    assert consul.http.verify == str(bundle)
    assert marathon_client.new_client(MarathonSettings()).verify is True
