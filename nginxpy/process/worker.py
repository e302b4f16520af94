"""A worker process: one trio event loop serving the listening sockets it inherited.

``serve_worker`` is the whole life of a worker (ngx_worker_process_cycle): it serves
until the master (through the channel) or a signal says otherwise:

* quit (SIGQUIT, the master's reload or graceful stop): "gracefully shutting down";
  stop accepting, close idle keep-alive connections, let requests in progress and
  upgraded (WebSocket) tunnels finish, within ``worker_shutdown_timeout`` if set;
* terminate (SIGTERM, SIGINT): "exiting" at once, every connection is closed;
* reopen (SIGUSR1): reopen the log files.

``run_worker`` prepares a freshly forked child first, as ngx_worker_process_init:
environment (``env``), ``worker_rlimit_nofile``, log files opened, then ``user``.
"""

from __future__ import annotations

import contextlib
import gc
import grp
import os
import pwd
import resource
import signal
import socket
import sys
import traceback
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, NoReturn

import trio

from nginxpy.errorlog import ErrorLog

if TYPE_CHECKING:
    from nginxpy.http.server import HttpServer
    from nginxpy.process.cycle import CoreConf

# The channel's commands (ngx_channel.h: NGX_CMD_QUIT, NGX_CMD_TERMINATE, NGX_CMD_REOPEN) and
# the worker's answer once it accepts connections.
CMD_QUIT = b"q"
CMD_TERMINATE = b"t"
CMD_REOPEN = b"r"
READY = b"+"

WORKER_SIGNALS = (
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGUSR1,
    signal.SIGHUP,
    signal.SIGUSR2,
    signal.SIGWINCH,
)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class Worker:
    def __init__(
        self,
        server: HttpServer,
        log: ErrorLog,
        channel: socket.socket | None,
        shutdown_timeout: float | None,
        daemonized: bool = True,
        reload: Callable[[], None] | None = None,
    ) -> None:
        self.server = server
        self.log = log
        self.channel = channel
        self.shutdown_timeout = shutdown_timeout
        self.daemonized = daemonized
        self.reload = reload  # master_process off: SIGHUP reloads in this process
        self.serve_scope = trio.CancelScope()
        if channel is not None:
            server.other_connections = 1  # as nginx, the channel takes one of worker_connections
        self.quitting = False
        self.terminating = False
        self.on_started: Callable[[], None] | None = None

    def notice(self, text: str) -> None:
        with contextlib.suppress(OSError):
            self.log.write("notice", text)

    # -- what the master or a signal asks ----------------------------------------------

    def quit(self) -> None:
        if self.quitting or self.terminating:
            return
        self.quitting = True
        self.notice("gracefully shutting down")
        self.server.shutdown()
        if self.shutdown_timeout is not None:
            self.serve_scope.deadline = trio.current_time() + self.shutdown_timeout

    def terminate(self) -> None:
        if self.terminating:
            return
        self.terminating = True
        self.notice("exiting")
        self.server.exiting = True
        self.serve_scope.cancel()

    def reopen(self) -> None:
        self.notice("reopening logs")
        self.log.reopen()
        self.server.access_logs.reopen()
        for log in self.server.error_logs.values():
            log.reopen()
        if self.server.error_log_default is not self.log:
            self.server.error_log_default.reopen()

    # -- the loop -------------------------------------------------------------------------

    async def main(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.open_signal_receiver(*WORKER_SIGNALS) as signals:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, set(signal.Signals))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._signals, signals)
                if self.channel is not None:
                    nursery.start_soon(self._channel, trio.socket.from_stdlib_socket(self.channel))
                with self.serve_scope:
                    async with trio.open_nursery() as serving:
                        await serving.start(self.server.serve)
                        if self.channel is not None:
                            with contextlib.suppress(OSError):
                                self.channel.send(READY)
                        task_status.started()
                        if self.on_started is not None:
                            self.on_started()
                self.server.access_logs.flush_all()  # buffered access logs, as nginx at exit
                if not self.terminating:
                    self.notice("exiting")
                nursery.cancel_scope.cancel()

    async def _signals(self, signals: AsyncIterator[int]) -> None:
        """Signals sent to the worker itself (ngx_signal_handler, NGX_PROCESS_WORKER)."""
        async for signum in signals:
            name = signal_name(signum)
            if signum == signal.SIGQUIT or (signum == signal.SIGWINCH and self.daemonized):
                self.notice(f"signal {signum} ({name}) received, shutting down")
                self.quit()
            elif signum in (signal.SIGTERM, signal.SIGINT):
                self.notice(f"signal {signum} ({name}) received, exiting")
                self.terminate()
            elif signum == signal.SIGUSR1:
                self.notice(f"signal {signum} ({name}) received, reopening logs")
                self.reopen()
            elif signum == signal.SIGHUP and self.reload is not None:
                self.notice(f"signal {signum} ({name}) received, reconfiguring")
                if not (self.quitting or self.terminating):
                    self.notice("reconfiguring")
                    self.reload()
            elif signum in (signal.SIGHUP, signal.SIGUSR2):
                self.notice(f"signal {signum} ({name}) received, ignoring")
            else:
                self.notice(f"signal {signum} ({name}) received")

    async def _channel(self, channel: trio.socket.SocketType) -> None:
        """The master's commands.  End of file means the master is gone: nginx's workers then
        run on unsupervised; nginxpy's stop gracefully instead (nobody could stop them)."""
        while True:
            try:
                data = await channel.recv(64)
            except OSError:
                data = b""
            if not data:
                self.quit()
                return
            for command in data:
                byte = bytes([command])
                if byte == CMD_QUIT:
                    self.quit()
                elif byte == CMD_TERMINATE:
                    self.terminate()
                elif byte == CMD_REOPEN:
                    self.reopen()


