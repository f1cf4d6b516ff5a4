"""The resource vector shared by specs, the queue and the planner.

``Resources`` is a plain immutable value: the scalar resources Mesos knows
(``cpus``, ``mem`` and ``disk`` in MB, whole ``gpus``) and a *count* of ports.
Offers carry port ranges instead of a count; the planner turns ranges into
concrete port numbers.

Mesos keeps scalars in fixed point with three decimals; ``to_milli`` gives the
same integer view so that sums and comparisons in the planner are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The scalar resources, in the order every vector and message uses.
SCALARS: tuple[str, ...] = ("cpus", "mem", "disk", "gpus")

#: Unit of each resource, for messages.
UNITS: dict[str, str] = {
    "cpus": "cpus",
    "mem": "MB mem",
    "disk": "MB disk",
    "gpus": "gpus",
    "ports": "ports",
}


@dataclass(frozen=True, slots=True)
class Resources:
    """An amount of each resource; every field is >= 0 for a valid vector."""

    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0
    gpus: int = 0
    ports: int = 0

    def get(self, name: str) -> float:
        """The amount of resource ``name`` (one of SCALARS or ``ports``)."""
        value: float = getattr(self, name)
        return value

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            cpus=self.cpus + other.cpus,
            mem=self.mem + other.mem,
            disk=self.disk + other.disk,
            gpus=self.gpus + other.gpus,
            ports=self.ports + other.ports,
        )

    def scaled(self, factor: int) -> Resources:
        """This vector times ``factor`` (e.g. one task times its instances)."""
        return Resources(
            cpus=self.cpus * factor,
            mem=self.mem * factor,
            disk=self.disk * factor,
            gpus=self.gpus * factor,
            ports=self.ports * factor,
        )

    def shortfalls(self, available: Resources) -> list[str]:
        """Names of the resources where ``self`` needs more than ``available``."""
        names = (*SCALARS, "ports")
        return [n for n in names if to_milli(self.get(n)) > to_milli(available.get(n))]

    def describe(self) -> str:
        """A short human form such as ``2 cpus, 512 MB mem, 1 gpus``."""
        parts = [f"{_num(self.cpus)} cpus", f"{_num(self.mem)} MB mem"]
        if self.disk:
            parts.append(f"{_num(self.disk)} MB disk")
        if self.gpus:
            parts.append(f"{self.gpus} gpus")
        if self.ports:
            parts.append(f"{self.ports} ports")
        return ", ".join(parts)


ZERO = Resources()


def to_milli(value: float) -> int:
    """``value`` (>= 0) in thousandths, rounded half up like Mesos's fixed point."""
    return int(value * 1000 + 0.5)


def from_milli(value: int) -> float:
    """The inverse of ``to_milli``."""
    return value / 1000


def _num(value: float) -> str:
    """``2`` rather than ``2.0``; at most three decimals otherwise."""
    return f"{value:.3f}".rstrip("0").rstrip(".")
