"""Talking to upstream servers: groups, connections, keepalive, retries, the response.

``ngx_http_upstream.c`` in trio.  :func:`proxy_handler` is the content handler of a
location with ``proxy_pass``: it reads the client body (``proxy_request_buffering``
on: in memory, or in a temporary file beyond ``client_body_buffer_size``; off: it
is passed on as it arrives, once the request head is sent), picks a peer with the
group's balancer (a name in a URL with variables is resolved with the location's
``resolver``, :mod:`resolver`), connects (``proxy_connect_timeout``), sends the
request built by :mod:`proxy` (``proxy_send_timeout``), reads the response head
(``proxy_read_timeout``), tries the next peer when ``proxy_next_upstream`` says so,
then streams the body to the client with one ``proxy_buffer_size`` buffer at a time,
or, for ``101 Switching Protocols`` to a client that asked to upgrade, hands both
connections to :mod:`tunnel`.

Failures are answered as nginx answers them, 502 or 504, and logged with nginx's
text: ``connect() failed (111: Connection refused) while connecting to upstream``,
``upstream timed out (110: Connection timed out) while reading response header from
upstream``, ``upstream prematurely closed connection while reading response header
from upstream``, ``no live upstreams while connecting to upstream``.

Hot path: plain sockets are used directly (the call first, a wait only when it would
block); read timers are one table woken by a system task (:class:`ReadTimers`), not
a cancel scope per wait.

The connection side is the runtime's ``HttpConnection``; what the proxy uses of it:
``send_header(r)``, ``send_body(r, data)``, ``finish_body(r)``, ``log_error(level,
text, r)``, ``iter_body(r)`` / ``read_body(r)`` (the client body), ``set_deadline``
(the client body timer is stopped once the body is read) and, for tunnels,
``upgrade(r)`` -> (client stream, bytes the client sent after its request).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import ipaddress
import math
import os
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from nginxpy.http.balancers import Peer, PeerGroup
from nginxpy.http.proxy import (
    ClientRequest,
    HeadParser,
    ProxyConf,
    ProxyContext,
    ProxyError,
    ProxyUrl,
    ResponseHead,
    build_request,
    make_context,
    response_headers,
)
from nginxpy.http.resolver import ResolveError, resolver_for
from nginxpy.http.tunnel import run_tunnel
from nginxpy.tls.glue import wrap_upstream
from nginxpy.tls.upstream import UpstreamTlsError

NON_IDEMPOTENT = frozenset({"POST", "LOCK", "PATCH"})


# -- groups and pools ------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Pool:
    """``keepalive N``: idle connections to this group's peers, most recent first."""

    size: int
    timeout: float = 60.0
    requests: int = 1000
    idle: dict[str, list[tuple[trio.abc.Stream, float, int]]] = field(default_factory=dict)

    count: int = 0  # idle connections in all lists

    def take(self, key: str) -> tuple[trio.abc.Stream, int] | None:
        entries = self.idle.get(key)
        if not entries:
            return None
        now = time.monotonic()
        while entries:
            stream, since, used = entries.pop()
            self.count -= 1
            if now - since < self.timeout:
                return stream, used
            _close_now(stream)
        return None

    def give(self, key: str, stream: trio.abc.Stream, used: int) -> bool:
        if used >= self.requests:
            return False
        entries = self.idle.get(key)
        if entries is None:
            entries = self.idle[key] = []
        if self.count >= self.size:
            # drop the oldest idle connection of any peer, as nginx's cache does
            for items in self.idle.values():
                if items:
                    stream_old, _, _ = items.pop(0)
                    _close_now(stream_old)
                    self.count -= 1
                    break
        entries.append((stream, time.monotonic(), used))
        self.count += 1
        return True


