"""Status updates are acknowledged after they are stored; a failed ACK is survivable."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any

import pytest

from framework.batch.core import BatchCore
from framework.batch.scheduler import BatchService
from framework.batch.spec import parse_job_spec
from framework.batch.store import JobStore
from framework.ids import TaskId


class AckDriver:
    def __init__(self, store: JobStore, *, fail: Exception | None = None) -> None:
        self.store = store
        self.fail = fail
        self.acked: list[tuple[str, str | None]] = []

    def acknowledgeStatusUpdate(self, status: dict[str, Any]) -> None:
        task_id = status["task_id"]["value"]
        stored = self.store.task(TaskId(task_id))
        self.acked.append((task_id, stored.state if stored else None))
        if self.fail is not None:
            raise self.fail

    def killTask(self, task_id: Any) -> None:
        pass


def update(task_id: str, state: str, *, uuid: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "task_id": {"value": task_id},
        "agent_id": {"value": "a1"},
        "state": state,
    }
    if uuid:
        out["uuid"] = "AAAAAAAAAAAAAAAAAAAAAA=="
    return out


def test_update_is_acknowledged_after_it_is_stored(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "s.sqlite")
    service = BatchService(BatchCore(store))
    spec = (
        '{"id": "j", "team": "t", "command": "true",'
        ' "resources": {"cpus": 1, "mem": 8}}'
    )
    service.core.submit(parse_job_spec(spec, source="test"), 0)
    service.core.on_offers([offer()], 1)
    driver = AckDriver(store)
    service.driver = driver
    service.status(update("j.0.1", "TASK_RUNNING"))
    assert driver.acked == [("j.0.1", "TASK_RUNNING")]


def offer() -> dict[str, Any]:
    return {
        "id": {"value": "o1"},
        "agent_id": {"value": "a1"},
        "hostname": "h1",
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 64.0}},
        ],
    }


def test_master_generated_updates_without_uuid_are_not_acknowledged(
    tmp_path: Path,
) -> None:
    store = JobStore(tmp_path / "s.sqlite")
    service = BatchService(BatchCore(store))
    driver = AckDriver(store)
    service.driver = driver
    service.status(update("stray.0.1", "TASK_LOST", uuid=False))
    assert driver.acked == []


@pytest.mark.parametrize(
    "failure",
    [
        RuntimeError("Failed to send request 403: Framework is not subscribed"),
        ConnectionResetError(104, "Connection reset by peer"),
        http.client.ResponseNotReady("Idle"),  # connection closed mid-call
    ],
)
def test_a_failed_acknowledgement_does_not_raise(
    tmp_path: Path, failure: Exception
) -> None:
    store = JobStore(tmp_path / "s.sqlite")
    service = BatchService(BatchCore(store))
    service.driver = AckDriver(store, fail=failure)
    service.status(update("stray.0.1", "TASK_FINISHED"))  # must not raise
