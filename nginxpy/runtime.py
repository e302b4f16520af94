"""``nginxpy`` serving in one process (nginx's ``master_process off``).

Start-up (configuration, listening sockets, daemon, pid file) and the master/worker
model are :mod:`nginxpy.process`; this module serves one HttpServer on its bound
sockets with trio until SIGTERM/SIGINT (fast stop) or SIGQUIT (graceful).  SIGHUP
re-reads the configuration and switches to it only if it is valid; SIGUSR1 reopens
the logs.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable

import trio

from nginxpy import cli


def run(options: cli.Options) -> int:
    """Start-up, daemon, pid file and the master/worker processes live in nginxpy.process."""
    from nginxpy.process import master

    return master.run(options)


def serve_single(server: object, options: cli.Options, on_started: Callable[[], None] | None = None) -> int:
    """Serve in this one process (``master_process off``) on the server's bound sockets."""
    prefix, conf_file = cli.resolve_paths(options)
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(_serve, server, options, prefix, conf_file, on_started)
    return 0


async def _serve(
    server: object,
    options: cli.Options,
    prefix: str,
    conf_file: str,
    on_started: Callable[[], None] | None = None,
) -> None:
    from nginxpy.http.server import HttpServer

    assert isinstance(server, HttpServer)
    with trio.open_signal_receiver(
        signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1
    ) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            if on_started is not None:
                on_started()
            async for signum in signals:
                if signum in (signal.SIGTERM, signal.SIGINT):
                    server.log_error("notice", f"signal {signum} received, exiting")
                    nursery.cancel_scope.cancel()
                    break
                if signum == signal.SIGQUIT:  # graceful: serve() returns when the connections end
                    server.log_error("notice", "gracefully shutting down")
                    server.shutdown()
                    break
                if signum == signal.SIGUSR1:
                    server.access_logs.reopen()
                    for log in server.error_logs.values():
                        log.reopen()
                    continue
                if signum == signal.SIGHUP:
                    reload(server, options)


def reload(server: object, options: cli.Options) -> None:
    """Build the new configuration first; switch only if it is valid (same listeners kept)."""
    from nginxpy.conf.check import load
    from nginxpy.http.config import build
    from nginxpy.http.server import HttpServer

    assert isinstance(server, HttpServer)
    prefix, conf_file = cli.resolve_paths(options)
    result = load(conf_file, prefix=prefix, global_directives=options.conf_params)
    if result.error is not None:
        server.log_error("emerg", cli._text(result.error.message))
        return
    http = build(result.main, prefix)
    if http is None:
        return
    by_key = {(listener.address, listener.port): listener for listener in http.listeners}
    for index, (listener, sock) in enumerate(server.sockets):
        fresh = by_key.get((listener.address, listener.port))
        if fresh is not None:
            listener.addrs = fresh.addrs
            server.sockets[index] = (listener, sock)
    server.http = http
    sys.stderr.flush()
