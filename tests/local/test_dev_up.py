"""``mesos-adapter dev up`` as a user runs it: ready, usable, and clean on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from framework.settings import load_settings
from tests.batch.conftest import InProcessScheduler
from tests.support.waiting import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes; its parent just has not reaped it.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


@pytest.mark.timeout(120)
def test_dev_up_serves_mesos_marathon_consul_and_ctrl_c_leaves_no_task_behind(
    tmp_path: Path,
) -> None:
    mesos_port, consul_port, marathon_port = free_port(), free_port(), free_port()
    script = Path(sys.executable).parent / "mesos-adapter"
    log = tmp_path / "dev-up.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(script), "dev", "up", "--agents", "1",
                "--mesos-port", str(mesos_port), "--consul-port", str(consul_port),
                "--marathon-port", str(marathon_port),
                "--allocation-interval", "0.1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: b"export CONSUL_HTTP_ADDR" in log.read_bytes(), what="ready")
        printed = log.read_text()
        assert f"export MESOS_MASTER=127.0.0.1:{mesos_port}" in printed
        assert f"export CONSUL_HTTP_ADDR=127.0.0.1:{consul_port}" in printed
        assert f"export MARATHON_URL=http://127.0.0.1:{marathon_port}" in printed
        leader = requests.get(f"http://127.0.0.1:{consul_port}/v1/status/leader")
        assert leader.status_code == 200
        ping = requests.get(f"http://127.0.0.1:{marathon_port}/ping", timeout=5)
        assert ping.text.strip() == "pong"

        # Run a long task through the batch framework; it records its pid.
        pid_file = tmp_path / "task.pid"
        env = {
            "MESOS_MASTER": f"127.0.0.1:{mesos_port}",
            "MESOS_ADAPTER_SCHEDULER_STATE_PATH": str(tmp_path / "s.sqlite"),
            "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        }
        scheduler = InProcessScheduler(load_settings(env=env).settings)
        try:
            spec = (
                "id: long\nteam: t\nresources: {cpus: 0.1, mem: 16}\n"
                f"command: 'echo $$ > {pid_file}; exec sleep 300'\n"
            )
            requests.post(f"{scheduler.url}/v1/jobs", data=spec, timeout=10)
            wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(),
                     what="task pid")  # fmt: skip
        finally:
            scheduler.stop()
        task_pid = int(pid_file.read_text())
        assert alive(task_pid)

        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
        wait_for(lambda: not alive(task_pid), timeout=10, what="task gone")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_dev_up_refuses_a_taken_port_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        script = Path(sys.executable).parent / "mesos-adapter"
        result = subprocess.run(
            [str(script), "dev", "up", "--mesos-port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert "cannot start the local master" in result.stderr
    assert "Traceback" not in result.stderr
