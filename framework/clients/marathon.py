"""Marathon client: marathon-python built from our settings.

Thin by design: the deployer decides, this module only connects. Retries
(tenacity, connection errors and 5xx only) wrap the calls in the deployer's
executor, not here.
"""

from __future__ import annotations

from typing import Any

from framework.clients.marathon_compat import marathon
from framework.settings import MarathonSettings


def new_client(
    settings: MarathonSettings, *, timeout: float = 10.0, ca_cert: str | None = None
) -> Any:
    """A ``marathon.MarathonClient`` for every URL in ``settings.url``.

    ``ca_cert`` (``--ca-cert``) verifies https:// Marathons against that bundle.
    """
    servers = [url.strip() for url in settings.url.split(",") if url.strip()]
    password = settings.password.reveal() if settings.password else None
    return marathon.MarathonClient(
        servers,
        username=settings.username,
        password=password,
        timeout=timeout,
        verify=ca_cert if ca_cert else True,
    )
