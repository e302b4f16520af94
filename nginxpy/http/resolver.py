"""``resolver``: nginx's own DNS client (``ngx_resolver.c``), over UDP on trio.

Used for ``proxy_pass`` with variables whose host is neither an upstream{} name nor an
address.  As nginx does, a name is asked for its A and (``ipv6=on``, the default) AAAA
records at once; the answer is the A addresses, then the AAAA ones.  A name with records
is cached (case-insensitively) for ``valid=`` or, without it, the smallest TTL of the
answers; a failure is not cached.  The query is sent again every 5 seconds (to the next
server, if there are several) until ``resolver_timeout``.  Concurrent requests for one
name share one query.

Failures carry nginx's code and text: ``3: Host not found`` (NXDOMAIN, or no record of
either type), ``2: Server failure``, ..., ``110: Operation timed out``.
"""

from __future__ import annotations

import math
import random
import socket
import struct
from dataclasses import dataclass, field

import trio

A, AAAA = 1, 28
RESEND = 5.0  # ngx_resolver: r->resend_timeout
TIMEDOUT = 110  # NGX_ETIMEDOUT

# ngx_resolver_strerror
_ERRORS = {
    1: "Format error",
    2: "Server failure",
    3: "Host not found",
    4: "Unimplemented",
    5: "Operation refused",
}


class ResolveError(Exception):
    """The name could not be resolved: nginx's state code and its text."""

    def __init__(self, code: int) -> None:
        self.code = code
        self.text = "Operation timed out" if code == TIMEDOUT else _ERRORS.get(code, "Unknown error")
        super().__init__(f"{code}: {self.text}")


@dataclass(slots=True)
class _Pending:
    done: trio.Event = field(default_factory=trio.Event)
    addrs: list[str] = field(default_factory=list)
    error: ResolveError | None = None


@dataclass(slots=True, eq=False)
class Resolver:
    """One ``resolver`` directive: its servers, options, and its cache."""

    servers: list[tuple[str, int]]
    valid: float = 0.0  # valid=: overrides the answers' TTL
    ipv4: bool = True
    ipv6: bool = True
    cache: dict[str, tuple[float, list[str]]] = field(default_factory=dict)
    pending: dict[str, _Pending] = field(default_factory=dict)
    next_server: int = 0

    @classmethod
    def from_words(cls, words: list[str]) -> Resolver:
        """``resolver address ... [valid=time] [ipv4=on|off] [ipv6=on|off]`` (checked at load)."""
        from nginxpy.conf import values

        resolver = cls([])
        for word in words:
            if word.startswith("valid="):
                resolver.valid = float(values.parse_time(word[6:], is_sec=True) or 0)
            elif word.startswith("ipv4="):
                resolver.ipv4 = word[5:] == "on"
            elif word.startswith("ipv6="):
                resolver.ipv6 = word[5:] == "on"
            else:
                resolver.servers += _server_addresses(word)
        return resolver

    async def resolve(self, name: str, timeout: float) -> list[str]:
        """The addresses of ``name`` (text form), from the cache or the servers."""
        key = name.lower()
        cached = self.cache.get(key)
        if cached is not None:
            if cached[0] >= trio.current_time():
                return _rotate(cached[1])
            del self.cache[key]
        pending = self.pending.get(key)
        if pending is None:
            pending = self.pending[key] = _Pending()
            try:
                await self._query(key, pending, timeout)
            finally:
                del self.pending[key]
                if pending.error is None and not pending.addrs:
                    pending.error = ResolveError(TIMEDOUT)  # the asking request went away
                pending.done.set()
        else:
            with trio.move_on_after(timeout):
                await pending.done.wait()
            if not pending.done.is_set():
                raise ResolveError(TIMEDOUT)
        if pending.error is not None:
            raise pending.error
        return list(pending.addrs)

    async def _query(self, name: str, pending: _Pending, timeout: float) -> None:
        types = [qtype for qtype, on in ((A, self.ipv4), (AAAA, self.ipv6)) if on]
        queries = {qtype: _query(name, qtype) for qtype in types}
        answers: dict[int, tuple[int, list[str], float]] = {}  # qtype -> (rcode, addresses, ttl)
        deadline = trio.current_time() + timeout
        while len(answers) < len(types):
            if trio.current_time() >= deadline:
                pending.error = ResolveError(TIMEDOUT)
                return
            server = self.servers[self.next_server % len(self.servers)]
            self.next_server += 1
            family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
            with trio.socket.socket(family, socket.SOCK_DGRAM) as sock:
                await sock.connect(server)
                for qtype, (_, packet) in queries.items():
                    if qtype not in answers:
                        await sock.send(packet)
                with trio.move_on_at(min(deadline, trio.current_time() + RESEND)):
                    while len(answers) < len(types):
                        try:
                            data = await sock.recv(4096)
                        except OSError:
                            break  # ICMP unreachable: try again at the next send
                        parsed = _parse_answer(data, name, queries)
                        if parsed is not None:
                            answers[parsed[0]] = parsed[1:]
        addrs: list[str] = []
        ttl = math.inf
        code = 0
        for qtype in types:
            rcode, found, found_ttl = answers[qtype]
            addrs += found
            ttl = min(ttl, found_ttl)
            code = code or rcode
        if not addrs or code:
            # ngx_resolver_process_a: an error code, or no address of any type, is "Host not found"
            pending.error = ResolveError(code or 3)
            return
        valid = self.valid or (ttl if ttl != math.inf else 0)
        self.cache[name] = (trio.current_time() + valid, addrs)
        pending.addrs = addrs


