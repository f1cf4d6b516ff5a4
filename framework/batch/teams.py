"""Team weights and quotas for the batch scheduler, read from a TOML file.

::

    [teams.data]
    weight = 2          # DRF weight: may hold twice the dominant share of weight 1
    cpus = 16           # quota: at most 16 cpus running at once
    mem = 65536         # MB
    tasks = 100         # running tasks

A team not listed has weight 1 and no quota.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from framework.batch import placement
from framework.batch.core import TeamPolicy
from framework.errors import ConfigError
from framework.ids import TeamName


class _Team(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weight: float = Field(default=1.0, gt=0)
    cpus: float | None = Field(default=None, ge=0)
    mem: float | None = Field(default=None, ge=0)
    disk: float | None = Field(default=None, ge=0)
    gpus: float | None = Field(default=None, ge=0)
    tasks: int | None = Field(default=None, ge=0)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    teams: dict[str, _Team] = Field(default_factory=dict)


def load_teams(path: str | Path) -> dict[TeamName, TeamPolicy]:
    """Read the teams file; raises ConfigError naming the file and the field."""
    try:
        data = tomllib.loads(Path(path).expanduser().read_text())
        parsed = _File.model_validate(data)
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read teams file ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"malformed TOML: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(str(path), f"{where}: {first['msg']}") from exc
    return {
        TeamName(name): TeamPolicy(
            weight=team.weight,
            quota=placement.Quota(
                cpus=team.cpus, mem=team.mem, disk=team.disk, gpus=team.gpus
            ),
            max_running_tasks=team.tasks,
        )
        for name, team in parsed.teams.items()
    }
