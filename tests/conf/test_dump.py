"""nginxpy.conf.dump: writing the tree back as nginx syntax, and crossplane's JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import crossplane
import pytest

from nginxpy.conf.ast import Comment, ConfFile, Directive, Node
from nginxpy.conf.dump import (
    include_key,
    parse_tree_to_crossplane,
    quote_word,
    to_crossplane,
    write,
)
from nginxpy.conf.parse import parse_text


def shape(nodes: list[Node]) -> list[Any]:
    """What a round trip must keep: names, values, blocks, raw blocks, comments (not lines)."""
    out: list[Any] = []
    for node in nodes:
        if isinstance(node, Comment):
            out.append(("#", node.text))
        else:
            block = None if node.block is None else shape(node.block)
            out.append((node.name, node.values, block, node.raw_block))
    return out


def roundtrip(text: str) -> tuple[ConfFile, ConfFile, str]:
    first = parse_text(text)
    assert first.error is None, first.error
    written = write(first.statements)
    second = parse_text(written)
    assert second.error is None, (second.error, written)
    assert shape(second.statements) == shape(first.statements), written
    return first, second, written


# write


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("", '""'),
        ("a b", '"a b"'),
        ("a;b", '"a;b"'),
        ("a{b", '"a{b"'),
        ("${host}", "${host}"),  # nginx keeps the brace after "$" inside a word
        ("$host{", '"$host{"'),
        ("a}", "a}"),  # "}" ends nothing inside a word
        ("}", '"}"'),
        ("#x", '"#x"'),
        ("a#x", "a#x"),  # "#" only starts a comment where a word could start
        ('"q', "'\"q'"),
        ("'q", '"\'q"'),
        ("a\"b'c", "a\"b'c"),  # quotes inside a word are plain characters
        ("~ \\.php$", '"~ \\.php$"'),  # a backslash nginx keeps stays single
        ("\\.php$", "\\.php$"),
        ("a\\", "a\\\\"),  # ...but not at the end, where it would escape the terminator
        ("a\\n", "a\\\\n"),  # ...nor before a letter nginx would turn into a control
        ("tab\there", '"tab\there"'),
        ("line\nbreak", '"line\nbreak"'),
        ("héllo wörld", '"héllo wörld"'),
        ("日本", "日本"),
    ],
)
def test_quote_word(value: str, expected: str) -> None:
    assert quote_word(value) == expected
    conf = parse_text(f"x {expected};")
    assert conf.error is None
    assert conf.directives()[0].values == [value]


def test_quote_style_is_kept() -> None:
    _, _, written = roundtrip('a \'single\' "double" \'it\\\'s\' "say \\"hi\\"" bare;\n')
    assert written == 'a \'single\' "double" \'it\\\'s\' "say \\"hi\\"" bare;\n'


def test_write_layout() -> None:
    text = (
        "# top\n"
        "user  nginx;   # who\n"
        "\n\n"
        "http {  # main\n"
        "  server {\n"
        "      listen 80;\n"
        "\n"
        "      location ~ \\.php$ { fastcgi_pass 127.0.0.1:9000; }\n"
        "  }\n"
        "}\n"
        "'quoted name' x;\n"
    )
    _, _, written = roundtrip(text)
    assert written == (
        "# top\n"
        "user nginx; # who\n"
        "\n"
        "http { # main\n"
        "    server {\n"
        "        listen 80;\n"
        "\n"
        "        location ~ \\.php$ {\n"
        "            fastcgi_pass 127.0.0.1:9000;\n"
        "        }\n"
        "    }\n"
        "}\n"
        "'quoted name' x;\n"
    )
    assert write(parse_text("a { b; }").statements, indent=2) == "a {\n  b;\n}\n"


def test_roundtrip_awkward_configs() -> None:
    roundtrip(
        "a \"multi\nline\" 'x';\n"
        "b \\\"q \\' $x${y}${{z}} a}b \"\" '' a#b \\;;\n"
        "c\r\n  d\r\n;\r\n#crlf comment\r\n"
        "e { # inside\n f; } # after\n"
        'map $a $b { default ""; ~^(?<x>.+)$ "$x"; }\n'
        'if ($http_user_agent ~* "MSIE [6-8]\\.") { return 403; }\n'
        "ünïcødé 日本語 'é\\'';\n"
        "g # between\n h # and\n ;\n"
        'escape "a\\\\" b\\\\ "\\t\\n\\r" \\x "\\q";\n'
    )


def test_lua_blocks_verbatim() -> None:
    text = (
        "location / {\n"
        "    content_by_lua_block {\n"
        '        local s = "}" -- a } in a comment\n'
        "        if x then ngx.say('{') end\n"
        "    }\n"
        "}\n"
    )
    first, _, written = roundtrip(text)
    assert written == text
    inner = first.directives()[0].directives()[0]
    assert inner.raw_block is not None and "ngx.say('{')" in inner.raw_block
    # a directive that only looks like one stays a normal directive
    roundtrip('"content_by_lua_block" x;\n"init_by_lua_block" { y; }\n')


def test_bad_quote_is_kept() -> None:
    """`"a"b` is nginx's error "unexpected b": the writer keeps it (the checker reports it)."""
    conf = parse_text('x "a"b c;')
    written = write(conf.statements)
    assert written == 'x "a"b c;\n'
    again = parse_text(written).directives()[0]
    assert [(a.value, a.bad_follow) for a in again.args] == [("a", "b"), ("c", None)]


