"""The local Marathon's state on disk: one JSON file, replaced atomically.

What survives a restart: the framework id (so the next start re-subscribes
as the same framework and Mesos hands back its tasks), every app with all
its versions and backoff, the deployments in progress and the tasks with
their health. Written to a temporary file in the same directory, fsynced,
then renamed over ``state.json``: a reader sees the old or the new state,
never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from framework.ids import AppId, DeploymentId, TaskId
from framework.local.marathon.core import MarathonCore
from framework.local.marathon.model import (
    AppRecord,
    DeploymentRecord,
    JsonDict,
    TaskRecord,
)

FILE_NAME = "state.json"
FORMAT = 1


class CorruptState(Exception):
    """The state file exists but cannot be read back."""


def snapshot(core: MarathonCore) -> JsonDict:
    return {
        "format": FORMAT,
        "frameworkId": core.framework_id,
        "lastVersion": core.last_version,
        "apps": [a.to_json() for a in core.apps.values()],
        "tasks": [t.to_json() for t in core.tasks.values()],
        "deployments": [d.to_json() for d in core.deployments.values()],
    }


def restore(core: MarathonCore, state: JsonDict) -> None:
    core.framework_id = state.get("frameworkId")
    core.last_version = float(state.get("lastVersion", 0.0))
    apps = [AppRecord.from_json(a) for a in state.get("apps", [])]
    tasks = [TaskRecord.from_json(t) for t in state.get("tasks", [])]
    deployments = [DeploymentRecord.from_json(d) for d in state.get("deployments", [])]
    core.apps = {AppId(a.app_id): a for a in apps}
    core.tasks = {TaskId(t.task_id): t for t in tasks}
    core.deployments = {DeploymentId(d.deployment_id): d for d in deployments}


def save(data_dir: Path, core: MarathonCore) -> None:
    """Write the state atomically (see the module docstring)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(snapshot(core), separators=(",", ":"))
    fd, temp = tempfile.mkstemp(prefix=".state-", dir=data_dir)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, data_dir / FILE_NAME)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def load(data_dir: Path, core: MarathonCore) -> bool:
    """Restore the state from ``data_dir``; False when there is none yet."""
    path = data_dir / FILE_NAME
    if not path.exists():
        return False
    try:
        restore(core, json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptState(f"cannot read {path}: {exc}") from exc
    return True
