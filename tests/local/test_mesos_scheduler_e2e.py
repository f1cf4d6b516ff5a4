"""The local master driven by the real pymesos driver over real sockets.

Tasks run as real subprocesses (ProcessBackend); each scenario is what a
framework sees from a real Mesos 1.11 master.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from framework.local.cluster import LocalCluster
from tests.local.mesos_helpers import (
    RawStream,
    Recorder,
    framework_info,
    running_driver,
    task_info,
)

pytestmark = pytest.mark.timeout(60)


def test_framework_subscribes_gets_offers_and_runs_a_task_to_finish(
    cluster: LocalCluster,
) -> None:
    sched = Recorder()
    with running_driver(sched, cluster.address) as driver:
        sched.wait("registered")
        offer = sched.wait("offer")
        names = {r["name"] for r in offer["resources"]}
        assert {"cpus", "mem", "disk", "ports"} <= names
        assert offer["framework_id"]["value"] == sched.framework_id

        script = (
            'echo "task=$MESOS_TASK_ID fw=$MESOS_FRAMEWORK_ID"; echo "$MESOS_SANDBOX"'
        )
        driver.launchTasks(offer["id"], [task_info("hello", offer, script)])
        finished = sched.wait_state("hello", "TASK_FINISHED")

    states = [s["state"] for s in sched.statuses("hello")]
    assert states == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    assert len(base64.b64decode(finished["uuid"])) == 16
    assert finished["agent_id"] == offer["agent_id"]
    assert finished["source"] == "SOURCE_EXECUTOR"
    sandboxes = list(
        (cluster.work_dir / "slaves").glob("*/frameworks/*/executors/hello/runs/*-*")
    )
    assert len(sandboxes) == 1
    stdout = (sandboxes[0] / "stdout").read_text()
    assert f"task=hello fw={sched.framework_id}" in stdout
    assert str(sandboxes[0]) in stdout


def test_files_api_on_the_master_reads_a_sandbox(cluster: LocalCluster) -> None:
    sched = Recorder()
    with running_driver(sched, cluster.address) as driver:
        offer = sched.wait("offer")
        driver.launchTasks(offer["id"], [task_info("out", offer, "echo from-the-task")])
        sched.wait_state("out", "TASK_FINISHED")
    sandbox = next(
        (cluster.work_dir / "slaves").glob("*/frameworks/*/executors/out/runs/*-*")
    )
    url = f"http://{cluster.address}/files/read"
    reply = requests.get(url, params={"path": str(sandbox / "stdout"), "offset": 0})
    assert reply.status_code == 200
    assert "from-the-task" in reply.json()["data"]


def test_kill_uses_the_grace_period_and_reports_killing_then_killed(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    sched = Recorder()
    marker, ready = tmp_path / "got-term", tmp_path / "trap-set"
    info = framework_info(capabilities=[{"type": "TASK_KILLING_STATE"}])
    script = (
        f"trap 'touch {marker}; exit 0' TERM; touch {ready}; "
        "while true; do sleep 0.05; done"
    )
    with running_driver(sched, cluster.address, info) as driver:
        offer = sched.wait("offer")
        policy = {"grace_period": {"nanoseconds": 5_000_000_000}}
        driver.launchTasks(
            offer["id"], [task_info("sleeper", offer, script, kill_policy=policy)]
        )
        sched.wait_state("sleeper", "TASK_RUNNING")
        # RUNNING means the shell started, not that it has set its trap yet.
        wait_until(ready.exists, "the task's SIGTERM trap")
        driver.killTask({"value": "sleeper"})
        sched.wait_state("sleeper", "TASK_KILLED")

    states = [s["state"] for s in sched.statuses("sleeper")]
    assert states[-2:] == ["TASK_KILLING", "TASK_KILLED"]
    assert marker.exists(), "the task got SIGTERM before being killed"


def test_kill_of_an_unknown_task_answers_with_reconciliation(
    cluster: LocalCluster,
) -> None:
    sched = Recorder()
    with running_driver(sched, cluster.address) as driver:
        sched.wait("registered")
        driver.killTask({"value": "never-launched"})
        status = sched.wait_state("never-launched", "TASK_LOST")
    assert status["reason"] == "REASON_RECONCILIATION"
    assert status["source"] == "SOURCE_MASTER"
    assert "uuid" not in status


def test_decline_filter_holds_the_agent_back_until_revive(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(agents=1)
    sched = Recorder()
    with running_driver(sched, cluster.address) as driver:
        offer = sched.wait("offer")
        mark = sched.mark()
        driver.declineOffer(offer["id"], {"refuse_seconds": 3600})
        time.sleep(0.5)  # ten allocation cycles
        assert sched.offers_since(mark) == []
        driver.reviveOffers()
        again = sched.wait("offer", after=mark)
    assert again["agent_id"] == offer["agent_id"]
    assert again["id"] != offer["id"]


def test_suppress_stops_new_offers_and_revive_resumes_them(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(agents=1)
    sched = Recorder()
    with running_driver(sched, cluster.address) as driver:
        offer = sched.wait("offer")
        driver.suppressOffers()
        mark = sched.mark()
        driver.declineOffer(offer["id"], {"refuse_seconds": 0})
        time.sleep(0.5)
        assert sched.offers_since(mark) == []
        driver.reviveOffers()
        sched.wait("offer", after=mark)


def test_two_frameworks_share_agents_by_dominant_share(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(agents=4, allocation_interval=0.3)
    first, second = Recorder(), Recorder()
    with running_driver(first, cluster.address) as d1:
        first.wait("offer")
        time.sleep(0.1)
        held = first.offers_since(0)
        assert len(held) == 4  # nobody else wants them yet
        with running_driver(second, cluster.address):
            second.wait("registered")
            mark = first.mark()
            d1.declineOffer([o["id"] for o in held], {"refuse_seconds": 0})
            second.wait("offer")
            time.sleep(0.1)
            assert len(first.offers_since(mark)) == 2
            assert len(second.offers_since(0)) == 2


def test_failover_within_the_timeout_keeps_the_tasks(cluster: LocalCluster) -> None:
    sched = Recorder()
    info = framework_info(failover_timeout=60.0)
    driver = running_driver(sched, cluster.address, info)
    with driver as d:
        offer = sched.wait("offer")
        d.launchTasks(offer["id"], [task_info("long", offer, "sleep 30")])
        sched.wait_state("long", "TASK_RUNNING")
        d.stop(failover=True)
        d.join()
    framework_id = sched.framework_id
    assert framework_id is not None

    again = Recorder()
    info = framework_info(failover_timeout=60.0, id={"value": framework_id})
    with running_driver(again, cluster.address, info) as d:
        again.wait("reregistered")
        d.reconcileTasks([{"task_id": {"value": "long"}}])
        status = again.wait_state("long", "TASK_RUNNING")
        assert status["reason"] == "REASON_RECONCILIATION"
        d.killTask({"value": "long"})
        again.wait_state("long", "TASK_KILLED")


def test_subscribing_again_closes_the_old_stream_with_an_error(
    cluster: LocalCluster,
) -> None:
    url = f"http://{cluster.address}/api/v1/scheduler"
    info = framework_info(failover_timeout=60.0)
    old = RawStream(url, {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}})
    try:
        subscribed = old.next_of("SUBSCRIBED")
        fid = subscribed["subscribed"]["framework_id"]
        sched = Recorder()
        info = framework_info(failover_timeout=60.0, id=fid)
        with running_driver(sched, cluster.address, info):
            sched.wait("reregistered")
            error = old.next_of("ERROR")
            assert error["error"]["message"] == "Framework failed over"
            while (event := old.next()) is not None:
                assert event["type"] in ("HEARTBEAT", "OFFERS")
    finally:
        old.close()


def test_past_the_failover_timeout_tasks_die_and_the_id_is_refused(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    sched = Recorder()
    pidfile = tmp_path / "pid"
    info = framework_info(failover_timeout=0.3)
    with running_driver(sched, cluster.address, info) as d:
        offer = sched.wait("offer")
        d.launchTasks(
            offer["id"],
            [task_info("doomed", offer, f"echo $$ > {pidfile}; exec sleep 30")],
        )
        sched.wait_state("doomed", "TASK_RUNNING")
        d.stop(failover=True)
        d.join()

    state_url = f"http://{cluster.address}/master/state"
    deadline = time.monotonic() + 15
    while not requests.get(state_url).json()["completed_frameworks"]:
        assert time.monotonic() < deadline, "framework never removed"
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    while _alive(pid):
        assert time.monotonic() < deadline, "task process survived its framework"
        time.sleep(0.05)

    url = f"http://{cluster.address}/api/v1/scheduler"
    fid = {"value": sched.framework_id}
    body = {
        "type": "SUBSCRIBE",
        "framework_id": fid,
        "subscribe": {"framework_info": framework_info(id=fid)},
    }
    stream = RawStream(url, body)
    try:
        assert stream.response.status_code == 200
        event = stream.next()
        assert event == {
            "type": "ERROR",
            "error": {"message": "Framework has been removed"},
        }
        assert stream.next() is None
    finally:
        stream.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_reconciliation_explicit_and_implicit(cluster: LocalCluster) -> None:
    sched = Recorder()
    info = framework_info(capabilities=[{"type": "PARTITION_AWARE"}])
    with running_driver(sched, cluster.address, info) as d:
        offer = sched.wait("offer")
        d.launchTasks(offer["id"], [task_info("known", offer, "sleep 30")])
        sched.wait_state("known", "TASK_RUNNING")

        mark = sched.mark()
        d.reconcileTasks(
            [{"task_id": {"value": "known"}}, {"task_id": {"value": "ghost"}}]
        )
        known = sched.wait(
            "status", lambda s: s["task_id"]["value"] == "known", after=mark
        )
        ghost = sched.wait(
            "status", lambda s: s["task_id"]["value"] == "ghost", after=mark
        )
        assert known["state"] == "TASK_RUNNING"
        assert known["reason"] == "REASON_RECONCILIATION"
        assert ghost["state"] == "TASK_UNKNOWN"
        assert ghost["message"] == "Reconciliation: Task is unknown"

        mark = sched.mark()
        d.reconcileTasks([])
        implicit = sched.wait("status", after=mark)
        assert implicit["task_id"]["value"] == "known"
        assert implicit["message"] == "Reconciliation: Latest task state"
        assert "uuid" not in implicit


def test_agent_removal_loses_tasks_rescinds_offers_and_reports_failure(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(agents=2)
    sched = Recorder()
    with running_driver(sched, cluster.address) as d:
        first = sched.wait("offer")
        second = sched.wait("offer", lambda o: o["agent_id"] != first["agent_id"])
        d.launchTasks(first["id"], [task_info("victim", first, "sleep 30")])
        sched.wait_state("victim", "TASK_RUNNING")

        doomed = first["agent_id"]["value"]
        # The other agent's offer is held; the doomed agent's next offer too.
        held = sched.wait("offer", lambda o: o["agent_id"]["value"] == doomed, after=0)
        assert cluster.remove_agent(doomed)
        lost = sched.wait_state("victim", "TASK_LOST")
        assert lost["reason"] == "REASON_AGENT_REMOVED"
        assert lost["source"] == "SOURCE_MASTER"
        assert sched.wait("agent_lost")["value"] == doomed
        if held["id"] != first["id"]:
            assert sched.wait("rescind")["value"] == held["id"]["value"]
        assert second["agent_id"]["value"] != doomed


def all_acknowledged(cluster: LocalCluster) -> bool:
    tasks = [
        task
        for framework in cluster.master.state.frameworks.values()
        for task in framework.tasks.values()
    ]
    return bool(tasks) and all(not task.pending for task in tasks)


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_master_restart_keeps_tasks_and_the_framework_resubscribes(
    cluster: LocalCluster,
) -> None:
    sched = Recorder()
    with running_driver(
        sched, cluster.address, framework_info(failover_timeout=60.0)
    ) as d:
        offer = sched.wait("offer")
        d.launchTasks(offer["id"], [task_info("survivor", offer, "sleep 30")])
        sched.wait_state("survivor", "TASK_RUNNING")
        # pymesos acknowledges after the callback returns: let the ACK land
        # first, or it races the restart (403, and pymesos aborts its thread).
        wait_until(lambda: all_acknowledged(cluster), "updates acknowledged")
        mark = sched.mark()
        requests.post(
            f"http://{cluster.address}/local/v1/master/restart"
        ).raise_for_status()
        sched.wait("disconnected", after=mark)
        sched.wait("reregistered", after=mark)
        sched.wait("offer", after=sched.kinds().index("reregistered", mark))
        mark = sched.mark()
        d.reconcileTasks([{"task_id": {"value": "survivor"}}])
        assert sched.wait_state("survivor", "TASK_RUNNING", after=mark)


def test_zookeeper_detection_with_a_zk_master_url(
    make_cluster: Callable[..., LocalCluster], zookeeper: object
) -> None:
    hosts = zookeeper.hosts  # type: ignore[attr-defined]
    cluster = make_cluster(zk=f"zk://{hosts}/mesos")
    sched = Recorder()
    with running_driver(sched, f"zk://{hosts}/mesos"):
        sched.wait("registered")
        offer = sched.wait("offer")
    assert offer["hostname"] == "127.0.0.1"
    assert cluster.master.state.frameworks or cluster.master.state.removed_frameworks
