"""vagrant/'s Consul provisioning, run for real against the pinned Consul release.

No VM boots here, but the Consul part of the provisioning does not need one: the
tests source vagrant/provision/consul.sh in bash, with only the two side effects
a VM would see replaced (files are written under a temporary root instead of /,
and systemd is not asked to start anything), and then:

* the server and client configuration files they render must pass
  `consul validate` of the real Consul 1.8.7 the VMs install;
* a real Consul server started from the rendered server file must come up with
  ACLs on, and `consul_bootstrap_acls` must give each token its documented
  powers, twice in a row without creating anything twice.

They skip with the installer's reason when that Consul is not installed.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import real_consul

PROVISION = Path(__file__).resolve().parent.parent / "vagrant" / "provision"

# Stand-ins for the two effects that need a VM; everything else runs as written.
STUBS = """
install_file() {
  local path="$3"
  case "${path}" in "${ROOT}"/*) ;; *) path="${ROOT}${path}" ;; esac
  mkdir -p "$(dirname "${path}")"
  cat >"${path}"
}
service_up() { :; }
"""


@pytest.fixture(scope="module")
def consul_binary() -> str:
    executable = real_consul.binary()
    if executable is None:
        pytest.skip(real_consul.SKIP_REASON)
    return executable


def cluster_env(root: Path, consul_binary: str, **extra: str) -> dict[str, str]:
    """The environment the Vagrantfile hands the scripts, with fresh secrets."""
    return {
        "PATH": f"{Path(consul_binary).parent}:{os.environ['PATH']}",
        "ROOT": str(root),
        "CONSUL_CONFIG_DIR": str(root / "etc" / "consul.d"),
        "NODE_IP": "127.0.0.1",
        "CONTROL_IP": "127.0.0.1",
        "CLUSTER_CONSUL_GOSSIP_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "CLUSTER_CONSUL_MANAGEMENT_TOKEN": str(uuid.uuid4()),
        "CLUSTER_CONSUL_AGENT_TOKEN": str(uuid.uuid4()),
        "CLUSTER_CONSUL_AGENT_ACCESSOR": str(uuid.uuid4()),
        **extra,
    }


def provision(env: dict[str, str], *commands: str) -> subprocess.CompletedProcess[str]:
    """Source lib.sh, versions.sh and consul.sh as the VMs do, then run commands."""
    script = "\n".join(
        [
            "set -euo pipefail",
            f". {PROVISION}/lib.sh",
            f". {PROVISION}/versions.sh",
            f". {PROVISION}/consul.sh",
            STUBS,
            *commands,
        ]
    )
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("role", ["server", "client"])
def test_rendered_configuration_passes_consul_validate(
    role: str, consul_binary: str, tmp_path: Path
) -> None:
    env = cluster_env(tmp_path, consul_binary)

    done = provision(env, f"consul_configure {role}")

    assert done.returncode == 0, done.stderr
    rendered = (tmp_path / "etc" / "consul.d" / "consul.hcl").read_text()
    assert env["CLUSTER_CONSUL_AGENT_TOKEN"] in rendered
    assert (env["CLUSTER_CONSUL_MANAGEMENT_TOKEN"] in rendered) == (role == "server")
    unit = (tmp_path / "etc" / "systemd" / "system" / "consul.service").read_text()
    assert f"ExecStart={consul_binary_path_on_vm()} agent" in unit


def consul_binary_path_on_vm() -> str:
    return "/usr/bin/consul"  # where Ubuntu's package puts it


def test_a_configuration_consul_rejects_stops_the_provisioning(
    consul_binary: str, tmp_path: Path
) -> None:
    env = cluster_env(tmp_path, consul_binary, CLUSTER_CONSUL_GOSSIP_KEY="short")

    done = provision(env, "consul_configure server", "echo not-reached")

    assert done.returncode != 0
    assert "consul rejected" in done.stderr
    assert "not-reached" not in done.stdout


class Server:
    """A real Consul server started from the provisioning's rendered file."""

    def __init__(self, consul_binary: str, root: Path) -> None:
        http, serf_lan, serf_wan, rpc = real_consul.free_ports(4)
        self.env = cluster_env(root, consul_binary, CONTROL_IP=f"127.0.0.1:{serf_lan}")
        self.url = f"http://127.0.0.1:{http}"
        self.env["CONSUL_API"] = self.url
        rendered = provision(self.env, "consul_configure server")
        assert rendered.returncode == 0, rendered.stderr
        # Only what a laptop test must change: free ports, a private data dir,
        # HTTP on loopback. The ACL, gossip and server settings are as rendered.
        override = root / "override.json"
        override.write_text(
            json.dumps(
                {
                    "data_dir": str(root / "data"),
                    "client_addr": "127.0.0.1",
                    "ports": real_consul.ports_config(http, serf_lan, serf_wan, rpc),
                }
            )
        )
        self.log = (root / "consul.log").open("wb")
        self.process = subprocess.Popen(
            [
                consul_binary,
                "agent",
                f"-config-dir={self.env['CONSUL_CONFIG_DIR']}",
                f"-config-file={override}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def token(self, name: str) -> str:
        return self.env[f"CLUSTER_CONSUL_{name}"]

    def call(
        self, method: str, path: str, token: str | None = None, **kwargs: object
    ) -> requests.Response:
        headers = {"X-Consul-Token": token} if token else {}
        return requests.request(
            method, self.url + path, headers=headers, timeout=10, **kwargs
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def server(
    consul_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    running = Server(consul_binary, tmp_path_factory.mktemp("vagrant-consul"))
    try:
        done = provision(running.env, "consul_wait_for_leader")
        assert done.returncode == 0, done.stderr
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def bootstrapped(server: Server) -> Server:
    for _ in range(2):  # re-provisioning must find what the first run made
        done = provision(server.env, "consul_bootstrap_acls")
        assert done.returncode == 0, done.stderr
    return server


def test_the_management_token_from_cluster_env_manages_the_cluster(
    bootstrapped: Server,
) -> None:
    management = bootstrapped.token("MANAGEMENT_TOKEN")

    me = bootstrapped.call("GET", "/v1/acl/token/self", management).json()

    assert [p["Name"] for p in me["Policies"]] == ["global-management"]
    assert bootstrapped.call("PUT", "/v1/kv/probe", management, data="1").json()


def test_the_agent_token_writes_nodes_and_only_reads_services(
    bootstrapped: Server,
) -> None:
    agent = bootstrapped.token("AGENT_TOKEN")
    node = {"Node": "agent9", "Address": "192.0.2.9"}
    with_service = {**node, "Service": {"ID": "web-1", "Service": "web"}}

    me = bootstrapped.call("GET", "/v1/acl/token/self", agent).json()

    assert me["AccessorID"] == bootstrapped.token("AGENT_ACCESSOR")
    assert [p["Name"] for p in me["Policies"]] == ["mesos-adapter-agents"]
    assert bootstrapped.call("PUT", "/v1/catalog/register", agent, json=node).ok
    denied = bootstrapped.call("PUT", "/v1/catalog/register", agent, json=with_service)
    assert denied.status_code == 403
    assert bootstrapped.call("PUT", "/v1/kv/probe", agent, data="1").status_code == 403


def test_anonymous_requests_are_denied_by_default(bootstrapped: Server) -> None:
    assert bootstrapped.call("PUT", "/v1/kv/probe", data="1").status_code == 403
    assert bootstrapped.call("GET", "/v1/agent/services").json() == {}


def test_bootstrapping_twice_creates_one_policy_and_one_agent_token(
    bootstrapped: Server,
) -> None:
    management = bootstrapped.token("MANAGEMENT_TOKEN")

    policies = bootstrapped.call("GET", "/v1/acl/policies", management).json()
    tokens = bootstrapped.call("GET", "/v1/acl/tokens", management).json()

    assert [p["Name"] for p in policies].count("mesos-adapter-agents") == 1
    agent_tokens = [
        t
        for t in tokens
        if any(p["Name"] == "mesos-adapter-agents" for p in t.get("Policies", []))
    ]
    assert [t["AccessorID"] for t in agent_tokens] == [
        bootstrapped.token("AGENT_ACCESSOR")
    ]


def test_the_server_elects_itself_with_the_rendered_bootstrap_settings(
    server: Server,
) -> None:
    deadline = time.monotonic() + 30
    while not server.call("GET", "/v1/status/leader").json():
        assert time.monotonic() < deadline, "no leader"
        time.sleep(0.1)
    members = server.call("GET", "/v1/agent/members", server.token("MANAGEMENT_TOKEN"))
    assert [m["Tags"]["role"] for m in members.json()] == ["consul"]
