"""nginx's error log line format: ``2026/11/24 10:00:00 [error] PID#TID: *CONN message``."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import TextIO

LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")


def severity(level: str) -> int:
    return LEVELS.index(level)


def format_line(level: str, message: str, connection: int | None = None, now: float | None = None) -> str:
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(now))
    pid = os.getpid()
    conn = f"*{connection} " if connection is not None else ""
    return f"{stamp} [{level}] {pid}#{pid}: {conn}{message}"


def _append(path: str) -> TextIO:
    return open(path, "a", encoding="utf-8", errors="surrogateescape", buffering=1)


class ErrorLog:
    """Where [level] lines go: a file or stderr, with a minimum level (error_log FILE LEVEL)."""

    def __init__(self, path: str = "stderr", level: str = "error") -> None:
        self.path = path
        self.level = level
        self._stream: TextIO | None = None

    def _open(self) -> TextIO:
        if self._stream is None:
            if self.path == "stderr":
                self._stream = sys.stderr
            else:
                try:
                    self._stream = _append(self.path)
                except OSError:
                    self._stream = sys.stderr  # as nginx, whose log stays on stderr then
        return self._stream

    def init(self) -> OSError | None:
        """ngx_log_init: open the file at start-up; if it cannot be, the log is stderr from
        then on, and the caller says so ("could not open error log file")."""
        if self.path == "stderr":
            return None
        try:
            self._stream = _append(self.path)
        except OSError as error:
            self.path, self._stream = "stderr", sys.stderr
            return error
        return None

    def open_now(self) -> None:
        """Open the file now (before privileges are dropped); a failure is left for write()."""
        with contextlib.suppress(OSError):
            self._open()

    def write(self, level: str, message: str, connection: int | None = None) -> None:
        if severity(level) > severity(self.level):
            return
        stream = self._open()
        stream.write(format_line(level, message, connection) + "\n")
        stream.flush()

    def reopen(self) -> None:
        if self._stream is not None and self._stream is not sys.stderr:
            self._stream.close()
        self._stream = None

    @property
    def is_stderr(self) -> bool:
        return self.path == "stderr"