def _close_now(stream: trio.abc.Stream) -> None:
    """Close at once, without a TLS close_notify (nginx closes idle cached connections so)."""
    transport: Any = stream
    while not isinstance(transport, trio.SocketStream):
        inner = getattr(transport, "transport_stream", None)
        if inner is None:
            break
        transport = inner
    sock = getattr(transport, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


@dataclass(slots=True, eq=False)
class Group:
    peers: PeerGroup
    pool: Pool | None = None
    hash_key: Any = None  # ComplexValue for hash
    tries: int = -1  # ngx_http_upstream_tries, counted once (the peers do not change)

    def max_tries(self) -> int:
        if self.tries < 0:
            self.tries = self.peers.tries()
        return self.tries


def _resolve(host: str, port: int) -> list[tuple[str, Any]]:
    """Addresses of a server name at load (nginx resolves with the system resolver)."""
    if host.startswith("["):
        literal = host[1:-1]
        return [(f"[{literal}]:{port}", (literal, port))]
    try:
        ipaddress.ip_address(host)
        return [(f"{host}:{port}", (host, port))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[tuple[str, Any]] = []
    for family, _, _, _, sockaddr in infos:
        address = str(sockaddr[0])
        name = f"[{address}]:{port}" if family == socket.AF_INET6 else f"{address}:{port}"
        if all(name != existing for existing, _ in seen):
            seen.append((name, (address, port)))
    return seen


def _server_peers(address: str, **options: Any) -> list[Peer]:
    if address.startswith("unix:"):
        return [Peer(address, address, server=address, **options)]
    if address.startswith("["):
        end = address.index("]")
        host, rest = address[: end + 1], address[end + 1 :]
        port = int(rest[1:]) if rest.startswith(":") else 80
    else:
        host, _, port_text = address.partition(":")
        port = int(port_text) if port_text else 80
    return [Peer(name, target, server=address, **options) for name, target in _resolve(host, port)]


_REGISTRY: dict[int, dict[str, Group]] = {}


def groups_for(http_scope: Any) -> dict[str, Group]:
    """The upstream{} groups of a loaded configuration, built once."""
    key = id(http_scope)
    found = _REGISTRY.get(key)
    if found is not None:
        return found
    from nginxpy.conf.script import compile_value

    groups: dict[str, Group] = {}
    for name, scope in (getattr(http_scope, "upstreams", None) or {}).items():
        peers: list[Peer] = []
        for server in scope.servers:
            peers += _server_peers(
                server.address,
                weight=server.weight,
                max_fails=server.max_fails,
                fail_timeout=int(server.fail_timeout),
                down=server.down,
                max_conns=server.max_conns,
                backup=server.backup,
            )
        group = Group(PeerGroup.build(name, peers, scope.balancer, list(scope.balancer_args)))
        if scope.balancer == "hash" and scope.balancer_args:
            group.hash_key = compile_value(scope.balancer_args[0])
        keepalive = scope.values.get("keepalive")
        if keepalive:
            size = keepalive if isinstance(keepalive, int) else keepalive[-1]
            while isinstance(size, (list, tuple)):
                size = size[0]
            pool = Pool(int(size))
            timeout = scope.values.get("keepalive_timeout")
            if timeout is not None:
                pool.timeout = (timeout[0] if isinstance(timeout, (tuple, list)) else int(timeout)) / 1000.0
            requests = scope.values.get("keepalive_requests")
            if requests is not None:
                pool.requests = int(requests[0] if isinstance(requests, (tuple, list)) else requests)
            group.pool = pool
        groups[name] = group
    _REGISTRY[key] = groups
    return groups


_IMPLICIT: dict[tuple[str, int], Group] = {}


def group_for_url(groups: dict[str, Group], url: ProxyUrl) -> Group:
    if url.no_port and url.host in groups:
        return groups[url.host]
    if url.unix:
        key = ("unix:" + url.host, 0)
        address = "unix:" + url.host
    else:
        key = (url.host, url.port)
        address = f"{url.host}:{url.port}"
    group = _IMPLICIT.get(key)
    if group is None:
        peers = _server_peers(address) if not url.unix else [Peer(address, address)]
        group = Group(PeerGroup.build(url.host_header, peers))
        _IMPLICIT[key] = group
    return group


def _needs_resolver(url: ProxyUrl, groups: dict[str, Group]) -> bool:
    """proxy_pass with variables: a host that is neither an upstream{} name nor an address is
    resolved at request time (ngx_http_upstream_init_request)."""
    if url.unix or (url.no_port and url.host in groups):
        return False
    host = url.host[1:-1] if url.host.startswith("[") else url.host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


async def _resolved_group(r: Any, conn: Any, conf: ProxyConf, url: ProxyUrl) -> Group | None:
    """The peers of a name resolved with the location's resolver, as a group of this request's
    own (ngx_http_upstream_create_round_robin_peer); None (502) when that is not possible."""
    if conf.resolver is None:
        conn.log_error("error", f"no resolver defined to resolve {url.host}", r)
        return None
    try:
        addrs = await resolver_for(conf.resolver).resolve(url.host, conf.resolver_timeout)
    except ResolveError as err:
        conn.log_error("error", f"{url.host} could not be resolved ({err.code}: {err.text})", r)
        return None
    peers = [
        Peer(f"[{addr}]:{url.port}" if ":" in addr else f"{addr}:{url.port}", (addr, url.port))
        for addr in addrs
    ]
    return Group(PeerGroup.build(url.host, peers))


# -- one attempt -------------------------------------------------------------------------


class UpstreamFailure(Exception):
    """One attempt failed: nginx's log text, the status it would answer, the next_upstream kind."""

    def __init__(self, text: str, status: int, kind: str) -> None:
        super().__init__(text)
        self.text = text
        self.status = status
        self.kind = kind  # error, timeout, invalid_header, http_5xx


async def connect(peer: Peer, timeout: float, tls: UpstreamTlsSetup | None = None) -> trio.abc.Stream:
    """ngx_http_upstream_connect, then (https://) the TLS handshake, both within
    ``proxy_connect_timeout`` as nginx's one connect timer."""
    address = peer.address
    handshaking = False
    with trio.move_on_after(timeout):
        try:
            if isinstance(address, str) and address.startswith("unix:"):
                stream: trio.abc.Stream = await trio.open_unix_socket(address[5:])
            else:
                host, port = address
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                sock = trio.socket.socket(family, socket.SOCK_STREAM)
                try:
                    await sock.connect((host, port))
                except BaseException:
                    sock.close()
                    raise
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                stream = trio.SocketStream(sock)
        except OSError as err:
            code = err.errno or errno.ECONNREFUSED
            raise UpstreamFailure(
                f"connect() failed ({code}: {os.strerror(code)}) while connecting to upstream", 502, "error"
            ) from None
        if tls is None:
            return stream
        handshaking = True
        try:
            return await wrap_upstream(stream, tls.runtime, tls.scope, tls.name, peer.name)
        except UpstreamTlsError as err:
            await trio.aclose_forcefully(stream)
            raise UpstreamFailure(tls_failure_text(err), 502, "error") from None
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
    action = "SSL handshaking to upstream" if handshaking else "connecting to upstream"
    raise UpstreamFailure(
        f"upstream timed out (110: Connection timed out) while {action}",
        504,
        "timeout",
    )


_HANDSHAKING = " while SSL handshaking to upstream"


def tls_failure_text(err: UpstreamTlsError) -> str:
    """nginx's error-log text for a failed upstream handshake (ngx_ssl_connection_error)."""
    text = str(err)
    broken = err.__context__
    cause = broken.__cause__ if broken is not None else None
    if text.startswith("SSL_do_handshake() failed") and cause is not None:
        if isinstance(cause, ssl.SSLError) and not isinstance(cause, ssl.SSLEOFError) and cause.reason:
            text = f"SSL_do_handshake() failed ({openssl_error(cause)})"
        elif isinstance(cause, OSError) and cause.errno:
            text = f"peer closed connection in SSL handshake ({cause.errno}: {os.strerror(cause.errno)})"
        else:
            text = "peer closed connection in SSL handshake"
    if not text.endswith(_HANDSHAKING):
        text += _HANDSHAKING
    return text


_LIBRARIES = {20: "SSL routines", 11: "x509 certificate routines", 9: "PEM routines"}


def openssl_error(err: ssl.SSLError) -> str:
    """ "SSL: error:0A00010B:SSL routines::wrong version number", as ngx_ssl_error writes it."""
    import _ssl

    codes: dict[str, tuple[int, int]] = getattr(_ssl, "err_names_to_codes", {})
    found = codes.get(err.reason or "")
    message = str(err.args[1] if len(err.args) > 1 else err)
    if message.startswith("["):
        message = message.partition("] ")[2]
    message = message.rsplit(" (_ssl.c:", 1)[0]
    if found is None:
        return f"SSL: {message}"
    lib, reason = found
    return f"SSL: error:{(lib << 23) | reason:08X}:{_LIBRARIES.get(lib, '')}::{message}"


def _raw_socket(stream: trio.abc.Stream) -> Any:
    """The stdlib socket under a plain (not TLS) trio.SocketStream, else None."""
    if type(stream) is trio.SocketStream:
        return getattr(stream.socket, "_sock", None)
    return None


def _send_now(stream: trio.abc.Stream, payload: bytes) -> bytes:
    """Send what the socket takes at once, without trio's per-call machinery; the rest.

    A failure raises the UpstreamFailure ``send_all`` would have led to."""
    sock = _raw_socket(stream)
    if sock is None:
        return payload
    try:
        sent = sock.send(payload)
    except BlockingIOError:
        return payload
    except OSError as err:
        code = err.errno or errno.EPIPE
        raise UpstreamFailure(
            f"writev() failed ({code}: {os.strerror(code)}) while sending request to upstream",
            502,
            "error",
        ) from None
    return payload[sent:]


@dataclass(slots=True, eq=False)
class UpstreamTlsSetup:
    """What ``wrap_upstream`` needs for one request's https:// upstream."""

    runtime: Any  # nginxpy.tls.glue.TlsRuntime
    scope: Any  # the location scope (its proxy_ssl_* settings)
    name: str  # proxy_ssl_name evaluated, else the upstream's host


TICK = 0.05  # how late at most a read timer of the table below fires


class ReadTimers:
    """Read timers of plain upstream sockets, without a cancel scope per wait.

    Entering and leaving a trio CancelScope for every upstream read costs more than the
    rest of the read's bookkeeping.  Instead a socket that waits to be readable is entered
    in this table with its deadline; one system task, awake only while the table is not
    empty, wakes the overdue ones with ``notify_closing`` (their wait ends with
    ClosedResourceError, and the connection is then closed, as nginx closes an upstream
    connection that timed out).  A timer fires at most TICK seconds late.
    """

    def __init__(self) -> None:
        self.waiting: dict[int, tuple[float, Any]] = {}
        self.fired: set[int] = set()
        self.running = False

    async def wait_readable(self, sock: Any, timeout: float) -> bool:
        """Wait until ``sock`` is readable (True) or ``timeout`` seconds passed (False)."""
        key = id(sock)
        self.waiting[key] = (trio.current_time() + timeout, sock)
        if not self.running:
            self.running = True
            trio.lowlevel.spawn_system_task(self._run)
        timed_out = False
        try:
            try:
                await trio.lowlevel.wait_readable(sock)
            except trio.ClosedResourceError:
                if key not in self.fired:
                    raise
        finally:
            self.waiting.pop(key, None)
            if key in self.fired:
                # woken by the timer (or readable just as it fired: notify_closing was called
                # all the same, so the socket must be closed, as after a timeout)
                self.fired.discard(key)
                timed_out = True
        return not timed_out

    async def _run(self) -> None:
        try:
            while self.waiting:
                await trio.sleep(TICK)
                now = trio.current_time()
                overdue = [key for key, (deadline, _) in self.waiting.items() if deadline <= now]
                for key in overdue:
                    _, sock = self.waiting.pop(key)
                    self.fired.add(key)
                    with contextlib.suppress(Exception):  # a socket closed meanwhile: nobody waits
                        trio.lowlevel.notify_closing(sock)
        finally:
            self.running = False


_TIMERS: trio.lowlevel.RunVar[ReadTimers] = trio.lowlevel.RunVar("nginxpy_upstream_read_timers")


def read_timers() -> ReadTimers:
    """This trio run's table of upstream read timers."""
    try:
        return _TIMERS.get()
    except LookupError:
        timers = ReadTimers()
        _TIMERS.set(timers)
        return timers


def _recv_failure(err: BaseException, action: str, call: str = "recv()") -> UpstreamFailure:
    code = getattr(err.__cause__, "errno", None) or getattr(err, "errno", None) or errno.ECONNRESET
    return UpstreamFailure(f"{call} failed ({code}: {os.strerror(code)}) while {action}", 502, "error")


def _head_timeout() -> UpstreamFailure:
    return UpstreamFailure(
        "upstream timed out (110: Connection timed out) while reading response header from upstream",
        504,
        "timeout",
    )


async def read_head(stream: trio.abc.Stream, timeout: float, limit: int) -> tuple[ResponseHead, bytes]:
    parser = HeadParser(limit)
    sock = _raw_socket(stream)
    first = True
    while True:
        try:
            if sock is None:
                with trio.CancelScope(deadline=trio.current_time() + timeout) as scope:
                    data = await stream.receive_some(65536)
                if scope.cancelled_caught:
                    raise _head_timeout()
            elif first:
                # a plain TCP/unix socket: let the other tasks run once (the upstream answers
                # meanwhile, most of the time), then try the call: a wait, with its two epoll
                # changes, only when the answer is not there yet
                first = False
                await trio.lowlevel.checkpoint()
                data = sock.recv(65536)
            else:
                # one wait (timed by the table) and one recv()
                if not await read_timers().wait_readable(sock, timeout):
                    raise _head_timeout()
                data = sock.recv(65536)
        except BlockingIOError:
            continue
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as err:
            raise _recv_failure(err, "reading response header from upstream") from None
        if not data:
            if parser.buffer:
                head = parser.feed(b"")
                if head is not None and head.http09:
                    return head, parser.rest
            raise UpstreamFailure(
                "upstream prematurely closed connection while reading response header from upstream",
                502,
                "error",
            )
        try:
            head = parser.feed(data)
        except ProxyError as err:
            raise UpstreamFailure(err.message + " while reading response header from upstream", 502,
                                  "invalid_header") from None  # fmt: skip
        if head is not None:
            return head, parser.rest


# -- the request body -----------------------------------------------------------------------


class ClientBodyClosed(Exception):
    """The client closed its connection while its body was being passed upstream."""


@dataclass(slots=True)
class BodyFile:
    """A client body kept in a temporary file (already unlinked): its descriptor and size."""

    fd: int
    size: int


_TEMP_NUMBER = [0]  # ngx_next_temp_number: this process's temporary file names


async def _read_body(r: Any, conn: Any, conf: ProxyConf) -> tuple[bytes, BodyFile | None]:
    """ngx_http_read_client_request_body with buffering: the body in memory, or in a temporary
    file (nginx's warn line) when it does not fit client_body_buffer_size: a body with a length
    whose part not read with the head is at least 1.25 times that size (nginx then reads into a
    buffer of that size, and writes it out when full), a chunked one once that much has come
    after the head's part.  Memory stays bounded by one read."""
    limit = conf.body_buffer_size
    preread = _preread(r, conn)
    if r.chunked_in:
        from nginxpy.http.parse import BadRequest, ChunkedDecoder

        probe = ChunkedDecoder()
        try:
            pieces, _ = probe.feed(bytes(conn.buffer[:preread]).decode("latin-1"))
        except BadRequest:
            pieces = []
        spill_at = sum(len(piece) for piece in pieces) + limit
    else:
        spill_at = 0 if r.content_length_in - preread >= limit + (limit >> 2) else -1
    kept: list[bytes] = []
    total = 0
    body_file: BodyFile | None = None
    try:
        async for piece in conn.iter_body(r):
            total += len(piece)
            if body_file is None:
                kept.append(piece)
                if 0 <= spill_at <= total:
                    body_file = _temp_file(r, conn, conf)
                    for part in kept:
                        _write_all(body_file.fd, part)
                    kept = []
            else:
                _write_all(body_file.fd, piece)
    except BaseException:
        if body_file is not None:
            os.close(body_file.fd)
        raise
    if body_file is not None:
        body_file.size = total
        return b"", body_file
    return b"".join(kept), None


def _preread(r: Any, conn: Any) -> int:
    """How much of what the connection has read past the head nginx would have read with it
    (its header buffer: client_header_buffer_size, or a large one for a longer head)."""
    buffered = len(getattr(conn, "buffer", b""))
    server = getattr(getattr(conn, "addr", None), "default", None)
    small = getattr(server, "client_header_buffer_size", 1024)
    large = getattr(server, "large_header_buffers", (4, 8192))[1]
    head = getattr(r, "request_length", 0)
    size = small if head <= small else large
    return max(0, min(buffered, size - head))


def _temp_file(r: Any, conn: Any, conf: ProxyConf) -> BodyFile:
    """ngx_create_temp_file in client_body_temp_path, with nginx's warn line."""
    prefix = getattr(getattr(r, "http", None), "prefix", "") or ""
    directory = os.path.join(prefix, conf.body_temp_path or "client_body_temp")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    while True:
        _TEMP_NUMBER[0] += 1
        path = os.path.join(directory, f"{_TEMP_NUMBER[0]:010d}")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        break
    os.unlink(path)  # nothing to clean up later, whatever happens to the request
    conn.log_error("warn", f"a client request body is buffered to a temporary file {path}", r)
    return BodyFile(fd, 0)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def _send_file(stream: trio.abc.Stream, body: BodyFile, timeout: float) -> None:
    """The body kept in a file, upstream one read at a time."""
    offset = 0
    while offset < body.size:
        data = os.pread(body.fd, min(65536, body.size - offset), offset)
        if not data:
            break
        offset += len(data)
        unsent = _send_now(stream, data)
        if unsent:
            await _send_upstream(stream, unsent, timeout)


def _unbuffered(conf: ProxyConf, r: Any, conn: Any) -> bool:
    """ngx_http_proxy_handler's request_body_no_buffering, and ngx_http_read_client_request_body
    turning it off again when the whole body is already here (then it is sent as buffered)."""
    if conf.request_buffering or conf.body is not None or not conf.pass_request_body:
        return False
    if r.chunked_in and conf.http_version != "1.1":
        return False  # HTTP/1.0 upstream: a chunked body is read whole for its Content-Length
    if not hasattr(conn, "iter_body") or getattr(conn, "body_done", True):
        return False
    buffer = getattr(conn, "buffer", b"")
    if getattr(conn, "chunked", None) is None:
        return len(buffer) < getattr(conn, "body_left", 0)
    from nginxpy.http.parse import BadRequest, ChunkedDecoder

    probe = ChunkedDecoder()
    try:
        probe.feed(bytes(buffer).decode("latin-1"))
    except BadRequest:
        return False  # the buffered read reports it
    return not probe.done


def _no_client_timer(conn: Any) -> None:
    """The client body is read: its timer (the connection's deadline) stops, as nginx deletes it."""
    set_deadline = getattr(conn, "set_deadline", None)
    if set_deadline is not None:
        set_deadline(math.inf)


async def _send_upstream(stream: trio.abc.Stream, data: bytes, timeout: float) -> None:
    """Send all of ``data`` within ``proxy_send_timeout``; failures as nginx logs them."""
    try:
        with trio.CancelScope(deadline=trio.current_time() + timeout) as sending:
            await stream.send_all(data)
    except (trio.BrokenResourceError, OSError) as err:
        code = getattr(err.__cause__, "errno", None) or getattr(err, "errno", None) or errno.EPIPE
        raise UpstreamFailure(
            f"writev() failed ({code}: {os.strerror(code)}) while sending request to upstream",
            502,
            "error",
        ) from None
    if sending.cancelled_caught:
        raise UpstreamFailure(
            "upstream timed out (110: Connection timed out) while sending request to upstream",
            504,
            "timeout",
        )


async def _send_body(r: Any, conn: Any, stream: trio.abc.Stream, chunked: bool, timeout: float) -> None:
    """proxy_request_buffering off: each piece of the client body upstream as it is read (chunked
    again for an HTTP/1.1 upstream when the client's was chunked).  One piece at a time: a slow
    upstream stops the reading, so the client is throttled and memory stays bounded."""
    from nginxpy.http.connection import ClientClosed

    pieces = conn.iter_body(r)
    try:
        async for piece in pieces:
            _no_client_timer(conn)
            data = b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece
            unsent = _send_now(stream, data)
            if unsent:
                await _send_upstream(stream, unsent, timeout)
    except ClientClosed:
        raise ClientBodyClosed from None
    finally:
        await pieces.aclose()
    _no_client_timer(conn)
    if chunked:
        await _send_upstream(stream, b"0\r\n\r\n", timeout)


# -- the handler --------------------------------------------------------------------------


def _lookup(r: Any) -> Callable[[str], str | None]:
    get = _variables_get()

    def lookup(name: str) -> str | None:
        return get(r, name)

    return lookup


_GET: list[Callable[[Any, str], str | None]] = []


def _variables_get() -> Callable[[Any, str], str | None]:
    if not _GET:
        from nginxpy.http import variables

        _GET.append(variables.get)
    return _GET[0]


def client_request(r: Any, body_length: int) -> ClientRequest:
    request_uri = r.request_uri
    ctx = r.ctx
    return ClientRequest(
        r.method,
        r.uri,
        r.args,
        request_uri,
        r.headers,  # only read while the request is built
        body_length,
        r.chunked_in,
        bool(ctx.get("valid_unparsed_uri", not r.internal)) if ctx else not r.internal,
        bool(ctx.get("valid_location", True)) if ctx else True,
        bool(r.internal or ("%" in request_uri and "%" in request_uri.partition("?")[0])),
        r.conn.remote_addr,
    )


def _log(conn: Any, r: Any, level: str, text: str, upstream: str) -> None:
    """An error line with nginx's context; the runtime adds ``upstream: "..."`` after the request."""
    r.ctx["upstream_log"] = upstream
    conn.log_error(level, text, r)


def _set_upstream_vars(r: Any, addrs: list[str], statuses: list[str], times: list[str]) -> None:
    if len(addrs) == 1 and len(statuses) == 1 and len(times) == 1:
        r.vars.update(upstream_addr=addrs[0], upstream_status=statuses[0], upstream_response_time=times[0])
        return
    r.vars["upstream_addr"] = ", ".join(addrs)
    r.vars["upstream_status"] = ", ".join(statuses)
    r.vars["upstream_response_time"] = ", ".join(times)


def make_handler(conf: ProxyConf, http_scope: Any) -> Callable[[Any, Any], Any]:
    # a partial, not a wrapping coroutine: one frame less per request
    return functools.partial(proxy_handler, conf=conf, http_scope=http_scope)


async def proxy_handler(r: Any, conn: Any, conf: ProxyConf, http_scope: Any) -> int:
    lookup = _lookup(r)
    try:
        context = make_context(conf, lookup)
    except ProxyError as err:
        conn.log_error("error", err.message, r)
        return 500
    body = b""
    body_file: BodyFile | None = None  # a body larger than client_body_buffer_size
    streaming = False  # proxy_request_buffering off: the body goes upstream as it arrives
    if r.content_length_in <= 0 and not r.chunked_in:
        # no body: nothing to read (nor any 100-continue to send)
        if r.content_length_in == 0:
            r.ctx["request_body"] = ""  # nginx: an empty body read, not a missing one
    elif _unbuffered(conf, r, conn):
        streaming = True
    elif hasattr(conn, "iter_body"):
        body, body_file = await _read_body(r, conn, conf)
        _no_client_timer(conn)
        if body_file is None:
            r.ctx["request_body"] = body.decode("latin-1")  # $request_body: a body read to memory
    elif hasattr(conn, "read_body"):
        body = await conn.read_body(r) or b""
        _no_client_timer(conn)
    elif hasattr(conn, "discard_body"):
        await conn.discard_body(r)
    if streaming:
        length = -1 if r.chunked_in else r.content_length_in
    elif body_file is not None:
        length = body_file.size
    else:
        length = len(body) if (body or r.content_length_in >= 0 or r.chunked_in) else -1
    try:
        return await _proxy(r, conn, conf, http_scope, lookup, context, body, body_file, streaming, length)
    finally:
        if body_file is not None:
            os.close(body_file.fd)


async def _proxy(
    r: Any,
    conn: Any,
    conf: ProxyConf,
    http_scope: Any,
    lookup: Callable[[str], str | None],
    context: ProxyContext,
    body: bytes,
    body_file: BodyFile | None,
    streaming: bool,
    length: int,
) -> int:
    """The request upstream, once the client's body is read (or, unbuffered, started)."""
    try:
        built = build_request(conf, client_request(r, length), lookup, context, body_complete=not streaming)
    except ProxyError as err:
        conn.log_error("error", err.message, r)
        return 500
    payload = built.head
    if built.body is not None:
        payload += built.body
    elif built.send_client_body:
        payload += body

    groups = groups_for(http_scope)
    if conf.url is None and _needs_resolver(context.url, groups):
        resolved = await _resolved_group(r, conn, conf, context.url)
        if resolved is None:
            return 502
        group = resolved
    else:
        group = group_for_url(groups, context.url)
    key = b""
    if group.hash_key is not None:
        from nginxpy.http.proxy import evaluate

        key = evaluate(group.hash_key, lookup).encode("latin-1", "replace")
    client_addr = b""
    if group.peers.method == "ip_hash":
        with contextlib.suppress(ValueError):
            client_addr = ipaddress.ip_address(r.conn.remote_addr).packed
    selection = group.peers.selection(key=key, client=client_addr)
    tries = group.max_tries()
    if conf.next_upstream_tries:
        tries = min(tries, conf.next_upstream_tries)
    started = trio.current_time()
    addrs: list[str] = []
    statuses: list[str] = []
    times: list[str] = []
    upstream_prefix = f"{context.url.scheme}://"
    tls = _tls_setup(r, conn, context, lookup) if context.url.scheme == "https" else None
    while True:
        peer = selection.get()
        if peer is None:
            _log(conn, r, "error", "no live upstreams while connecting to upstream",
                 upstream_prefix + group.peers.name + built.uri)  # fmt: skip
            addrs.append(group.peers.name)
            statuses.append("502")
            times.append("0.000")
            _set_upstream_vars(r, addrs, statuses, times)
            return 502
        upstream_name = upstream_prefix + peer.name + built.uri
        pool_key = peer.name if tls is None else "https://" + peer.name
        r.ctx["upstream_log"] = upstream_name
        attempt_start = time.monotonic()
        addrs.append(peer.name)
        stream: trio.abc.Stream | None = None
        reused = 0
        failure: UpstreamFailure | None = None
        head: ResponseHead | None = None
        rest = b""
        request_sent = False
        try:
            if group.pool is not None:
                cached = group.pool.take(pool_key)
                if cached is not None:
                    stream, reused = cached
            if stream is None:
                stream = await connect(peer, conf.connect_timeout, tls)
            request_sent = True
            unsent = _send_now(stream, payload)
            if unsent:
                await _send_upstream(stream, unsent, conf.send_timeout)
            if streaming:
                await _send_body(r, conn, stream, built.chunked, conf.send_timeout)
            elif body_file is not None and built.send_client_body:
                await _send_file(stream, body_file, conf.send_timeout)
            head, rest = await read_head(stream, conf.read_timeout, max(conf.buffer_size, 4096))
        except UpstreamFailure as err:
            failure = err
            if stream is not None:
                await trio.aclose_forcefully(stream)
                stream = None
        except ClientBodyClosed:
            # ngx_http_do_read_client_request_body: the client went away in the middle of its body
            assert stream is not None
            await trio.aclose_forcefully(stream)
            _log(conn, r, "info", "client prematurely closed connection while sending request to upstream",
                 upstream_name)  # fmt: skip
            selection.free(failed=False)
            r.keepalive = False
            conn.close_after = True
            statuses.append("-")
            times.append(f"{time.monotonic() - attempt_start:.3f}")
            _set_upstream_vars(r, addrs, statuses, times)
            r.status = 400  # logged as 400; nothing is sent to a client that is gone (c->error)
            return 0
        except BaseException:
            if stream is not None:
                _close_now(stream)
            raise
        elapsed = f"{time.monotonic() - attempt_start:.3f}"
        if failure is not None:
            statuses.append(str(failure.status))
            times.append(elapsed)
            _log(conn, r, "error", failure.text, upstream_name)
            _free(selection, group, conn, r, True, failure.text.rpartition(" while ")[2], upstream_name)
            tries -= 1
            if not (streaming and request_sent) and _may_retry(
                conf, failure.kind, built.method, tries, started
            ):
                continue
            _set_upstream_vars(r, addrs, statuses, times)
            return failure.status
        assert head is not None and stream is not None
        status_kind = _HTTP_KINDS.get(head.status)
        if (
            status_kind is not None
            and status_kind in conf.next_upstream
            and tries > 1
            and not streaming
            and _may_retry(conf, status_kind, built.method, tries - 1, started)
        ):
            statuses.append(str(head.status))
            times.append(elapsed)
            await trio.aclose_forcefully(stream)
            failed = head.status in (500, 502, 503, 504, 429)
            _free(selection, group, conn, r, failed, "reading response header from upstream", upstream_name)
            tries -= 1
            continue
        statuses.append(str(head.status))
        times.append(elapsed)
        _set_upstream_vars(r, addrs, statuses, times)
        try:
            return await _send_response(
                r, conn, conf, context, head, rest, stream, group, pool_key, reused, lookup
            )
        finally:
            selection.free(failed=False)


# the statuses proxy_next_upstream can name (http_500 ...)
_HTTP_KINDS = {status: f"http_{status}" for status in (500, 502, 503, 504, 403, 404, 429)}


def _free(selection: Any, group: Group, conn: Any, r: Any, failed: bool, action: str, upstream: str) -> None:
    """End an attempt; a peer that reaches max_fails is logged as nginx logs it (warn)."""
    if failed:
        group.peers.warn = lambda text: _log(conn, r, "warn", f"{text} while {action}", upstream)
    try:
        selection.free(failed=failed)
    finally:
        group.peers.warn = None


def _tls_setup(
    r: Any, conn: Any, context: ProxyContext, lookup: Callable[[str], str | None]
) -> UpstreamTlsSetup:
    """proxy_pass https://: the location's client context, and the name to send and check
    (ngx_http_upstream_ssl_name: proxy_ssl_name, else the upstream's host)."""
    runtime = conn.server.tls
    scope = r.loc.scope
    name = context.url.host
    written = runtime.upstream(scope).name
    if written:
        from nginxpy.conf.script import compile_value
        from nginxpy.http.proxy import evaluate

        compiled = _SSL_NAMES.get(written)
        if compiled is None:
            compiled = _SSL_NAMES[written] = compile_value(written)
        name = evaluate(compiled, lookup)
    return UpstreamTlsSetup(runtime, scope, name)


_SSL_NAMES: dict[str, Any] = {}


def _may_retry(conf: ProxyConf, kind: str, method: str, tries: int, started: float) -> bool:
    if "off" in conf.next_upstream or tries <= 0:
        return False
    if kind not in conf.next_upstream:
        return False
    if method in NON_IDEMPOTENT and "non_idempotent" not in conf.next_upstream:
        return False
    return not (conf.next_upstream_timeout and trio.current_time() - started >= conf.next_upstream_timeout)


async def _send_response(
    r: Any,
    conn: Any,
    conf: ProxyConf,
    context: ProxyContext,
    head: ResponseHead,
    rest: bytes,
    stream: trio.abc.Stream,
    group: Group,
    pool_key: str,
    reused: int,
    lookup: Callable[[str], str | None],
) -> int:
    keep = False
    try:
        variables = r.vars
        for name, value in head.headers:
            key = _UPSTREAM_HTTP.get(name)
            if key is None:
                key = "upstream_http_" + name.lower().replace("-", "_")
                if len(_UPSTREAM_HTTP) < 1024:
                    _UPSTREAM_HTTP[name] = key
            if key not in variables:
                variables[key] = value
        if conf.intercept_errors and head.status >= 300 and head.status in _interceptable(r):
            return head.status
        if head.http09:
            # ngx_http_proxy_process_status_line: logged, then the client gets the bytes as they are
            conn.log_error(
                "error",
                "upstream sent no valid HTTP/1.0 header while reading response header from upstream",
                r,
            )
            r.version = 9
        out = response_headers(conf, head, lookup)
        r.status = out.status
        r.ctx["status_line"] = out.status_line
        for name, value in out.headers:
            if name.lower() == "location" and out.location_rewritten:
                r.location = value
                continue
            r.add_header(name, value)
        if out.content_type is not None:
            r.content_type = out.content_type
        r.content_length = out.content_length
        upgrade = head.status == 101 and bool(r.headers_in.get("upgrade"))
        if upgrade:
            return await _upgrade(r, conn, conf, rest, stream)
        no_body = head.status in (204, 304) or context.head or (head.status < 200)
        await conn.send_header(r)
        if no_body:
            keep = not head.connection_close
            await conn.finish_body(r)
            return 0
        if not head.chunked and 0 <= head.content_length == len(rest):
            # the whole body came with the head (small responses): no copy loop
            await conn.send_body(r, rest)
            keep = not head.connection_close
            await conn.finish_body(r)
            return 0
        buffering = conf.buffering if out.buffering is None else out.buffering
        keep, complete = await _relay_body(r, conn, conf, head, rest, stream, buffering)
        if complete:
            await conn.finish_body(r)
        return 0
    finally:
        if keep and group.pool is not None and group.pool.give(pool_key, stream, reused + 1):
            pass
        else:
            await trio.aclose_forcefully(stream)


_UPSTREAM_HTTP: dict[str, str] = {}  # header name -> its $upstream_http_ variable name


def _interceptable(r: Any) -> set[int]:
    loc = getattr(r, "loc", None)
    pages = getattr(loc, "error_pages", None) or {}
    return set(pages)


class _RelayFailed(Exception):
    """Reading the response body failed: nginx's error-log text."""


async def _relay_body(
    r: Any,
    conn: Any,
    conf: ProxyConf,
    head: ResponseHead,
    rest: bytes,
    stream: trio.abc.Stream,
    buffering: bool,
) -> tuple[bool, bool]:
    """Copy the response body: (the upstream connection may be kept, the body is complete).

    When the upstream fails midway nginx logs it, sends what it has and closes the client
    connection without ending the body (no last chunk).
    """
    try:
        return await _copy_body(r, conn, conf, head, rest, stream, buffering)
    except _RelayFailed as failed:
        conn.log_error("error", f"{failed} while reading upstream", r)
        r.keepalive = False
        conn.close_after = True
        return False, False


async def _copy_body(
    r: Any,
    conn: Any,
    conf: ProxyConf,
    head: ResponseHead,
    rest: bytes,
    stream: trio.abc.Stream,
    buffering: bool,
) -> tuple[bool, bool]:
    size = max(conf.buffer_size, 4096)
    read_timeout = conf.read_timeout
    sock = _raw_socket(stream)
    call = "readv()" if buffering else "recv()"  # the event pipe reads with readv()
    fast = [0]

    async def receive() -> bytes | bytearray:
        try:
            if sock is not None:
                # the call first, a wait (timed by the table) only when it would block; a
                # checkpoint every 16 reads that did not wait keeps trio's other tasks going
                while True:
                    try:
                        data: bytes = sock.recv(size)
                    except BlockingIOError:
                        pass
                    else:
                        fast[0] += 1
                        if fast[0] >= 16:
                            fast[0] = 0
                            await trio.lowlevel.checkpoint()
                        return data
                    if not await read_timers().wait_readable(sock, read_timeout):
                        raise _RelayFailed("upstream timed out (110: Connection timed out)")
            with trio.CancelScope(deadline=trio.current_time() + read_timeout):
                return await stream.receive_some(size)
            raise _RelayFailed("upstream timed out (110: Connection timed out)")
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as err:
            code = getattr(err.__cause__, "errno", None) or getattr(err, "errno", None) or errno.ECONNRESET
            raise _RelayFailed(f"{call} failed ({code}: {os.strerror(code)})") from None

    if head.chunked:
        from nginxpy.http.parse import ChunkedDecoder

        decoder = ChunkedDecoder()
        tail = ""
        data: bytes | bytearray = rest
        while True:
            if data:
                try:
                    pieces, tail = decoder.feed(tail + data.decode("latin-1"))
                except Exception:
                    raise _RelayFailed("upstream sent invalid chunked response") from None
                for piece in pieces:
                    if piece:
                        await conn.send_body(r, piece.encode("latin-1"))
                if decoder.done:
                    return not head.connection_close, True
            data = await receive()
            if not data:
                raise _RelayFailed("upstream prematurely closed connection")
    remaining = head.content_length
    data = rest
    send_body = conn.send_body
    flush = getattr(conn, "flush", None)
    # proxy_buffering on: nginx's pipe passes buffers on once full (or at the end); what sits in
    # a partly filled one when the upstream fails is never sent.  Off: each read goes out at once.
    unit = size if buffering else 0
    pending = bytearray()
    while True:
        if data:
            if remaining >= 0:
                if len(data) > remaining:
                    data = data[:remaining]
                remaining -= len(data)
            if not unit or (not pending and len(data) >= unit):
                await send_body(r, data)
            else:
                pending += data
                if len(pending) >= unit:
                    await send_body(r, bytes(pending))
                    pending.clear()
        if remaining == 0:
            break
        if flush is not None and not unit:
            await flush()
        data = await receive()
        if not data:
            if remaining > 0:
                raise _RelayFailed("upstream prematurely closed connection")
            break
    if pending:
        await send_body(r, bytes(pending))
    return remaining == 0 and not head.connection_close, True


async def _upgrade(r: Any, conn: Any, conf: ProxyConf, rest: bytes, stream: trio.abc.Stream) -> int:
    await conn.send_header(r)
    client_stream, pipelined = await conn.upgrade(r)
    loc = getattr(r, "loc", None)
    send_timeout = (getattr(loc, "send_timeout", 60000) or 60000) / 1000.0
    try:
        result = await run_tunnel(
            client_stream,
            stream,
            buffer_size=conf.buffer_size,
            read_timeout=conf.read_timeout,
            send_timeout_upstream=conf.send_timeout,
            send_timeout_client=send_timeout,
            to_client=rest,
            to_upstream=pipelined,
        )
        r.body_bytes_sent += result.to_client
        r.bytes_sent += result.to_client
        if result.reason == "upstream_timeout" or result.reason == "client_timeout":
            conn.log_error("info", f"{result.error} while proxying upgraded connection", r)
        r.keepalive = False
        # The runtime does not log a connection it handed over: the tunnel's request is logged
        # here, when it ends (status 101, the tunnel's bytes, its lifetime), before the client's
        # connection is closed, as nginx does.
        await trio.aclose_forcefully(stream)
        server = getattr(conn, "server", None)
        if server is not None:
            server.access_log(r)
    finally:
        # nginx closes both connections when the tunnel ends
        await trio.aclose_forcefully(client_stream)
    return 0


# -- registration with the runtime --------------------------------------------------------


def _http_scope_of(scope: Any) -> Any:
    current = scope
    while current is not None and current.ctx.name != "HTTP":
        current = current.parent
    return current


def proxy_pass_handler(loc: Any) -> Callable[[Any, Any], Any]:
    """CONTENT_HANDLERS factory: the location's proxy settings are merged once, here."""
    return make_handler(ProxyConf.from_scope(loc.scope), _http_scope_of(loc.scope))


def register() -> None:
    from nginxpy.http import config

    config.CONTENT_HANDLERS["proxy_pass"] = proxy_pass_handler  # type: ignore[assignment]


register()
