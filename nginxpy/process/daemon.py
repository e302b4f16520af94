"""``daemon on``: detach from the terminal (ngx_daemon) once the sockets are listening.

As nginx: fork, the child becomes a session leader (``setsid``) and gets /dev/null as
stdin and stdout; stderr is left alone (the master points it at the error log).
Unlike nginx, whose parent exits right after the fork, the parent waits until the
daemon reports that the pid file is written and the workers accept connections (or
that it failed), so a script may use the server, or read the pid file, as soon as the
command returns.
"""

from __future__ import annotations

import contextlib
import os


class Detached:
    """The daemon's end of the start-up pipe: ready() lets the parent exit 0."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def ready(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.write(self.fd, b"1")
            self.close()

    def close(self) -> None:
        """Without ready(): the parent exits 1."""
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


def detach() -> Detached | int:
    """In the parent: wait for the daemon, return the command's exit status.
    In the daemon: return its end of the pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        data = b""
        while True:
            try:
                chunk = os.read(read_end, 16)
            except InterruptedError:
                continue
            if not chunk:
                break
            data += chunk
        os.close(read_end)
        return 0 if data else 1
    os.close(read_end)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    if devnull > 2:
        os.close(devnull)
    return Detached(write_end)
