"""Typed identifiers shared by every layer.

Mesos, Marathon and Consul all identify things with plain strings; a `NewType`
per kind lets mypy catch a task id passed where an app id belongs. They cost
nothing at run time.
"""

from __future__ import annotations

from typing import NewType

FrameworkId = NewType("FrameworkId", str)
AgentId = NewType("AgentId", str)
OfferId = NewType("OfferId", str)
TaskId = NewType("TaskId", str)
ExecutorId = NewType("ExecutorId", str)
JobId = NewType("JobId", str)
TeamName = NewType("TeamName", str)
AppId = NewType("AppId", str)
DeploymentId = NewType("DeploymentId", str)
ServiceId = NewType("ServiceId", str)
StreamId = NewType("StreamId", str)
