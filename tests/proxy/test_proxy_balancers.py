"""Balancers: nginx's documented sequences and failure rules, without sockets."""

from __future__ import annotations

import random
import socket
from collections import Counter

from nginxpy.http.balancers import Peer, PeerGroup


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def peers(*specs: tuple[str, int], **options: object) -> list[Peer]:
    return [Peer(name, name, weight=weight, **options) for name, weight in specs]  # type: ignore[arg-type]


def pick(group: PeerGroup, **kwargs: bytes) -> str | None:
    selection = group.selection(**kwargs)
    peer = selection.get()
    if peer is None:
        return None
    selection.free(failed=False)
    return peer.name


def test_smooth_weighted_round_robin_sequence() -> None:
    # nginx's commit message for smooth weighting: a:5 b:1 c:1 -> a a b a c a a
    group = PeerGroup.build("u", peers(("a", 5), ("b", 1), ("c", 1)))
    assert [pick(group) for _ in range(7)] == list("aabacaa")
    assert [pick(group) for _ in range(7)] == list("aabacaa")


def test_equal_weights_alternate() -> None:
    group = PeerGroup.build("u", peers(("a", 1), ("b", 1), ("c", 1)))
    assert [pick(group) for _ in range(6)] == list("abcabc")


def test_failed_peer_is_skipped_until_fail_timeout() -> None:
    clock = Clock()
    group = PeerGroup.build("u", peers(("a", 1), ("b", 1)), clock=clock)
    for peer in group.primary.peers:
        peer.fail_timeout = 10
    selection = group.selection()
    first = selection.get()
    assert first is not None and first.name == "a"
    selection.free(failed=True)  # max_fails=1: a is out for fail_timeout
    second = selection.get()
    assert second is not None and second.name == "b"
    selection.free(failed=False)
    assert selection.get() is None  # both tried: "no live upstreams" for this request
    assert [pick(group) for _ in range(3)] == ["b", "b", "b"]
    clock.now += 11
    names = {pick(group) for _ in range(4)}
    assert names == {"a", "b"}


def test_all_failed_is_busy_and_backup_takes_over() -> None:
    clock = Clock()
    group = PeerGroup.build(
        "u",
        [Peer("a", "a"), Peer("b", "b"), Peer("z", "z", backup=True)],
        clock=clock,
    )
    for _ in range(2):
        selection = group.selection()
        peer = selection.get()
        assert peer is not None
        selection.free(failed=True)
    assert pick(group) == "z"
    assert group.tries() == 3


def test_single_peer_is_never_marked_failed() -> None:
    group = PeerGroup.build("u", [Peer("a", "a")])
    for _ in range(5):
        selection = group.selection()
        assert selection.get() is not None
        selection.free(failed=True)
    assert pick(group) == "a"


def test_down_and_max_conns() -> None:
    group = PeerGroup.build("u", [Peer("a", "a", down=True), Peer("b", "b", max_conns=1), Peer("c", "c")])
    held = group.selection()
    first = held.get()
    assert first is not None and first.name == "b"
    assert [pick(group) for _ in range(3)] == ["c", "c", "c"]
    held.free(failed=False)
    assert {pick(group) for _ in range(4)} == {"b", "c"}


def test_effective_weight_drops_after_failure_and_recovers() -> None:
    clock = Clock()
    group = PeerGroup.build("u", [Peer("a", "a", weight=4, max_fails=2), Peer("b", "b")], clock=clock)
    a = group.primary.peers[0]
    selection = group.selection()
    assert selection.get() is a
    selection.free(failed=True)
    assert a.effective_weight == 2  # weight / max_fails taken off
    pick(group)
    assert a.effective_weight == 3  # back by one per selection


def test_least_conn_prefers_idle_peer_then_round_robin() -> None:
    group = PeerGroup.build("u", peers(("a", 1), ("b", 1), ("c", 1)), method="least_conn")
    busy = group.selection()
    assert busy.get() is group.primary.peers[0]  # all idle: round robin among equals -> a
    # a holds one connection now: b and c are preferred, alternating
    assert [pick(group) for _ in range(4)] == ["b", "c", "b", "c"]
    busy.free(failed=False)


