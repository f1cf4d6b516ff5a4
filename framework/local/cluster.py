"""A local Mesos cluster: one master and N agents in one asyncio loop.

`LocalCluster` builds the agents from a `ClusterConfig`, starts the master and
stops everything in order (master first, so nothing new launches; then every
backend, so no task process outlives the cluster). Tests run it in a
background thread (``start_in_thread`` / ``stop``) because pymesos's driver is
blocking; ``dev up`` runs it in the foreground (``run_forever``).

Agent attributes: ``attributes`` maps a name to one or more comma-separated
values; agent ``i`` gets value ``i % len(values)`` (``rack=r1,r2`` alternates
racks), ``{i}`` in a value becomes the agent index, and a value that parses as
a number is a SCALAR attribute, otherwise TEXT.

Faults: ``remove_agent`` and ``restart_master`` (also over HTTP under
``/local/v1``, a local extension).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from framework.ids import AgentId
from framework.local.executor_api import ExecutorBackend
from framework.local.executors import ProcessBackend, SimulatedBackend
from framework.local.mesos_agent import AgentConfig, Attributes, LocalAgent
from framework.local.mesos_master import MasterSettings, MesosMaster
from framework.local.mesos_wire import Ranges, Resources, parse_ranges

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class ClusterConfig:
    host: str = "127.0.0.1"
    port: int = 5050  # 0 picks a free port
    agents: int = 2
    agent_hostname: str = "127.0.0.1"
    agent_cpus: float = 4.0
    agent_mem: float = 8192.0
    agent_disk: float = 65536.0
    agent_gpus: float = 0.0
    agent_ports: str = "31000-32000"
    attributes: Sequence[tuple[str, str]] = ()
    simulated: bool = False
    work_dir: Path | None = None
    zk: str | None = None
    allocation_interval: float = 1.0
    heartbeat_interval: float = 15.0
    update_backoff: float = 10.0
    tick_interval: float = 0.1
    default_kill_grace: float = 3.0
    credentials: Sequence[tuple[str, str]] = ()  # (principal, secret) pairs
    backend_factory: Callable[[], ExecutorBackend] | None = field(
        default=None, compare=False
    )


def split_ports(ranges: Ranges, parts: int, index: int) -> Ranges:
    """Agent ``index``'s disjoint share of ``ranges`` among ``parts`` agents.

    Local agents share one host, so two agents offering the same port would
    let two tasks bind it. Each gets an equal contiguous slice (the remainder
    goes unused); with fewer ports than agents, every agent gets them all.
    """
    ports = [port for begin, end in ranges for port in range(begin, end + 1)]
    size = len(ports) // max(parts, 1)
    if size == 0:
        return ranges
    mine = ports[index * size : (index + 1) * size]
    out: list[tuple[int, int]] = []
    for port in mine:
        if out and out[-1][1] == port - 1:
            out[-1] = (out[-1][0], port)
        else:
            out.append((port, port))
    return tuple(out)


def agent_attributes(spec: Sequence[tuple[str, str]], index: int) -> Attributes:
    """The attributes of agent ``index`` (see the module docstring)."""
    out: list[tuple[str, str | float]] = []
    for name, values in spec:
        choices = values.split(",")
        value = choices[index % len(choices)].replace("{i}", str(index))
        try:
            out.append((name, float(value)))
        except ValueError:
            out.append((name, value))
    return tuple(out)


class LocalCluster:
    """One master and its agents; see the module docstring."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self._own_work_dir = config.work_dir is None
        self.work_dir = config.work_dir or Path(tempfile.mkdtemp(prefix="mesos-local-"))
        self.cluster_id = str(uuid.uuid4())
        self.master = MesosMaster(
            MasterSettings(
                host=config.host,
                port=config.port,
                allocation_interval=config.allocation_interval,
                heartbeat_interval=config.heartbeat_interval,
                update_backoff=config.update_backoff,
                tick_interval=config.tick_interval,
                default_kill_grace=config.default_kill_grace,
                work_dir=self.work_dir,
                zk=config.zk,
                credentials=tuple(config.credentials),
            )
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._all_agents: list[LocalAgent] = []

    @property
    def port(self) -> int:
        return self.master.port

    @property
    def address(self) -> str:
        """``host:port``, the form pymesos and MESOS_MASTER take."""
        return f"{self.config.host}:{self.port}"

    @property
    def agent_ids(self) -> list[AgentId]:
        return list(self.master.agents)

    def _make_agent(self, index: int) -> LocalAgent:
        cfg = self.config
        ports = parse_ranges(cfg.agent_ports) if cfg.agent_ports else ()
        if not cfg.simulated:
            # Real processes on one host: agents must not offer the same port.
            ports = split_ports(ports, cfg.agents, index)
        resources = Resources(
            cfg.agent_cpus, cfg.agent_mem, cfg.agent_disk, cfg.agent_gpus, ports
        )
        config = AgentConfig(
            AgentId(f"{self.cluster_id}-S{index}"),
            cfg.agent_hostname,
            resources,
            agent_attributes(cfg.attributes, index),
        )
        backend: ExecutorBackend
        if cfg.backend_factory is not None:
            backend = cfg.backend_factory()
        elif cfg.simulated:
            backend = SimulatedBackend()
        else:
            backend = ProcessBackend()
        return LocalAgent(
            config,
            backend,
            self.work_dir,
            self.master.task_report,
            make_sandboxes=not cfg.simulated,
        )

    # -- in the loop -------------------------------------------------------------

    async def astart(self) -> int:
        """Create the agents, start the master; return the bound port."""
        for index in range(self.config.agents):
            agent = self._make_agent(index)
            self._all_agents.append(agent)
            self.master.add_agent(agent)
        port = await self.master.start()
        logger.info(
            "local cluster up: master %s, %d agents, work dir %s",
            self.address,
            self.config.agents,
            self.work_dir,
        )
        return port

    async def astop(self) -> None:
        """Stop the master, then every backend: no task process survives."""
        await self.master.stop()
        await asyncio.gather(
            *(agent.shutdown() for agent in self._all_agents), return_exceptions=True
        )
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        logger.info("local cluster stopped; every task it started is gone")

    async def run_forever(self) -> None:
        """Serve until SIGINT or SIGTERM, then stop cleanly (``dev up``)."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            await self.astop()

    # -- from another thread ---------------------------------------------------

    def start_in_thread(self, timeout: float = 30.0) -> int:
        """Run the cluster's loop in a daemon thread; return the bound port."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="local-mesos", daemon=True
        )
        self._thread.start()
        return int(self.call(self.astart(), timeout))

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the cluster's loop and wait for its result."""
        assert self._loop is not None, "start_in_thread() first"
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the cluster started by ``start_in_thread`` and its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self.call(self.astop(), timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            loop.close()
            self._loop = self._thread = None

    def remove_agent(self, agent_id: AgentId) -> bool:
        """Fault: the agent vanishes (tasks lost/gone, offers rescinded)."""
        return bool(self.call(self.master.remove_agent(agent_id)))

    def restart_master(self) -> None:
        """Fault: master failover (streams close; tasks survive)."""
        self.call(self.master.restart())
