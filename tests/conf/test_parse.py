"""The tokenizer rules of nginx's ngx_conf_read_token (src/core/ngx_conf_file.c, 1.22.1),
as nginxpy.conf.parse applies them; some cases checked against nginx itself."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nginxpy.conf.ast import Comment, ConfFile, Directive, Node
from nginxpy.conf.dump import file_errors
from nginxpy.conf.parse import decode, parse_file, parse_text


def ok(text: str) -> ConfFile:
    conf = parse_text(text, "t.conf")
    assert conf.error is None, conf.error
    return conf


def first(text: str) -> Directive:
    return ok(text).directives()[0]


def values(text: str) -> list[str]:
    node = first(text)
    return [node.name, *node.values]


def error(text: str) -> tuple[str, int]:
    conf = parse_text(text, "t.conf")
    _, errors = file_errors(conf)
    assert errors, "no error"
    return errors[0].message, errors[0].line


def kinds(nodes: list[Node]) -> list[str]:
    return [f"#{n.text}" if isinstance(n, Comment) else n.name for n in nodes]


# words


def test_words_and_whitespace() -> None:
    assert values("a b\tc\r\nd\n;") == ["a", "b", "c", "d"]
    # only space, tab, CR and LF separate words: a form feed or a no-break space does not
    assert values("a b\fc d\u00a0e;") == ["a", "b\fc", "d\u00a0e"]


def test_sharp_inside_a_word() -> None:
    conf = ok("a b#c #d\n;")
    assert conf.directives()[0].values == ["b#c"]
    assert [c.text for c in conf.statements if isinstance(c, Comment)] == ["d"]


def test_brace_inside_a_word() -> None:
    assert values("a b};") == ["a", "b}"]
    assert values("a}b c;") == ["a}b", "c"]
    # "{" ends a word and opens a block
    node = first("a b{ c; }")
    assert node.values == ["b"] and kinds(node.block or []) == ["c"]


def test_variables_keep_their_braces() -> None:
    assert values("a ${var}x ${{x}} $${y};") == ["a", "${var}x", "${{x}}", "$${y}"]
    # only braces right after "$" are kept: "$a{" opens a block
    node = first("a $a{b;}")
    assert node.values == ["$a"] and kinds(node.block or []) == ["b"]
    node = first("a x${y} {z;}")
    assert node.values == ["x${y}"] and kinds(node.block or []) == ["z"]
    # an escaped "$" is no variable: its "{" opens a block
    node = first("a \\${ b; }")
    assert node.values == ["\\$"] and kinds(node.block or []) == ["b"]


def test_backslash_escapes() -> None:
    assert values(r"a \" \' \\ \t \n \r \x \; \{ \ b;") == [
        "a",
        '"',
        "'",
        "\\",
        "\t",
        "\n",
        "\r",
        "\\x",
        "\\;",
        "\\{",
        "\\ b",
    ]
    assert values(r'a "\"q\"" ' + r"'\'q\'' " + r'"\\n" "\q";') == ["a", '"q"', "'q'", "\\n", "\\q"]
    # the escaped character is read as a plain one: "\#" starts no comment
    assert values("a \\#b;") == ["a", "\\#b"]


def test_quoted_strings() -> None:
    node = first('a "x y" \'p;q\' "{}" \'\' "it\'s" \'say "hi"\';')
    assert node.values == ["x y", "p;q", "{}", "", "it's", 'say "hi"']
    assert [arg.quote for arg in node.args] == ['"', "'", '"', "'", '"', "'"]
    # a quote inside a word is a plain character
    assert values("a b\"c'd;") == ["a", "b\"c'd"]
    # a quoted name
    node = first("'server name' x;")
    assert (node.name, node.name_quote) == ("server name", "'")


def test_quoted_string_across_lines() -> None:
    conf = ok('a "one\ntwo\nthree";\nb;')
    a, b = conf.directives()
    assert a.values == ["one\ntwo\nthree"]
    assert (a.line, a.end_line, b.line) == (1, 3, 4)


def test_after_a_quote() -> None:
    # whitespace, ";", "{" and ")" may follow a closing quote; ")" starts the next word
    assert values('a "x")y;') == ["a", "x", ")y"]
    assert values('a "x";') == ["a", "x"]
    assert first('a "x"{}').block == []
    # anything else is nginx's "unexpected X"
    assert error('a "x"b;') == ('unexpected "b"', 1)
    assert error("a 'x'\"y\";") == ('unexpected """', 1)
    assert error('a\n"x"};') == ('unexpected "}"', 2)
    assert error('a "x"#c\n;') == ('unexpected "#"', 1)
    # the tree keeps the word with what followed it, for the checker to report in order
    arg = parse_text('a "x"b;').directives()[0].args[0]
    assert (arg.value, arg.quote, arg.bad_follow, arg.bad_line) == ("x", '"', "b", 1)


