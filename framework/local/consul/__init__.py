"""A local stand-in for the Consul HTTP API (agent, catalog, health, KV, sessions).

py-consul works against it unchanged. ``LocalConsul`` runs it; ``Timing``
shortens Consul's timings for tests. Modules, bottom to top: ``wire`` (decoding
rules, durations), ``model`` (records and JSON views), ``store`` (state and
indexes), ``decode`` (registration bodies), ``checks`` (running health checks),
``persist`` (state on disk), ``agent`` (applying writes), ``filters``,
``http_*`` (the endpoints), ``server`` (lifecycle).
"""

from framework.local.consul.agent import Timing
from framework.local.consul.server import LocalConsul

__all__ = ["LocalConsul", "Timing"]
