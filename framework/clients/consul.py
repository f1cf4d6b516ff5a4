"""Consul client: py-consul built from our settings.

py-consul is the maintained fork of python-consul and installs the same
``consul`` module; the two must never share an environment.
"""

from __future__ import annotations

from typing import Any

import consul

from framework.settings import ConsulSettings


def split_addr(addr: str) -> tuple[str, str, int]:
    """``CONSUL_HTTP_ADDR`` forms (``host:port``, ``http(s)://host:port``) → parts."""
    scheme = "http"
    if "://" in addr:
        scheme, addr = addr.split("://", 1)
    host, _, port = addr.rstrip("/").rpartition(":")
    if not host:
        host, port = port, "8500"
    return scheme, host, int(port)


def new_client(
    settings: ConsulSettings, *, timeout: float = 10.0, ca_cert: str | None = None
) -> Any:
    """A ``consul.Consul`` for ``settings.addr`` with the ACL token, if any.

    ``ca_cert`` (``--ca-cert``) verifies an https:// Consul against that bundle.
    """
    scheme, host, port = split_addr(settings.addr)
    token = settings.token.reveal() if settings.token else None
    return consul.Consul(
        host=host,
        port=port,
        scheme=scheme,
        token=token,
        dc=settings.datacenter,
        connections_timeout=timeout,
        verify=ca_cert if ca_cert else True,
    )
