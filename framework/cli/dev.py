"""``mesos-adapter dev``: the local cluster (being written; see issue #3)."""

from __future__ import annotations

from framework.cli.common import not_available

dev = not_available("the local cluster (dev up)", 3)
