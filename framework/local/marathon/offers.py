"""Pure offer matching: which offer runs which new instance, and its TaskInfo.

``match`` walks the offers in order and fits as many wanted instances as the
resources and constraints allow (first fit, several tasks per offer). Host
ports come from the offer's ``ports`` ranges, lowest first; with
``requirePorts`` the host ports must equal the declared ports.

``task_environment`` builds the variables Marathon gives every task
(``PORT0..n``, ``PORT``, ``PORTS``, ``PORT_<NAME>``, ``PORT_<servicePort>``,
``HOST``, ``MARATHON_APP_ID``, ``MARATHON_APP_VERSION``, ``MESOS_TASK_ID``,
resources and labels); the app's own ``env`` wins over none of them except
where Marathon lets it (plain app variables are applied first).

Constraints on ``hostname`` or an agent attribute: UNIQUE, CLUSTER, IS, LIKE,
UNLIKE and MAX_PER are enforced; GROUP_BY is accepted without spreading.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from framework.ids import AgentId, AppId, OfferId
from framework.local.marathon.model import JsonDict


@dataclass
class Offer:
    """The free part of one offer as matching proceeds."""

    offer_id: OfferId
    agent_id: AgentId
    hostname: str
    cpus: float
    mem: float
    disk: float
    ports: list[int]
    attributes: dict[str, str]
    template: JsonDict = field(default_factory=dict)  # role, allocation_info
    used: bool = False


@dataclass(frozen=True)
class Want:
    """``count`` more instances of ``spec``; ``placed`` = attributes of live ones."""

    spec: JsonDict
    count: int
    placed: tuple[Mapping[str, str], ...] = ()


@dataclass(frozen=True)
class Placement:
    app_id: AppId
    offer_id: OfferId
    agent_id: AgentId
    hostname: str
    ports: tuple[int, ...]
    template: JsonDict


def parse_offer(raw: Mapping[str, Any]) -> Offer:
    """A pymesos offer dict reduced to what matching needs."""
    scalars = {"cpus": 0.0, "mem": 0.0, "disk": 0.0}
    ports: list[int] = []
    template: JsonDict = {}
    for resource in raw.get("resources", []):
        name = resource.get("name")
        template = {
            k: resource[k] for k in ("role", "allocation_info") if k in resource
        }
        if name in scalars:
            scalars[name] += float(resource["scalar"]["value"])
        elif name == "ports":
            for r in resource.get("ranges", {}).get("range", []):
                ports += range(int(r["begin"]), int(r["end"]) + 1)
    return Offer(
        OfferId(raw["id"]["value"]),
        AgentId(raw["agent_id"]["value"]),
        str(raw.get("hostname", "")),
        cpus=scalars["cpus"],
        mem=scalars["mem"],
        disk=scalars["disk"],
        ports=sorted(ports),
        attributes=_attributes(raw),
        template=template,
    )


def _attributes(raw: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for attribute in raw.get("attributes", []):
        if attribute.get("type") == "TEXT":
            out[attribute["name"]] = str(attribute["text"]["value"])
        elif attribute.get("type") == "SCALAR":
            out[attribute["name"]] = f"{attribute['scalar']['value']:g}"
    return out


def offer_fields(offer: Offer) -> dict[str, str]:
    """What constraints look at: the hostname plus every attribute."""
    return {**offer.attributes, "hostname": offer.hostname}


def constraint_ok(
    constraint: Sequence[str],
    fields: Mapping[str, str],
    placed: Sequence[Mapping[str, str]],
) -> bool:
    """Whether a task may go where ``fields`` describe, given ``placed`` ones."""
    name, operator = constraint[0], constraint[1].upper()
    value = constraint[2] if len(constraint) > 2 else None
    mine = fields.get(name)
    others = [p.get(name) for p in placed]
    if operator == "UNIQUE":
        return mine is not None and mine not in others
    if operator == "CLUSTER":
        if value:
            return mine == value
        return mine is not None and all(o == mine for o in others)
    if operator == "IS":
        return mine == value
    if operator == "LIKE":
        return mine is not None and re.fullmatch(value or "", mine) is not None
    if operator == "UNLIKE":
        return mine is None or re.fullmatch(value or "", mine) is None
    if operator == "MAX_PER":
        return mine is not None and others.count(mine) < int(value or "0")
    # TODO(GROUP_BY): accepted anywhere; Marathon spreads across the values.
    return True


def _host_ports(offer: Offer, spec: JsonDict) -> list[int] | None:
    declared = [int(p["port"]) for p in spec["portDefinitions"]]
    if spec.get("requirePorts"):
        return declared if all(p in offer.ports for p in declared) else None
    if len(offer.ports) < len(declared):
        return None
    return offer.ports[: len(declared)]


def _fits(offer: Offer, spec: JsonDict, placed: Sequence[Mapping[str, str]]) -> bool:
    if offer.cpus + 1e-9 < spec["cpus"] or offer.mem + 1e-9 < spec["mem"]:
        return False
    if offer.disk + 1e-9 < spec["disk"]:
        return False
    fields = offer_fields(offer)
    return all(constraint_ok(c, fields, placed) for c in spec["constraints"])


def _take(offer: Offer, spec: JsonDict, ports: list[int]) -> None:
    offer.cpus -= spec["cpus"]
    offer.mem -= spec["mem"]
    offer.disk -= spec["disk"]
    offer.ports = [p for p in offer.ports if p not in ports]
    offer.used = True


def match(offers: Sequence[Offer], wants: Sequence[Want]) -> list[Placement]:
    """First-fit placement of every wanted instance that fits somewhere."""
    placements: list[Placement] = []
    for want in wants:
        placed = list(want.placed)
        for _ in range(want.count):
            spot = _place_one(offers, want.spec, placed)
            if spot is None:
                break
            placements.append(spot)
    return placements


def _place_one(
    offers: Sequence[Offer], spec: JsonDict, placed: list[Mapping[str, str]]
) -> Placement | None:
    for offer in offers:
        if not _fits(offer, spec, placed):
            continue
        ports = _host_ports(offer, spec)
        if ports is None:
            continue
        _take(offer, spec, ports)
        placed.append(offer_fields(offer))
        return Placement(
            AppId(spec["id"]),
            offer.offer_id,
            offer.agent_id,
            offer.hostname,
            tuple(ports),
            offer.template,
        )
    return None


def task_environment(
    spec: JsonDict,
    task_id: str,
    host: str,
    ports: Sequence[int],
    service_ports: Sequence[int],
) -> dict[str, str]:
    """Marathon's task variables (see the module docstring)."""
    env = {k: v for k, v in spec["env"].items() if isinstance(v, str)}
    env.update(
        HOST=host,
        MARATHON_APP_ID=spec["id"],
        MARATHON_APP_VERSION=spec["version"],
        MESOS_TASK_ID=task_id,
        MARATHON_APP_RESOURCE_CPUS=f"{spec['cpus']:g}",
        MARATHON_APP_RESOURCE_MEM=f"{spec['mem']:g}",
        MARATHON_APP_RESOURCE_DISK=f"{spec['disk']:g}",
        MARATHON_APP_LABELS=" ".join(sorted(spec["labels"])),
        PORTS=",".join(str(p) for p in ports),
    )
    for key, value in spec["labels"].items():
        env[f"MARATHON_APP_LABEL_{_env_name(key)}"] = value
    for index, port in enumerate(ports):
        env[f"PORT{index}"] = str(port)
        definition = spec["portDefinitions"][index]
        if definition.get("name"):
            env[f"PORT_{_env_name(definition['name'])}"] = str(port)
        if index < len(service_ports) and service_ports[index]:
            env[f"PORT_{service_ports[index]}"] = str(port)
    if ports:
        env["PORT"] = str(ports[0])
    return env