# -- the forked child ---------------------------------------------------------------------


def set_environment(entries: list[str]) -> None:
    """ngx_set_environment: the workers see TZ and the ``env`` variables only."""
    keep: dict[str, str] = {}
    for entry in ["TZ", *entries]:
        name, eq, value = entry.partition("=")
        if eq:
            keep[name] = value
        elif name in os.environ:
            keep[name] = os.environ[name]
    os.environ.clear()
    os.environ.update(keep)


def init_process(core: CoreConf, server: HttpServer, log: ErrorLog) -> None:
    """ngx_worker_process_init: rlimits, log files opened, then the user (fatal errors exit 2)."""
    set_environment(core.env)
    if core.rlimit_nofile is not None:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (core.rlimit_nofile, core.rlimit_nofile))
        except (OSError, ValueError) as error:
            code = getattr(error, "errno", None) or 1
            log.write(
                "alert",
                f"setrlimit(RLIMIT_NOFILE, {core.rlimit_nofile}) failed ({code}: {os.strerror(code)})",
            )
    log.open_now()
    server.open_logs()
    if core.user is not None and os.geteuid() == 0:
        user, group = core.user
        entry = pwd.getpwnam(user)
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            gid = entry.pw_gid
        step = f"setgid({gid})"
        try:
            os.setgid(gid)
            step = f"initgroups({user}, {gid})"
            os.initgroups(user, gid)
            step = f"setuid({entry.pw_uid})"
            os.setuid(entry.pw_uid)
        except OSError as error:
            log.write("emerg", f"{step} failed ({error.errno}: {error.strerror})")
            os._exit(2)


def settle_heap() -> None:
    """The configuration and the modules live as long as the worker: move them out of the
    garbage collector's scans (gc.freeze), and collect young objects less often, as each
    request allocates many short-lived ones."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def run_worker(
    core: CoreConf, server: HttpServer, log: ErrorLog, channel: socket.socket, daemonized: bool
) -> NoReturn:
    """The forked child's whole life; never returns."""
    code = 0
    try:
        init_process(core, server, log)
        worker = Worker(server, log, channel, core.shutdown_timeout, daemonized)
        settle_heap()
        trio.run(worker.main)
        with contextlib.suppress(OSError):
            log.write("notice", "exit")
    except BaseException as error:  # never back into the master's code
        code = 1
        with contextlib.suppress(Exception):
            log.write("alert", f"nginxpy: worker failed: {type(error).__name__}: {error}")
            traceback.print_exc(file=sys.stderr)
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)
