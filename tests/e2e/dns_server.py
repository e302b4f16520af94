"""A small DNS server for tests: UDP on loopback (OS-assigned port), in a thread.

It answers A queries for the names in its table (TTL ``ttl``), AAAA queries for them
with no record (NOERROR), ignores the names in ``silent`` (the client times out) and
answers NXDOMAIN for any other name.  Every query is recorded as (name, type).
"""

from __future__ import annotations

import socket
import struct
import threading

A, AAAA = 1, 28


class DnsServer:
    def __init__(
        self, table: dict[str, list[str]], silent: frozenset[str] = frozenset(), ttl: int = 300
    ) -> None:
        self.table = {name.lower(): addrs for name, addrs in table.items()}
        self.silent = silent
        self.ttl = ttl
        self.queries: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def count(self, name: str) -> int:
        with self.lock:
            return sum(1 for queried, _ in self.queries if queried == name)

    def _serve(self) -> None:
        while True:
            try:
                query, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            answer = self._answer(query)
            if answer is not None:
                try:
                    self.sock.sendto(answer, peer)
                except OSError:
                    return

    def _answer(self, query: bytes) -> bytes | None:
        if len(query) < 12:
            return None
        ident, _flags, qdcount = struct.unpack("!HHH", query[:6])
        if qdcount != 1:
            return None
        labels, pos = [], 12
        while pos < len(query) and query[pos]:
            length = query[pos]
            labels.append(query[pos + 1 : pos + 1 + length].decode("ascii"))
            pos += 1 + length
        name = ".".join(labels).lower()
        qtype, _qclass = struct.unpack("!HH", query[pos + 1 : pos + 5])
        question = query[12 : pos + 5]
        with self.lock:
            self.queries.append((name, qtype))
        if name in self.silent:
            return None
        addrs = self.table.get(name)
        if addrs is None:
            return struct.pack("!HHHHHH", ident, 0x8183, 1, 0, 0, 0) + question  # NXDOMAIN
        records = b""
        count = 0
        if qtype == A:
            for addr in addrs:
                records += struct.pack("!HHHIH", 0xC00C, A, 1, self.ttl, 4) + socket.inet_aton(addr)
                count += 1
        return struct.pack("!HHHHHH", ident, 0x8180, 1, count, 0, 0) + question + records

    def stop(self) -> None:
        self.sock.close()
