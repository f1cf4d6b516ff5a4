"""The mesos-adapter command: help, version, not-yet-built groups, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from framework import __version__
from framework.cli.main import main


def run_cli(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script as a user would."""
    script = Path(sys.executable).parent / "mesos-adapter"
    full_env = {**os.environ, "XDG_CONFIG_HOME": "/nonexistent", **(env or {})}
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, env=full_env, timeout=60
    )


def test_version_prints_the_package_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_help_lists_every_command_group() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for group in ["dev", "jobs", "scheduler", "apps", "sync", "config"]:
        assert f"  {group} " in result.stdout


def test_unknown_flag_exits_2_with_one_line_and_no_traceback() -> None:
    result = run_cli("--no-such-flag")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--no-such-flag" in lines[0]
    assert "Traceback" not in result.stderr


def test_invalid_mesos_master_exits_2_naming_the_variable() -> None:
    result = run_cli("config", "show", env={"MESOS_MASTER": "http://m:5050"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("mesos-adapter: error: MESOS_MASTER: expected host:port")
    assert "Traceback" not in result.stderr


def test_malformed_config_file_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[mesos]\nmaster = \n")
    result = run_cli("--config", str(config), "config", "show")
    assert result.returncode == 2
    assert f"{config}:2: malformed TOML" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_config_show_prints_values_with_sources_and_masks_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent")
    monkeypatch.setenv("CONSUL_HTTP_TOKEN", "tok-123")
    monkeypatch.setenv("MESOS_MASTER", "10.1.2.3:5050")
    code = main(
        ["--marathon-url", "http://m1:8080", "config", "show", "--output", "json"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "tok-123" not in out
    assert '"source": "CONSUL_HTTP_TOKEN"' in out
    assert '"value": "10.1.2.3:5050"' in out
    assert '"source": "--marathon-url"' in out


def test_config_show_table_names_sources(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent")
    assert main(["--set", "scheduler.policy=spread", "config", "show"]) == 0
    out = capsys.readouterr().out
    assert "--set scheduler.policy" in out
    assert "MESOS_MASTER" in out