def test_write_empty() -> None:
    assert write([]) == ""


# crossplane JSON


def crossplane_parse(path: Path) -> dict[str, Any]:
    payload: dict[str, Any] = crossplane.parse(str(path), comments=True, check_ctx=False, check_args=False)
    return payload


def nginxpy_parse(path: Path) -> dict[str, Any]:
    # through JSON, as `nginxpy -T --json` prints it
    payload: dict[str, Any] = json.loads(json.dumps(parse_tree_to_crossplane(str(path))))
    return payload


SAME_AS_CROSSPLANE = {
    "main": (
        "user nginx;  # the user\n"
        "worker_processes auto;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    include mime.types;\n"
        "    include conf.d/*.conf;\n"
        "    log_format main '$remote_addr - $remote_user [$time_local] \"$request\"';\n"
        "    map $http_upgrade $connection_upgrade {\n"
        "        default upgrade;\n"
        "        ''      close;\n"
        "    }\n"
        "    upstream app { server 127.0.0.1:8000 weight=5; keepalive 16; }\n"
        "    server {\n"
        "        listen 80 default_server;\n"
        '        server_name "example.com" www.example.com;\n'
        "        # comment in a block\n"
        "        location ~* \\.(gif|jpg)$ { expires 30d; }\n"
        '        if ($request_method = "POST") { return 405; }\n'
        "        if ( $x ) { return 404; }\n"
        "        location /lua {\n"
        "            content_by_lua_block {\n"
        '                ngx.say("hello {")\n'
        "            }\n"
        "        }\n"
        "        location / { proxy_pass http://app; proxy_set_header Host $host; }\n"
        "    }\n"
        "}\n"
    ),
    "crlf": "user nginx;\r\n# comment\r\nhttp {\r\n  server_name 'a b'\r\n    c;\r\n}\r\n",
    "utf8": '# ünïcødé\nserver_name ÿ.example 日本.jp;\nreturn 200 "héllo wörld";\n',
    "unbalanced": "http {\n  server { listen 80; }\n  }\n}\n",
}


@pytest.mark.parametrize("name", sorted(SAME_AS_CROSSPLANE))
def test_same_json_as_crossplane(tmp_path: Path, name: str) -> None:
    (tmp_path / "nginx.conf").write_bytes(SAME_AS_CROSSPLANE[name].encode())
    (tmp_path / "mime.types").write_text("types { text/html html; }\n")
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "b.conf").write_text("server { listen 8081; }\n")
    (tmp_path / "conf.d" / "a.conf").write_text("server { listen 8080; include mime.types; }\n")
    ours = nginxpy_parse(tmp_path / "nginx.conf")
    theirs = crossplane_parse(tmp_path / "nginx.conf")
    if name == "unbalanced":
        # Difference: crossplane drops a file's whole tree on a syntax error; nginx (and
        # nginxpy) act on the statements read before it.
        assert theirs["config"][0]["parsed"] == []
        assert ours["config"][0]["parsed"][0]["directive"] == "http"
        ours["config"][0]["parsed"] = []
    assert ours == theirs


