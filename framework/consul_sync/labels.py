"""Labels to Consul fields: service name, tags, weights, canary; pure.

Label contract (Marathon app labels, or Mesos task labels for other frameworks):

=========================  ==================================================
``consul.name``            service name; default: the Marathon app id with
                           ``/`` turned into ``-`` (``/team/web`` → ``team-web``)
``consul.tags``            extra tags, comma-separated
``mesos-adapter.canary``   ``true`` (tag ``canary``) or ``false`` (``stable``)
``mesos-adapter.weight``   1..100 → Weights ``{Passing: w, Warning: 1}``
=========================  ==================================================

Invariant: a value Consul would reject (a name that is not a DNS label, a tag
with spaces, a weight out of range) raises `LabelError` naming the label and
the fix; the caller skips that app only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

NAME_LABEL = "consul.name"
TAGS_LABEL = "consul.tags"
CANARY_LABEL = "mesos-adapter.canary"
WEIGHT_LABEL = "mesos-adapter.weight"

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_TAG = re.compile(r"^[^\s,]{1,255}$")


class LabelError(ValueError):
    """A label value Consul would reject; the message names label and fix."""


@dataclass(frozen=True)
class Naming:
    name: str
    tags: tuple[str, ...]
    weights: tuple[int, int]


def app_service_name(app_id: str) -> str:
    """``/team/web`` → ``team-web``."""
    return app_id.strip("/").replace("/", "-")


def naming(labels: Mapping[str, str], app_id: str | None, version: str) -> Naming:
    """Name, tags and weights of an app's instances; LabelError on bad values."""
    name = labels.get(NAME_LABEL) or (app_service_name(app_id) if app_id else "")
    if not _NAME.match(name):
        raise LabelError(
            f"service name {name!r} (label {NAME_LABEL} or the app id) is not a "
            "DNS label: use 1-63 lowercase letters, digits and dashes"
        )
    tags = _extra_tags(labels.get(TAGS_LABEL, ""))
    if version:
        tags.append(f"version={version}")
    tags.append("canary" if _canary(labels.get(CANARY_LABEL)) else "stable")
    return Naming(name, tuple(tags), _weights(labels.get(WEIGHT_LABEL)))


def _extra_tags(raw: str) -> list[str]:
    tags = [t.strip() for t in raw.split(",")] if raw.strip() else []
    for tag in tags:
        if not _TAG.match(tag):
            raise LabelError(
                f"tag {tag!r} in label {TAGS_LABEL} is empty or holds spaces: "
                "separate tags with commas only"
            )
    return tags


def _canary(raw: str | None) -> bool:
    if raw is None or raw.strip().lower() in ("", "false"):
        return False
    if raw.strip().lower() == "true":
        return True
    raise LabelError(f"label {CANARY_LABEL}={raw!r}: expected true or false")


def _weights(raw: str | None) -> tuple[int, int]:
    if raw is None or not raw.strip():
        return (1, 1)
    try:
        weight = int(raw)
    except ValueError:
        weight = 0
    if not 1 <= weight <= 100:
        raise LabelError(
            f"label {WEIGHT_LABEL}={raw!r}: expected a whole number from 1 to 100"
        )
    return (weight, 1)
