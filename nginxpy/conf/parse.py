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
from sys import intern

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


class _Words:
    """Splits one statement token into its words and comments, with the grammar's own patterns."""

    def __init__(self, parser: lark.Lark) -> None:
        def pattern(name: str) -> str:
            return parser.get_terminal(name).pattern.to_regexp()

        self.piece = re.compile(
            "|".join(
                [
                    r"(?P<ws>[ \t\r\n]+)",
                    f"(?P<c>{pattern('COMMENT')})",
                    f"(?P<bad>{pattern('BAD_QUOTE')})",
                    f"(?P<q>{pattern('DQ_STRING')}|{pattern('SQ_STRING')})",
                    f"(?P<w>{pattern('WORD')})",
                    r"(?P<end>[;{}])",
                ]
            )
        )
        self.word = re.compile(pattern("WORD"))
        self.quoted = re.compile(f"{pattern('DQ_STRING')}|{pattern('SQ_STRING')}")


# A statement of plain words: printable ASCII without quotes, "#", or backslashes, separated
# by nginx's whitespace; str.split() splits it exactly as nginx would.
_PLAIN = re.compile(r"[ \t\r\n]*[!$-&(-\[\]-~][ \t\r\n!$-&(-\[\]-~]*[;{]")


class _Builder(lark.Transformer[Token, list[Node]]):
    """Turns grammar rules into AST nodes while the LALR parser reduces them."""

    def __init__(self, path: str, comments: list[Comment_]) -> None:
        super().__init__(visit_tokens=False)
        self.path = path
        self.comments = comments
        self.words: _Words | None = None
        self.plain_args: dict[str, Arg] = {}

    def _plain_arg(self, word: str) -> Arg:
        """Bare words repeat (on, off, $host, ...): one shared Arg each, never mutated."""
        arg = self.plain_args.get(word)
        if arg is None:
            arg = self.plain_args[word] = Arg(word)
        return arg

    def _directive_from(self, token: Token, block: list[Node] | None) -> Directive:
        """A directive from a SIMPLE or BLOCK_START token: words, lines, comments inside."""
        text = str(token)
        if _PLAIN.fullmatch(text):
            # The common case: bare words only, split on nginx's whitespace.
            words = text[:-1].split()
            lead = len(text) - len(text.lstrip(" \t\r\n"))
            start = token.start_pos or 0
            return Directive(
                name=intern(words[0]),
                args=[self._plain_arg(word) for word in words[1:]],
                file=self.path,
                line=(token.line or 1) + text.count("\n", 0, lead),
                end_line=token.end_line or 1,
                block=block,
                pos=start + lead,
                end_pos=token.end_pos or 0,
            )
        return self._directive_slow(token, block)

    def _directive_slow(self, token: Token, block: list[Node] | None) -> Directive:
        """Quotes, escapes, comments or unusual characters: split with the grammar's word patterns."""
        assert self.words is not None
        text = str(token)
        line = token.line or 1
        start = token.start_pos or 0
        args: list[Arg] = []
        first_line = 0
        first_pos = 0
        for match in self.words.piece.finditer(text):
            kind = match.lastgroup
            piece = match.group()
            if kind == "ws":
                line += piece.count("\n")
                continue
            if kind == "end":
                break
            if kind == "c":
                self.comments.append((start + match.start(), line, piece))
                continue
            if not args:
                first_line, first_pos = line, start + match.start()
            if kind == "w":
                args.append(Arg(_unescape(piece) if "\\" in piece else piece))
            elif kind == "q":
                args.append(Arg(_unescape(piece[1:-1]), piece[0]))
                line += piece.count("\n")
            else:
                line += piece.count("\n")
                args.append(Arg(_unescape(piece[1:-2]), piece[0], bad_follow=piece[-1], bad_line=line))
        name = args[0]
        return Directive(
            name=name.value,
            args=args[1:],
            file=self.path,
            line=first_line,
            end_line=token.end_line or line,
            block=block,
            name_quote=name.quote,
            pos=first_pos,
            end_pos=token.end_pos or 0,
        )

    # Terminal callbacks run when the parser shifts the token, so each statement becomes a
    # Directive at once and its token is freed: the tree is built as the file is read.
    def SIMPLE(self, token: Token) -> Directive:
        return self._directive_from(token, None)

    def BLOCK_START(self, token: Token) -> Directive:
        return self._directive_from(token, [])

    def start(self, children: list[Directive]) -> list[Node]:
        return children  # type: ignore[return-value]

    def block(self, children: list[Directive | Token]) -> Directive:
        node, closing = children[0], children[-1]
        assert isinstance(node, Directive) and isinstance(closing, Token)
        node.block = children[1:-1]  # type: ignore[assignment]
        self._comments_in(closing)
        node.end_pos = closing.end_pos or 0
        return node

    def raw_block(self, children: list[Token]) -> Directive:
        name_token, body = children
        self._comments_in(name_token)
        name = str(name_token).lstrip(" \t\r\n")
        while name.startswith("#"):
            name = name.split("\n", 1)[1].lstrip(" \t\r\n")
        raw = str(body).lstrip(" \t\r\n")
        offset = len(str(name_token)) - len(name)
        return Directive(
            name=name,
            args=[],
            file=self.path,
            line=(name_token.end_line or 1),
            end_line=body.line or 0,
            raw_block=raw[1:-1],
            pos=(name_token.start_pos or 0) + offset,
            end_pos=body.end_pos or 0,
        )

    def _comments_in(self, token: Token) -> None:
        """Comments inside the leading gap of a "}" or a Lua block name."""
        text = str(token)
        if "#" not in text:
            return
        line = token.line or 1
        start = token.start_pos or 0
        for match in re.finditer(r"#[^\n]*|\n", text):
            if match.group() == "\n":
                line += 1
            else:
                self.comments.append((start + match.start(), line, match.group()))


