"""A real ZooKeeper server for tests: started on a free loopback port, stopped after.

Runs ``java -cp <jars> org.apache.zookeeper.server.ZooKeeperServerMain <cfg>``
with a temporary dataDir, waits until it answers ``ruok`` with ``imok``, and
kills it on stop. `zookeeper_skip_reason` says in one line why it cannot run
here (no java, no jars) so tests skip instead of failing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

JAR_DIRS = (Path("/usr/share/zookeeper/lib"), Path("/usr/share/java"))
JARS = (
    "zookeeper",
    "zookeeper-jute",
    "slf4j-api",
    "slf4j-nop",
    "netty-handler",
    "netty-transport",
    "netty-common",
    "netty-buffer",
    "netty-codec",
    "netty-resolver",
    "netty-transport-native-epoll",
    "netty-transport-native-unix-common",
    "metrics-core",
    "commons-io",
    "commons-cli",
    "snappy-java",
)
MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
START_TIMEOUT = 30.0


def classpath() -> str | None:
    """The server's classpath, or None when the zookeeper jar is missing."""
    bundled = JAR_DIRS[0]
    if bundled.is_dir() and any(bundled.glob("zookeeper*.jar")):
        return ":".join(str(p) for p in sorted(bundled.glob("*.jar")))
    found = [JAR_DIRS[1] / f"{name}.jar" for name in JARS]
    if not found[0].exists():
        return None
    return ":".join(str(p) for p in found if p.exists())


def zookeeper_skip_reason() -> str | None:
    if shutil.which("java") is None:
        return "ZooKeeper tests need java (make system-deps installs zookeeper)"
    if classpath() is None:
        return "ZooKeeper tests need the zookeeper jars (make system-deps)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ruok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"ruok")
            return sock.recv(16) == b"imok"
    except OSError:
        return False


class ZooKeeperServer:
    """One standalone server; ``hosts`` is ``127.0.0.1:<port>``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        cp = classpath()
        assert cp is not None, zookeeper_skip_reason()
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        cfg = self.data_dir / "zoo.cfg"
        cfg.write_text(
            "tickTime=500\n"
            f"dataDir={self.data_dir / 'data'}\n"
            f"clientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\n"
            "admin.enableServer=false\n"
            "4lw.commands.whitelist=ruok\n"
        )
        log = (self.data_dir / "server.log").open("wb")
        self.process = subprocess.Popen(
            ["java", "-Xmx256m", "-cp", cp, MAIN, str(cfg)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not _ruok(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (self.data_dir / "server.log").read_text()[-2000:]
                raise RuntimeError(f"ZooKeeper did not start:\n{tail}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(10)
        self.process = None