def _env_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text).upper()


def task_info(
    spec: JsonDict, task_id: str, placement: Placement, env: Mapping[str, str]
) -> JsonDict:
    """The v1 TaskInfo JSON that launches one instance."""
    resources: list[JsonDict] = [
        {"name": name, "type": "SCALAR", "scalar": {"value": float(spec[name])}}
        for name in ("cpus", "mem", "disk")
        if spec[name] > 0
    ]
    if placement.ports:
        ranges = [{"begin": p, "end": p} for p in placement.ports]
        resources.append(
            {"name": "ports", "type": "RANGES", "ranges": {"range": ranges}}
        )
    variables = [{"name": k, "value": v} for k, v in sorted(env.items())]
    command: JsonDict = {"environment": {"variables": variables}}
    if "cmd" in spec:
        command.update(shell=True, value=spec["cmd"])
    else:
        # TODO(containers): a DOCKER/MESOS container runs its args or cmd as a
        # plain process; the image is not pulled by the local agents.
        args = [str(a) for a in spec.get("args", [])] or ["true"]
        command.update(shell=False, value=args[0], arguments=args)
    labels = [{"key": k, "value": v} for k, v in sorted(spec["labels"].items())]
    return {
        "name": spec["id"].lstrip("/").replace("/", "."),
        "task_id": {"value": task_id},
        "agent_id": {"value": placement.agent_id},
        "resources": [{**r, **placement.template} for r in resources],
        "command": command,
        "labels": {"labels": labels},
    }
