"""Validation of scheduler calls and launched tasks, as the Mesos master does it.

Two levels, kept apart because they fail differently on the wire:

* ``validate_call`` is the HTTP-level check (JSON that does not convert to a
  ``Call``, a missing union member, a missing ``framework_id``, a bad uuid):
  its message becomes a **400** body and nothing changes.
* ``validate_task`` is the semantic check of one TaskInfo inside an ACCEPT
  (duplicate id, wrong agent, no command, too many resources): it becomes a
  ``TASK_ERROR`` / ``REASON_TASK_INVALID`` update; the call itself is 202.

Both are pure and return an error message or None.
"""

from __future__ import annotations

import binascii
from collections.abc import Container, Mapping
from typing import Any

from framework.local.mesos_wire import Resources, id_value, parse_resources, unb64

# Call type -> the union member it requires (None: optional or none).
CALL_MEMBERS: dict[str, tuple[str, bool]] = {
    "SUBSCRIBE": ("subscribe", True),
    "TEARDOWN": ("", False),
    "ACCEPT": ("accept", True),
    "DECLINE": ("decline", True),
    "ACCEPT_INVERSE_OFFERS": ("accept_inverse_offers", True),
    "DECLINE_INVERSE_OFFERS": ("decline_inverse_offers", True),
    "REVIVE": ("revive", False),
    "KILL": ("kill", True),
    "SHUTDOWN": ("shutdown", True),
    "ACKNOWLEDGE": ("acknowledge", True),
    "ACKNOWLEDGE_OPERATION_STATUS": ("acknowledge_operation_status", True),
    "RECONCILE": ("reconcile", True),
    "RECONCILE_OPERATIONS": ("reconcile_operations", True),
    "MESSAGE": ("message", True),
    "REQUEST": ("request", True),
    "SUPPRESS": ("suppress", False),
    "UPDATE_FRAMEWORK": ("update_framework", True),
    "UNKNOWN": ("", False),  # valid, but answered 501 Not Implemented
}


