"""The ``nginxpy`` command: nginx's command line (``ngx_get_options``), same flags, same exits.

Extensions that nginx lacks are long options, which nginx's parser would reject, so
they cannot change the meaning of an nginx command line: ``--json`` (with -T: the
configuration in crossplane's JSON format).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nginxpy import versions
from nginxpy.errorlog import ErrorLog, severity

if TYPE_CHECKING:
    from nginxpy.conf.check import Result

PROGRAM = "nginxpy"


@dataclass
class Options:
    show_version: bool = False
    show_help: bool = False
    show_configure: bool = False
    test_config: bool = False
    dump_config: bool = False
    quiet: bool = False
    prefix: str | None = None
    error_log: str | None = None
    conf_file: str | None = None
    conf_params: str | None = None
    signal: str | None = None
    json: bool = False


class UsageError(Exception):
    pass


def parse_options(argv: list[str]) -> Options:
    options = Options()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--json":
            options.json = True
            i += 1
            continue
        if not arg.startswith("-"):
            raise UsageError(f'invalid option: "{arg}"')
        p = 1
        while p < len(arg):
            ch = arg[p]
            p += 1
            if ch in "?h":
                options.show_version = options.show_help = True
            elif ch == "v":
                options.show_version = True
            elif ch == "V":
                options.show_version = options.show_configure = True
            elif ch == "t":
                options.test_config = True
            elif ch == "T":
                options.test_config = options.dump_config = True
            elif ch == "q":
                options.quiet = True
            elif ch in "pecgs":
                if p < len(arg):
                    value: str | None = arg[p:]
                elif i + 1 < len(argv):
                    i += 1
                    value = argv[i]
                else:
                    value = None
                what = {
                    "p": "directory name",
                    "e": "file name",
                    "c": "file name",
                    "g": "parameter",
                    "s": "parameter",
                }
                if value is None:
                    raise UsageError(f'option "-{ch}" requires {what[ch]}')
                if ch == "p":
                    options.prefix = value
                elif ch == "e":
                    options.error_log = value
                elif ch == "c":
                    options.conf_file = value
                elif ch == "g":
                    options.conf_params = value
                else:
                    if value not in ("stop", "quit", "reopen", "reload"):
                        raise UsageError(f'invalid option: "-s {value}"')
                    options.signal = value
                break
            else:
                raise UsageError(f'invalid option: "{ch}"')
        i += 1
    return options


HELP = f"""Usage: {PROGRAM} [-?hvVtTq] [-s signal] [-p prefix]
             [-e filename] [-c filename] [-g directives]

Options:
  -?,-h         : this help
  -v            : show version and exit
  -V            : show version and configure options then exit
  -t            : test configuration and exit
  -T            : test configuration, dump it and exit
  -q            : suppress non-error messages during configuration testing
  -s signal     : send signal to a master process: stop, quit, reopen, reload
  -p prefix     : set prefix path (default: /usr/share/nginx/)
  -e filename   : set error log file (default: stderr)
  -c filename   : set configuration file (default: {versions.DEFAULT_CONF_PATH})
  -g directives : set global directives out of configuration file
  --json        : with -T, print the configuration in crossplane's JSON format

