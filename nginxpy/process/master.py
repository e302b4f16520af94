"""Start-up and the master process (nginx.c main, ngx_master_process_cycle).

``run`` is what ``nginxpy`` without ``-t``/``-s`` does: read the configuration, bind
the listening sockets, log nginx's start-up notices, detach (``daemon on``), write
the pid file, then either run the master (``master_process on``) or serve in this
one process (``master_process off``, :func:`nginxpy.runtime.serve_single`).

The master never runs an event loop: it waits for signals with ``sigwaitinfo`` (it
blocks them all, as nginx's master sits in ``sigsuspend``), which also tells it who
sent them, for nginx's "signal 1 (SIGHUP) received from 1234, reconfiguring".
"""

from __future__ import annotations

import contextlib
import os
import pwd
import resource
import select
import signal
import socket
import time
from dataclasses import dataclass

import trio

from nginxpy import cli, versions
from nginxpy.errorlog import ErrorLog
from nginxpy.process import daemon as daemon_mod
from nginxpy.process import pidfile
from nginxpy.process.cycle import Cycle, init_cycle
from nginxpy.process.worker import (
    CMD_QUIT,
    CMD_REOPEN,
    CMD_TERMINATE,
    Worker,
    run_worker,
    settle_heap,
    signal_name,
)

MASTER_SIGNALS = {
    signal.SIGCHLD,
    signal.SIGALRM,
    signal.SIGIO,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGUSR1,
    signal.SIGWINCH,
    signal.SIGTERM,
    signal.SIGQUIT,
    signal.SIGUSR2,
}
READY_TIMEOUT = 10.0  # seconds a new worker has to start accepting


@dataclass(eq=False)
class Child:
    pid: int
    slot: int
    channel: socket.socket
    cycle: Cycle
    respawn: bool = True  # restart it if it dies
    exiting: bool = False  # told to quit or terminate


def os_status(log: ErrorLog) -> None:
    """The notices nginx logs when a configuration is taken into use (ngx_os_status)."""
    log.write("notice", 'using the "epoll" event method')


