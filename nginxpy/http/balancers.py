"""Load balancers of an ``upstream { }`` group, as nginx's peer modules choose.

Pure state machines, no sockets: a :class:`PeerGroup` holds the shared per-peer
counters (``conns``, ``fails``, the smooth-weighting ``current_weight`` /
``effective_weight``) of one upstream; a :class:`Selection` is one request's walk
over it (nginx's ``peer.get`` / ``peer.free`` with the request's ``tried`` set).

The rules, from nginx's ``ngx_http_upstream_round_robin.c`` and the balancer
modules (``least_conn``, ``ip_hash``, ``hash [consistent]``, ``random [two]``):

* a peer is skipped when it is ``down``, when ``max_conns`` is reached, or when it
  failed ``max_fails`` times and ``fail_timeout`` has not passed since its last check;
* smooth weighted round robin: every live peer's ``current_weight`` grows by its
  ``effective_weight``, the largest wins and loses the total (a:5 b:1 c:1 gives
  a a b a c a a);
* a failure lowers ``effective_weight`` by ``weight / max_fails``; it climbs back
  by one per selection;
* when no primary peer is usable the ``backup`` group is tried; when none is
  usable either, the selection is "busy": nginx's "no live upstreams";
* a group of one peer (no backups) never marks it failed;
* hash-based balancers fall back to round robin after 20 unlucky draws.

Time is whole seconds (``ngx_time()``); the clock is injectable for tests.
"""

from __future__ import annotations

import bisect
import random as _random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, eq=False)
class Peer:
    """One address of one ``server`` line (a name resolving to two IPs makes two peers)."""

    name: str  # the address as $upstream_addr prints it: "127.0.0.1:8080", "unix:/path"
    address: Any  # what the connector needs: (host, port) or "unix:/path"
    server: str = ""  # the server line's address as written (consistent hash points)
    weight: int = 1
    max_fails: int = 1
    fail_timeout: int = 10
    down: bool = False
    max_conns: int = 0
    backup: bool = False
    current_weight: int = 0
    effective_weight: int = 1
    conns: int = 0
    fails: int = 0
    accessed: float = 0
    checked: float = 0

    def __post_init__(self) -> None:
        self.effective_weight = self.weight
        if not self.server:
            self.server = self.name


@dataclass(slots=True, eq=False)
class Peers:
    """The primary or the backup peers of a group (ngx_http_upstream_rr_peers_t)."""

    peers: list[Peer]
    name: str = ""
    next: Peers | None = None
    single: bool = False

    @property
    def total_weight(self) -> int:
        return sum(peer.weight for peer in self.peers)

    @property
    def tries(self) -> int:
        return sum(1 for peer in self.peers if not peer.down)


def _usable(peer: Peer, now: float) -> bool:
    if peer.down:
        return False
    if peer.max_fails and peer.fails >= peer.max_fails and now - peer.checked <= peer.fail_timeout:
        return False
    return not (peer.max_conns and peer.conns >= peer.max_conns)


def _smooth_pick(
    peers: Peers, tried: set[int], now: float, server: str | None = None
) -> tuple[Peer, int] | None:
    """nginx's smooth weighted round robin (ngx_http_upstream_get_peer): every usable peer
    gains its effective weight, the heaviest is chosen and loses the total.  With
    ``server``, only the peers of that server entry take part (hash consistent)."""
    best: Peer | None = None
    best_index = 0
    total = 0
    for index, peer in enumerate(peers.peers):
        if index in tried or not _usable(peer, now) or (server is not None and peer.server != server):
            continue
        peer.current_weight += peer.effective_weight
        total += peer.effective_weight
        if peer.effective_weight < peer.weight:
            peer.effective_weight += 1
        if best is None or peer.current_weight > best.current_weight:
            best, best_index = peer, index
    if best is None:
        return None
    best.current_weight -= total
    return best, best_index


def _crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