def _rotate(addrs: list[str]) -> list[str]:
    """ngx_resolver_export with rotation: a cached answer starts at a random address."""
    if len(addrs) < 2:
        return list(addrs)
    start = random.randrange(len(addrs))
    return addrs[start:] + addrs[:start]


def _server_addresses(word: str) -> list[tuple[str, int]]:
    port = 53
    host = word
    if word.startswith("["):
        end = word.index("]")
        host, rest = word[1:end], word[end + 1 :]
        if rest.startswith(":"):
            port = int(rest[1:])
    elif word.count(":") == 1:
        host, _, port_text = word.partition(":")
        port = int(port_text)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError:
        return []
    found: list[tuple[str, int]] = []
    for _, _, _, _, sockaddr in infos:
        address = (str(sockaddr[0]), int(sockaddr[1]))
        if address not in found:
            found.append(address)
    return found


def _query(name: str, qtype: int) -> tuple[int, bytes]:
    """A standard query, recursion desired (ngx_resolver_create_name_query): (its id, its bytes)."""
    ident = random.getrandbits(16)
    labels = b"".join(
        bytes([len(part)]) + part.encode("ascii", "replace") for part in name.split(".") if part
    )
    return ident, struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\x00" + struct.pack(
        "!HH", qtype, 1
    )


def _read_name(data: bytes, pos: int) -> tuple[str, int]:
    """A (possibly compressed) name at ``pos``: the name and the position after it."""
    labels: list[str] = []
    end = -1
    jumps = 0
    while True:
        length = data[pos]
        if length >= 0xC0:
            if end < 0:
                end = pos + 2
            pos = ((length & 0x3F) << 8) | data[pos + 1]
            jumps += 1
            if jumps > 32:
                raise ValueError("name loop")
            continue
        if length == 0:
            pos += 1
            break
        labels.append(data[pos + 1 : pos + 1 + length].decode("ascii", "replace"))
        pos += 1 + length
    return ".".join(labels), (end if end >= 0 else pos)


def _parse_answer(
    data: bytes, name: str, queries: dict[int, tuple[int, bytes]]
) -> tuple[int, int, list[str], float] | None:
    """(qtype, rcode, addresses, min TTL) of a response to one of ``queries``; None if it is not one."""
    try:
        ident, flags, qdcount, ancount = struct.unpack("!HHHH", data[:8])
        if not flags & 0x8000 or qdcount != 1:
            return None
        qname, pos = _read_name(data, 12)
        qtype, _qclass = struct.unpack("!HH", data[pos : pos + 4])
        pos += 4
        if qname.lower() != name or qtype not in queries or queries[qtype][0] != ident:
            return None
        rcode = flags & 0x0F
        addrs: list[str] = []
        ttl = math.inf
        for _ in range(ancount):
            _owner, pos = _read_name(data, pos)
            rtype, _rclass, rttl, rdlength = struct.unpack("!HHIH", data[pos : pos + 10])
            pos += 10
            rdata = data[pos : pos + rdlength]
            pos += rdlength
            if rtype == qtype == A and rdlength == 4:
                addrs.append(socket.inet_ntop(socket.AF_INET, rdata))
            elif rtype == qtype == AAAA and rdlength == 16:
                addrs.append(socket.inet_ntop(socket.AF_INET6, rdata))
            else:
                continue
            ttl = min(ttl, max(rttl if rttl < 0x80000000 else 0, 0))
    except (struct.error, IndexError, ValueError):
        return None
    return qtype, rcode, addrs, ttl


_RESOLVERS: dict[tuple[str, ...], Resolver] = {}


def resolver_for(words: list[str] | tuple[str, ...]) -> Resolver:
    """The Resolver of a ``resolver`` directive's words (one cache per distinct directive)."""
    key = tuple(words)
    found = _RESOLVERS.get(key)
    if found is None:
        found = _RESOLVERS[key] = Resolver.from_words(list(words))
    return found