def startup_status(cycle: Cycle) -> None:
    log = cycle.log
    os_status(log)
    log.write("notice", versions.VERSION_LINE.removeprefix("nginx version: "))
    uname = os.uname()
    log.write("notice", f"OS: {uname.sysname} {uname.release}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    log.write("notice", f"getrlimit(RLIMIT_NOFILE): {soft}:{hard}")


def redirect_stderr(log: ErrorLog) -> None:
    """ngx_log_redirect_stderr: once running, stderr (Python's tracebacks) goes to the error log."""
    if log.is_stderr:
        return
    try:
        fd = os.open(log.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    os.dup2(fd, 2)
    os.close(fd)


def run(options: cli.Options) -> int:
    prefix, _conf_file = cli.resolve_paths(options)
    startup_log = cli.make_error_log(options, prefix)
    cycle = init_cycle(options, startup_log, None, startup=True)
    if cycle is None:
        return 1
    core = cycle.core
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if core.rlimit_nofile is None and core.worker_connections > soft:
        cli.report(
            startup_log,
            "warn",
            f"{core.worker_connections} worker_connections exceed open file resource limit: {soft}",
        )
    startup_status(cycle)
    detached: daemon_mod.Detached | None = None
    if core.daemon:
        outcome = daemon_mod.detach()
        if isinstance(outcome, int):
            cycle.listening.close(unlink=False)
            return outcome
        detached = outcome
    try:
        pidfile.write(core.pid_path)
    except pidfile.PidFileError as error:
        cycle.log.write(error.level, error.text)
        if not core.daemon:
            cli.log_stderr(f"[{error.level}] {error.text}")
        cycle.listening.close()
        if detached is not None:
            detached.close()
        return 1
    redirect_stderr(cycle.log)
    if not core.master:
        return single_process(options, cycle, detached)
    master = Master(options, cycle, detached)
    return master.loop()


def single_process(options: cli.Options, cycle: Cycle, detached: daemon_mod.Detached | None) -> int:
    """ngx_single_process_cycle: this process is the only worker (reload keeps its sockets)."""
    from nginxpy import runtime

    server = cycle.server
    server.sockets = cycle.listening.for_slot(0)
    server.open_logs()  # ngx_init_cycle opens the log files in this mode too, not at the first line
    worker = Worker(
        server,
        cycle.log,
        None,
        cycle.core.shutdown_timeout,
        daemonized=detached is not None,
        reload=lambda: runtime.reload(server, options),
    )
    if detached is not None:
        worker.on_started = detached.ready
    try:
        settle_heap()
        trio.run(worker.main)
        worker.notice("exit")
    finally:
        cycle.listening.close()
        pidfile.remove_quietly(cycle.core.pid_path)
    return 0


class Master:
    def __init__(self, options: cli.Options, cycle: Cycle, detached: daemon_mod.Detached | None) -> None:
        self.options = options
        self.cycle = cycle
        self.detached = detached
        self.children: dict[int, Child] = {}
        self.quitting = False
        self.terminating = False
        self.noaccepting = False
        self.delay = 0.0

    @property
    def log(self) -> ErrorLog:
        return self.cycle.log

    def notice(self, text: str) -> None:
        with contextlib.suppress(OSError):
            self.log.write("notice", text)

    def alert(self, text: str) -> None:
        with contextlib.suppress(OSError):
            self.log.write("alert", text)

    # -- workers ---------------------------------------------------------------------------

    def spawn(self, cycle: Cycle, slot: int) -> Child | None:
        """ngx_spawn_process: a channel, fork, "start worker process PID"."""
        parent_end, child_end = socket.socketpair()
        try:
            pid = os.fork()
        except OSError as error:
            parent_end.close()
            child_end.close()
            self.alert(f'fork() failed while spawning "worker process" ({error.errno}: {error.strerror})')
            return None
        if pid == 0:
            self._in_child(cycle, slot, parent_end, child_end)
        child_end.close()
        parent_end.setblocking(False)
        child = Child(pid, slot, parent_end, cycle)
        self.children[pid] = child
        self.notice(f"start worker process {pid}")
        return child

    def _in_child(self, cycle: Cycle, slot: int, parent_end: socket.socket, child_end: socket.socket) -> None:
        parent_end.close()
        for other in self.children.values():
            other.channel.close()
        if self.detached is not None:
            self.detached.close()
        mine = cycle.listening.for_slot(slot)
        keep = {id(sock) for _, sock in mine}
        for sock in cycle.listening.all_sockets():
            if id(sock) not in keep:
                sock.close()
        cycle.server.sockets = mine
        run_worker(cycle.core, cycle.server, cycle.log, child_end, daemonized=self.detached is not None)

    def start_workers(self, cycle: Cycle) -> list[Child]:
        """ngx_start_worker_processes, then wait until each accepts connections."""
        self.notice("start worker processes")
        started = []
        for slot in range(cycle.core.worker_processes):
            child = self.spawn(cycle, slot)
            if child is not None:
                started.append(child)
        self.wait_ready(started)
        return started

    def wait_ready(self, children: list[Child]) -> None:
        """Until each new worker says it accepts, or dies (its end of file), or a time limit."""
        waiting = {child.channel.fileno(): child for child in children}
        deadline = time.monotonic() + READY_TIMEOUT
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            readable, _, _ = select.select(list(waiting), [], [], left)
            for fd in readable:
                child = waiting.pop(fd)
                with contextlib.suppress(OSError):
                    child.channel.recv(16)  # READY, or b"" if it died

    def tell(self, child: Child, command: bytes) -> None:
        """ngx_signal_worker_processes: through the channel, else with a signal."""
        try:
            child.channel.send(command)
            return
        except OSError:
            pass
        signum = {CMD_QUIT: signal.SIGQUIT, CMD_TERMINATE: signal.SIGTERM, CMD_REOPEN: signal.SIGUSR1}[
            command
        ]
        try:
            os.kill(child.pid, signum)
        except OSError as error:
            self.alert(f"kill({child.pid}, {int(signum)}) failed ({error.errno}: {error.strerror})")

    def tell_all(self, command: bytes) -> None:
        for child in list(self.children.values()):
            if command in (CMD_QUIT, CMD_TERMINATE):
                child.exiting = True
            if command == CMD_REOPEN and child.exiting:
                continue
            self.tell(child, command)

    def reap(self) -> None:
        """ngx_process_get_status and ngx_reap_children: log how each child ended, restart workers."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            name = "worker process" if child is not None else "unknown process"
            if os.WIFSIGNALED(status):
                core = " (core dumped)" if os.WCOREDUMP(status) else ""
                self.alert(f"{name} {pid} exited on signal {os.WTERMSIG(status)}{core}")
            else:
                code = os.waitstatus_to_exitcode(status)
                self.notice(f"{name} {pid} exited with code {code}")
                if code == 2 and child is not None and child.respawn:
                    self.alert(f"{name} {pid} exited with fatal code 2 and cannot be respawned")
                    child.respawn = False
            if child is None:
                continue
            child.channel.close()
            if (
                child.respawn
                and not child.exiting
                and child.cycle is self.cycle
                and not (self.quitting or self.terminating or self.noaccepting)
            ):
                self.spawn(self.cycle, child.slot)

    # -- signals ---------------------------------------------------------------------------

    def loop(self) -> int:
        signal.pthread_sigmask(signal.SIG_BLOCK, MASTER_SIGNALS)
        self.start_workers(self.cycle)
        if self.detached is not None:
            self.detached.ready()
        while True:
            if self.delay:
                info = signal.sigtimedwait(MASTER_SIGNALS, self.delay)
                if info is None:  # the termination cycle's timer (nginx's SIGALRM)
                    self.delay *= 2
                    self.escalate()
                    continue
            else:
                info = signal.sigwaitinfo(MASTER_SIGNALS)
            self.handle(info.si_signo, info.si_pid)
            if not self.children and (self.quitting or self.terminating):
                return self.exit()

    def handle(self, signum: int, sender: int) -> None:
        """ngx_signal_handler (NGX_PROCESS_MASTER), then the master cycle's reaction."""
        action = ""
        if signum == signal.SIGQUIT:
            action = ", shutting down"
        elif signum in (signal.SIGTERM, signal.SIGINT):
            action = ", exiting"
        elif signum == signal.SIGWINCH and self.detached is not None:
            action = ", stop accepting connections"
        elif signum == signal.SIGHUP:
            action = ", reconfiguring"
        elif signum == signal.SIGUSR1:
            action = ", reopening logs"
        elif signum == signal.SIGUSR2:
            action = ", ignoring"
        source = f" from {sender}" if sender else ""
        if signum != signal.SIGALRM:
            self.notice(f"signal {signum} ({signal_name(signum)}) received{source}{action}")
        if signum == signal.SIGCHLD:
            self.reap()
        elif signum == signal.SIGQUIT:
            if not self.terminating:
                self.quitting = True
                self.tell_all(CMD_QUIT)
                self.close_listening()
        elif signum in (signal.SIGTERM, signal.SIGINT):
            self.terminating = True
            if not self.delay:
                self.delay = 0.05
            self.tell_all(CMD_TERMINATE)
        elif signum == signal.SIGHUP:
            if not (self.quitting or self.terminating):
                self.reconfigure()
        elif signum == signal.SIGUSR1:
            self.reopen()
        elif signum == signal.SIGWINCH and self.detached is not None:
            self.noaccepting = True
            self.tell_all(CMD_QUIT)
        elif signum == signal.SIGUSR2:
            with contextlib.suppress(OSError):
                self.log.write(
                    "crit",
                    "the changing binary signal is ignored: nginxpy cannot replace its binary on the fly; "
                    'use "-s reload" for a new configuration, or restart',
                )

    def escalate(self) -> None:
        """Fast stop taking long: SIGTERM again, then SIGKILL after a second (as nginx)."""
        for child in list(self.children.values()):
            if self.delay > 1.0:
                with contextlib.suppress(OSError):
                    os.kill(child.pid, signal.SIGKILL)
            else:
                self.tell(child, CMD_TERMINATE)

    def reconfigure(self) -> None:
        """Build the new cycle; if it fails the old workers go on.  Else new workers start on the
        new configuration and, once they accept, the old ones are told to quit gracefully."""
        self.notice("reconfiguring")
        old = self.cycle
        new = init_cycle(self.options, old.log, old, startup=False)
        if new is None:
            return
        os_status(new.log)
        if new.core.pid_path != old.core.pid_path:
            try:
                pidfile.write(new.core.pid_path)
            except pidfile.PidFileError as error:
                new.log.write(error.level, error.text)
                new.listening.close(keep=old.listening)
                return
            failed = pidfile.delete(old.core.pid_path)
            if failed:
                new.log.write("alert", failed)
        self.cycle = new
        new.core.daemon = old.core.daemon  # as nginx: daemon and master_process apply at start only
        redirect_stderr(new.log)
        # allow new processes to start, then stop the old ones
        self.start_workers(new)
        for child in list(self.children.values()):
            if child.cycle is not new:
                child.respawn = False
                child.exiting = True
                self.tell(child, CMD_QUIT)
        old.listening.close(keep=new.listening)

    def reopen(self) -> None:
        """ngx_reopen_files: the master reopens (creates) the files, owned by the workers' user;
        the workers then reopen theirs."""
        self.notice("reopening logs")
        cycle = self.cycle
        server = cycle.server
        cycle.log.reopen()
        server.access_logs.reopen()
        for log in server.error_logs.values():
            log.reopen()
        server.open_logs()
        cycle.log.open_now()
        user = cycle.core.user
        if user is not None:
            with contextlib.suppress(KeyError):
                uid = pwd.getpwnam(user[0]).pw_uid
                paths = [
                    cycle.log.path,
                    *server.access_logs.files,
                    *(log.path for log in server.error_logs.values()),
                ]
                for path in paths:
                    if path != "stderr":
                        with contextlib.suppress(OSError):
                            os.chown(path, uid, -1)
        self.tell_all(CMD_REOPEN)

    def close_listening(self) -> None:
        self.cycle.listening.close()

    def exit(self) -> int:
        """ngx_master_process_exit."""
        failed = pidfile.delete(self.cycle.core.pid_path)
        if failed:
            self.alert(failed)
        self.notice("exit")
        self.close_listening()
        return 0
