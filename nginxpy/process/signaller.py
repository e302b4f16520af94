"""``nginx -s stop|quit|reopen|reload``: read the configuration for the pid file's path,
read the master's pid from it and signal it (ngx_signal_process, ngx_os_signal_process).

Messages go to the start-up log (stderr, or the ``-e`` file), as nginx's do: the
signal process never opens the configured log files.  Exit status 0 when the signal
was sent, 1 otherwise.
"""

from __future__ import annotations

import os
import signal

from nginxpy import cli
from nginxpy.process import pidfile

SIGNALS = {
    "stop": signal.SIGTERM,
    "quit": signal.SIGQUIT,
    "reopen": signal.SIGUSR1,
    "reload": signal.SIGHUP,
}


def send(options: cli.Options) -> int:
    from nginxpy.conf.check import load

    assert options.signal is not None
    prefix, conf_file = cli.resolve_paths(options)
    log = cli.make_error_log(options, prefix)
    try:
        result = load(conf_file, prefix=prefix, global_directives=options.conf_params, signaller=True)
        for message in result.messages:
            cli.report(log, message.level, cli._text(message))
        if result.error is not None:
            cli.report(log, "emerg", cli._text(result.error.message))
            return 1
        log.write("notice", "signal process started")
        path = pidfile.path_of(result.main.values.get("pid"), prefix)
        try:
            pid = pidfile.read(path)
        except pidfile.PidFileError as error:
            cli.report(log, error.level, error.text)
            return 1
        signum = SIGNALS[options.signal]
        try:
            os.kill(pid, signum)
        except OSError as error:
            cli.report(log, "alert", f"kill({pid}, {int(signum)}) failed ({error.errno}: {error.strerror})")
            return 1
        return 0
    finally:
        log.reopen()  # closes a log file
