"""Property tests of the parser and the writer (hypothesis).

Generated configurations are written out with every kind of word (bare, quoted,
escaped, variables, UTF-8), nested blocks, Lua blocks, comments and CRLF; the parser
must read back what the generator meant, and parse -> write -> parse must keep the
tree.  Random text and bytes must never make the parser raise."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nginxpy.conf.ast import Comment, ConfFile, Directive, Node
from nginxpy.conf.dump import write
from nginxpy.conf.parse import decode, parse_text

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A piece of a word: (as written, the value nginx reads).
Piece = tuple[str, str]

_PLAIN = "abcxyzABC019_-./:=~^*()[]!@%&+,<>?|üé日本ÿ"
_ESCAPES: dict[str, str] = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def _escape_piece(char: str) -> Piece:
    return ("\\" + char, _ESCAPES.get(char, "\\" + char))


plain = st.sampled_from(_PLAIN).map(lambda c: (c, c))
escape = st.sampled_from([*list(_ESCAPES), "x", ".", ";", " ", "{", "}", "#", "$", "é"]).map(_escape_piece)
variable_name = st.text(alphabet="abcdefghij_0123456789", min_size=1, max_size=6)
variable = st.one_of(
    variable_name.map(lambda n: ("$" + n, "$" + n)),
    variable_name.map(lambda n: ("${" + n + "}", "${" + n + "}")),
    variable_name.map(lambda n: ("${{" + n + "}}", "${{" + n + "}}")),
)
# characters that are plain inside a bare word, but not at its start
inner = st.sampled_from(list("\"'#}")).map(lambda c: (c, c))
quoted_plain = st.sampled_from(list(_PLAIN + " \t\n;{}#$")).map(lambda c: (c, c))


@st.composite
def bare_word(draw: st.DrawFn) -> Piece:
    first = draw(st.one_of(plain, escape, variable))
    rest = draw(st.lists(st.one_of(plain, plain, escape, variable, inner), max_size=6))
    pieces = [first, *rest]
    for i in range(1, len(pieces)):
        # "$" then "{" keeps the brace: do not let a variable run into a brace piece
        if pieces[i - 1][0].endswith("$") and pieces[i][0].startswith("{"):
            return first
    return "".join(p[0] for p in pieces), "".join(p[1] for p in pieces)


@st.composite
def quoted_word(draw: st.DrawFn) -> Piece:
    quote = draw(st.sampled_from(['"', "'"]))
    other = "'" if quote == '"' else '"'
    pieces = draw(
        st.lists(
            st.one_of(quoted_plain, escape, variable, st.just((other, other)), st.just(("\r\n", "\r\n")))
        )
    )
    return quote + "".join(p[0] for p in pieces) + quote, "".join(p[1] for p in pieces)


word = st.one_of(bare_word(), bare_word(), quoted_word())
space = st.lists(st.sampled_from([" ", "  ", "\t", "\n", "\r\n"]), min_size=1, max_size=3).map("".join)
comment_text = st.text(
    alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=["Cs"]), max_size=12
)


@st.composite
def gap(draw: st.DrawFn) -> str:
    """Whitespace between tokens, maybe with a comment in it."""
    text = draw(space)
    if draw(st.integers(0, 4)) == 0:
        text += (
            "#"
            + draw(comment_text)
            + draw(st.sampled_from(["\n", "\r\n"]))
            + draw(st.sampled_from(["", " "]))
        )
    return text


Model = list[tuple[str, list[str], Any, str | None]]

lua_body = st.lists(
    st.sampled_from(["x = 1", " ", "\n", "ngx.say('hi')", "{ a = 2 }", '"}"', "-- }\n", "if a then b end"]),
    max_size=5,
).map("".join)


@st.composite
def statements(draw: st.DrawFn, depth: int = 0) -> tuple[str, Model]:
    texts: list[str] = []
    model: Model = []
    for _ in range(draw(st.integers(0, 4 if depth < 2 else 2))):
        kind = draw(st.sampled_from(["simple", "simple", "block", "lua"] if depth < 3 else ["simple"]))
        texts.append(draw(gap()))
        if kind == "lua":
            name = draw(st.sampled_from(["content_by_lua_block", "access_by_lua_block", "init_by_lua_block"]))
            body = draw(lua_body)
            texts.append(name + draw(st.sampled_from([" ", "\n", "\r\n", ""])) + "{" + body + "}")
            model.append((name, [], None, body))
            continue
        name_text, name = draw(word.filter(lambda w: not w[1].endswith("_by_lua_block")))
        args = draw(st.lists(word, max_size=4))
        texts.append(name_text)
        for arg_text, _ in args:
            texts.append(draw(gap()) + arg_text)
        values = [value for _, value in args]
        ending = draw(st.sampled_from(["", " ", "\n"]))
        if kind == "simple":
            texts.append(ending + ";")
            model.append((name, values, None, None))
        else:
            inner_text, inner_model = draw(statements(depth + 1))
            texts.append(ending + "{" + inner_text + draw(gap()) + "}")
            model.append((name, values, inner_model, None))
    return "".join(texts), model


def directives_only(nodes: list[Node]) -> Model:
    return [
        (n.name, n.values, None if n.block is None else directives_only(n.block), n.raw_block)
        for n in nodes
        if isinstance(n, Directive)
    ]


def shape(nodes: list[Node]) -> list[Any]:
    out: list[Any] = []
    for node in nodes:
        if isinstance(node, Comment):
            out.append(("#", node.text))
        else:
            out.append(
                (node.name, node.values, None if node.block is None else shape(node.block), node.raw_block)
            )
    return out


def has_bad_quote(nodes: list[Node]) -> bool:
    return any(
        isinstance(n, Directive)
        and (any(a.bad_follow is not None for a in n.args) or has_bad_quote(n.block or []))
        for n in nodes
    )


def assert_roundtrip(conf: ConfFile) -> None:
    written = write(conf.statements)
    again = parse_text(written)
    assert again.error is None, (again.error, written)
    assert shape(again.statements) == shape(conf.statements), written
    # and writing is stable
    assert write(again.statements) == written


@FAST
@given(statements(), gap())
def test_generated_configs_read_as_meant_and_roundtrip(generated: tuple[str, Model], tail: str) -> None:
    text, model = generated
    conf = parse_text(text + tail)
    assert conf.error is None, (conf.error, text)
    assert directives_only(conf.statements) == model, text
    assert_roundtrip(conf)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements(), st.integers(1, 8))
def test_indent_does_not_change_the_tree(generated: tuple[str, Model], indent: int) -> None:
    conf = parse_text(generated[0])
    again = parse_text(write(conf.statements, indent=indent))
    assert shape(again.statements) == shape(conf.statements)


nginxish = st.lists(
    st.one_of(
        st.sampled_from(
            [*list(" \t\r\n;;{{}}\"\"''##\\\\$$abc_ü日"), "${", "_by_lua_block", "content_by_lua_block {"]
        ),
        st.characters(blacklist_categories=["Cs"]),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(nginxish)
def test_random_text_never_raises(text: str) -> None:
    conf = parse_text(text)
    assert isinstance(conf, ConfFile)
    if conf.error is not None:
        assert conf.error.line >= 1
        assert conf.error.message.startswith(("unexpected", "too long"))
    elif not has_bad_quote(conf.statements):
        assert_roundtrip(conf)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_bytes_never_raise(data: bytes) -> None:
    conf = parse_text(decode(data))
    assert isinstance(conf, ConfFile)
    if conf.error is None and not has_bad_quote(conf.statements):
        assert_roundtrip(conf)
