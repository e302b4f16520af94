"""``nginxpy -t`` against ``nginx -t`` (Debian's nginx 1.22.1) on the corpus in tests/configs/check/.

Each case is a directory with an ``nginx.conf`` (and the files it includes).  Both
programs check a fresh copy of it with the same command line; they must agree on the
exit status, and then on the first ``[emerg]`` message (text, file and line) when the
check fails, or on the list of ``[warn]`` messages when it succeeds.

A case names what the test must make before the check in optional files:
``certs.txt``: lines ``CERT KEY`` (paths in the case): a certificate and its key,
issued by a throw-away CA (trustme); ``CA CERT`` lines add the CA itself;
``ENCRYPTED CERT KEY PASSWORD`` lines write the key encrypted with PASSWORD;
``dirs.txt``: directories to create.  A case that loads the stream module is skipped
when the module is not installed.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from functools import cache
from pathlib import Path

import pytest

from nginxpy import cli

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
CASES_DIR = Path(__file__).resolve().parents[1] / "configs" / "check"
CASES = sorted(path.name for path in CASES_DIR.iterdir() if (path / "nginx.conf").is_file())
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"

pytestmark = pytest.mark.skipif(NGINX is None, reason="no nginx binary to use as the oracle")

# "2026/11/26 13:52:46 [emerg] 123#123: text" (error log on stderr) or
# "nginx: [emerg] text" (stderr next to an error log file).
_LOG_LINE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: (.*)$")
_STDERR_LINE = re.compile(r"^(?:nginx|nginxpy): \[(\w+)\] (.*)$")


def messages(stderr: str) -> list[tuple[str, str]]:
    """(level, text) of each [emerg] and [warn] line, program prefix and timestamps removed."""
    found = []
    for line in stderr.splitlines():
        match = _LOG_LINE.match(line) or _STDERR_LINE.match(line)
        if match and match.group(1) in ("emerg", "warn"):
            found.append((match.group(1), match.group(2)))
    return found


@cache
def _ca() -> object:
    import trustme

    return trustme.CA()


def encrypt_key(path: Path, password: bytes) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
    )


def prepare(case: str, where: Path) -> Path:
    """A fresh copy of the case with the files it asks for."""
    if where.exists():
        shutil.rmtree(where)
    shutil.copytree(CASES_DIR / case, where, symlinks=True)
    certs = where / "certs.txt"
    if certs.exists():
        ca = _ca()
        for line in certs.read_text().splitlines():
            words = line.split()
            if not words:
                continue
            if words[0] == "CA":
                (where / words[1]).parent.mkdir(parents=True, exist_ok=True)
                ca.cert_pem.write_to_path(str(where / words[1]))  # type: ignore[attr-defined]
                continue
            password = words.pop() if words[0] == "ENCRYPTED" else None
            cert, key = words[-2:]
            issued = ca.issue_cert("localhost", "example.com")  # type: ignore[attr-defined]
            (where / cert).parent.mkdir(parents=True, exist_ok=True)
            (where / key).parent.mkdir(parents=True, exist_ok=True)
            issued.cert_chain_pems[0].write_to_path(str(where / cert))
            issued.private_key_pem.write_to_path(str(where / key))
            if password is not None:
                encrypt_key(where / key, password.encode())
    dirs = where / "dirs.txt"
    if dirs.exists():
        for line in dirs.read_text().splitlines():
            if line.strip():
                (where / line.strip()).mkdir(parents=True, exist_ok=True)
    return where


def command(where: Path) -> list[str]:
    conf = where / "nginx.conf"
    args = ["-t", "-p", f"{where}/", "-c", str(conf), "-e", "stderr"]
    if not re.search(r"^\s*pid\s", conf.read_text(errors="replace"), re.M):
        args += ["-g", f"pid {where}/nginx.pid;"]
    return args


def run_nginx(where: Path) -> tuple[int, str]:
    assert NGINX is not None
    # No terminal: OpenSSL would ask it for the password of an encrypted key.
    done = subprocess.run(
        [NGINX, *command(where)],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
        errors="replace",
        timeout=30,
        cwd=where,
    )
    return done.returncode, done.stderr


def run_nginxpy(where: Path) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(where)
    try:
        with redirect_stderr(err), redirect_stdout(out):
            status = cli.main(command(where))
    finally:
        os.chdir(cwd)
    return status, err.getvalue()


def verdict(status: int, stderr: str) -> tuple[int, object]:
    found = messages(stderr)
    if status != 0:
        emergs = [text for level, text in found if level == "emerg"]
        return status, emergs[:1]
    return status, [text for level, text in found if level == "warn"]


@pytest.mark.parametrize("case", CASES)
def test_case(case: str, tmp_path: Path) -> None:
    text = (CASES_DIR / case / "nginx.conf").read_text(errors="replace")
    if "ngx_stream_module.so" in text and not os.path.exists(STREAM_MODULE):
        pytest.skip("the stream module (libnginx-mod-stream) is not installed")
    where = tmp_path / "case"
    expected = verdict(*run_nginx(prepare(case, where)))
    actual = verdict(*run_nginxpy(prepare(case, where)))
    assert actual == expected
    # The corpus says which way each case goes: its name starts with ok_ or bad_.
    assert (expected[0] == 0) == case.startswith("ok_"), f"nginx said {expected}"


@pytest.mark.parametrize("case", ["ok_debian_stock", "bad_unknown_directive"])
def test_case_subprocess(case: str, tmp_path: Path) -> None:
    """The installed command line, as a user runs it, for a passing and a failing case."""
    where = prepare(case, tmp_path / "case")
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "nginxpy", *command(where)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=where,
        env=env,
    )
    assert verdict(done.returncode, done.stderr) == verdict(*run_nginx(prepare(case, where)))
    assert any(line.startswith("nginxpy: configuration file ") for line in done.stderr.splitlines())


def test_corpus_size() -> None:
    ok = [case for case in CASES if case.startswith("ok_")]
    bad = [case for case in CASES if case.startswith("bad_")]
    assert len(ok) + len(bad) == len(CASES)
    assert len(CASES) >= 150 and len(bad) >= 80
