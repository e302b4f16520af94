"""Parse nginx configuration text into the typed tree of :mod:`nginxpy.conf.ast`.

The grammar (``grammar/nginx.lark``) is LALR with Lark's contextual lexer; a
Transformer applied during parsing builds the dataclasses directly, with no
intermediate parse tree.  Syntax errors are mapped to nginx's own messages and
lines, and the part of the file before the error is still returned, because nginx
acts on every statement it has read before its tokenizer gives up.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import lark
from lark import Token

from nginxpy.conf.ast import Arg, Comment, ConfFile, ConfSyntaxError, Directive, Node

# nginx reads a configuration through a 4096-byte buffer; one token may not fill it.
NGX_CONF_BUFFER = 4096


def _grammar_text() -> str:
    """The grammar ships inside the wheel; in a checkout it is the top-level grammar/ file."""
    packaged = resources.files("nginxpy").joinpath("grammar/nginx.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[2] / "grammar" / "nginx.lark").read_text(encoding="utf-8")


_ESCAPE = re.compile(r"\\(.)", re.S)
_ESCAPED = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}


def _unescape(text: str) -> str:
    """nginx's copy loop: \\" \\' \\\\ lose the backslash, \\t \\r \\n become controls, others stay."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: _ESCAPED.get(m.group(1), m.group(0)), text)


def _line_after(token: Token) -> int:
    """The line nginx is on once it has read all of token."""
    assert token.end_line is not None
    return token.end_line


class _Builder(lark.Transformer[Token, list[Node]]):
    """Turns grammar rules into AST nodes while the LALR parser reduces them."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def _arg(self, token: Token) -> Arg:
        kind = token.type
        text = str(token)
        if kind in ("WORD", "LUA_BLOCK_NAME"):
            return Arg(_unescape(text))
        if kind == "BAD_QUOTE":
            return Arg(_unescape(text[1:-2]), text[0], bad_follow=text[-1], bad_line=token.end_line or 0)
        return Arg(_unescape(text[1:-1]), text[0])

    def _directive(self, words: list[Token], end: Token, block: list[Node] | None) -> Directive:
        first = words[0]
        name = self._arg(first)
        return Directive(
            name=name.value,
            args=[self._arg(word) for word in words[1:]],
            file=self.path,
            line=first.line or 0,
            end_line=_line_after(end) if block is None else (end.line or 0),
            block=block,
            name_quote=name.quote,
            pos=first.start_pos or 0,
            end_pos=end.end_pos or 0,
        )

    def start(self, children: list[Directive]) -> list[Node]:
        return list(children)

    def simple(self, children: list[Token]) -> Directive:
        return self._directive(children[:-1], children[-1], None)

    def block(self, children: list[Token | Directive]) -> Directive:
        brace = next(
            i for i, child in enumerate(children) if isinstance(child, Token) and child.type == "LBRACE"
        )
        words = [child for child in children[:brace] if isinstance(child, Token)]
        body: list[Node] = [child for child in children[brace + 1 : -1] if isinstance(child, Directive)]
        node = self._directive(words, children[brace], body)  # type: ignore[arg-type]
        closing = children[-1]
        assert isinstance(closing, Token)
        node.end_pos = closing.end_pos or 0
        return node

    def raw_block(self, children: list[Token]) -> Directive:
        body = children[-1]
        node = self._directive(children[:-1], body, None)
        node.raw_block = str(body)[1:-1]
        node.end_line = body.line or 0
        return node


class _Comments:
    """Collects the comment tokens the lexer skips (a Lark lexer callback)."""

    def __init__(self) -> None:
        self.found: list[Token] = []

    def __call__(self, token: Token) -> Token:
        self.found.append(token)
        return token


class _Parser:
    """One Lark LALR parser, re-pointed at each file it parses (not thread-safe: one per thread)."""

    def __init__(self) -> None:
        self.builder = _Builder("")
        self.comments = _Comments()
        self.lark = lark.Lark(
            _grammar_text(),
            parser="lalr",
            lexer="contextual",
            transformer=self.builder,
            lexer_callbacks={"COMMENT": self.comments},
            cache=True,
        )

    def parse(self, text: str, path: str) -> ConfFile:
        self.builder.path = path
        self.comments.found = []
        conf = ConfFile(path=path, text=text)
        try:
            conf.statements = self.lark.parse(text)  # type: ignore[assignment]
        except lark.exceptions.UnexpectedInput as error:
            conf.error = _nginx_error(self, text, path, error)
            conf.statements = self._partial_tree(text, path)
        _attach_comments(conf.statements, self.comments.found, path)
        return conf

    def _partial_tree(self, text: str, path: str) -> list[Node]:
        """The statements nginx has read before the error: the text up to the last complete
        statement, with the blocks still open closed and marked as not closed."""
        prefix_end, depth = _last_complete_statement(self, text)
        self.comments.found = []
        closing = "\n}" * depth
        statements: list[Node] = self.lark.parse(text[:prefix_end] + closing)  # type: ignore[assignment]
        if depth:
            _mark_unclosed(statements, prefix_end)
        return statements


def _tokens_before_error(parser: _Parser, text: str) -> list[Token]:
    tokens: list[Token] = []
    interactive = parser.lark.parse_interactive(text)
    try:
        for token in interactive.iter_parse():
            tokens.append(token)
    except lark.exceptions.UnexpectedToken as error:
        # iter_parse yields a token before feeding it: drop the one the parser rejected.
        if tokens and error.token is tokens[-1]:
            tokens.pop()
    except lark.exceptions.UnexpectedInput:
        pass
    return tokens


def _last_complete_statement(parser: _Parser, text: str) -> tuple[int, int]:
    """Offset just past the last ";", "{" or "}" accepted before the error, and the open depth there."""
    tokens = _tokens_before_error(parser, text)
    end, depth, depth_at_end = 0, 0, 0
    for token in tokens:
        if token.type in ("SEMI", "LBRACE", "RBRACE", "RAW_BLOCK"):
            depth += {"LBRACE": 1, "RBRACE": -1}.get(token.type, 0)
            end, depth_at_end = token.end_pos or 0, depth
    return end, depth_at_end


def _mark_unclosed(statements: list[Node], prefix_end: int) -> None:
    for node in statements:
        if isinstance(node, Directive) and node.block is not None and node.end_pos > prefix_end:
            node.closed = False
            _mark_unclosed(node.block, prefix_end)


def _nginx_error(
    parser: _Parser, text: str, path: str, error: lark.exceptions.UnexpectedInput
) -> ConfSyntaxError:
    """Say what nginx's tokenizer says at this point of the file."""
    eof_line = text.count("\n") + 1
    tokens = _tokens_before_error(parser, text)
    depth = sum({"LBRACE": 1, "RBRACE": -1}.get(token.type, 0) for token in tokens)
    pending = bool(tokens) and tokens[-1].type not in ("SEMI", "LBRACE", "RBRACE", "RAW_BLOCK")
    if isinstance(error, lark.exceptions.UnexpectedToken) and error.token.type != "$END":
        token = error.token
        char = str(token)[:1]
        return ConfSyntaxError(f'unexpected "{char}"', path, token.line or eof_line)
    if isinstance(error, lark.exceptions.UnexpectedCharacters):
        # Only an unterminated quote (or a broken raw block) stops the lexer.
        start = error.pos_in_stream or 0
        quote = text[start]
        if quote in "\"'" and len(text) - start - 1 >= NGX_CONF_BUFFER - 1:
            line = text.count("\n", 0, start) + 1
            return ConfSyntaxError(
                f'too long parameter, probably missing terminating "{quote}" character', path, line
            )
        pending = True
    if pending:
        return ConfSyntaxError('unexpected end of file, expecting ";" or "}"', path, eof_line)
    if depth > 0:
        return ConfSyntaxError('unexpected end of file, expecting "}"', path, eof_line)
    return ConfSyntaxError("unexpected end of file", path, eof_line)