@dataclass(slots=True, eq=False)
class PeerGroup:
    """An upstream's peers and its balancing method; shared by every request to it."""

    name: str
    primary: Peers
    method: str = "round_robin"  # round_robin, least_conn, ip_hash, hash, random
    consistent: bool = False  # hash ... consistent
    two: bool = False  # random two
    clock: Callable[[], float] = time.time
    rng: _random.Random = field(default_factory=_random.Random)
    points: list[tuple[int, str]] = field(default_factory=list)  # consistent hash ring
    warn: Callable[[str], None] | None = None  # "upstream server temporarily disabled"

    @classmethod
    def build(
        cls,
        name: str,
        peers: list[Peer],
        method: str = "round_robin",
        args: list[str] | None = None,
        clock: Callable[[], float] = time.time,
        rng: _random.Random | None = None,
    ) -> PeerGroup:
        args = args or []
        primary = Peers([p for p in peers if not p.backup], name)
        backup = [p for p in peers if p.backup]
        if backup:
            primary.next = Peers(backup, name)
        primary.single = len(primary.peers) == 1 and not backup
        group = cls(name, primary, method, clock=clock, rng=rng or _random.Random())
        if method == "hash":
            group.consistent = "consistent" in args[1:]
            if group.consistent:
                group.points = _chash_points(primary.peers)
        elif method == "random":
            group.two = "two" in args
        return group

    def now(self) -> int:
        return int(self.clock())

    def tries(self) -> int:
        """How many peers one request may try (ngx_http_upstream_tries)."""
        total = self.primary.tries
        if self.primary.next is not None:
            total += self.primary.next.tries
        return total

    def selection(self, key: bytes = b"", client: bytes = b"") -> Selection | SingleSelection:
        """A request's walk over the group; ``key`` for hash, ``client`` (packed address) for ip_hash."""
        if self.primary.single:
            return SingleSelection(self.primary.peers[0])
        return Selection(self, self.primary, key=key, client=client)


def _chash_points(peers: list[Peer]) -> list[tuple[int, str]]:
    ordered: list[tuple[int, str]] = []
    for peer in peers:
        server = peer.server
        if server[:5].lower() == "unix:":
            host, port = server[5:], ""
        else:
            host, port = server, ""
            digits = len(server) - len(server.rstrip("0123456789"))
            if digits < len(server) and server[len(server) - digits - 1] == ":":
                host, port = server[: len(server) - digits - 1], server[len(server) - digits :]
        base = host.encode() + b"\0" + port.encode()
        prev = b"\0\0\0\0"
        for _ in range(peer.weight * 160):
            value = _crc32(base + prev)
            ordered.append((value, server))
            prev = value.to_bytes(4, "little")
    ordered.sort(key=lambda point: point[0])
    unique: list[tuple[int, str]] = []
    for value, server in ordered:
        if not unique or unique[-1][0] != value:
            unique.append((value, server))
    return unique


class SingleSelection:
    """The walk over a group of one peer and no backup (peers->single): every method comes down
    to that peer, unless it is down or at max_conns; failures are not counted."""

    __slots__ = ("current", "peer")

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.current: Peer | None = None

    def get(self) -> Peer | None:
        peer = self.peer
        if peer.down or (peer.max_conns and peer.conns >= peer.max_conns):
            return None
        self.current = peer
        peer.conns += 1
        return peer

    def free(self, failed: bool) -> None:
        peer = self.current
        if peer is not None:
            self.current = None
            peer.conns -= 1