def test_least_conn_weights_connections() -> None:
    group = PeerGroup.build("u", peers(("a", 3), ("b", 1)), method="least_conn")
    held = []
    for _ in range(4):
        selection = group.selection()
        assert selection.get() is not None
        held.append(selection)
    counts = Counter(s.current.name for s in held if s.current)
    assert counts == {"a": 3, "b": 1}


def test_ip_hash_keeps_a_client_on_one_peer_by_first_three_octets() -> None:
    group = PeerGroup.build("u", peers(("a", 1), ("b", 1), ("c", 1)), method="ip_hash")
    address = socket.inet_aton("10.1.2.3")
    first = pick(group, client=address)
    assert all(pick(group, client=address) == first for _ in range(10))
    assert pick(group, client=socket.inet_aton("10.1.2.200")) == first  # same /24
    spread = {pick(group, client=socket.inet_aton(f"10.{i}.7.1")) for i in range(50)}
    assert spread == {"a", "b", "c"}


def test_ip_hash_value_matches_nginx_formula() -> None:
    # hash = 89; for each of the first three octets: hash = (hash * 113 + octet) % 6271
    value = 89
    for octet in (127, 0, 0):
        value = (value * 113 + octet) % 6271
    group = PeerGroup.build("u", peers(*((f"p{i}", 1) for i in range(7))), method="ip_hash")
    assert pick(group, client=socket.inet_aton("127.0.0.1")) == f"p{value % 7}"


def test_hash_key_is_stable_and_spread() -> None:
    group = PeerGroup.build("u", peers(("a", 1), ("b", 1), ("c", 1)), method="hash", args=["$request_uri"])
    first = pick(group, key=b"/x")
    assert all(pick(group, key=b"/x") == first for _ in range(5))
    assert {pick(group, key=f"/k{i}".encode()) for i in range(60)} == {"a", "b", "c"}
    # an empty key falls back to round robin
    assert [pick(group, key=b"") for _ in range(3)] == ["a", "b", "c"]


def test_consistent_hash_moves_few_keys_when_a_server_goes() -> None:
    names = [f"10.0.0.{i}:80" for i in range(1, 5)]
    before = PeerGroup.build("u", peers(*((n, 1) for n in names)), method="hash", args=["$k", "consistent"])
    after = PeerGroup.build(
        "u", peers(*((n, 1) for n in names[:3])), method="hash", args=["$k", "consistent"]
    )
    keys = [f"key{i}".encode() for i in range(400)]
    moved = sum(
        1
        for key in keys
        if pick(before, key=key) != pick(after, key=key) and pick(before, key=key) != names[3]
    )
    assert moved == 0  # keys of the remaining servers stay where they were
    assert len(before.points) == 4 * 160


def test_random_and_random_two() -> None:
    group = PeerGroup.build("u", peers(("a", 1), ("b", 3)), method="random", rng=random.Random(1))
    counts = Counter(pick(group) for _ in range(400))
    assert 60 < counts["a"] < 140 and counts["b"] > 260
    two = PeerGroup.build("u", peers(("a", 1), ("b", 1)), method="random", args=["two"], rng=random.Random(2))
    held = two.selection()
    first = held.get()
    assert first is not None
    # with one connection held on `first`, "two" always picks the other one
    assert {pick(two) for _ in range(20)} == {"b" if first.name == "a" else "a"}
    held.free(failed=False)


def test_next_upstream_tries_each_peer_once() -> None:
    group = PeerGroup.build("u", peers(("a", 1), ("b", 1), ("c", 1)))
    selection = group.selection()
    seen = []
    while (peer := selection.get()) is not None:
        seen.append(peer.name)
        selection.free(failed=False)
        if len(seen) > 5:
            break
    assert sorted(seen) == ["a", "b", "c"]
