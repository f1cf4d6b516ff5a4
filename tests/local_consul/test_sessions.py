"""Sessions, locks and a leader election, with the TTL multiplier shortened."""

from __future__ import annotations

from typing import Any

import consul
import pytest

from tests.local_consul.conftest import Clients
from tests.support.waiting import wait_for


def test_session_is_listed_and_bound_to_serf_health(c: Any) -> None:
    session = c.session.create(name="worker")

    _, info = c.session.info(session)
    _, listed = c.session.list()

    assert info["Name"] == "worker"
    assert info["NodeChecks"] == ["serfHealth"]
    assert info["Behavior"] == "release"
    assert [s["ID"] for s in listed] == [session]


def test_acquire_sets_session_and_lock_index_and_release_clears_it(c: Any) -> None:
    session = c.session.create(lock_delay=0)

    assert c.kv.put("lock", "me", acquire=session) is True
    _, entry = c.kv.get("lock")
    assert entry["Session"] == session
    assert entry["LockIndex"] == 1

    assert c.kv.put("lock", "me", release=session) is True
    _, entry = c.kv.get("lock")
    assert "Session" not in entry
    assert entry["LockIndex"] == 1


def test_acquire_with_an_unknown_session_raises(c: Any) -> None:
    with pytest.raises(consul.ConsulException):
        c.kv.put("lock", "x", acquire="00000000-0000-0000-0000-000000000000")


def test_leader_election_moves_when_the_leader_session_is_destroyed(
    clients: Clients,
) -> None:
    alice, bob = clients.new(), clients.new()
    alice_session = alice.session.create(name="alice", lock_delay=0, ttl=10)
    bob_session = bob.session.create(name="bob", lock_delay=0, ttl=10)

    assert alice.kv.put("service/leader", "alice", acquire=alice_session) is True
    assert bob.kv.put("service/leader", "bob", acquire=bob_session) is False
    assert bob.kv.put("service/leader", "bob", release=bob_session) is False

    alice.session.destroy(alice_session)
    _, entry = bob.kv.get("service/leader")
    assert "Session" not in entry
    assert bob.kv.put("service/leader", "bob", acquire=bob_session) is True

    _, entry = alice.kv.get("service/leader")
    assert entry["Value"] == b"bob"
    assert entry["Session"] == bob_session
    assert entry["LockIndex"] == 2


def test_lock_delay_blocks_acquire_after_invalidation(c: Any) -> None:
    holder = c.session.create(lock_delay=15)
    other = c.session.create(lock_delay=0)
    c.kv.put("locked", "x", acquire=holder)

    c.session.destroy(holder)

    assert c.kv.put("locked", "y", acquire=other) is False


@pytest.mark.stand_in_only("a real 10 s session TTL lapses after 20 s or more")
def test_unrenewed_ttl_session_expires_and_releases_its_lock(c: Any) -> None:
    session = c.session.create(ttl=10, lock_delay=0)  # lapses after 0.2 s here
    c.kv.put("ephemeral-lock", "x", acquire=session)

    wait_for(lambda: c.session.info(session)[1] is None)

    _, entry = c.kv.get("ephemeral-lock")
    assert "Session" not in entry


def test_renew_keeps_a_session_alive_and_unknown_renew_raises(c: Any) -> None:
    session = c.session.create(ttl=10)

    renewed = c.session.renew(session)

    assert renewed["ID"] == session
    c.session.destroy(session)
    with pytest.raises(consul.NotFound):
        c.session.renew(session)


def test_delete_behavior_removes_held_keys(c: Any) -> None:
    session = c.session.create(behavior="delete", lock_delay=0)
    c.kv.put("owned", "x", acquire=session)

    c.session.destroy(session)

    assert c.kv.get("owned")[1] is None


def test_session_bound_to_a_check_dies_when_the_check_turns_critical(c: Any) -> None:
    c.agent.check.register("alive", check=consul.Check.ttl("1h"))
    c.agent.check.ttl_pass("alive")
    session = c.session.create(checks=["serfHealth", "alive"], lock_delay=0)

    c.agent.check.ttl_fail("alive")

    assert c.session.info(session)[1] is None


def test_session_on_a_critical_check_is_refused(c: Any) -> None:
    c.agent.check.register("down", check=consul.Check.ttl("1h"))

    with pytest.raises(consul.ConsulException, match="critical"):
        c.session.create(checks=["down"])
