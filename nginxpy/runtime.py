"""``nginxpy`` serving.

Start-up (configuration, listening sockets, daemon, pid file), the master and its
workers, and ``master_process off`` are :mod:`nginxpy.process`.  ``reload`` is the
one-process reload (SIGHUP with ``master_process off``): build the new configuration
first and switch to it only if it is valid, keeping the listening sockets.
"""

from __future__ import annotations

import sys

from nginxpy import cli


def run(options: cli.Options) -> int:
    """Start-up, daemon, pid file and the master/worker processes live in nginxpy.process."""
    from nginxpy.process import master

    return master.run(options)


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
