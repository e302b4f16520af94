"""The pid file: written by the master (ngx_create_pidfile), removed when it exits
(ngx_delete_pidfile), read by ``-s`` (ngx_signal_process)."""

from __future__ import annotations

import contextlib
import os

from nginxpy import versions


class PidFileError(Exception):
    """nginx's message for a pid file that cannot be read; the level is nginx's."""

    def __init__(self, level: str, text: str) -> None:
        super().__init__(text)
        self.level = level
        self.text = text


def path_of(value: object, prefix: str) -> str:
    """The ``pid`` directive's path (compiled-in default without it), relative to the prefix."""
    path = value if isinstance(value, str) else versions.DEFAULT_PID_PATH
    return path if path.startswith("/") else os.path.join(prefix, path)


def _strerror(error: OSError) -> str:
    return f"({error.errno}: {error.strerror})"


def write(path: str, pid: int | None = None) -> None:
    """Truncate and write "PID\\n"; raises PidFileError with nginx's [emerg] text."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as error:
        raise PidFileError("emerg", f'open() "{path}" failed {_strerror(error)}') from None
    try:
        os.write(fd, f"{os.getpid() if pid is None else pid}\n".encode())
    except OSError as error:
        raise PidFileError("alert", f'write() to "{path}" failed {_strerror(error)}') from None
    finally:
        os.close(fd)


def delete(path: str) -> str | None:
    """Remove the pid file; nginx's [alert] text when that fails."""
    try:
        os.unlink(path)
    except FileNotFoundError as error:
        return f'unlink() "{path}" failed {_strerror(error)}'
    except OSError as error:
        return f'unlink() "{path}" failed {_strerror(error)}'
    return None


def read(path: str) -> int:
    """The master's pid, as ngx_signal_process reads it (trailing CR/LF dropped, digits only)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(22)  # NGX_INT64_LEN + 2
    except OSError as error:
        raise PidFileError("error", f'open() "{path}" failed {_strerror(error)}') from None
    text = data.rstrip(b"\r\n")
    if not text or not text.isdigit():
        shown = text.decode("latin-1")
        raise PidFileError("error", f'invalid PID number "{shown}" in "{path}"')
    return int(text)


def remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
