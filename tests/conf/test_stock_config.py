"""The drop-in promise on this machine's own /etc/nginx: `nginxpy -t` with no -p agrees with `nginx -t`.

Without -p both use Debian's compiled-in prefix (/usr/share/nginx/), where the stock
`load_module modules/ngx_stream_module.so` (modules-enabled) resolves.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nginxpy import versions
from nginxpy.cli import parse_options, resolve_paths

ROOT = Path(__file__).resolve().parents[2]
STOCK = "/etc/nginx/nginx.conf"


def _messages(text: str) -> list[str]:
    """[level] message lines, without time and pid, program name masked."""
    lines = []
    for line in text.splitlines():
        line = re.sub(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: ", r"\1 ", line)
        line = re.sub(r"^(nginx|nginxpy): ", "PROGRAM: ", line)
        if "[notice]" not in line:
            lines.append(line)
    return lines


@pytest.mark.skipif(shutil.which("nginx") is None or not os.path.exists(STOCK), reason="no Debian nginx here")
def test_stock_config_as_nginx() -> None:
    nginx = subprocess.run(["nginx", "-t", "-c", STOCK], capture_output=True, text=True, timeout=30)
    ours = subprocess.run(
        [sys.executable, "-m", "nginxpy", "-t", "-c", STOCK],
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert ours.returncode == nginx.returncode
    assert _messages(ours.stderr) == _messages(nginx.stderr)


def test_default_prefix_is_nginxs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix, conf = resolve_paths(parse_options(["-c", "/abs/nginx.conf"]))
    assert (prefix, conf) == (versions.DEFAULT_PREFIX, "/abs/nginx.conf")
    prefix, conf = resolve_paths(parse_options(["-p", str(tmp_path), "-c", "n.conf"]))
    assert (prefix, conf) == (f"{tmp_path}/", f"{tmp_path}/n.conf")


def test_relative_conf_found_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "nginx.conf").write_text("events {}\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_paths(parse_options(["-c", "examples/nginx.conf"])) == (
        versions.DEFAULT_PREFIX,
        "examples/nginx.conf",
    )
    # a name that exists nowhere resolves as nginx's (and fails to open there, as nginx)
    assert resolve_paths(parse_options(["-c", "nope.conf"]))[1] == versions.DEFAULT_PREFIX + "nope.conf"
