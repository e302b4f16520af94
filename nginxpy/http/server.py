"""The HTTP server: listening sockets, the accept loops, and the logs (trio)."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
import time

import trio

from nginxpy.errorlog import ErrorLog, severity
from nginxpy.http.accesslog import AccessLogs, write_access_log
from nginxpy.http.config import HttpConf, Listener
from nginxpy.http.connection import HttpConnection, request_summary
from nginxpy.http.request import ConnInfo, Request
from nginxpy.http.timers import Timers
from nginxpy.tls.glue import TlsRuntime


class ListenError(Exception):
    pass


def _sockaddr(listener: Listener) -> tuple[int, object]:
    address = listener.address
    if address.startswith("unix:"):
        return socket.AF_UNIX, address[5:]
    if address.startswith("["):
        host = address[1:-1]
        return socket.AF_INET6, (host if host != "::" else "::", listener.port)
    if address == "*":
        return socket.AF_INET, ("0.0.0.0", listener.port)
    return socket.AF_INET, (address, listener.port)


def display_address(listener: Listener) -> str:
    if listener.address.startswith("unix:"):
        return listener.address
    address = "0.0.0.0" if listener.address == "*" else listener.address
    return f"{address}:{listener.port}"


def open_listening_socket(listener: Listener) -> socket.socket:
    """ngx_open_listening_sockets for one address: SO_REUSEADDR, reuseport, ipv6only, backlog."""
    family, sockaddr = _sockaddr(listener)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family != socket.AF_UNIX:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listen = listener.listen
        if listen.reuseport and hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if listen.ipv6only else 0)
        if listen.rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, listen.rcvbuf)
        if listen.sndbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, listen.sndbuf)
        if listen.so_keepalive:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 0 if listen.so_keepalive == "off" else 1)
        try:
            sock.bind(sockaddr)  # type: ignore[arg-type]
        except OSError as error:
            code = error.errno or 0
            raise ListenError(
                f"bind() to {display_address(listener)} failed ({code}: {os.strerror(code)})"
            ) from None
        if family == socket.AF_UNIX:
            os.chmod(str(sockaddr), 0o666)
        backlog = listen.backlog if listen.backlog is not None else 511
        sock.listen(backlog if backlog > 0 else socket.SOMAXCONN)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class HttpServer:
    def __init__(self, http: HttpConf, error_log: ErrorLog) -> None:
        self.http = http
        self.error_log_default = error_log
        self.error_logs: dict[str, ErrorLog] = {}
        self.access_logs = AccessLogs()
        self.connections = 0
        self.sockets: list[tuple[Listener, socket.socket]] = []
        self.tls = TlsRuntime(http)
        # Set by the process layer (nginxpy.process): the live connections, nginx's ngx_exiting
        # (graceful shutdown), and worker_connections (0: no limit).
        self.live: set[HttpConnection] = set()
        self.exiting = False
        self.worker_connections = 0
        self.active = 0  # accepted client connections not closed yet
        self.accept_burst = 64  # connections accepted per wake-up (1: nginx's "multi_accept off")
        self.other_connections = 0  # connections that are not clients (a worker's channel)
        self.accept_scope = trio.CancelScope()
        self.timers = Timers()  # the connections' timeouts

    def open_sockets(self) -> None:
        for listener in self.http.listeners:
            self.sockets.append((listener, open_listening_socket(listener)))

    def close_sockets(self) -> None:
        for listener, sock in self.sockets:
            sock.close()
            if listener.address.startswith("unix:"):
                with contextlib.suppress(OSError):
                    os.unlink(listener.address[5:])
        self.sockets.clear()

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Accept and serve; returns after shutdown() once the last connection has ended."""
        async with trio.open_nursery() as timers:
            timers.start_soon(self.timers.run)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._accept_all, nursery)
                task_status.started()
            timers.cancel_scope.cancel()

    async def _accept_all(self, nursery: trio.Nursery) -> None:
        with self.accept_scope:
            async with trio.open_nursery() as accepting:
                for listener, sock in self.sockets:
                    accepting.start_soon(self._accept_loop, listener, sock, nursery)
        if self.exiting:  # ngx_close_listening_sockets in an exiting worker
            for _, sock in self.sockets:
                sock.close()

    def shutdown(self) -> None:
        """Graceful stop (nginx's ngx_exiting): stop accepting, close idle keep-alive connections;
        requests in progress finish (their connections close after the response) and upgraded
        tunnels run until they end.  serve() returns when the last connection is gone."""
        self.exiting = True
        self.accept_scope.cancel()
        for connection in list(self.live):
            connection.close_if_idle()

    async def _accept_loop(self, listener: Listener, sock: socket.socket, nursery: trio.Nursery) -> None:
        """Wait until the listening socket is readable, then accept (non-blocking) what is there."""
        while True:
            await trio.lowlevel.wait_readable(sock)
            for _ in range(self.accept_burst):
                if not await self._accept_one(listener, sock, nursery):
                    break

    async def _accept_one(self, listener: Listener, sock: socket.socket, nursery: trio.Nursery) -> bool:
        if True:
            try:
                client, peer = sock.accept()
            except BlockingIOError:
                return False
            except OSError as error:
                if error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self.log_error("crit", f"accept4() failed ({error.errno}: {os.strerror(error.errno)})")
                    await trio.sleep(0.5)
                    return False
                if error.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EAGAIN):
                    return True
                raise
            used = self.active + len(self.sockets) + self.other_connections
            if self.worker_connections and used >= self.worker_connections:
                # ngx_get_connection: no free connection; nginx closes the accepted socket
                self.log_error("alert", f"{self.worker_connections} worker_connections are not enough")
                client.close()
                return True
            client.setblocking(False)
            if client.family != socket.AF_UNIX:
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections += 1
            self.active += 1
            nursery.start_soon(self._handle, listener, client, peer, self.connections)
            return True

    async def _handle(self, listener: Listener, client: socket.socket, peer: object, number: int) -> None:
        try:
            await self._handle_client(listener, client, peer, number)
        finally:
            self.active -= 1

    async def _handle_client(
        self, listener: Listener, client: socket.socket, peer: object, number: int
    ) -> None:
        family = client.family
        if family == socket.AF_UNIX:
            info = ConnInfo(number, listener.address, 0, "unix:", 0, family="unix")
        else:
            local = client.getsockname()
            assert isinstance(peer, tuple)
            info = ConnInfo(
                number,
                local[0],
                local[1],
                peer[0],
                peer[1],
                family="inet6" if family == socket.AF_INET6 else "inet",
            )
            if info.family == "inet6" and info.remote_addr.startswith("::ffff:") and "." in info.remote_addr:
                pass
        plain = trio.SocketStream(trio.socket.from_stdlib_socket(client))
        stream = await self.tls.accept(listener.addr_conf(info.local_addr), plain, info)
        if stream is None:
            return
        connection = HttpConnection(self, stream, info, listener, raw=client if stream is plain else None)
        self.live.add(connection)
        try:
            if self.exiting:
                connection.close_after = True
            await connection.serve()
        finally:
            self.live.discard(connection)

    # -- logs ------------------------------------------------------------------------------

    def open_logs(self) -> None:
        """Open every log file the configuration names (nginx opens them in the master, before
        the workers drop privileges): error logs and access logs without variables."""
        self.error_log_default.open_now()
        seen: set[int] = set()
        todo = [server.loc for server in self.http.servers]
        todo += [loc for server in self.http.servers for loc in server.named.values()]
        todo += list(self.http.ifs.values())
        while todo:
            loc = todo.pop()
            if id(loc) in seen:
                continue
            seen.add(id(loc))
            todo += [*loc.exact.values(), *loc.inclusive.values(), *loc.prefixes, *loc.regexes]
            todo += loc.redirects.values()
            if loc.limit_except is not None:
                todo.append(loc.limit_except)
            key = f"{loc.error_log_path}\0{loc.error_log_level}"
            if key not in self.error_logs and loc.error_log_path != "stderr":
                self.error_logs[key] = ErrorLog(loc.error_log_path, loc.error_log_level)
            log = self.error_logs.get(key)
            if log is not None:
                log.open_now()
            for target in loc.access_logs:
                if target.path_value is None:
                    self.access_logs.open(target.path)

    def _error_log_for(self, r: Request | None) -> ErrorLog:
        path, level = self.http.error_log_path, self.http.error_log_level
        if r is not None and r.loc is not None:
            path, level = r.loc.error_log_path, r.loc.error_log_level
        if path == "stderr" and level == "error" and r is None:
            return self.error_log_default
        key = f"{path}\0{level}"
        log = self.error_logs.get(key)
        if log is None:
            if path == "stderr" and self.error_log_default.path != "stderr":
                path = self.error_log_default.path
            log = self.error_logs[key] = ErrorLog(path, level)
        return log

    def log_error(
        self, level: str, message: str, info: ConnInfo | None = None, r: Request | None = None
    ) -> None:
        log = self._error_log_for(r)
        if severity(level) > severity(log.level):
            return
        if r is not None:
            message += request_summary(r)
        elif info is not None:
            message += f", client: {info.remote_addr}"
        try:
            log.write(level, message, info.number if info is not None else None)
        except OSError:
            sys.stderr.write(message + "\n")

    def access_log(self, r: Request) -> None:
        write_access_log(self.access_logs, r)


def now() -> float:
    return time.time()