def test_includes_layout(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text(
        "include a.conf;\nhttp { include sub/*.conf; include sub/none*.conf; include a.conf; }\n"
    )
    (tmp_path / "a.conf").write_text("a;\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "2.conf").write_text("two;\n")
    (tmp_path / "sub" / "1.conf").write_text("one; include a.conf;\n")
    payload = parse_tree_to_crossplane(str(tmp_path / "nginx.conf"))
    assert payload == crossplane_parse(tmp_path / "nginx.conf")
    assert [Path(c["file"]).name for c in payload["config"]] == ["nginx.conf", "a.conf", "1.conf", "2.conf"]
    http = payload["config"][0]["parsed"][1]
    assert [stmt.get("includes") for stmt in http["block"]] == [[2, 3], [], [1]]
    # relative to the main file's directory (nginx's conf prefix with -c), not to the includer
    assert payload["config"][2]["parsed"][1]["includes"] == [1]


def test_include_map_from_a_caller() -> None:
    main = parse_text("include x.conf; http { include y.conf; }", "/etc/nginx/nginx.conf")
    first, http = main.directives()
    inner = http.directives()[0]
    x = parse_text("x;", "/etc/nginx/x.conf")
    payload = to_crossplane([main, x], {include_key(first): [1], include_key(inner): []}, comments=False)
    assert payload["config"][0]["parsed"] == [
        {"directive": "include", "line": 1, "args": ["x.conf"], "includes": [1]},
        {
            "directive": "http",
            "line": 1,
            "args": [],
            "block": [{"directive": "include", "line": 1, "args": ["y.conf"], "includes": []}],
        },
    ]
    assert payload["status"] == "ok"


def test_missing_include(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text("events {}\ninclude nothere.conf;\n")
    payload = parse_tree_to_crossplane(str(tmp_path / "nginx.conf"))
    missing = tmp_path / "nothere.conf"
    # Difference: the message is nginx's, crossplane prints Python's OSError.
    message = f'open() "{missing}" failed (2: No such file or directory) in {tmp_path / "nginx.conf"}:2'
    assert payload["status"] == "failed"
    assert payload["errors"] == [{"file": str(tmp_path / "nginx.conf"), "error": message, "line": 2}]
    assert payload["config"][0]["parsed"][1]["includes"] == []
    theirs = crossplane_parse(tmp_path / "nginx.conf")
    assert theirs["errors"][0]["line"] == 2
    assert "No such file or directory" in theirs["errors"][0]["error"]


def test_syntax_errors(tmp_path: Path) -> None:
    path = tmp_path / "nginx.conf"
    path.write_text("a;\nb {\n  c;\n")
    payload = parse_tree_to_crossplane(str(path))
    message = f'unexpected end of file, expecting "}}" in {path}:4'
    assert payload["errors"] == [{"file": str(path), "error": message, "line": 4}]
    assert payload["config"][0]["errors"] == [{"error": message, "line": 4}]
    assert payload["config"][0]["status"] == "failed"
    assert [s["directive"] for s in payload["config"][0]["parsed"]] == ["a", "b"]
    # Difference: crossplane names the line of the last token (3); nginx has counted the
    # file's last newline by then (checked in test_parse.py against nginx itself).
    theirs = crossplane_parse(path)["errors"]
    assert theirs == [{"file": str(path), "error": message.replace(":4", ":3"), "line": 3}]


def test_bad_quote_stops_the_file(tmp_path: Path) -> None:
    """nginx stops at `"a"b`; crossplane splits it into two words."""
    path = tmp_path / "nginx.conf"
    path.write_text('ok;\nhttp {\n  x "a"b;\n  y;\n}\nz;\n')
    payload = parse_tree_to_crossplane(str(path))
    assert payload["errors"] == [{"file": str(path), "error": f'unexpected "b" in {path}:3', "line": 3}]
    assert payload["config"][0]["parsed"] == [
        {"directive": "ok", "line": 1, "args": []},
        {"directive": "http", "line": 2, "args": [], "block": []},
    ]
    theirs = crossplane_parse(path)
    assert theirs["status"] == "ok"
    assert theirs["config"][0]["parsed"][1]["block"][0]["args"] == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "ours", "theirs"),
    [
        # nginx's escape processing: \" \' \\ lose the backslash, \t \n \r become controls
        ('a \\"x "y\\\\z" "\\t";', ['"x', "y\\z", "\t"], ['\\"x', "y\\\\z", "\\t"]),
        # "}" inside a word is part of it for nginx
        ("a b};", ["b}"], None),
        # "$" holds every brace after it; crossplane reads on to "}" (even past ";")
        ("a ${x;", None, None),
        # nginx's whitespace is space, tab, CR and LF only (not a no-break space)
        ("a b\u00a0c;", ["b\u00a0c"], ["b", "c"]),
    ],
)
def test_documented_differences(
    tmp_path: Path, text: str, ours: list[str] | None, theirs: list[str] | None
) -> None:
    path = tmp_path / "nginx.conf"
    path.write_text(text + "\n")
    mine = parse_tree_to_crossplane(str(path))
    other = crossplane_parse(path)
    assert mine != other
    if ours is not None:
        assert mine["config"][0]["parsed"][0]["args"] == ours
    if theirs is not None:
        assert other["config"][0]["parsed"][0]["args"] == theirs


def test_comment_in_block_head(tmp_path: Path) -> None:
    """Difference: a comment between a block's name and its "{" is the block's first
    statement for nginxpy (it is written back there); crossplane puts it after the block."""
    path = tmp_path / "nginx.conf"
    path.write_text("http # note\n{ a; }\n")
    mine = parse_tree_to_crossplane(str(path))["config"][0]["parsed"]
    other = crossplane_parse(path)["config"][0]["parsed"]
    note = {"directive": "#", "line": 1, "args": [], "comment": " note"}
    assert mine[0]["block"][0] == note
    assert other[1] == note


def test_partial_tree_marks() -> None:
    conf = parse_text("a { b {")
    assert conf.error is not None
    node = conf.directives()[0]
    assert isinstance(node, Directive) and not node.closed
