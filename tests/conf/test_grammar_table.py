"""The parser's LALR tables (nginxpy/conf/grammar_table.json) are Lark's for grammar/nginx.lark."""

from __future__ import annotations

from pathlib import Path

import pytest

from nginxpy.conf import parse
from nginxpy.conf.lalr import from_grammar, from_json, to_json

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "nginxpy" / "conf" / "grammar_table.json"


def test_table_is_made_from_the_grammar_file() -> None:
    grammar = (ROOT / "grammar" / "nginx.lark").read_text(encoding="utf-8")
    table, made_from = from_json(TABLE.read_text(encoding="utf-8"))
    assert made_from == grammar, "grammar changed: run tools/gen_grammar_table.py"
    assert table == from_grammar(grammar)
    assert TABLE.read_text(encoding="utf-8") == to_json(table, grammar)


def test_an_edited_grammar_is_analysed_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    grammar = (ROOT / "grammar" / "nginx.lark").read_text(encoding="utf-8")
    edited = grammar + "\n// edited\n"
    monkeypatch.setattr(parse, "_grammar_text", lambda: edited)
    table = parse._table()
    assert table == from_grammar(grammar)  # a comment changes no table
    fresh = parse._Parser()
    conf = fresh.parse("a b;\nc { d 'e f'; } # g\n", "x.conf")
    assert conf.error is None
    assert [(n.name, n.values) for n in conf.directives()] == [("a", ["b"]), ("c", [])]


def test_nginxpy_t_does_not_load_lark(tmp_path: Path) -> None:
    """Nor the HTTP runtime, nor OpenSSL's bindings: -t reads and checks, and stays small."""
    import subprocess
    import sys

    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "events {}\nhttp { server { listen 127.0.0.1:8080; location / { proxy_pass http://127.0.0.1:9; } } }\n"
    )
    argv = ["-t", "-q", "-p", f"{tmp_path}/", "-c", str(conf), "-e", "stderr", "-g", f"pid {tmp_path}/n.pid;"]
    code = (
        f"import sys; from nginxpy import cli; status = cli.main({argv!r}); "
        "print(status, sorted(m for m in ('lark', 'ssl', 'nginxpy.http.server', 'trio') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "0 []", out.stderr
