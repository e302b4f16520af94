"""One client connection on trio: read request heads and bodies, write responses.

This layer only moves bytes and keeps time (client_header_timeout, keepalive_timeout,
client_body_timeout, send_timeout); parsing is :mod:`nginxpy.http.parse`, the request's
way through the configuration is :mod:`nginxpy.http.core`.

For content handlers (proxy, ...): ``stream`` is the client's trio stream,
``buffer`` holds bytes already read past the request head (the start of the body, or
pipelined requests), ``read_body`` yields the decoded body, ``send_header`` /
``send_body`` / ``finish_body`` write the response, and ``take_over`` hands the raw
connection (stream and buffered bytes) to a tunnel after a 101.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import socket
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import trio

from nginxpy.http import core
from nginxpy.http.config import Listener, ServerConf
from nginxpy.http.parse import (
    BadRequest,
    ChunkedDecoder,
    RequestHead,
    RequestLineScanner,
    parse_head,
    parse_request_line,
    parse_simple_head,
)
from nginxpy.http.request import ConnInfo, Request
from nginxpy.http.response import header_bytes, headers_filter

if TYPE_CHECKING:
    from nginxpy.http.server import HttpServer

RECV_SIZE = 65536
FILE_CHUNK = 262144


class ClientClosed(Exception):
    pass


class HttpConnection:
    def __init__(
        self,
        server: HttpServer,
        stream: trio.abc.Stream,
        info: ConnInfo,
        listener: Listener,
        raw: socket.socket | None = None,
    ) -> None:
        self.server = server
        self.stream = stream
        self.info = info
        self.listener = listener
        self.addr = listener.addr_conf(info.local_addr)
        self.buffer = bytearray()
        self.out = bytearray()
        self.close_after = False
        self.detached = False
        self.body_left = 0  # Content-Length bytes of the current request not read yet
        self.chunked: ChunkedDecoder | None = None
        self.body_done = True
        self.current: Request | None = None
        # Plain TCP: the (non-blocking) socket itself: try the call first, wait only when it
        # would block, as nginx does; TLS and other streams go through the stream API.
        self.raw = raw
        self.fast = 0  # calls that did not yield: a checkpoint every so often keeps trio fair
        # One cancel scope per connection, cancelled by the server's timer task when the
        # deadline of the current wait (timeout_at) passes: setting it is only an attribute.
        self.scope = trio.CancelScope()
        self.timers = server.timers
        self.timeout_at = math.inf
        self.timer_entry: list[Any] | None = None
        self.head_deadline: float | None = None  # client_header_timeout, from the first wait
        self.first_head_deadline = math.inf  # the first head's: from the connection's start
        self.waiting = ""  # what a timeout interrupts: keepalive, header, body, send

    # -- the connection's life --------------------------------------------------------

    async def serve(self) -> None:
        try:
            with self.scope:
                await self._serve()
            if self.scope.cancelled_caught:
                self._timed_out()
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError, ClientClosed):
            pass
        finally:
            self.timers.remove(self)
            if not self.detached:
                await self._close()

    def close_if_idle(self) -> None:
        """ngx_close_idle_connections (graceful shutdown): close a keep-alive connection waiting for
        its next request.  A new connection waiting for its first request is not idle (nginx
        waits for it), nor is one whose next request has already arrived (it is served, then
        the connection closes)."""
        if self.waiting != "keepalive" or self.current is not None or self.buffer or not self.info.requests:
            return
        if self.raw is not None:
            try:
                if self.raw.recv(1, socket.MSG_PEEK):
                    return
            except BlockingIOError:
                pass
            except OSError:
                pass
        self.scope.cancel()

    def _timed_out(self) -> None:
        """A timer fired: nginx logs it (info) and closes; a request in progress is logged as 408.
        Keep-alive and body timeouts are not reported (nginx closes silently)."""
        r = self.current
        if r is None:
            if self.waiting == "keepalive" and not self.info.requests:
                # ngx_http_wait_request_handler: no request yet, the connection's log context
                self._log_connection(
                    "info", "client timed out (110: Connection timed out) while waiting for request"
                )
            return
        if self.waiting == "header":
            line_done = bool(r.request_line)
            self._partial_head(r)
            what = "reading client request headers" if line_done else "reading client request line"
            self.log_error("info", f"client timed out (110: Connection timed out) while {what}", r)
        elif self.waiting == "send":
            self.log_error(
                "info", "client timed out (110: Connection timed out) while sending response to client", r
            )
        elif self.waiting != "body":
            return
        if self.waiting == "header" or not r.header_sent:
            r.status = 408
        self.server.access_log(r)

    def _partial_head(self, r: Request) -> None:
        """What nginx knows of a head cut short: the request line so far (ngx_http_log_error_handler
        takes it up to CR/LF), the length of the lines parsed, the Host and Referer among them."""
        data = bytes(self.buffer)
        if not r.request_line:
            r.request_line = re.split(rb"[\r\n]", data, maxsplit=1)[0].decode("latin-1")
            return
        complete = data.rfind(b"\n") + 1
        r.request_length = complete
        for line in data[:complete].decode("latin-1").split("\n")[1:]:
            name, colon, value = line.rstrip("\r").partition(":")
            if colon and name.lower() in ("host", "referer"):
                r.headers_in.setdefault(name.lower(), value.strip())

    def _closed_by_client(self) -> None:
        """End of file instead of a request: nginx notes it (info)."""
        if self.info.requests:
            self._log_connection("info", f"client {self.info.remote_addr} closed keepalive connection", False)
        else:
            self._log_connection("info", "client closed connection while waiting for request")

    def _log_connection(self, level: str, message: str, context: bool = True) -> None:
        """An error line in a connection's context: ", client: ADDR, server: LISTEN_ADDR"."""
        from nginxpy.errorlog import severity
        from nginxpy.http.server import display_address

        log = self.server._error_log_for(None)
        if severity(level) > severity(log.level):
            return
        if context:
            message += f", client: {self.info.remote_addr}, server: {display_address(self.listener)}"
        with contextlib.suppress(OSError):
            log.write(level, message, self.info.number)

    def set_deadline(self, deadline: float) -> None:
        self.timers.set(self, deadline)

    async def _recv(self, timeout: float, what: str, deadline: float | None = None) -> bytes:
        """Receive with a timer: ``timeout`` seconds from the first wait, or ``deadline`` in trio
        time (the connection's scope fires at it).  Data already there is taken without a timer
        (under load the next request often is: that saves a wait)."""
        raw = self.raw
        if raw is not None:
            try:
                data = raw.recv(RECV_SIZE)
            except BlockingIOError:
                pass
            else:
                self.fast += 1
                if self.fast >= 4:  # measured: 16 doubled p99 latency, 1 costs CPU
                    self.fast = 0
                    await trio.lowlevel.checkpoint()
                return data
            self.waiting = what
            at = trio.current_time() + timeout if deadline is None else deadline
            self.timeout_at = at
            entry = self.timer_entry
            if entry is None or at < entry[0]:  # else the entry comes due first, moved then
                self.timers.set(self, at)
            while True:
                await trio.lowlevel.wait_readable(raw)
                try:
                    return raw.recv(RECV_SIZE)
                except BlockingIOError:
                    continue
        self.waiting = what
        self.set_deadline(trio.current_time() + timeout if deadline is None else deadline)
        return bytes(await self.stream.receive_some(RECV_SIZE))

    async def _close(self) -> None:
        with trio.move_on_after(1) as scope:
            scope.shield = True
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                await self.stream.aclose()

    async def _serve(self) -> None:
        http = self.server.http
        default = self.addr.default
        keepalive_ms = default.client_header_timeout
        self.first_head_deadline = trio.current_time() + keepalive_ms / 1000
        first = True
        while True:
            if not self.buffer:
                self.current = None
                data = await self._recv(keepalive_ms / 1000, "keepalive")
                if not data:
                    self._closed_by_client()
                    return
                self.buffer += data
            pipelined = not first and bool(self.buffer)
            first = False
            self.info.requests += 1
            r = core.new_request(self.info, http, self.addr)
            r.pipelined = pipelined
            self.current = r
            try:
                head = await self.read_head(r, default)
                core.init_request(r, head, self.addr)
            except BadRequest as error:
                r.keepalive = False
                if error.http09:
                    r.version = 9
                self.log_error("info", error.log, r)
                await core.finalize(r, self, error.status)
                await self.finish_request(r)
                return
            except ClientClosed:
                if r.request_line or self.buffer:
                    self.log_error(
                        "info", "client prematurely closed connection while reading client request headers", r
                    )
                    r.status = 400
                    self.server.access_log(r)
                return
            self._start_body(r)
            self.timeout_at = math.inf  # no timer while the request is handled
            self.waiting = ""
            try:
                rc = await core.run_phases(r, self)
                await core.finalize(r, self, rc)
            except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
                raise
            except BadRequest as error:
                r.keepalive = False
                if not r.header_sent:
                    await core.finalize(r, self, error.status)
            except Exception as error:  # never a traceback to the client
                self.log_error("alert", f"nginxpy: unexpected {type(error).__name__}: {error}", r)
                r.keepalive = False
                if not r.header_sent:
                    r.clear_headers()
                    await core.send_special(r, self, 500)
            if self.detached:
                return
            await self.finish_request(r)
            if not r.keepalive or self.close_after or self.server.exiting:
                return
            assert r.loc is not None
            keepalive_ms = r.loc.keepalive_timeout

    # -- reading ---------------------------------------------------------------------------

    async def _receive(self, timeout: float) -> None:
        if self.head_deadline is None:
            self.head_deadline = trio.current_time() + timeout
        data = await self._recv(timeout, "header", self.head_deadline)
        if not data:
            raise ClientClosed
        self.buffer += data

    async def read_head(self, r: Request, server: ServerConf) -> RequestHead:
        """Read until the whole head is in, with nginx's size limits; parse it."""
        deadline = server.client_header_timeout / 1000  # from the first wait
        # the first request's timer runs from the connection's start (ngx_http_init_connection)
        self.head_deadline = self.first_head_deadline if self.info.requests == 1 else None
        count, large = server.large_header_buffers
        small = server.client_header_buffer_size
        buffer = self.buffer
        # nginx skips empty lines before the request line
        while buffer and buffer[0] in (13, 10):
            del buffer[:1]
            if not buffer:
                await self._receive(deadline)
        simple = parse_simple_head(buffer[:small].decode("latin-1")) if buffer else None
        if simple is not None:  # the common case: the whole head is in, well inside the limits
            head, length = simple
            r.request_line = head.request_line
            core.process_request_line(r, head, self.addr)
            del buffer[:length]
            r.request_length = length
            return head
        scanner: RequestLineScanner | None = None
        while True:
            line_end = buffer.find(b"\n")
            if line_end >= 0:
                break
            # nginx answers at the first byte that cannot be part of a request line
            if scanner is None:
                scanner = RequestLineScanner()
            error = scanner.feed(buffer[scanner.pos :].decode("latin-1"))
            if error is not None:
                r.request_line = buffer.split(b"\r", 1)[0].decode("latin-1")
                if scanner.protocol:
                    r.protocol = ""
                raise error
            if len(buffer) >= large:
                r.request_line = buffer[:large].decode("latin-1")
                raise BadRequest(414, "client sent too long URI")
            await self._receive(deadline)
            while buffer and buffer[0] in (13, 10):
                del buffer[:1]
        first = buffer[:line_end].decode("latin-1")
        if first.endswith("\r"):
            first = first[:-1]
        r.request_line = first
        try:
            request_line = parse_request_line(first)
        except BadRequest:
            # what nginx's $request and $server_protocol show for a line it gave up on
            r.request_line = first.split("\r", 1)[0]
            scanner = RequestLineScanner()
            scanner.feed(first)
            if scanner.protocol:
                r.protocol = ""
            raise
        if line_end + 1 > large and line_end + 1 > small:
            r.request_line = first[:large]  # what fitted in the buffer
            raise BadRequest(414, "client sent too long URI")
        core.process_request_line(r, request_line, self.addr)
        if request_line.version == 9:
            del buffer[: line_end + 1]
            r.request_length = line_end + 1
            return request_line
        start = line_end
        while True:
            # the first empty line: LF CR LF or LF LF (two finds are cheaper than a regex)
            end = buffer.find(b"\n\r\n", start)
            bare = buffer.find(b"\n\n", start, end + 2 if end >= 0 else len(buffer))
            if bare >= 0:
                end, body = bare, bare + 2
                break
            if end >= 0:
                body = end + 3
                break
            if len(buffer) > small:
                last_nl = buffer.rfind(b"\n")
                if len(buffer) - last_nl - 1 >= large:
                    raise BadRequest(494, "client sent too long header line")
                if len(buffer) > count * large:
                    raise BadRequest(494, "client sent too large request")
            start = max(line_end, len(buffer) - 2)
            await self._receive(deadline)
        text = buffer[:end].decode("latin-1")
        if body > small:
            for line in text.split("\n")[1:]:
                if len(line) + 1 > large:
                    raise BadRequest(494, "client sent too long header line")
            if body > count * large:
                raise BadRequest(494, "client sent too large request")
        del buffer[:body]
        r.request_length = body
        try:
            return parse_head(
                text,
                allow_underscores=server.underscores_in_headers,
                ignore_invalid=server.ignore_invalid_headers,
                request_line=request_line,
            )
        except BadRequest as error:
            if error.offset >= 0:
                r.request_length = error.offset  # the lines before the bad one
            raise

    def _start_body(self, r: Request) -> None:
        if r.chunked_in:
            self.chunked = ChunkedDecoder()
            self.body_left = 0
            self.body_done = False
        else:
            self.chunked = None
            self.body_left = max(0, r.content_length_in)
            self.body_done = self.body_left == 0

    async def _expect(self, r: Request) -> None:
        """ngx_http_test_expect: "100 Continue" before the body is read."""
        if r.expect_tested:
            return
        r.expect_tested = True
        expect = r.headers_in.get("expect")
        if expect is None or r.version < 1001 or expect.lower() != "100-continue":
            return
        await self._send(b"HTTP/1.1 100 Continue\r\n\r\n")
        r.bytes_sent += 25  # nginx counts it in $bytes_sent and $body_bytes_sent
        r.body_bytes_sent += 25

    async def read_body(self, r: Request) -> bytes:
        """The whole request body, decoded (ngx_http_read_client_request_body)."""
        pieces = [piece async for piece in self.iter_body(r)]
        return b"".join(pieces)

    async def upgrade(self, r: Request) -> tuple[trio.abc.Stream, bytes]:
        """After a 101 was sent: flush it and hand over the raw connection."""
        await self.flush()
        r.keepalive = False
        return self.take_over()

    async def iter_body(self, r: Request, count: bool = True) -> AsyncIterator[bytes]:
        """The request body, decoded, in pieces (client_body_timeout between reads;
        client_max_body_size enforced for chunked bodies).  ``count``: the bytes add to
        $request_length (not when the body is discarded, as nginx)."""
        await self._expect(r)
        assert r.loc is not None
        timeout = r.loc.client_body_timeout / 1000
        limit = r.loc.client_max_body_size
        while not self.body_done:
            if not self.buffer:
                data = await self._recv(timeout, "body")
                if not data:
                    raise ClientClosed
                self.buffer += data
            if self.chunked is not None:
                pieces, rest = self.chunked.feed(self.buffer.decode("latin-1"))
                consumed = len(self.buffer) - len(rest)
                if count:
                    r.request_length += consumed
                del self.buffer[:consumed]
                if limit and self.chunked.size > limit:
                    self.log_error(
                        "error",
                        f"client intended to send too large chunked body: {self.chunked.size} bytes",
                        r,
                    )
                    self.body_done = True
                    self.close_after = True
                    raise BadRequest(413, "too large")
                if self.chunked.done:
                    self.body_done = True
                    r.content_length_in = self.chunked.size if count else 0
                for text in pieces:
                    if text:
                        yield text.encode("latin-1")
                if not self.chunked.done and not pieces and consumed == 0:
                    data = await self._recv(timeout, "body")
                    if not data:
                        raise ClientClosed
                    self.buffer += data
            else:
                take = min(self.body_left, len(self.buffer))
                piece = bytes(self.buffer[:take])
                del self.buffer[:take]
                self.body_left -= take
                if count:
                    r.request_length += take
                if self.body_left == 0:
                    self.body_done = True
                if piece:
                    yield piece

    def discard_body_now(self, r: Request) -> bool:
        """True if discard_body has nothing to read or send (no body left, no 100-continue to
        answer): then it has been done."""
        if self.body_done and "expect" not in r.headers_in:
            r.expect_tested = True  # all discard_body would do
            return True
        return False

    async def discard_body(self, r: Request) -> None:
        """ngx_http_discard_request_body: 100-continue now; what is already read of the body is
        dropped now (a bad chunk is a 400 here), the rest after the response."""
        await self._expect(r)
        if self.body_done or r.ctx.get("discarding"):
            return
        r.ctx["discarding"] = True
        if self.chunked is not None:
            _, rest = self.chunked.feed(self.buffer.decode("latin-1"))
            consumed = len(self.buffer) - len(rest)
            del self.buffer[:consumed]
            if self.chunked.done:
                self.body_done = True
                r.content_length_in = 0
        else:
            take = min(self.body_left, len(self.buffer))
            del self.buffer[:take]
            self.body_left -= take
            self.body_done = self.body_left == 0

    async def _drain_body(self, r: Request) -> bool:
        """Read what is left of the body; False if the connection cannot be reused."""
        if self.body_done:
            return True
        try:
            # ngx_http_discarded_request_body_handler: each read waits lingering_timeout, the
            # whole within lingering_time; on a timeout the connection closes (no more lingering)
            window = self._linger_window(r)
            with trio.CancelScope(deadline=trio.current_time() + (window or 0)) as waiting:
                async for _ in self.iter_body(r, count=not r.ctx.get("discarding")):
                    window = self._linger_window(r)
                    if window is None:
                        break
                    waiting.deadline = trio.current_time() + window
                if window is not None and self.body_done:
                    return True
        except BadRequest:
            return False
        r.ctx["lingered"] = True
        return False

    # -- writing ----------------------------------------------------------------------------

    async def _send(self, data: bytes) -> None:
        raw = self.raw
        if raw is not None:
            try:
                sent = raw.send(data)
            except BlockingIOError:
                sent = 0
            if sent == len(data):
                return
            view = memoryview(data)[sent:]
            self.waiting = "send"
            self.set_deadline(trio.current_time() + self._send_timeout())
            while view:
                await trio.lowlevel.wait_writable(raw)
                try:
                    sent = raw.send(view)
                except BlockingIOError:
                    continue
                view = view[sent:]
            return
        self.waiting = "send"
        self.set_deadline(trio.current_time() + self._send_timeout())
        await self.stream.send_all(data)

    def _send_timeout(self) -> float:
        loc = self.current.loc if self.current is not None else None
        return (loc.send_timeout if loc is not None else 60000) / 1000

    async def flush(self) -> None:
        out = self.out
        if not out:
            return
        raw = self.raw
        if raw is not None:  # the common case first: all of it goes at once
            try:
                sent = raw.send(out)
            except BlockingIOError:
                sent = 0
            if sent == len(out):
                out.clear()
                return
            data = bytes(out[sent:])
        else:
            data = bytes(out)
        out.clear()
        await self._send(data)

    # The response is put in ``out`` by the put_* methods (no I/O); the async send_* ones
    # (what content handlers call) flush when much is buffered.

    def put_header(self, r: Request) -> None:
        """ngx_http_send_header: the status from error_page, the header filters, the head."""
        if r.header_sent:
            return
        r.header_sent = True
        if r.err_status:
            r.status = r.err_status
        if r.method == "HEAD":
            r.header_only = True
        if not r.ctx.pop("filtered", False):
            headers_filter(r)
        if r.version == 9:
            return
        if r.content_length < 0 and not r.header_only and r.status not in (204, 304) and r.status >= 200:
            loc = r.loc
            if r.version >= 1001 and (loc is None or loc.chunked_transfer_encoding):
                r.chunked = True
            else:
                r.keepalive = False
        if r.keepalive and self.server.exiting:
            r.keepalive = False  # ngx_http_header_filter: no keep-alive once the worker is exiting
        data = header_bytes(r)
        r.header_size = len(data)
        r.bytes_sent += len(data)
        self.out += data

    def put_body(self, r: Request, data: bytes) -> None:
        if r.header_only or not data:
            return
        r.body_bytes_sent += len(data)
        r.bytes_sent += len(data)
        if r.chunked:
            self.out += b"%x\r\n" % len(data)
            self.out += data
            self.out += b"\r\n"
        else:
            self.out += data

    def put_finish(self, r: Request) -> None:
        if r.chunked and not r.header_only:
            self.out += b"0\r\n\r\n"
            r.bytes_sent += 5
        r.completed = True

    def put_whole(self, r: Request, data: bytes, chunked_if_possible: bool = False) -> None:
        r.content_length = -1 if chunked_if_possible else len(data)
        self.put_header(r)
        self.put_body(r, data)
        self.put_finish(r)

    async def send_header(self, r: Request) -> None:
        self.put_header(r)
        if len(self.out) > 65536:
            await self.flush()

    async def send_body(self, r: Request, data: bytes) -> None:
        self.put_body(r, data)
        if len(self.out) > 65536:
            await self.flush()

    async def finish_body(self, r: Request) -> None:
        self.put_finish(r)

    async def send_whole(self, r: Request, data: bytes, chunked_if_possible: bool = False) -> None:
        self.put_whole(r, data, chunked_if_possible)
        if len(self.out) > 65536:
            await self.flush()

    async def send_fd(self, r: Request, fd: int, offset: int, length: int, finish: bool = True) -> None:
        """A file region, read in chunks (never whole into memory)."""
        if r.header_only:
            self.put_finish(r)
            return
        end = offset + length
        while offset < end:
            chunk = os.pread(fd, min(FILE_CHUNK, end - offset), offset)
            if not chunk:
                self.log_error("alert", "file was truncated", r)
                self.close_after = True
                r.keepalive = False
                break
            offset += len(chunk)
            self.put_body(r, chunk)
            if len(self.out) > 65536:
                await self.flush()
        if finish:
            self.put_finish(r)

    def internal_redirect_code(self, r: Request, uri: str, args: str) -> int:
        r.ctx["redirect"] = (uri, args)
        return core.REDIRECT

    def take_over(self) -> tuple[trio.abc.Stream, bytes]:
        """Hand the raw connection to a tunnel (after a 101): the stream and bytes read ahead."""
        self.detached = True
        data = bytes(self.buffer)
        self.buffer.clear()
        return self.stream, data

    async def finish_request(self, r: Request) -> None:
        """Send what is buffered, drop what is left of the body, log."""
        if self.detached:
            return
        if r.version == 9 or not r.keepalive or self.close_after:
            await self.flush()
            if not self.body_done and r.ctx.get("discarding") and not self.close_after:
                # ngx_http_finalize_connection: the request ends (is logged) once its body is read
                await self._drain_body(r)
            self.server.access_log(r)
            await self._linger(r)
            return
        if not self.body_done:
            await self.flush()
            if not await self._drain_body(r):
                r.keepalive = False
                self.server.access_log(r)
                return
        if not self.buffer or len(self.out) > 65536:
            await self.flush()
        self.server.access_log(r)

    def _linger_window(self, r: Request) -> float | None:
        """Seconds the next lingering read may wait: lingering_timeout, cut to what is left of
        lingering_time (counted in whole seconds of the clock, as nginx's ngx_time());
        None once lingering_time has passed."""
        loc = r.loc if r.loc is not None else self.addr.default.loc
        end = r.ctx.get("lingering_time")
        if end is None:
            end = r.ctx["lingering_time"] = int(time.time()) + loc.lingering_time // 1000
        left = end - int(time.time())
        if left <= 0:
            return None
        return min(left * 1000, loc.lingering_timeout) / 1000

    def _client_sent_more(self) -> bool:
        """rev->ready: the client's data waits in the socket (end of file does not count: the
        lingering read would end at once)."""
        if self.raw is None:
            return False
        try:
            return bool(self.raw.recv(1, socket.MSG_PEEK))
        except OSError:
            return False

    async def _linger(self, r: Request) -> None:
        """ngx_http_finalize_connection's choice, then ngx_http_set_lingering_close: stop sending,
        read and drop what the client still sends, close after lingering_timeout of silence or
        once lingering_time has passed.  Closing with unread data would make the kernel reset
        the connection, which can destroy the response before the client has read it."""
        if r.ctx.get("lingered"):
            return  # the body's discarding timed out: nginx closes at once
        loc = r.loc if r.loc is not None else self.addr.default.loc
        if loc.lingering_close == "off":
            return
        if loc.lingering_close == "on":
            unread_body = not self.body_done or (self.chunked is not None and not self.chunked.done)
            if not (unread_body or self.buffer or self._client_sent_more()):
                return
        self.waiting = "linger"  # not a timeout that _timed_out reports
        self.set_deadline(math.inf)
        try:
            sock = self.raw if self.raw is not None else getattr(self.stream, "socket", None)
            if sock is not None:
                sock.shutdown(socket.SHUT_WR)
            while True:
                window = self._linger_window(r)
                if window is None:
                    return
                with trio.move_on_after(window):
                    if not await self._linger_read():
                        return
                    continue
                return  # lingering_timeout of silence
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass

    async def _linger_read(self) -> bool:
        """ngx_http_lingering_close_handler's reads: drop what has arrived; False at end of file."""
        raw = self.raw
        if raw is None:
            return bool(await self.stream.receive_some(RECV_SIZE))
        await trio.lowlevel.wait_readable(raw)
        for _ in range(64):
            try:
                if not raw.recv(RECV_SIZE):
                    return False
            except BlockingIOError:
                break
        return True

    # -- logs -------------------------------------------------------------------------------

    def log_error(self, level: str, message: str, r: Request | None = None) -> None:
        self.server.log_error(level, message, self.info, r)


def request_summary(r: Request) -> str:
    parts = [f", client: {r.conn.remote_addr}"]
    if r.server is not None:
        parts.append(f", server: {r.server.name}")
    if r.request_line:
        parts.append(f', request: "{r.request_line}"')
    upstream = r.ctx.get("upstream_log")  # set by the proxy module while it talks to a peer
    if upstream:
        parts.append(f', upstream: "{upstream}"')
    host = r.headers_in.get("host")
    if host is not None:
        parts.append(f', host: "{host}"')
    referer = r.headers_in.get("referer")
    if referer is not None:
        parts.append(f', referrer: "{referer}"')
    return "".join(parts)


def now() -> float:
    return time.time()
