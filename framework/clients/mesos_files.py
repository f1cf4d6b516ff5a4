"""Task sandbox logs through the Mesos master state and the agents' files API.

Where a task's sandbox is: the master's ``/master/state`` names the task's
framework and agent, and the agent's ``pid`` (``slave(1)@host:port``) says
where the agent listens. Every Mesos agent serves the latest run of an
executor under the virtual path
``/slaves/<agent>/frameworks/<framework>/executors/<executor>/runs/latest``
through ``/files/read``; for a command task the executor id is the task id.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from framework.clients.mesos_operator import OperatorClient
from framework.errors import PermanentError

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Sandbox:
    agent_address: str  # host:port of the agent's HTTP endpoint
    path: str  # virtual path of the sandbox directory


def find_sandbox(master: OperatorClient, task_id: str) -> Sandbox:
    """Locate ``task_id``'s sandbox; PermanentError if the master does not know it."""
    state = master.get("/master/state")
    agents = {agent["id"]: agent for agent in state.get("slaves", [])}
    for framework in state.get("frameworks", []) + state.get(
        "completed_frameworks", []
    ):
        for task in framework.get("tasks", []) + framework.get("completed_tasks", []):
            if task.get("id") != task_id:
                continue
            agent = agents.get(task.get("slave_id"))
            if agent is None:
                raise PermanentError(
                    f"task {task_id}'s agent {task.get('slave_id')} is gone; "
                    "its sandbox went with it"
                )
            executor = task.get("executor_id") or task_id
            path = (
                f"/slaves/{agent['id']}/frameworks/{framework['id']}"
                f"/executors/{executor}/runs/latest"
            )
            return Sandbox(_address(agent), path)
    raise PermanentError(f"the Mesos master does not know task {task_id}")


def read(
    sandbox: Sandbox, name: str, *, follow: bool = False, poll: float = 1.0
) -> Iterator[str]:
    """Yield the contents of a sandbox file; with ``follow``, keep tailing it."""
    agent = OperatorClient(sandbox.agent_address)
    offset = 0
    try:
        while True:
            data = _read_chunk(agent, f"{sandbox.path}/{name}", offset)
            if data:
                offset += len(data.encode())
                yield data
                continue
            if not follow:
                return
            time.sleep(poll)
    finally:
        agent.close()


def _read_chunk(agent: OperatorClient, path: str, offset: int) -> str:
    params = {"path": path, "offset": offset, "length": CHUNK}
    body: dict[str, Any] = agent.get("/files/read", params)
    return str(body.get("data", ""))


def _address(agent: dict[str, Any]) -> str:
    pid = str(agent.get("pid", ""))
    if "@" in pid:
        return pid.split("@", 1)[1]
    return f"{agent.get('hostname', '127.0.0.1')}:{agent.get('port', 5051)}"
