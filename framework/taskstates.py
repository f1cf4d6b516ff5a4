"""Mesos task states (``mesos.proto`` TaskState) and the groups every layer uses.

One definition for the scheduler, the deployer, the sync loop and the local
master, so that "has this task ended?" has one answer everywhere.

* ``TERMINAL_STATES``: after these a task never runs again (what the master
  and the batch store treat as final).
* ``ENDED_STATES``: terminal, plus ``TASK_UNKNOWN``, the reconciliation answer
  for a task the master does not know: for a framework or an observer the
  task is gone just the same.
"""

from __future__ import annotations

TERMINAL_STATES = frozenset(
    {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_ERROR",
        "TASK_LOST",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
    }
)
ENDED_STATES = TERMINAL_STATES | {"TASK_UNKNOWN"}