"""


def log_stderr(text: str) -> None:
    sys.stderr.write(f"{PROGRAM}: {text}\n")


def show_version(options: Options) -> None:
    sys.stderr.write(versions.VERSION_LINE + "\n")
    if options.show_help:
        sys.stderr.write(HELP)
    if options.show_configure:
        import ssl  # here only: -t need not load OpenSSL's bindings

        sys.stderr.write(f"built with {ssl.OPENSSL_VERSION}\n")
        sys.stderr.write("TLS SNI support enabled\n")
        prefix = options.prefix or versions.DEFAULT_PREFIX
        sys.stderr.write(f"configure arguments: {versions.configure_arguments(prefix)}\n")


def resolve_paths(options: Options) -> tuple[str, str]:
    """The prefix and the main file, as ngx_process_options resolves them."""
    prefix = options.prefix if options.prefix is not None else versions.DEFAULT_PREFIX
    if not prefix.endswith(os.sep):
        prefix += os.sep
    conf_file = options.conf_file or versions.DEFAULT_CONF_PATH
    if not conf_file.startswith("/"):
        in_prefix = os.path.join(prefix, conf_file)
        # nginx would fail to open it under its compiled-in prefix; a file of that name in
        # the current directory is what the user meant (`nginxpy -t -c examples/nginx.conf`).
        if options.prefix is None and not os.path.exists(in_prefix) and os.path.exists(conf_file):
            return prefix, conf_file
        conf_file = in_prefix
    return prefix, conf_file


def error_log_path(options: Options, prefix: str) -> str:
    """The -e file (or the compiled-in default), resolved against the prefix; "stderr" for stderr."""
    path = options.error_log if options.error_log is not None else versions.DEFAULT_ERROR_LOG
    if path in ("stderr", ""):
        return "stderr"
    if not path.startswith("/"):
        path = os.path.join(prefix, path)
    return path


def make_error_log(options: Options, prefix: str) -> ErrorLog:
    """The log of start-up (ngx_log_init): the file opens now, or the log is stderr."""
    path = error_log_path(options, prefix)
    log = ErrorLog(path, "info")
    error = log.init()
    if error is not None:
        # nginx's own words, and it carries on
        log_stderr(
            f'[alert] could not open error log file: open() "{path}" failed '
            f"({error.errno}: {os.strerror(error.errno or 0)})"
        )
    return log


def report(log: ErrorLog, level: str, text: str) -> None:
    """A message while reading the configuration: to the error log, and, when that is a file,
    also to stderr as "nginxpy: [level] ..." (nginx does this until it has started)."""
    log.write(level, text)
    if not log.is_stderr and severity(level) <= severity("warn"):
        log_stderr(f"[{level}] {text}")


def test_config(options: Options) -> int:
    from nginxpy.conf.check import load

    prefix, conf_file = resolve_paths(options)
    log = make_error_log(options, prefix)
    try:
        result = load(
            conf_file,
            prefix=prefix,
            global_directives=options.conf_params,
            error_log=error_log_path(options, prefix),
        )
        return _test_config(options, log, conf_file, result)
    finally:
        log.reopen()  # closes a log file


def _test_config(options: Options, log: ErrorLog, conf_file: str, result: Result) -> int:
    # -q silences only the two success lines; warnings still reach the log, as in nginx.
    for message in result.messages:
        report(log, message.level, _text(message))
    if result.syntax_ok and not options.quiet:
        log_stderr(f"the configuration file {conf_file} syntax is ok")
    if result.error is not None:
        report(log, "emerg", _text(result.error.message))
        log_stderr(f"configuration file {conf_file} test failed")
        return 1
    if not options.quiet:
        log_stderr(f"configuration file {conf_file} test is successful")
        ignored = sorted(result.main.ignored)
        if ignored and not options.dump_config:
            log.write("notice", "nginxpy: recognised but not acted on at run time: " + ", ".join(ignored))
    if options.dump_config:
        dump(result.main.files, options)
    return 0


def _text(message: object) -> str:
    text = str(message)
    return text.split("] ", 1)[1] if text.startswith("[") else text


def dump(files: list[str], options: Options) -> None:
    out = sys.stdout
    if options.json:
        import json

        from nginxpy.conf import dump as conf_dump

        _, conf_file = resolve_paths(options)
        out.write(json.dumps(conf_dump.parse_tree_to_crossplane(conf_file), indent=None) + "\n")
        return
    seen: set[str] = set()
    for path in files:
        if path in seen:
            continue
        seen.add(path)
        with open(path, "rb") as handle:
            data = handle.read()
        out.flush()
        sys.stdout.buffer.write(f"# configuration file {path}:\n".encode() + data + b"\n")
        sys.stdout.buffer.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        options = parse_options(args)
    except UsageError as error:
        log_stderr(str(error))
        return 1
    if options.show_version:
        show_version(options)
        if not options.test_config:
            return 0
    if options.test_config:
        return test_config(options)
    if options.signal:
        from nginxpy.process import signaller

        return signaller.send(options)
    from nginxpy import runtime

    return runtime.run(options)


if __name__ == "__main__":
    sys.exit(main())