def _attach_comments(statements: list[Node], comments: list[Token], path: str) -> None:
    """Put each comment into the innermost block that holds it, in file order."""
    if not comments:
        return
    queue = sorted(comments, key=lambda token: token.start_pos or 0)
    _place(statements, queue, 0, path, None)


def _place(statements: list[Node], queue: list[Token], index: int, path: str, limit: int | None) -> int:
    placed: list[Node] = []
    for node in statements:
        assert isinstance(node, Directive)
        while index < len(queue) and (queue[index].start_pos or 0) < node.pos:
            placed.append(_comment(queue[index], path))
            index += 1
        placed.append(node)
        if node.block is not None:
            index = _place(node.block, queue, index, path, node.end_pos)
    while index < len(queue) and (limit is None or (queue[index].start_pos or 0) < limit):
        placed.append(_comment(queue[index], path))
        index += 1
    statements[:] = placed
    return index


def _comment(token: Token, path: str) -> Comment:
    # the CR of a CRLF line end is not part of the comment
    return Comment(str(token)[1:].rstrip("\r"), path, token.line or 0)


_local: dict[int, _Parser] = {}


def _get_parser() -> _Parser:
    import threading

    key = threading.get_ident()
    parser = _local.get(key)
    if parser is None:
        parser = _local[key] = _Parser()
    return parser


def parse_text(text: str, path: str = "<string>") -> ConfFile:
    """Parse configuration text; never raises for bad input (the error is in the result)."""
    return _get_parser().parse(text, path)


def decode(data: bytes) -> str:
    """nginx reads bytes; undecodable ones survive a round trip as surrogates."""
    return data.decode("utf-8", errors="surrogateescape")


def parse_file(path: str) -> ConfFile:
    with open(path, "rb") as handle:
        return parse_text(decode(handle.read()), path)