@dataclass(slots=True, eq=False)
class Selection:
    """One request's peer choices (nginx's rrp: ``tried`` bits, ``current`` peer)."""

    group: PeerGroup
    peers: Peers
    key: bytes = b""
    client: bytes = b""
    tried: set[int] = field(default_factory=set)
    current: Peer | None = None
    hash_tries: int = 0
    hash: int = 0
    rehash: int = 0
    chash_started: bool = False
    ip_started: bool = False

    def get(self) -> Peer | None:
        """The next peer to try, or None when no live peer is left ("no live upstreams")."""
        method = self.group.method
        if method == "least_conn":
            return self._least_conn()
        if method == "ip_hash":
            return self._hashed(self._ip_hash_next)
        if method == "hash":
            if self.group.consistent:
                return self._chash()
            return self._hashed(self._hash_next)
        if method == "random":
            return self._random()
        return self._round_robin()

    def free(self, failed: bool) -> None:
        """The attempt with the current peer is over (ngx_http_upstream_free_round_robin_peer)."""
        peer = self.current
        if peer is None:
            return
        self.current = None
        if self.peers.single:
            peer.conns -= 1
            return
        if failed:
            now = self.group.now()
            peer.fails += 1
            peer.accessed = now
            peer.checked = now
            if peer.max_fails:
                peer.effective_weight -= peer.weight // peer.max_fails
                if peer.fails >= peer.max_fails and self.group.warn is not None:
                    self.group.warn("upstream server temporarily disabled")
            peer.effective_weight = max(peer.effective_weight, 0)
        elif peer.accessed < peer.checked:
            peer.fails = 0
        peer.conns -= 1

    # -- round robin ---------------------------------------------------------------

    def _take(self, peer: Peer, index: int, now: int) -> Peer:
        self.current = peer
        self.tried.add(index)
        if now - peer.checked > peer.fail_timeout:
            peer.checked = now
        peer.conns += 1
        return peer

    def _to_backup(self) -> bool:
        if self.peers.next is None:
            return False
        self.peers = self.peers.next
        self.tried = set()
        return True

    def _round_robin(self) -> Peer | None:
        while True:
            peers = self.peers
            if peers.single:
                peer = peers.peers[0]
                if not peer.down and not (peer.max_conns and peer.conns >= peer.max_conns):
                    self.current = peer
                    peer.conns += 1
                    return peer
            else:
                now = self.group.now()
                picked = _smooth_pick(peers, self.tried, now)
                if picked is not None:
                    return self._take(*picked, now)
            if not self._to_backup():
                return None

    # -- least_conn ----------------------------------------------------------------

    def _least_conn(self) -> Peer | None:
        while True:
            peers = self.peers
            if peers.single:
                return self._round_robin()
            now = self.group.now()
            best: Peer | None = None
            best_index = 0
            many = False
            for index, peer in enumerate(peers.peers):
                if index in self.tried or not _usable(peer, now):
                    continue
                if best is None or peer.conns * best.weight < best.conns * peer.weight:
                    best, best_index, many = peer, index, False
                elif peer.conns * best.weight == best.conns * peer.weight:
                    many = True
            if best is not None:
                if many:
                    total = 0
                    first = best
                    for index in range(best_index, len(peers.peers)):
                        peer = peers.peers[index]
                        if index in self.tried or not _usable(peer, now):
                            continue
                        if peer.conns * first.weight != first.conns * peer.weight:
                            continue
                        peer.current_weight += peer.effective_weight
                        total += peer.effective_weight
                        if peer.effective_weight < peer.weight:
                            peer.effective_weight += 1
                        if peer.current_weight > best.current_weight:
                            best, best_index = peer, index
                    best.current_weight -= total
                return self._take(best, best_index, now)
            if not self._to_backup():
                return None

    # -- ip_hash and hash ------------------------------------------------------------

    def _ip_hash_next(self) -> int:
        value = self.hash if self.ip_started else 89
        self.ip_started = True
        address = self.client[:3] if len(self.client) == 4 else self.client
        if len(address) not in (3, 16):
            address = b"\0\0\0"  # a unix-socket client: nginx's pseudo address
        for byte in address:
            value = (value * 113 + byte) % 6271
        self.hash = value
        return value

    def _hash_next(self) -> int:
        data = self.key if self.rehash == 0 else str(self.rehash).encode() + self.key
        self.hash += (_crc32(data) >> 16) & 0x7FFF
        self.rehash += 1
        return self.hash

    def _hashed(self, draw: Callable[[], int]) -> Peer | None:
        peers = self.peers
        if self.hash_tries > 20 or peers.single or (self.group.method == "hash" and not self.key):
            return self._round_robin()
        now = self.group.now()
        total_weight = peers.total_weight
        while True:
            w = draw() % total_weight
            index = 0
            while w >= peers.peers[index].weight:
                w -= peers.peers[index].weight
                index += 1
            peer = peers.peers[index]
            if index not in self.tried and _usable(peer, now):
                return self._take(peer, index, now)
            self.hash_tries += 1
            if self.hash_tries > 20:
                return self._round_robin()

    def _chash(self) -> Peer | None:
        peers = self.peers
        if self.hash_tries > 20 or peers.single or not self.key:
            return self._round_robin()
        points = self.group.points
        if not self.chash_started:
            self.chash_started = True
            wanted = _crc32(self.key)
            self.hash = bisect.bisect_left([point[0] for point in points], wanted)
        now = self.group.now()
        while True:
            server = points[self.hash % len(points)][1]
            picked = _smooth_pick(peers, self.tried, now, server)
            if picked is not None:
                return self._take(*picked, now)
            self.hash += 1
            self.hash_tries += 1
            if self.hash_tries > 20:
                return self._round_robin()

    # -- random [two] ----------------------------------------------------------------

    def _peek_random(self) -> int:
        peers = self.peers.peers
        x = self.group.rng.randrange(self.peers.total_weight)
        start = 0
        for index, peer in enumerate(peers):
            if x < start + peer.weight:
                return index
            start += peer.weight
        return len(peers) - 1

    def _random(self) -> Peer | None:
        peers = self.peers
        if self.hash_tries > 20 or peers.single:
            return self._round_robin()
        now = self.group.now()
        previous: tuple[Peer, int] | None = None
        while True:
            index = self._peek_random()
            peer = peers.peers[index]
            if (
                (previous is None or peer is not previous[0])
                and index not in self.tried
                and _usable(peer, now)
            ):
                if not self.group.two:
                    return self._take(peer, index, now)
                if previous is not None:
                    other, other_index = previous
                    if peer.conns * other.weight > other.conns * peer.weight:
                        peer, index = other, other_index
                    return self._take(peer, index, now)
                previous = (peer, index)
            self.hash_tries += 1
            if self.hash_tries > 20:
                return self._round_robin()
