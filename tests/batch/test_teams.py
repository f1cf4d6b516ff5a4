"""Team weights and quotas load from TOML; mistakes name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.batch.teams import load_teams
from framework.errors import ConfigError
from framework.ids import TeamName


def test_weights_and_quotas_are_read(tmp_path: Path) -> None:
    path = tmp_path / "teams.toml"
    path.write_text("[teams.data]\nweight = 2\ncpus = 8\ntasks = 10\n[teams.web]\n")
    teams = load_teams(path)
    data = teams[TeamName("data")]
    assert data.weight == 2 and data.quota.cpus == 8 and data.quota.mem is None
    assert data.max_running_tasks == 10
    assert teams[TeamName("web")].weight == 1


def test_unknown_field_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "teams.toml"
    path.write_text("[teams.data]\ncpu = 8\n")
    with pytest.raises(ConfigError) as err:
        load_teams(path)
    assert err.value.source == str(path)
    assert "teams.data.cpu" in err.value.message


def test_zero_weight_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "teams.toml"
    path.write_text("[teams.data]\nweight = 0\n")
    with pytest.raises(ConfigError, match="weight"):
        load_teams(path)
