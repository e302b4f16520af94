"""nginx's process model: the master, its workers, the daemon, the pid file and ``-s``.

As in nginx (``src/os/unix/ngx_process_cycle.c``): a master process reads the
configuration, binds every listening socket once and forks ``worker_processes``
workers that share them (one socket per worker for ``listen ... reuseport``).  Each
worker is one trio event loop (:mod:`nginxpy.process.worker`).  The master only
handles signals (:mod:`nginxpy.process.master`): SIGHUP re-reads the configuration
and replaces the workers, SIGQUIT stops gracefully, SIGTERM/SIGINT fast, SIGUSR1
reopens the logs, SIGCHLD restarts a worker that died.  The master tells its workers
what to do through a socket pair per worker, nginx's "channel".
"""

# Main-context directives the process layer acts on (the config checker reports the others
# as "recognised but not acted on at run time").
IMPLEMENTED = frozenset(
    """
    daemon master_process pid worker_processes worker_connections worker_rlimit_nofile
    worker_shutdown_timeout user env error_log events include multi_accept
    """.split()
)
