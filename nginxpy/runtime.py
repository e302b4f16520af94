"""``nginxpy`` serving: read the configuration, bind the listeners, run until told to stop.

One process (nginx's ``master_process off``): the configuration is checked as
``nginx -t`` does, the http block is turned into its run-time form, the listening
sockets are opened (any failure is an ``[emerg]`` and exit 1, as nginx), then trio
serves until SIGTERM/SIGINT (fast stop) or SIGQUIT (graceful).  SIGHUP re-reads the
configuration and switches to it only if it is valid; SIGUSR1 reopens the logs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

import trio

from nginxpy import cli
from nginxpy.errorlog import ErrorLog


def _error_log(main: object, options: cli.Options, prefix: str) -> ErrorLog:
    log = cli.make_error_log(options, prefix)
    if options.error_log is not None:
        return log
    entries = getattr(main, "values", {}).get("error_log")
    if entries:
        path, level = entries[0]
        return ErrorLog(path, level)
    return log


def run(options: cli.Options) -> int:
    from nginxpy.conf.check import load
    from nginxpy.conf.model import ConfError
    from nginxpy.http.config import build
    from nginxpy.http.server import HttpServer, ListenError

    prefix, conf_file = cli.resolve_paths(options)
    startup_log = cli.make_error_log(options, prefix)
    result = load(conf_file, prefix=prefix, global_directives=options.conf_params)
    for message in result.messages:
        cli.report(startup_log, message.level, cli._text(message))
    if result.error is not None:
        cli.report(startup_log, "emerg", cli._text(result.error.message))
        return 1
    main = result.main
    http = build(main, prefix)
    log = _error_log(main, options, prefix)
    if http is None:
        cli.report(startup_log, "emerg", "no http block: nothing to serve")
        return 1
    try:
        server = HttpServer(http, log)  # builds the TLS contexts: certificates are read here
    except ConfError as error:
        cli.report(startup_log, "emerg", cli._text(error.message))
        return 1
    for message in server.tls.messages:  # nginxpy's TLS warnings (protocols OpenSSL cannot offer, ...)
        cli.report(startup_log, message.level, cli._text(message))
    try:
        server.open_sockets()
    except ListenError as error:
        cli.report(startup_log, "emerg", str(error))
        return 1
    daemon = main.get("daemon", True)
    if daemon:
        pid = os.fork()
        if pid:
            return 0
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        if log.path != "stderr":
            os.dup2(devnull, 2)
    pid_path = main.values.get("pid")
    if isinstance(pid_path, str) and pid_path != "off":
        pid_path = pid_path if pid_path.startswith("/") else os.path.join(prefix, pid_path)
        try:
            with open(pid_path, "w") as handle:
                handle.write(f"{os.getpid()}\n")
        except OSError as error:
            cli.report(log, "emerg", f'open() "{pid_path}" failed ({error.errno}: {error.strerror})')
            server.close_sockets()
            return 1
    try:
        trio.run(_serve, server, options, prefix, conf_file)
    except KeyboardInterrupt:
        pass
    finally:
        server.close_sockets()
        if isinstance(pid_path, str) and pid_path != "off":
            with contextlib.suppress(OSError):
                os.unlink(pid_path)
    return 0


async def _serve(server: object, options: cli.Options, prefix: str, conf_file: str) -> None:
    from nginxpy.http.server import HttpServer

    assert isinstance(server, HttpServer)
    with trio.open_signal_receiver(
        signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1
    ) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            async for signum in signals:
                if signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
                    server.log_error("notice", f"signal {signum} received, exiting")
                    nursery.cancel_scope.cancel()
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
