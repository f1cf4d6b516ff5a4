"""Consul wire vocabulary: request decoding rules and Go-style durations.

Pure helpers shared by the store and the HTTP layer of the local Consul.

Invariants:

* Request bodies are decoded the way Consul's Go decoder does it: struct field
  names match case-insensitively and the snake_case spellings Consul accepts
  (``enable_tag_override``, ``deregister_critical_service_after``) match too.
  Only struct fields are folded; user maps (``Meta``, ``Header``, tagged
  address names) keep their keys exactly.
* Durations are seconds as ``float`` inside the stand-in and Go duration
  strings (``"10s"``, ``"1m30s"``, ``"250ms"``) on the wire; a JSON number is
  nanoseconds, as Go's ``time.Duration``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

JsonDict = dict[str, Any]

CONSUL_VERSION = "1.17.0"
DATACENTER = "dc1"
MAX_WAIT = 600.0  # Consul caps a blocking query's wait at 10 minutes
DEFAULT_WAIT = 300.0  # ... and holds one without ``wait`` for 5 minutes
MAX_KV_VALUE = 512 * 1024

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0}
_UNITS.update({"m": 60.0, "h": 3600.0})
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


class DecodeError(ValueError):
    """A request body or parameter Consul would refuse with 400."""


def fold(name: str) -> str:
    """The key under which Consul's decoder matches a field name."""
    return name.replace("_", "").replace("-", "").lower()


class Fields:
    """Case-insensitive, snake_case-tolerant view of one decoded JSON object."""

    def __init__(self, raw: Any, what: str = "request") -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise DecodeError(f"Request decode failed: {what} must be a JSON object")
        self._by_fold = {fold(str(k)): v for k, v in raw.items()}

    def has(self, name: str) -> bool:
        return fold(name) in self._by_fold and self._by_fold[fold(name)] is not None

    def get(self, name: str, default: Any = None) -> Any:
        value = self._by_fold.get(fold(name))
        return default if value is None else value

    def text(self, name: str, default: str = "") -> str:
        value = self.get(name, default)
        if not isinstance(value, str):
            raise DecodeError(f"Request decode failed: {name} must be a string")
        return value

    def integer(self, name: str, default: int = 0) -> int:
        value = self.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DecodeError(f"Request decode failed: {name} must be a number")
        return int(value)

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.get(name, default)
        if not isinstance(value, bool):
            raise DecodeError(f"Request decode failed: {name} must be a boolean")
        return value

    def strings(self, name: str) -> list[str]:
        value = self.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DecodeError(
                f"Request decode failed: {name} must be a list of strings"
            )
        return list(value)

    def string_map(self, name: str) -> dict[str, str]:
        value = self.get(name, {})
        if not isinstance(value, Mapping) or not all(
            isinstance(v, str) for v in value.values()
        ):
            raise DecodeError(f"Request decode failed: {name} must be a string map")
        return {str(k): v for k, v in value.items()}

    def obj(self, name: str) -> Fields:
        return Fields(self.get(name), what=name)

    def duration(self, name: str) -> float:
        return parse_duration(self.get(name, 0), field=name)


def parse_duration(value: Any, *, field: str = "duration") -> float:
    """A Go duration (string, or JSON number of nanoseconds) in seconds."""
    if isinstance(value, bool):
        raise DecodeError(f"Request decode failed: {field}: invalid duration")
    if isinstance(value, int | float):
        return float(value) / 1e9
    if not isinstance(value, str):
        raise DecodeError(f"Request decode failed: {field}: invalid duration")
    seconds = go_duration(value)
    if seconds is None:
        raise DecodeError(
            f'Request decode failed: time: invalid duration "{value}" ({field})'
        )
    return seconds


def go_duration(text: str) -> float | None:
    """``"1m30s"`` → 90.0; ``None`` when the text is not a Go duration."""
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    if body == "0":
        return 0.0
    if not body or _DURATION_PART.sub("", body):
        return None
    parts = _DURATION_PART.findall(body)
    return sign * sum(float(n) * _UNITS[unit] for n, unit in parts)


def format_duration(seconds: float) -> str:
    """Go's ``time.Duration.String``: ``90.0`` → ``"1m30s"``, ``0.25`` → ``"250ms"``."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return f"{sign}{_trim(nanos / size)}{unit}"
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    secs = _trim(rest / 1e9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}"
    if minutes:
        return f"{sign}{minutes}m{secs}"
    return sign + secs


def _trim(number: float) -> str:
    return f"{number:.9f}".rstrip("0").rstrip(".")


def query_flag(value: str | None) -> bool:
    """Consul treats a boolean query parameter as set when it is present."""
    return value is not None and value.lower() not in ("false", "0")
