"""Mesos client: pymesos's scheduler driver built from our settings.

pymesos 0.3.15 quirks handled here so no caller has to know them:

* the master address is ``host:port`` or ``zk://...`` and never carries a
  scheme (``http://`` breaks its ``addr.split(':')``);
* importing pymesos installs a SIGINT handler, so this module is imported only
  by code that is about to drive a framework, never by the CLI at start-up;
* it needs ``http-parser``, installed as a pure-Python wheel by ``make``
  (tools/build_http_parser_wheel.py).
"""

from __future__ import annotations

from typing import Any

import pymesos

from framework.settings import MesosSettings

Scheduler = pymesos.Scheduler
decode_data = pymesos.decode_data
encode_data = pymesos.encode_data


def new_driver(
    scheduler: Any,
    framework_info: dict[str, Any],
    settings: MesosSettings,
    *,
    implicit_acknowledgements: bool = True,
) -> Any:
    """A ``pymesos.MesosSchedulerDriver`` for ``settings.master`` (not started)."""
    secret = settings.secret.reveal() if settings.secret else None
    return pymesos.MesosSchedulerDriver(
        scheduler,
        framework_info,
        settings.master,
        use_addict=False,
        implicit_acknowledgements=implicit_acknowledgements,
        principal=settings.principal,
        secret=secret,
    )