def test_utf8() -> None:
    assert values('server_name ÿ.example 日本.jp "héllo wörld";') == [
        "server_name",
        "ÿ.example",
        "日本.jp",
        "héllo wörld",
    ]
    # bytes that are no UTF-8 survive as surrogates
    text = decode(b"a \xff\xfe;")
    assert values(text) == ["a", "\udcff\udcfe"]


def test_crlf() -> None:
    conf = ok("a b;\r\n# note\r\nc {\r\n  d 'e\r\nf';\r\n}\r\n")
    _a, comment, c = conf.statements
    assert isinstance(comment, Comment) and comment.text == " note" and comment.line == 2
    assert isinstance(c, Directive) and (c.line, c.end_line) == (3, 3)
    d = c.directives()[0]
    assert d.values == ["e\r\nf"] and (d.line, d.end_line) == (4, 5)


# lines


def test_directive_lines() -> None:
    conf = ok("a\n b\n ;\nc {\n}\nd\n{\n e; }\n")
    a, c, d = conf.directives()
    # line: where the name starts; end_line: where nginx read the terminator
    assert (a.line, a.end_line) == (1, 3)
    assert (c.line, c.end_line) == (4, 4)
    assert (d.line, d.end_line) == (6, 7)
    assert d.directives()[0].line == 8
    assert a.where == "t.conf:3"


# comments


def test_comment_placement() -> None:
    conf = ok("# head\na; # trailing\nb # in args\n c;\nd { # opening\n e;\n # closing\n}\n# tail")
    assert kinds(conf.statements) == ["# head", "a", "# trailing", "b", "# in args", "d", "# tail"]
    d = conf.directives()[2]
    assert kinds(d.block or []) == ["# opening", "e", "# closing"]
    lines = [n.line for n in conf.statements if isinstance(n, Comment)]
    assert lines == [1, 2, 3, 9]


def test_comment_only_and_empty() -> None:
    assert ok("").statements == []
    assert kinds(ok("#a\n\n   #b").statements) == ["#a", "#b"]


# Lua


def test_lua_blocks() -> None:
    node = first("content_by_lua_block {\n  local t = {a = \"}\"} -- }\n  ngx.say('{')\n}\nnext;")
    assert node.raw_block == "\n  local t = {a = \"}\"} -- }\n  ngx.say('{')\n"
    assert node.block is None and node.args == ()
    assert (node.line, node.end_line) == (1, 1)
    conf = ok("location / { access_by_lua_block { ngx.exit(403) } }\nx;")
    assert kinds(conf.statements) == ["location", "x"]
    assert conf.directives()[0].directives()[0].raw_block == " ngx.exit(403) "
    # only a statement's name is a Lua block name
    assert values("set content_by_lua_block {a;}") == ["set", "content_by_lua_block"]


# syntax errors


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("a;\n}", 'unexpected "}"', 2),
        ("a { b; }\n}\nc;", 'unexpected "}"', 2),
        ("a b }", 'unexpected "}"', 1),
        ("a;\n;", 'unexpected ";"', 2),
        ("{", 'unexpected "{"', 1),
        ("a", 'unexpected end of file, expecting ";" or "}"', 1),
        ("a b}\n", 'unexpected end of file, expecting ";" or "}"', 2),
        ("a {\n b", 'unexpected end of file, expecting ";" or "}"', 2),
        ('a "unterminated;\n', 'unexpected end of file, expecting ";" or "}"', 2),
        ("a {\n", 'unexpected end of file, expecting "}"', 2),
        ("a {\n b { c; }", 'unexpected end of file, expecting "}"', 2),
        ("a {\r\n b;\r\n", 'unexpected end of file, expecting "}"', 3),
        ("a { # c }", 'unexpected end of file, expecting "}"', 1),
    ],
)
def test_syntax_errors(text: str, message: str, line: int) -> None:
    conf = parse_text(text, "t.conf")
    assert conf.error is not None
    assert (conf.error.message, conf.error.line, conf.error.file) == (message, line, "t.conf")


