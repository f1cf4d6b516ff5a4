"""Mesos shapes of the batch framework: offers in, TaskInfos out.

``to_offer`` reduces a pymesos Offer dict to what placement needs; ``build``
turns one placement decision into the v1 TaskInfo JSON the ACCEPT carries.
Pure functions of their inputs.

Invariants of a built TaskInfo: its resources are exactly the ones placement
reserved (scalars and single-port ranges), tagged with the offer's role and
allocation_info so a MULTI_ROLE master accepts them; every task carries its
job, team, instance and attempt in its environment and labels.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from framework.batch import placement
from framework.batch.resources import SCALARS
from framework.batch.spec import JobSpec, spark_submit_argv
from framework.ids import AgentId, OfferId


def to_offer(raw: Mapping[str, Any]) -> placement.Offer:
    """A pymesos Offer dict reduced to what placement needs."""
    scalars: dict[str, float] = {}
    ranges: list[tuple[int, int]] = []
    for resource in raw.get("resources", []):
        name = resource.get("name")
        if resource.get("type", "SCALAR") == "SCALAR" and name in SCALARS:
            scalars[name] = scalars.get(name, 0.0) + resource["scalar"]["value"]
        elif name == "ports":
            for r in resource.get("ranges", {}).get("range", []):
                ranges.append((int(r["begin"]), int(r["end"])))
    attributes = {}
    for attribute in raw.get("attributes", []):
        kind = attribute.get("type")
        if kind == "TEXT":
            attributes[attribute["name"]] = attribute["text"]["value"]
        elif kind == "SCALAR":
            attributes[attribute["name"]] = f"{attribute['scalar']['value']:g}"
    return placement.Offer(
        offer_id=OfferId(raw["id"]["value"]),
        agent_id=AgentId(raw["agent_id"]["value"]),
        hostname=raw["hostname"],
        port_ranges=tuple(sorted(ranges)),
        attributes=attributes,
        **scalars,
    )


def build(
    spec: JobSpec,
    instance: int,
    attempt: int,
    launch: placement.Launch,
    raw_offer: Mapping[str, Any],
) -> dict[str, Any]:
    """The Mesos TaskInfo (v1 JSON) for ``launch`` on ``raw_offer``."""
    labels = {
        **spec.labels,
        "mesos-adapter/job": spec.id,
        "mesos-adapter/team": spec.team,
    }
    info: dict[str, Any] = {
        "name": f"{spec.id}.{instance}",
        "task_id": {"value": launch.task_id},
        "agent_id": {"value": launch.agent_id},
        "resources": _resources(launch, raw_offer),
        "labels": {
            "labels": [{"key": k, "value": v} for k, v in sorted(labels.items())]
        },
    }
    environment = {
        **spec.env,
        "MESOS_ADAPTER_JOB_ID": spec.id,
        "MESOS_ADAPTER_TEAM": spec.team,
        "MESOS_ADAPTER_INSTANCE": str(instance),
        "MESOS_ADAPTER_ATTEMPT": str(attempt),
    }
    for index, port in enumerate(launch.ports):
        environment[f"PORT{index}"] = str(port)
    info["command"] = _command(spec, launch.resources.cpus, environment)
    if spec.container is not None:
        info["container"] = {
            "type": "DOCKER",
            "docker": {
                "image": spec.container.image,
                "force_pull_image": spec.container.force_pull,
            },
        }
    return info


def _resources(
    launch: placement.Launch, raw_offer: Mapping[str, Any]
) -> list[dict[str, Any]]:
    # Reuse the offer's role and allocation_info so MULTI_ROLE masters accept it.
    template: dict[str, Any] = {}
    for resource in raw_offer.get("resources", []):
        template = {
            k: resource[k] for k in ("role", "allocation_info") if k in resource
        }
        break
    out = []
    for name in SCALARS:
        amount = float(launch.resources.get(name))
        if amount > 0:
            scalar = {"value": amount}
            out.append({"name": name, "type": "SCALAR", "scalar": scalar, **template})
    if launch.ports:
        ranges = [{"begin": port, "end": port} for port in launch.ports]
        out.append(
            {"name": "ports", "type": "RANGES", "ranges": {"range": ranges}, **template}
        )
    return out


def _command(spec: JobSpec, cpus: float, env: Mapping[str, str]) -> dict[str, Any]:
    variables = [{"name": k, "value": v} for k, v in sorted(env.items())]
    command: dict[str, Any] = {"environment": {"variables": variables}}
    if spec.kind == "spark":
        command.update(shell=True, value=shlex.join(spark_submit_argv(spec, cpus)))
    elif spec.container is not None:
        command.update(shell=False, arguments=list(spec.container.args))
    elif isinstance(spec.command, list):
        command.update(shell=False, value=spec.command[0], arguments=spec.command)
    else:
        command.update(shell=True, value=spec.command)
    return command
