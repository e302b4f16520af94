"""An -e file that cannot be opened: nginx says so ([alert]), logs to stderr instead, and
carries on; nginx -t then fails if that file is the log (no error_log at the main level)."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from nginxpy import cli

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)

WITH_LOG = "error_log stderr;\nevents {}\n"
WITHOUT_LOG = "events {}\n"
BROKEN = "events {}\nbogus;\n"


def _case(tmp_path: Path, text: str, where: str) -> tuple[list[str], str]:
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    (tmp_path / "regular").write_text("")
    log = {"missing": "/nonexistent/dir/error.log", "under_a_file": str(tmp_path / "regular" / "error.log")}[
        where
    ]
    args = ["-p", f"{tmp_path}/", "-c", str(conf), "-g", f"pid {tmp_path}/nginx.pid;", "-e", log]
    return args, log


def _normal(text: str) -> list[str]:
    """Lines with the program name, time and pid taken out."""
    text = re.sub(r"^nginx(?:py)?: ", "PROGRAM: ", text, flags=re.M)
    text = re.sub(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: ", r"[\1] ", text, flags=re.M)
    return [line for line in text.splitlines() if "recognised but not acted on" not in line]


@pytest.mark.parametrize("where", ["missing", "under_a_file"])
def test_alert_then_carry_on(tmp_path: Path, where: str) -> None:
    args, log = _case(tmp_path, WITH_LOG, where)
    err = io.StringIO()
    with redirect_stderr(err):
        status = cli.main(["-t", *args])
    errno = {"missing": "2: No such file or directory", "under_a_file": "20: Not a directory"}[where]
    conf = tmp_path / "nginx.conf"
    assert status == 0
    assert err.getvalue().splitlines() == [
        f'nginxpy: [alert] could not open error log file: open() "{log}" failed ({errno})',
        f"nginxpy: the configuration file {conf} syntax is ok",
        f"nginxpy: configuration file {conf} test is successful",
    ]


@pytest.mark.skipif(NGINX is None, reason="no nginx binary to use as the oracle")
@pytest.mark.parametrize("where", ["missing", "under_a_file"])
@pytest.mark.parametrize(
    ("text", "flags"),
    [
        (WITH_LOG, ["-t"]),
        (WITHOUT_LOG, ["-t"]),
        (WITHOUT_LOG, ["-t", "-q"]),
        (WITHOUT_LOG, []),
        (BROKEN, ["-t"]),
        (BROKEN, []),
    ],
)
def test_as_nginx(tmp_path: Path, where: str, text: str, flags: list[str]) -> None:
    args, _ = _case(tmp_path, text, where)
    assert NGINX is not None
    nginx = subprocess.run([NGINX, *flags, *args], capture_output=True, text=True, timeout=30)
    ours = subprocess.run(
        [sys.executable, "-m", "nginxpy", *flags, *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert ours.returncode == nginx.returncode
    assert _normal(ours.stderr) == _normal(nginx.stderr)
    assert "Traceback" not in ours.stderr
