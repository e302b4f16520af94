"""Access log files (ngx_http_log_module): open files shared by path, nginx's line format,
and the ``buffer=``/``flush=``/``gzip`` buffers.

A buffered log keeps its lines in memory (one buffer per file, as nginx's ``ngx_http_log_buf_t``)
and writes them when the next line does not fit, when ``flush=`` has passed since the first line
went into the empty buffer (a timer that does not keep an exiting worker alive), when the logs
are reopened (SIGUSR1) and when the worker exits.  With ``gzip`` every write is one gzip member.
"""

from __future__ import annotations

import contextlib
import zlib
from typing import IO

import trio

from nginxpy.conf.script import Var
from nginxpy.http.config import LogTarget
from nginxpy.http.request import Request
from nginxpy.http.variables import evaluate, get, log_line

# ngx_http_log_vars: variables the log module writes itself, with the room it reserves for each
# (64-bit sizes) when it checks whether a line fits in a buffer, whatever their actual length.
RESERVED = {
    "pipe": 1,
    "time_local": 26,
    "time_iso8601": 25,
    "msec": 24,
    "request_time": 24,
    "status": 20,
    "bytes_sent": 20,
    "body_bytes_sent": 20,
    "request_length": 20,
}


def gzip_member(data: bytes, level: int) -> bytes:
    """ngx_http_log_gzip: one gzip member, with a window sized to the data as nginx's."""
    wbits, memlevel = zlib.MAX_WBITS, 8
    while len(data) < (1 << (wbits - 1)) - 262:
        wbits -= 1
        memlevel -= 1
    compressor = zlib.compressobj(level, zlib.DEFLATED, wbits + 16, memlevel)
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH)


class LogBuffer:
    """One file's buffer: ``size`` bytes, written after ``flush`` seconds (0: no timer)."""

    def __init__(self, size: int, flush: float, gzip: int) -> None:
        self.size = size
        self.flush = flush
        self.gzip = gzip
        self.data = bytearray()
        self.deadline: float | None = None  # the flush timer (trio time), set while data waits
        self.timer_running = False

    def same(self, target: LogTarget) -> bool:
        return (self.size, self.flush, self.gzip) == (target.buffer, target.flush, target.gzip)


class AccessLogs:
    """Open access log files (shared by path) and their buffers."""

    def __init__(self) -> None:
        self.files: dict[str, IO[bytes]] = {}
        self.failed: set[str] = set()
        self.buffers: dict[str, LogBuffer] = {}

    def open(self, path: str) -> IO[bytes] | None:
        handle = self.files.get(path)
        if handle is None and path not in self.failed:
            try:
                handle = open(path, "ab", buffering=0)  # noqa: SIM115
            except OSError:
                self.failed.add(path)
                return None
            self.files[path] = handle
        return handle

    def _write(self, path: str, data: bytes, gzip: int) -> None:
        handle = self.open(path)
        if handle is None or not data:
            return
        with contextlib.suppress(OSError):
            handle.write(gzip_member(data, gzip) if gzip else data)

    def flush(self, path: str) -> None:
        """ngx_http_log_flush: write what the buffer holds, stop its timer."""
        buffer = self.buffers.get(path)
        if buffer is None:
            return
        data = bytes(buffer.data)
        buffer.data.clear()
        buffer.deadline = None
        self._write(path, data, buffer.gzip)

    def flush_all(self) -> None:
        """At reopen and at exit (nginx flushes its open files then)."""
        for path in list(self.buffers):
            self.flush(path)

    def reopen(self) -> None:
        self.flush_all()
        for handle in self.files.values():
            handle.close()
        self.files.clear()
        self.failed.clear()

    def write(self, target: LogTarget, path: str, line: bytes, r: Request) -> None:
        """One line (with its newline) to the file at ``path``, through its buffer if it has one."""
        if not target.buffer or target.path_value is not None:
            self._write(path, line, 0)
            return
        room = len(line) + reserved_extra(target, r)  # what nginx reserves for the line
        buffer = self.buffers.get(path)
        if buffer is None or not buffer.same(target):  # a reload may change the parameters
            self.flush(path)
            buffer = self.buffers[path] = LogBuffer(target.buffer, target.flush, target.gzip)
        if room > buffer.size - len(buffer.data):
            data = bytes(buffer.data)
            buffer.data.clear()
            self._write(path, data, buffer.gzip)
        if room > buffer.size:  # a line longer than the buffer is written as it is
            buffer.deadline = None
            self._write(path, line, buffer.gzip)
            return
        if not buffer.data and buffer.flush:
            buffer.deadline = trio.current_time() + buffer.flush
            if not buffer.timer_running:
                buffer.timer_running = True
                trio.lowlevel.spawn_system_task(self._flush_timer, path, buffer)
        buffer.data += line

    async def _flush_timer(self, path: str, buffer: LogBuffer) -> None:
        """The flush= timer: a system task, so it never keeps the worker from exiting."""
        try:
            while buffer.deadline is not None and self.buffers.get(path) is buffer:
                await trio.sleep_until(buffer.deadline)
                if buffer.deadline is not None and trio.current_time() >= buffer.deadline:
                    self.flush(path)
        except trio.Cancelled:
            pass
        finally:
            buffer.timer_running = False


def write_access_log(logs: AccessLogs, r: Request) -> None:
    """ngx_http_log_handler: a line to each of the location's access logs."""
    loc = r.loc
    if loc is None:
        return
    if r.status == 0 and r.err_status == 0:
        return
    for target in loc.access_logs:
        if target.condition is not None:
            value = evaluate(target.condition, r)
            if value in ("", "0"):
                continue
        path = target.path if target.path_value is None else evaluate(target.path_value, r)
        line = log_line(target.format, target.escape, r) + "\n"
        logs.write(target, path, line.encode("latin-1", "replace"), r)


def reserved_extra(target: LogTarget, r: Request) -> int:
    """How much more than the line nginx counts: the fixed room of RESERVED variables."""
    extra = 0
    for value in target.format:
        for part in value.parts:
            if isinstance(part, Var) and part.name in RESERVED:
                extra += RESERVED[part.name] - len(get(r, part.name) or "-")
    return extra
