"""``-s`` without a running master, next to nginx: same messages, same exit status; and ``-V``
read as nginx-tests' has_module reads it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from proc_harness import REPO, Server

CONF = """
pid {prefix}/logs/nginx.pid;
events { }
http { server { listen 127.0.0.1:1; } }
"""

# ngx_log_error's prefix on stderr: "2026/11/26 14:17:46 [error] 1642#1642: "
_STAMP = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: ", re.M)


def normalise(text: str, prefix: Path) -> str:
    return _STAMP.sub(r"[\1] ", text).replace(str(prefix), "PREFIX")


@pytest.mark.parametrize(
    ("case", "pid_file"),
    [
        ("missing", None),
        ("empty", ""),
        ("garbage", "abc\n"),
        ("stale", "999999\n"),
    ],
)
@pytest.mark.parametrize("signal_name", ["stop", "reload"])
def test_signal_without_a_master_as_nginx(
    tmp_path: Path, case: str, pid_file: str | None, signal_name: str
) -> None:
    results = []
    for kind in ("nginx", "nginxpy"):
        server = Server(tmp_path / kind, CONF, kind)
        if pid_file is not None:
            server.pid_path.write_text(pid_file)
        done = server.run("-s", signal_name)
        results.append((done.returncode, done.stdout, normalise(done.stderr, server.prefix)))
    assert results[0] == results[1]
    assert results[0][0] == 1


def test_signal_with_a_broken_configuration_as_nginx(tmp_path: Path) -> None:
    results = []
    for kind in ("nginx", "nginxpy"):
        server = Server(tmp_path / kind, CONF + "bogus;\n", kind)
        done = server.run("-s", "quit")
        results.append((done.returncode, normalise(done.stderr, server.prefix)))
    assert results[0] == results[1]
    assert results[0][0] == 1


# nginx-tests' lib/Test/Nginx.pm has_module: a regex per feature, matched against `nginx -V 2>&1`.
HAS_MODULE = {
    "sni": "TLS SNI support enabled",
    "mail": r"--with-mail((?!\S)|=dynamic)",
    "stream": r"--with-stream((?!\S)|=dynamic)",
    "http_v2": "--with-http_v2_module",
    "ssl": "--with-http_ssl_module",
    "rewrite": r"(?s)^(?!.*--without-http_rewrite_module)",
    "proxy": r"(?s)^(?!.*--without-http_proxy_module)",
    "map": r"(?s)^(?!.*--without-http_map_module)",
    "access": r"(?s)^(?!.*--without-http_access_module)",
    "autoindex": r"(?s)^(?!.*--without-http_autoindex_module)",
    "gzip": r"(?s)^(?!.*--without-http_gzip_module)",
    "charset": r"(?s)^(?!.*--without-http_charset_module)",
    "auth_basic": r"(?s)^(?!.*--without-http_auth_basic_module)",
    "limit_req": r"(?s)^(?!.*--without-http_limit_req_module)",
    "fastcgi": r"(?s)^(?!.*--without-http_fastcgi_module)",
    "upstream_keepalive": r"(?s)^(?!.*--without-http_upstream_keepalive_module)",
}
# What nginxpy implements (versions.IMPLEMENTED_MODULES and the default modules it has).
EXPECTED = {
    "sni": True,
    "ssl": True,
    "rewrite": True,
    "proxy": True,
    "map": True,
    "access": True,
    "autoindex": True,
    "mail": False,
    "stream": False,
    "http_v2": False,
    "gzip": False,
    "charset": False,
    "auth_basic": False,
    "limit_req": False,
    "fastcgi": False,
    "upstream_keepalive": False,
}


def test_dash_v_read_by_has_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nginxpy", "-V"], cwd=REPO, capture_output=True, text=True, check=True
    )
    output = done.stdout + done.stderr  # `nginx -V 2>&1`
    assert output.startswith("nginx version: nginx/1.22.1")
    got = {feature: bool(re.search(regex, output)) for feature, regex in HAS_MODULE.items()}
    assert got == EXPECTED
