"""A local stand-in for Marathon 1.x's REST API v2, itself a Mesos framework.

marathon-python 0.13 works against it unchanged. Layout, decisions apart
from effects:

* pure: ``validation`` (app definitions), ``planner`` (what to launch and
  kill), ``health`` (``judge``), ``offers`` (matching, TaskInfos), ``views``;
* state: ``model`` records, ``core`` (stimuli) and ``commands`` (user
  changes), always called under ``service.MarathonService``'s lock;
* effects: ``service`` (driver worker, pymesos callbacks), ``http_apps`` and
  ``http_misc`` (aiohttp), ``persist`` (state file), ``server``
  (``LocalMarathon``).

``LocalMarathon`` is imported lazily because importing pymesos installs a
SIGINT handler, which the CLI must not get at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework.local.marathon.model import MarathonTiming

if TYPE_CHECKING:
    from framework.local.marathon.server import LocalMarathon

__all__ = ["LocalMarathon", "MarathonTiming"]


def __getattr__(name: str) -> Any:
    if name == "LocalMarathon":
        from framework.local.marathon.server import LocalMarathon

        return LocalMarathon
    raise AttributeError(name)
