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
        else:
            self.scope.deadline = trio.current_time() + self.read_timeout


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

    with trio.CancelScope() as idle:
        timers = _Timeouts(idle, read_timeout)
        timers.touch()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump, upstream, client, to_client, send_timeout_client, timers, False)
            nursery.start_soon(pump, client, upstream, to_upstream, send_timeout_upstream, timers, True)
            await ended.wait()
            nursery.cancel_scope.cancel()
    if idle.cancelled_caught and result.reason == "eof":
        result.reason = "upstream_timeout"
        result.error = "upstream timed out (110: Connection timed out)"
    return result


class _Stop(Exception):
    """A direction timed out: end the tunnel."""