def test_tree_before_the_error() -> None:
    conf = parse_text("a;\nb {\n c;\n d {\n  e;\n  f g", "t.conf")
    assert conf.error is not None
    assert kinds(conf.statements) == ["a", "b"]
    b = conf.directives()[1]
    assert not b.closed and kinds(b.block or []) == ["c", "d"]
    d = b.directives()[1]
    assert not d.closed and kinds(d.block or []) == ["e"]
    conf = parse_text("a; b { c; } }\nd;")
    assert kinds(conf.statements) == ["a", "b"] and conf.directives()[1].closed


def test_too_long_quoted_parameter() -> None:
    conf = parse_text('a;\nb "' + "x" * 5000)
    assert conf.error is not None
    assert conf.error.message == 'too long parameter, probably missing terminating """ character'
    assert conf.error.line == 2


def test_parse_file(tmp_path: Path) -> None:
    path = tmp_path / "x.conf"
    path.write_bytes(b"a \xe6\x97\xa5;\n")
    conf = parse_file(str(path))
    assert conf.path == str(path) and conf.text == "a 日;\n"
    assert conf.directives()[0].values == ["日"]


# nginx itself as the oracle

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
_EMERG = re.compile(r"\[emerg\] \d+#\d+: (.*?) in (/\S+):(\d+)\n", re.S)


def nginx_says(tmp_path: Path, body: bytes) -> tuple[str, int] | None:
    """nginx -t's first error on a config made of a header (pid, events) and body."""
    header = f"pid {tmp_path}/nginx.pid;\nevents {{ worker_connections 16; }}\n".encode()
    conf = tmp_path / "nginx.conf"
    conf.write_bytes(header + body)
    assert NGINX is not None
    run = subprocess.run(
        [NGINX, "-t", "-q", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"],
        capture_output=True,
        timeout=30,
    )
    if run.returncode == 0:
        return None
    found = _EMERG.search(decode(run.stderr))
    assert found, run.stderr
    return found.group(1), int(found.group(3)) - 2


def ours(body: bytes) -> tuple[str, int] | None:
    conf = parse_text(decode(body), "nginx.conf")
    _, errors = file_errors(conf)
    return (errors[0].message, errors[0].line) if errors else None


@needs_nginx
@pytest.mark.parametrize(
    "body",
    [
        b"}\n",
        b"worker_processes 1;\n\n}",
        b"worker_processes 1 }",
        b";",
        b"worker_processes 1;\n{",
        b"worker_processes 1",
        b"worker_processes 1}\n\n",
        b"worker_processes\n 1",
        b"http {\n",
        b"http {\n  server {\n",
        b"http { # }\n",
        b"http {\r\n  default_type x;\r\n",
        b'worker_processes "1',
        b'worker_processes "1\n\n',
        b'worker_processes "1"2;',
        b"worker_processes '1'\"2\";",
        b'http {\n  default_type\n "a"};',
        b'http { default_type "a"#c\n; }',
        b'worker_processes "' + b"x" * 5000,
    ],
)
def test_syntax_errors_like_nginx(tmp_path: Path, body: bytes) -> None:
    expected = nginx_says(tmp_path, body)
    assert expected is not None
    assert ours(body) == expected


@needs_nginx
@pytest.mark.parametrize(
    ("body", "name"),
    [
        (b"${{x}} a;", "${{x}}"),
        (b"a} b;", "a}"),
        (b"a#b;", "a#b"),
        (b'a\\"b;', 'a"b'),
        (b"a\\\\b;", "a\\b"),
        (b"a\\xb;", "a\\xb"),
        (b'"a b" c;', "a b"),
        (b"'it\\'s' c;", "it's"),
        (b"\xe6\x97\xa5\xe6\x9c\xac\n\n;", "日本"),
        (b'"multi\nline"\n;', "multi\nline"),
        (b"x\r\n\r\n;", "x"),
        (b'"x")y;', "x"),
    ],
)
def test_words_like_nginx(tmp_path: Path, body: bytes, name: str) -> None:
    """nginx names an unknown directive as it read it, at the line of its terminator."""
    message, line = nginx_says(tmp_path, body) or ("", 0)
    assert message == f'unknown directive "{name}"'
    node = parse_text(decode(body)).directives()[0]
    assert (node.name, node.end_line) == (name, line)
