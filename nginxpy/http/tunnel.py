"""The upgraded connection: after ``101 Switching Protocols`` nginx joins the client
and the upstream into one raw byte tunnel (``ngx_http_upstream_process_upgraded``).

What nginx does, and this module does the same way:

* bytes are copied as they come, never parsed (WebSocket frames pass untouched);
* one buffer of ``proxy_buffer_size`` per direction: a direction reads at most that
  much, and reads again only once it is written out, so a slow reader throttles the
  fast writer and memory stays bounded;
* bytes already read when the tunnel starts are not lost: what the upstream sent
  right after its 101 goes to the client first, what the client pipelined after its
  request goes to the upstream first;
* timers: waiting to read from the upstream is limited by ``proxy_read_timeout``,
  re-armed whenever anything moves in either direction, so an idle tunnel closes
  after that long (without a close frame: nginx knows nothing of frames);
  a blocked write to the upstream is limited by ``proxy_send_timeout``, a blocked
  write to the client by ``send_timeout``;
* when either side reaches end of file (and what it sent is passed on), or on an
  error, both connections are closed.

The result says how it ended, for the error log ("upstream timed out (110:
Connection timed out) while proxying upgraded connection") and the access log.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass

import trio


@dataclass(slots=True)
class TunnelResult:
    to_client: int = 0  # bytes written to the client (after the 101 head)
    to_upstream: int = 0  # bytes written to the upstream
    from_upstream: int = 0  # bytes read from the upstream ($upstream_bytes_received)
    reason: str = "eof"  # eof, upstream_timeout, client_timeout, error
    error: str = ""  # nginx's error-log text for a timeout or an error


class _Timeouts:
    """The upstream-read timer shared by both directions (nginx re-arms it on any event)."""

    def __init__(self, scope: trio.CancelScope, read_timeout: float) -> None:
        self.scope = scope
        self.read_timeout = read_timeout
        self.blocked = 0

    def touch(self) -> None:
        if self.blocked:
            self.scope.deadline = math.inf
            return
        deadline = trio.current_time() + self.read_timeout
        # ngx_add_timer leaves a timer alone when it would move by less than 300 ms (NGX_TIMER_LAZY_DELAY)
        if abs(deadline - self.scope.deadline) > 0.3 or self.read_timeout < 3:
            self.scope.deadline = deadline


async def run_tunnel(
    client: trio.abc.Stream,
    upstream: trio.abc.Stream,
    *,
    buffer_size: int = 4096,
    read_timeout: float = 60.0,
    send_timeout_upstream: float = 60.0,
    send_timeout_client: float = 60.0,
    to_client: bytes = b"",
    to_upstream: bytes = b"",
) -> TunnelResult:
    """Copy bytes both ways until one side ends; the caller closes both streams after."""
    result = TunnelResult()
    ended = trio.Event()

    async def send(
        dst: trio.abc.Stream, data: bytes | bytearray, limit: float, timers: _Timeouts, who: str
    ) -> None:
        timers.blocked += 1
        timers.touch()
        try:
            with trio.CancelScope(deadline=trio.current_time() + limit) as sending:
                await dst.send_all(data)
        finally:
            timers.blocked -= 1
        if sending.cancelled_caught:
            if who == "client":
                result.reason, result.error = "client_timeout", "client timed out (110: Connection timed out)"
            else:
                result.reason, result.error = (
                    "upstream_timeout",
                    "upstream timed out (110: Connection timed out)",
                )
            raise _Stop
        timers.touch()

    async def pump(
        src: trio.abc.Stream,
        dst: trio.abc.Stream,
        first: bytes,
        limit: float,
        timers: _Timeouts,
        upward: bool,
    ) -> None:
        who = "upstream" if upward else "client"
        receive_some = src.receive_some
        try:
            data: bytes | bytearray = first
            while True:
                if data:
                    await send(dst, data, limit, timers, who)
                    if upward:
                        result.to_upstream += len(data)
                    else:
                        result.to_client += len(data)
                # one proxy_buffer_size buffer per direction: at most that much is read at a time
                data = await receive_some(buffer_size)
                if not data:
                    return  # end of file: the tunnel is over
                if not upward:
                    result.from_upstream += len(data)
                timers.touch()
        except _Stop:
            return
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as err:
            if result.reason == "eof":
                result.reason = "error"
                result.error = str(err)
        finally:
            ended.set()

    async def raw_pump(
        src: socket.socket,
        dst: socket.socket,
        first: bytes,
        limit: float,
        timers: _Timeouts,
        upward: bool,
    ) -> None:
        """pump() for two plain sockets: non-blocking calls first, waiting only on EAGAIN (as
        nginx's event loop), one preallocated proxy_buffer_size buffer, a checkpoint now and then."""
        who = "upstream" if upward else "client"
        buffer = bytearray(max(buffer_size, 1))
        view = memoryview(buffer)
        src_fd, dst_fd = src.fileno(), dst.fileno()
        moved = 0
        try:
            pending = memoryview(first)
            while True:
                while pending:
                    try:
                        sent = dst.send(pending)
                    except BlockingIOError:
                        timers.blocked += 1
                        timers.touch()
                        try:
                            with trio.CancelScope(deadline=trio.current_time() + limit) as waiting:
                                await trio.lowlevel.wait_writable(dst_fd)
                        finally:
                            timers.blocked -= 1
                        if waiting.cancelled_caught:
                            result.reason = "client_timeout" if who == "client" else "upstream_timeout"
                            result.error = f"{who} timed out (110: Connection timed out)"
                            raise _Stop from None
                        timers.touch()
                        continue
                    pending = pending[sent:]
                    if upward:
                        result.to_upstream += sent
                    else:
                        result.to_client += sent
                moved += 1
                if moved >= 16:  # let the other connections run (trio's fairness)
                    moved = 0
                    await trio.lowlevel.checkpoint()
                try:
                    count = src.recv_into(view)
                except BlockingIOError:
                    moved = 0
                    await trio.lowlevel.wait_readable(src_fd)
                    continue
                if not count:
                    return  # end of file: the tunnel is over
                if not upward:
                    result.from_upstream += count
                timers.touch()
                pending = view[:count]
        except _Stop:
            return
        except OSError as err:
            if result.reason == "eof":
                result.reason = "error"
                result.error = str(err)
        finally:
            ended.set()

    both_plain = type(client) is trio.SocketStream and type(upstream) is trio.SocketStream
    raw = [_plain_socket(client), _plain_socket(upstream)] if both_plain else [None, None]
    try:
        with trio.CancelScope() as idle:
            timers = _Timeouts(idle, read_timeout)
            timers.touch()
            async with trio.open_nursery() as nursery:
                client_sock, upstream_sock = raw
                if client_sock is not None and upstream_sock is not None:
                    nursery.start_soon(
                        raw_pump, upstream_sock, client_sock, to_client, send_timeout_client, timers, False
                    )
                    nursery.start_soon(
                        raw_pump, client_sock, upstream_sock, to_upstream, send_timeout_upstream, timers, True
                    )
                else:
                    nursery.start_soon(pump, upstream, client, to_client, send_timeout_client, timers, False)
                    nursery.start_soon(
                        pump, client, upstream, to_upstream, send_timeout_upstream, timers, True
                    )
                await ended.wait()
                nursery.cancel_scope.cancel()
    finally:
        for sock in raw:
            if sock is not None:
                sock.detach()  # the fd belongs to the trio stream, which the caller closes
    if idle.cancelled_caught and result.reason == "eof":
        result.reason = "upstream_timeout"
        result.error = "upstream timed out (110: Connection timed out)"
    return result


def _plain_socket(stream: trio.abc.Stream) -> socket.socket | None:
    """A second socket object on a plain trio SocketStream's fd (non-blocking already), else None."""
    if type(stream) is not trio.SocketStream:
        return None
    return socket.socket(fileno=stream.socket.fileno())


class _Stop(Exception):
    """A direction timed out: end the tunnel."""
