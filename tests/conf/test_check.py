"""Unit tests of the value parsers (nginx's ngx_parse.c rules) and of the command line (ngx_get_options).

The expected values were read off Debian's nginx 1.22.1: each accepted or rejected
spelling below was tried in a directive of the same type.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from nginxpy import cli
from nginxpy.conf import values

# -- sizes and offsets -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("1024", 1024), ("8k", 8192), ("8K", 8192), ("10m", 10 * 1024**2), ("10M", 10 * 1024**2)],
)
def test_size(text: str, expected: int) -> None:
    assert values.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "k", "1g", "10x", "-1", "1.5k", " 1", "1 k", "99999999999999999999"])
def test_size_rejected(text: str) -> None:
    assert values.parse_size(text) is None


def test_offset_takes_gigabytes() -> None:
    assert values.parse_offset("1g") == 1024**3
    assert values.parse_offset("2G") == 2 * 1024**3
    assert values.parse_offset("4q") is None


# -- times -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "msec"),
    [
        ("5", 5000),
        ("500ms", 500),
        ("1s 500ms", 1500),
        ("1h 30m", 5_400_000),
        ("1h  30m", 5_400_000),
        ("1h30m", 5_400_000),
        ("1d2h", 93_600_000),
        ("1w", 604_800_000),
        ("1m 30", 90_000),
        ("30 ", 30_000),
        ("1ms", 1),
    ],
)
def test_msec_time(text: str, msec: int) -> None:
    assert values.parse_time(text, is_sec=False) == msec


@pytest.mark.parametrize("text", ["", "1y", "1M", "2h1d", "30s1m", "abc", "5 minutes", "1h 30x"])
def test_msec_time_rejected(text: str) -> None:
    assert values.parse_time(text, is_sec=False) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30), ("1y", 365 * 86400), ("1M", 30 * 86400), ("1h 30m", 5400), ("1d2h", 93600), ("1w", 604800)],
)
def test_sec_time(text: str, seconds: int) -> None:
    assert values.parse_time(text, is_sec=True) == seconds


@pytest.mark.parametrize("text", ["500ms", "1s 500ms", "1ms", "2h1d", ""])
def test_sec_time_rejected(text: str) -> None:
    assert values.parse_time(text, is_sec=True) is None


# -- flags and numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "flag"), [("on", True), ("ON", True), ("Off", False), ("off", False)])
def test_flag(text: str, flag: bool) -> None:
    assert values.parse_flag(text) is flag


@pytest.mark.parametrize("text", ["yes", "1", "true", "", "onn"])
def test_flag_rejected(text: str) -> None:
    assert values.parse_flag(text) is None


def test_number() -> None:
    assert values.parse_int("1024") == 1024
    assert values.parse_int("-1") is None
    assert values.parse_int("1k") is None
    assert values.parse_int("") is None


# -- the command line ---------------------------------------------------------------------------


def test_options_combined_and_attached() -> None:
    options = cli.parse_options(["-tq", "-cfile.conf", "-p", "/prefix/", "-g", "daemon off;", "-estderr"])
    assert options.test_config and options.quiet
    assert options.conf_file == "file.conf"
    assert options.prefix == "/prefix/"
    assert options.conf_params == "daemon off;"
    assert options.error_log == "stderr"


def test_option_value_is_next_word_even_if_it_looks_like_an_option() -> None:
    options = cli.parse_options(["-c", "-g"])
    assert options.conf_file == "-g"


def test_dump_implies_test() -> None:
    options = cli.parse_options(["-T"])
    assert options.test_config and options.dump_config


def run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stderr(err):
        status = cli.main(argv)
    return status, err.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-c"], 'nginxpy: option "-c" requires file name'),
        (["-p"], 'nginxpy: option "-p" requires directory name'),
        (["-e"], 'nginxpy: option "-e" requires file name'),
        (["-g"], 'nginxpy: option "-g" requires parameter'),
        (["-s"], 'nginxpy: option "-s" requires parameter'),
        (["-x"], 'nginxpy: invalid option: "x"'),
        (["-t", "-q", "-x"], 'nginxpy: invalid option: "x"'),
        (["-s", "foo"], 'nginxpy: invalid option: "-s foo"'),
        (["-c", "a.conf", "extra"], 'nginxpy: invalid option: "extra"'),
    ],
)
def test_usage_errors(argv: list[str], message: str) -> None:
    assert run(argv) == (1, message + "\n")


def _conf(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "nginx.conf").write_text(text)
    return ["-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf"), "-g", f"pid {tmp_path}/nginx.pid;"]


def test_quiet_success_prints_nothing(tmp_path: Path) -> None:
    status, err = run(["-tq", "-e", "stderr", *_conf(tmp_path, "events {}\n")])
    assert status == 0
    assert "syntax is ok" not in err and "successful" not in err


def test_quiet_keeps_warnings(tmp_path: Path) -> None:
    text = "events {}\nhttp { types { a b; c b; } }\n"
    status, err = run(["-tq", "-e", "stderr", *_conf(tmp_path, text)])
    assert status == 0
    assert "[warn] " in err and 'duplicate extension "b"' in err


def test_success_lines(tmp_path: Path) -> None:
    status, err = run(["-t", "-e", "stderr", *_conf(tmp_path, "events {}\n")])
    conf = tmp_path / "nginx.conf"
    assert status == 0
    assert f"nginxpy: the configuration file {conf} syntax is ok\n" in err
    assert f"nginxpy: configuration file {conf} test is successful\n" in err


def test_failure_with_log_file(tmp_path: Path) -> None:
    """With -e FILE the [emerg] line goes to the file, and to stderr as "nginxpy: [emerg] ..."."""
    status, err = run(["-t", "-e", "error.log", *_conf(tmp_path, "events {}\nfoo;\n")])
    conf = tmp_path / "nginx.conf"
    assert status == 1
    assert err.splitlines() == [
        f'nginxpy: [emerg] unknown directive "foo" in {conf}:2',
        f"nginxpy: configuration file {conf} test failed",
    ]
    assert "[emerg] " in (tmp_path / "error.log").read_text()


def test_syntax_ok_before_a_post_parse_error(tmp_path: Path) -> None:
    """nginx says "syntax is ok" once the files are read, before opening logs and the like."""
    status, err = run(["-t", "-e", "stderr", *_conf(tmp_path, "error_log nodir/e.log;\nevents {}\n")])
    lines = err.splitlines()
    assert status == 1
    assert lines[0].endswith("syntax is ok")
    assert "open()" in lines[1] and lines[2].endswith("test failed")


def test_missing_file(tmp_path: Path) -> None:
    status, err = run(["-t", "-e", "stderr", "-p", f"{tmp_path}/", "-c", "nosuch.conf"])
    assert status == 1
    assert f'open() "{tmp_path}/nosuch.conf" failed (2: No such file or directory)' in err