def _need_id(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    if id_value(obj.get(key)) is None:
        return f"Expecting '{where}{key}' to be present"
    return None


def validate_call(call: Any) -> str | None:
    """HTTP-level validation of a decoded Call; the message of a 400 or None."""
    if not isinstance(call, dict):
        return "Failed to convert JSON into Call protobuf: expected an object"
    kind = call.get("type")
    if not isinstance(kind, str) or kind not in CALL_MEMBERS:
        return "Expecting 'type' to be present"
    member, required = CALL_MEMBERS[kind]
    body = call.get(member) if member else None
    if required and not isinstance(body, dict):
        return f"Expecting '{member}' to be present"
    if body is not None and not isinstance(body, dict):
        return (
            f"Failed to convert JSON into Call protobuf: '{member}' must be an object"
        )
    if kind == "SUBSCRIBE":
        assert body is not None
        return _validate_subscribe(call, body)
    if id_value(call.get("framework_id")) is None:
        return "Expecting 'framework_id' to be present"
    check = _MEMBER_CHECKS.get(kind)
    return check(body or {}) if check else None


def _validate_subscribe(call: Mapping[str, Any], body: Mapping[str, Any]) -> str | None:
    info = body.get("framework_info")
    if not isinstance(info, dict):
        return "Expecting 'subscribe.framework_info' to be present"
    return _validate_framework_info(info, call)


def _validate_framework_info(
    info: Mapping[str, Any], call: Mapping[str, Any]
) -> str | None:
    for key in ("user", "name"):
        if not isinstance(info.get(key), str):
            return f"Failed to convert JSON into Call protobuf: missing '{key}'"
    info_id = id_value(info.get("id"))
    top_id = id_value(call.get("framework_id"))
    if call.get("type") == "SUBSCRIBE" and "framework_id" in call and top_id != info_id:
        return "'framework_id' differs from 'subscribe.framework_info.id'"
    return None


def _check_accept(body: Mapping[str, Any]) -> str | None:
    if not isinstance(body.get("offer_ids", []), list):
        return "Failed to convert JSON into Call protobuf: 'offer_ids' must be a list"
    for operation in body.get("operations", []) or []:
        if not isinstance(operation, dict) or not isinstance(
            operation.get("type"), str
        ):
            return "Failed to convert JSON into Call protobuf: operation needs 'type'"
        for task in _operation_tasks(operation):
            message = _check_task_fields(task)
            if message:
                return message
    return None


def _operation_tasks(operation: Mapping[str, Any]) -> list[Any]:
    if operation.get("type") == "LAUNCH":
        tasks = (operation.get("launch") or {}).get("task_infos", [])
    elif operation.get("type") == "LAUNCH_GROUP":
        group = (operation.get("launch_group") or {}).get("task_group") or {}
        tasks = group.get("tasks", [])
    else:
        return []
    return tasks if isinstance(tasks, list) else [None]


def _check_task_fields(task: Any) -> str | None:
    """Required TaskInfo fields: a missing one makes the JSON unconvertible."""
    if not isinstance(task, dict):
        return "Failed to convert JSON into Call protobuf: a TaskInfo must be an object"
    if not isinstance(task.get("name"), str):
        return "Failed to convert JSON into Call protobuf: missing 'TaskInfo.name'"
    for key in ("task_id", "agent_id"):
        if id_value(task.get(key)) is None:
            return (
                f"Failed to convert JSON into Call protobuf: missing 'TaskInfo.{key}'"
            )
    return None


def _check_decline(body: Mapping[str, Any]) -> str | None:
    if not isinstance(body.get("offer_ids", []), list):
        return "Failed to convert JSON into Call protobuf: 'offer_ids' must be a list"
    return None


def _check_kill(body: Mapping[str, Any]) -> str | None:
    return _need_id(body, "task_id", "kill.")


def _check_shutdown(body: Mapping[str, Any]) -> str | None:
    return _need_id(body, "executor_id", "shutdown.") or _need_id(
        body, "agent_id", "shutdown."
    )


def _check_acknowledge(body: Mapping[str, Any]) -> str | None:
    missing = _need_id(body, "agent_id", "acknowledge.") or _need_id(
        body, "task_id", "acknowledge."
    )
    if missing:
        return missing
    uuid = body.get("uuid")
    if not isinstance(uuid, str):
        return "Expecting 'acknowledge.uuid' to be present"
    try:
        raw = unb64(uuid)
    except (binascii.Error, ValueError):
        return "Failed to convert JSON into Call protobuf: 'uuid' is not base64"
    if len(raw) != 16:
        return f"Not a valid UUID: {len(raw)} bytes instead of 16"
    return None


def _check_reconcile(body: Mapping[str, Any]) -> str | None:
    tasks = body.get("tasks", [])
    if not isinstance(tasks, list):
        return "Failed to convert JSON into Call protobuf: 'tasks' must be a list"
    for task in tasks:
        if not isinstance(task, dict) or id_value(task.get("task_id")) is None:
            return "Expecting 'reconcile.tasks.task_id' to be present"
    return None


def _check_message(body: Mapping[str, Any]) -> str | None:
    missing = _need_id(body, "agent_id", "message.") or _need_id(
        body, "executor_id", "message."
    )
    if missing:
        return missing
    if not isinstance(body.get("data"), str):
        return "Expecting 'message.data' to be present"
    return None


def _check_update_framework(body: Mapping[str, Any]) -> str | None:
    info = body.get("framework_info")
    if not isinstance(info, dict):
        return "Expecting 'update_framework.framework_info' to be present"
    return _validate_framework_info(info, {})


_MEMBER_CHECKS = {
    "ACCEPT": _check_accept,
    "DECLINE": _check_decline,
    "KILL": _check_kill,
    "SHUTDOWN": _check_shutdown,
    "ACKNOWLEDGE": _check_acknowledge,
    "RECONCILE": _check_reconcile,
    "MESSAGE": _check_message,
    "UPDATE_FRAMEWORK": _check_update_framework,
}


# ---------------------------------------------------------------------------
# Task validation (TASK_ERROR, REASON_TASK_INVALID)


def validate_task_id(task_id: str) -> str | None:
    if not task_id:
        return "Task ID must not be empty"
    if task_id in (".", "..") or "/" in task_id or "\0" in task_id:
        return f"Task ID '{task_id}' contains invalid characters"
    return None


def validate_task(
    task: Mapping[str, Any],
    agent_id: str,
    used_ids: Container[str],
    available: Resources,
    *,
    in_group: bool = False,
) -> tuple[str | None, Resources]:
    """Check one TaskInfo against the offer; return (error, its resources)."""
    task_id = id_value(task.get("task_id")) or ""
    error = validate_task_id(task_id)
    if error:
        return error, Resources()
    if task_id in used_ids:
        return f"Task has duplicate ID: {task_id}", Resources()
    if id_value(task.get("agent_id")) != agent_id:
        return (
            f"Task uses invalid agent: {id_value(task.get('agent_id'))} "
            f"(offers are for {agent_id})",
            Resources(),
        )
    error = _check_executable(task, in_group)
    if error:
        return error, Resources()
    return _check_task_resources(task, available)


def _check_executable(task: Mapping[str, Any], in_group: bool) -> str | None:
    has_command, has_executor = "command" in task, "executor" in task
    if in_group:
        if has_executor:
            return "'TaskInfo.executor' must not be set in a task group"
        return None
    if has_command == has_executor:
        return (
            "Task should have at least one (but not both) of CommandInfo or "
            "ExecutorInfo present"
        )
    grace = ((task.get("kill_policy") or {}).get("grace_period") or {}).get(
        "nanoseconds", 0
    )
    if not isinstance(grace, int) or grace < 0:
        return "Task's 'kill_policy.grace_period' must be a non-negative duration"
    return None


def _check_task_resources(
    task: Mapping[str, Any], available: Resources
) -> tuple[str | None, Resources]:
    try:
        res = parse_resources(task.get("resources", []))
    except ValueError as exc:
        return f"Task uses invalid resources: {exc}", Resources()
    if res.is_empty():
        return "Task uses no resources", res
    if not available.contains(res):
        return (
            f"Task uses more resources {res.describe()} than available "
            f"{available.describe()}",
            res,
        )
    return None, res
