"""One configuration's run-time state (nginx's ``ngx_cycle_t``): the checked configuration,
the core settings, the http runtime and the listening sockets.

``init_cycle`` builds it at start-up and on every reload; on reload the sockets of
addresses still configured are taken over from the old cycle (so no connection is
refused while workers change), and any failure leaves the old cycle untouched.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nginxpy import cli, versions
from nginxpy.errorlog import ErrorLog
from nginxpy.process import pidfile

if TYPE_CHECKING:
    from nginxpy.conf.model import MainScope
    from nginxpy.http.config import Listener
    from nginxpy.http.server import HttpServer

DEFAULT_WORKER_CONNECTIONS = 512


@dataclass
class CoreConf:
    """ngx_core_conf_t and the events block, as the process layer uses them."""

    daemon: bool = True
    master: bool = True
    worker_processes: int = 1
    pid_path: str = ""
    worker_connections: int = DEFAULT_WORKER_CONNECTIONS
    rlimit_nofile: int | None = None
    shutdown_timeout: float | None = None  # seconds
    user: tuple[str, str] | None = None  # only when the master runs as root
    env: list[str] = field(default_factory=list)
    multi_accept: bool = False


def core_conf(main: MainScope, prefix: str) -> CoreConf:
    conf = CoreConf()
    conf.daemon = bool(main.values.get("daemon", True))
    conf.master = bool(main.values.get("master_process", True))
    workers = main.values.get("worker_processes", 1)
    conf.worker_processes = workers if isinstance(workers, int) and workers > 0 else (os.cpu_count() or 1)
    conf.pid_path = pidfile.path_of(main.values.get("pid"), prefix)
    events = main.events
    if events is not None:
        conf.worker_connections = int(events.values.get("worker_connections", DEFAULT_WORKER_CONNECTIONS))
        conf.multi_accept = bool(events.values.get("multi_accept", False))
    nofile = main.values.get("worker_rlimit_nofile")
    conf.rlimit_nofile = int(nofile) if nofile is not None else None
    timeout = main.values.get("worker_shutdown_timeout")
    conf.shutdown_timeout = int(timeout) / 1000 if timeout is not None else None
    if os.geteuid() == 0:
        user = main.values.get("user")
        if user is None:
            user = ("nobody", "nogroup")  # nginx's compiled-in default on Linux (NGX_USER, NGX_GROUP)
        conf.user = (str(user[0]), str(user[1]))
    conf.env = [str(entry[0]) for entry in main.values.get("env", [])]
    return conf


def main_error_log(main: MainScope, options: cli.Options, prefix: str) -> ErrorLog:
    """The cycle's log: the main error_log directive, else -e, else the compiled-in default."""
    entries = main.values.get("error_log")
    if entries:
        path, level = entries[0]
        return ErrorLog(path, level)
    path = options.error_log if options.error_log is not None else versions.DEFAULT_ERROR_LOG
    if path in ("stderr", ""):
        return ErrorLog("stderr", "error")
    return ErrorLog(path if path.startswith("/") else os.path.join(prefix, path), "error")


class Listening:
    """The listening sockets of a cycle: one per address, or one per worker slot for reuseport."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, int, bool], list[socket.socket]] = {}
        self.listeners: list[Listener] = []

    @staticmethod
    def key(listener: Listener) -> tuple[str, int, bool]:
        return (listener.address, listener.port, listener.listen.reuseport)

    def for_slot(self, slot: int) -> list[tuple[Listener, socket.socket]]:
        out = []
        for listener in self.listeners:
            socks = self.by_key[self.key(listener)]
            out.append((listener, socks[slot] if listener.listen.reuseport else socks[0]))
        return out

    def all_sockets(self) -> list[socket.socket]:
        return [sock for socks in self.by_key.values() for sock in socks]

    def close(self, unlink: bool = True, keep: Listening | None = None) -> None:
        """Close the sockets (not those taken over by ``keep``); unix socket files are removed."""
        kept = {id(sock) for sock in keep.all_sockets()} if keep is not None else set()
        for (address, _port, _reuse), socks in self.by_key.items():
            closed = False
            for sock in socks:
                if id(sock) not in kept:
                    sock.close()
                    closed = True
            if closed and unlink and address.startswith("unix:"):
                with contextlib.suppress(OSError):
                    os.unlink(address[5:])


def open_listening(listeners: list[Listener], workers: int, old: Listening | None) -> Listening:
    """ngx_open_listening_sockets: take over the old cycle's socket of an address, else bind."""
    from nginxpy.http.server import open_listening_socket

    listening = Listening()
    listening.listeners = listeners
    opened: list[socket.socket] = []
    try:
        for listener in listeners:
            key = Listening.key(listener)
            if key in listening.by_key:
                continue
            count = workers if listener.listen.reuseport else 1
            socks = list(old.by_key.get(key, [])) if old is not None else []
            del socks[count:]
            while len(socks) < count:
                sock = open_listening_socket(listener)
                opened.append(sock)
                socks.append(sock)
            listening.by_key[key] = socks
    except BaseException:
        for sock in opened:
            sock.close()
        raise
    return listening


@dataclass
class Cycle:
    main: MainScope
    core: CoreConf
    server: HttpServer
    log: ErrorLog
    listening: Listening


def init_cycle(
    options: cli.Options, report_log: ErrorLog, old: Cycle | None, startup: bool, single: bool = False
) -> Cycle | None:
    """Read, check and build a configuration; None (with nginx's [emerg] logged) if it fails."""
    from nginxpy.conf.check import load
    from nginxpy.conf.model import ConfError
    from nginxpy.http.config import build
    from nginxpy.http.server import HttpServer, ListenError

    def report(level: str, text: str) -> None:
        if startup:
            cli.report(report_log, level, text)
        else:
            report_log.write(level, text)

    prefix, conf_file = cli.resolve_paths(options)
    result = load(
        conf_file,
        prefix=prefix,
        global_directives=options.conf_params,
        error_log=cli.error_log_path(options, prefix),
    )
    for message in result.messages:
        report(message.level, cli._text(message))
    if result.error is not None:
        report("emerg", cli._text(result.error.message))
        return None
    main = result.main
    http = build(main, prefix) if main.http is not None else None
    if http is None:
        report("emerg", "no http block: nothing to serve")
        return None
    core = core_conf(main, prefix)
    log = main_error_log(main, options, prefix)
    try:
        server = HttpServer(http, log)  # builds the TLS contexts: certificates are read here
    except ConfError as error:
        report("emerg", cli._text(error.message))
        return None
    for message in server.tls.messages:
        report(message.level, cli._text(message))
    if core.user is not None:
        try:
            pwd.getpwnam(core.user[0])
        except KeyError:
            report("emerg", f'getpwnam("{core.user[0]}") failed')
            return None
    try:
        slots = 1 if single or not core.master else core.worker_processes
        listening = open_listening(http.listeners, slots, old.listening if old else None)
    except ListenError as error:
        report("emerg", str(error))
        return None
    server.worker_connections = core.worker_connections
    # multi_accept off (the default): one connection per wake-up, so that workers sharing a
    # listening socket share its connections
    server.accept_burst = 64 if core.multi_accept else 1
    return Cycle(main, core, server, log, listening)
