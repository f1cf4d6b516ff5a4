"""The Vagrant cluster (vagrant/), checked without booting it.

Nothing here starts a VM. The first test runs tools/check-vagrant.sh (shellcheck
and ``vagrant validate``/``ruby -c``) and skips with the script's reason when those
tools are absent; the rest read the files and need no tools at all.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from framework.settings import env_name, load_settings

ROOT = Path(__file__).resolve().parent.parent
VAGRANT = ROOT / "vagrant"
PROVISION = VAGRANT / "provision"
VAGRANTFILE = VAGRANT / "Vagrantfile"
README = VAGRANT / "README.md"
CHECK_SCRIPT = ROOT / "tools" / "check-vagrant.sh"

DOCUMENTED_VMS = {
    "control": "192.168.56.10",
    "agent1": "192.168.56.11",
    "agent2": "192.168.56.12",
}
AGENT_ATTRIBUTES = {"agent1": "rack:r1;zone:z1", "agent2": "rack:r2;zone:z2"}
# What the cluster hands to mesos-adapter, as dotted settings keys.
CLUSTER_SETTINGS = [
    "mesos.master",
    "marathon.url",
    "consul.addr",
    "consul.token",
    "mesos.principal",
    "mesos.secret",
    "marathon.username",
    "marathon.password",
]
# Non-secret values the README and the brief promise.
CLUSTER_ADDRESSES = {
    "MESOS_MASTER": "zk://192.168.56.10:2181/mesos",
    "MARATHON_URL": "http://192.168.56.10:8080",
    "CONSUL_HTTP_ADDR": "192.168.56.10:8500",
}
# x.y.z, but not part of a longer dotted run such as an IP address.
SEMVER = re.compile(r"(?<![\d.])\d+\.\d+\.\d+(?![\d.])")


def provision_scripts() -> list[Path]:
    scripts = sorted(PROVISION.glob("*.sh"))
    assert scripts, "no provisioning scripts under vagrant/provision"
    return scripts


def pinned_versions() -> dict[str, str]:
    """NAME_VERSION="value" assignments in provision/versions.sh."""
    text = (PROVISION / "versions.sh").read_text()
    return dict(re.findall(r'^([A-Z0-9_]+_VERSION)="([^"]+)"$', text, re.MULTILINE))


def vagrantfile_nodes() -> list[dict[str, str]]:
    """The NODES table: one ``{ name: ..., ip: ..., ... }`` line per VM."""
    text = VAGRANTFILE.read_text()
    rows = re.findall(r"^\s*\{ name: .*\},?$", text, re.MULTILINE)
    return [dict(re.findall(r'(\w+): "([^"]*)"', row)) for row in rows]


def cluster_env_names_and_values() -> dict[str, str]:
    """The names (and literal values) the Vagrantfile writes to .cluster-env."""
    text = VAGRANTFILE.read_text()
    body = re.search(r"def cluster_env_lines\(.*?\n(.*?)\nend\n", text, re.DOTALL)
    assert body, "Vagrantfile has no cluster_env_lines method"
    control_ip = re.search(r'^CONTROL_IP = "([^"]+)"$', text, re.MULTILINE)
    assert control_ip
    pairs = re.findall(r'"([A-Z_]+)" => (.+?),?$', body.group(1), re.MULTILINE)
    return {
        name: value.replace("#{CONTROL_IP}", control_ip.group(1)).strip('"')
        for name, value in pairs
    }


def readme_table_rows() -> list[str]:
    return [line for line in README.read_text().splitlines() if line.startswith("|")]


def test_check_script_passes_or_says_why_it_skipped() -> None:
    result = subprocess.run(
        ["bash", str(CHECK_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=dict(os.environ),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    skipped = [line for line in result.stdout.splitlines() if " SKIP " in line]
    if skipped:
        pytest.skip("; ".join(skipped))
    assert "check-vagrant: ok shellcheck" in result.stdout
    assert "check-vagrant: ok " in result.stdout.replace("ok shellcheck", "")


def test_every_provisioning_script_starts_with_shebang_and_strict_mode() -> None:
    for script in provision_scripts():
        lines = script.read_text().splitlines()
        assert lines[0] == "#!/usr/bin/env bash", f"{script.name}: shebang"
        commands = [
            line for line in lines[1:] if line.strip() and not line.startswith("#")
        ]
        assert commands[0] == "set -euo pipefail", f"{script.name}: strict mode"


def test_vagrantfile_defines_exactly_the_three_documented_vms() -> None:
    nodes = vagrantfile_nodes()
    assert {node["name"]: node["ip"] for node in nodes} == DOCUMENTED_VMS
    assert len(nodes) == 3
    # Machines come only from the NODES table: one define, inside its loop.
    text = VAGRANTFILE.read_text()
    assert text.count(".vm.define") == 1
    assert "NODES.each do |node|" in text
    rows = readme_table_rows()
    for name, ip in DOCUMENTED_VMS.items():
        assert any(f"`{name}`" in row and f"`{ip}`" in row for row in rows), name


def test_agents_carry_the_documented_rack_and_zone_attributes() -> None:
    attributes = {node["name"]: node.get("attributes") for node in vagrantfile_nodes()}
    assert attributes["control"] is None
    for agent, expected in AGENT_ATTRIBUTES.items():
        assert attributes[agent] == expected
        assert expected in README.read_text()


def test_every_pinned_version_appears_in_the_readme_table() -> None:
    versions = pinned_versions()
    assert {"MESOS_VERSION", "MARATHON_VERSION", "CONSUL_VERSION"} <= set(versions)
    rows = readme_table_rows()
    for name, value in versions.items():
        assert any(f"`{value}`" in row for row in rows), f"{name}={value} not in README"


def test_pins_are_the_required_releases() -> None:
    versions = pinned_versions()
    assert versions["MESOS_VERSION"] == "1.11.0"
    assert versions["MARATHON_VERSION"].startswith("1.11.")
    # Consul 1.14.x and earlier are MPL-2.0; later minors moved towards the BSL.
    consul = tuple(int(part) for part in versions["CONSUL_VERSION"].split("."))
    assert consul[:2] <= (1, 14)


def test_scripts_take_versions_only_from_the_versions_file() -> None:
    for script in provision_scripts():
        if script.name == "versions.sh":
            continue
        found = SEMVER.findall(script.read_text())
        assert not found, f"{script.name} hard-codes {found}; use versions.sh"


def test_cluster_env_and_secrets_are_gitignored() -> None:
    private = ["vagrant/.cluster-env", "vagrant/.secrets.json"]
    if shutil.which("git") and (ROOT / ".git").exists():
        for path in private:
            ignored = subprocess.run(
                ["git", "check-ignore", "-q", path], cwd=ROOT, timeout=30
            )
            assert ignored.returncode == 0, f"{path} is not gitignored"
    else:
        patterns = (VAGRANT / ".gitignore").read_text().splitlines()
        for path in private:
            assert Path(path).name in patterns


def test_cluster_env_exports_exactly_the_project_setting_names(
    tmp_path: Path,
) -> None:
    written = cluster_env_names_and_values()
    assert set(written) == {env_name(key) for key in CLUSTER_SETTINGS}
    for name, value in CLUSTER_ADDRESSES.items():
        assert written[name] == value
    # Each exported line sets the setting it is meant to, and the values validate.
    env = {name: "example" for name in written} | CLUSTER_ADDRESSES
    loaded = load_settings(env={**env, "XDG_CONFIG_HOME": str(tmp_path)})
    for key in CLUSTER_SETTINGS:
        assert loaded.sources[key] == env_name(key)
    readme = README.read_text()
    for name in written:
        assert f"`{name}" in readme, f"{name} is not documented in vagrant/README.md"