# A comment as found: (offset in the file, line, text with its "#").
Comment_ = tuple[int, int, str]


class _Parser:
    """One Lark LALR parser, re-pointed at each file it parses (not thread-safe: one per thread)."""

    def __init__(self) -> None:
        self.comments: list[Comment_] = []
        self.builder = _Builder("", self.comments)
        self.lark = lark.Lark(
            _grammar_text(),
            parser="lalr",
            lexer="contextual",
            transformer=self.builder,
            lexer_callbacks={"COMMENT": self._comment},
            start=["start", "words"],
            cache=True,
        )
        self.builder.words = self.words = _Words(self.lark)

    def _comment(self, token: Token) -> Token:
        self.comments.append((token.start_pos or 0, token.line or 0, str(token)))
        return token

    def parse(self, text: str, path: str) -> ConfFile:
        self.builder.path = path
        self.builder.plain_args = {}
        self.comments.clear()
        conf = ConfFile(path=path, text=text)
        try:
            conf.statements = self.lark.parse(text, start="start")  # type: ignore[assignment]
        except lark.exceptions.UnexpectedInput:
            prefix_end, depth = _last_complete_statement(self, text)
            conf.error = _diagnose(self, text, path, prefix_end, depth)
            conf.statements = self._partial_tree(text, prefix_end, depth)
        _attach_comments(conf.statements, self.comments, path)
        return conf

    def _partial_tree(self, text: str, prefix_end: int, depth: int) -> list[Node]:
        """The statements nginx has read before the error: the text up to the last complete
        statement, with the blocks still open closed and marked as not closed."""
        self.comments.clear()
        closing = "\n}" * depth
        statements: list[Node] = self.lark.parse(text[:prefix_end] + closing, start="start")  # type: ignore[assignment]
        if depth:
            _mark_unclosed(statements, prefix_end)
        return statements


def _tokens_before_error(parser: _Parser, text: str) -> list[Token]:
    tokens: list[Token] = []
    interactive = parser.lark.parse_interactive(text, start="start")
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


_DEPTH = {"BLOCK_START": 1, "RBRACE": -1}


def _last_complete_statement(parser: _Parser, text: str) -> tuple[int, int]:
    """Offset just past the last statement accepted before the error, and the open depth there."""
    end, depth = 0, 0
    for token in _tokens_before_error(parser, text):
        depth += _DEPTH.get(token.type, 0)
        if token.type != "LUA_BLOCK_NAME":
            end = token.end_pos or 0
    return end, depth


def _mark_unclosed(statements: list[Node], prefix_end: int) -> None:
    for node in statements:
        if isinstance(node, Directive) and node.block is not None and node.end_pos > prefix_end:
            node.closed = False
            _mark_unclosed(node.block, prefix_end)


def _diagnose(parser: _Parser, text: str, path: str, start: int, depth: int) -> ConfSyntaxError:
    """Say what nginx's tokenizer (ngx_conf_read_token) says about the text after the last
    complete statement: it reads words until something it cannot take."""
    line = 1 + text.count("\n", 0, start)
    words = 0
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch in " \t\r":
            i += 1
        elif ch == "#":
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
        elif ch in ";{" or (ch == "}" and (words or depth == 0)):
            return ConfSyntaxError(f'unexpected "{ch}"', path, line)
        elif ch == "}":
            depth -= 1  # a block closed; the error is further on
            i += 1
        elif ch in "\"'":
            match = parser.words.quoted.match(text, i)
            if match is None:
                if n - i - 1 >= NGX_CONF_BUFFER - 1:
                    return ConfSyntaxError(
                        f'too long parameter, probably missing terminating "{ch}" character', path, line
                    )
                break
            line += match.group().count("\n")
            i = match.end()
            words += 1
            if i < n and text[i] not in " \t\r\n;{)":
                return ConfSyntaxError(f'unexpected "{text[i]}"', path, line)
        else:
            match = parser.words.word.match(text, i)
            if match is None:  # a lone backslash at the end of the file
                words += 1
                break
            line += match.group().count("\n")
            i = match.end()
            words += 1
            if i < n and text[i] in ";{":
                words = 0 if text[i] == ";" else words  # complete after all: keep reading
                if text[i] == "{":
                    depth += 1
                    words = 0
                i += 1
    eof_line = text.count("\n") + 1
    if words or i < n:
        return ConfSyntaxError('unexpected end of file, expecting ";" or "}"', path, eof_line)
    if depth > 0:
        return ConfSyntaxError('unexpected end of file, expecting "}"', path, eof_line)
    return ConfSyntaxError('unexpected end of file, expecting ";" or "}"', path, eof_line)


def _attach_comments(statements: list[Node], comments: list[Comment_], path: str) -> None:
    """Put each comment into the innermost block that holds it, in file order."""
    if not comments:
        return
    queue = sorted(comments)
    _place(statements, queue, 0, path, None)


def _place(statements: list[Node], queue: list[Comment_], index: int, path: str, limit: int | None) -> int:
    placed: list[Node] = []
    for node in statements:
        assert isinstance(node, Directive)
        while index < len(queue) and queue[index][0] < node.pos:
            placed.append(_comment(queue[index], path))
            index += 1
        placed.append(node)
        if node.block is not None:
            index = _place(node.block, queue, index, path, node.end_pos)
    while index < len(queue) and (limit is None or queue[index][0] < limit):
        placed.append(_comment(queue[index], path))
        index += 1
    statements[:] = placed
    return index


def _comment(found: Comment_, path: str) -> Comment:
    _, line, text = found
    # the CR of a CRLF line end is not part of the comment
    return Comment(text[1:].rstrip("\r"), path, line)


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
