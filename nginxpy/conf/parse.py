"""Parse nginx configuration text into the typed tree of :mod:`nginxpy.conf.ast`.

The grammar (``grammar/nginx.lark``) is LALR; Lark computes its tables ahead of time
(:mod:`nginxpy.conf.lalr`), and :class:`_Parser` runs them with a contextual lexer
specialised for a grammar of few, long terminals.  The rule callbacks
(:class:`_Builder`) build the dataclasses directly, with no intermediate parse tree,
and without Lark in memory.  Syntax errors are mapped to nginx's own messages and
lines, and the part of the file before the error is still returned, because nginx
acts on every statement it has read before its tokenizer gives up.
"""

from __future__ import annotations

import gc
import re
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from sys import intern
from typing import Any

from nginxpy.conf.ast import Arg, Comment, ConfFile, ConfSyntaxError, Directive, Node
from nginxpy.conf.lalr import REDUCE, Table, from_grammar, from_json

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

    def __init__(self, terminals: dict[str, str]) -> None:
        self.piece = re.compile(
            "|".join(
                [
                    r"(?P<ws>[ \t\r\n]+)",
                    f"(?P<c>{terminals['COMMENT']})",
                    f"(?P<bad>{terminals['BAD_QUOTE']})",
                    f"(?P<q>{terminals['DQ_STRING']}|{terminals['SQ_STRING']})",
                    f"(?P<w>{terminals['WORD']})",
                    r"(?P<end>[;{}])",
                ]
            )
        )
        self.word = re.compile(terminals["WORD"])
        self.quoted = re.compile(f"{terminals['DQ_STRING']}|{terminals['SQ_STRING']}")


class Token:
    """One token of the lexer (Lark's names for its fields)."""

    __slots__ = ("end_line", "end_pos", "line", "type", "value")

    def __init__(self, kind: str, value: str, line: int, end_line: int, end_pos: int) -> None:
        self.type = kind
        self.value = value
        self.line = line  # where it starts
        self.end_line = end_line  # where its last character is
        self.end_pos = end_pos  # the offset just past it


class _Stop(Exception):
    """The parser can go no further: the offset past the last statement it took, the open depth."""

    def __init__(self, end: int, depth: int) -> None:
        super().__init__(end, depth)
        self.end, self.depth = end, depth


# A statement of plain words: printable ASCII without quotes, "#", or backslashes, separated
# by nginx's whitespace; str.split() splits it exactly as nginx would.  Group 1: the gap
# before it.
_PLAIN = re.compile(r"([ \t\r\n]*)[!$-&(-\[\]-~][ \t\r\n!$-&(-\[\]-~]*[;{]")


class _PlainArgs(dict[str, Arg]):
    """Bare words repeat (on, off, $host, ...): one shared Arg each, never mutated."""

    def __missing__(self, word: str) -> Arg:
        arg = self[word] = Arg(word)
        return arg


class _Builder:
    """Turns grammar rules into AST nodes while the LALR parser reduces them.

    Comments go where they are in the file, as the parser meets them: the tree is built
    in file order, so a comment belongs to the block being read.  Comments before a
    statement (or inside it) wait in ``before`` (``after``), by the statement's id, until
    the statement joins its list; a block's opening line keeps its comments at the start
    of the body, the gap before "}" at its end."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.words: _Words | None = None
        self.plain_args = _PlainArgs()
        self.quoted_args: dict[tuple[str, str], Arg] = {}
        # Seen in this file: statements of plain words (their name and arguments), and
        # argument tuples by the ids of their Args.
        self.seen_statements: dict[str, tuple[str, tuple[Arg, ...]]] = {}
        self.arg_tuples: dict[tuple[int, ...], tuple[Arg, ...]] = {}
        self.before: dict[int, list[Node]] = {}
        self.after: dict[int, list[Node]] = {}
        self.trailing: list[Node] = []  # comments lexed on their own: at the end of the file
        # Blocks closed by a "}" from here on were closed by the parser (a partial tree).
        self.synthetic_from = sys.maxsize
        self.text = ""  # the file's text, while a partial tree is read

    def reset(self, path: str) -> None:
        self.path = path
        self.plain_args = _PlainArgs()
        self.quoted_args = {}
        self.seen_statements = {}
        self.arg_tuples = {}
        self.before, self.after, self.trailing = {}, {}, []
        self.synthetic_from = sys.maxsize
        self.text = ""

    def _directive_from(self, token: Token, block: list[Node] | None) -> Directive:
        """A directive from a SIMPLE or BLOCK_START token: words, lines, comments inside."""
        text: str = token.value  # the plain str (str(token) would copy it)
        match = _PLAIN.fullmatch(text)
        if match is None:
            return self._directive_slow(token, block)
        # The common case: bare words only, split on nginx's whitespace.
        words = text[:-1].split()
        end_line = token.end_line
        line = token.line
        if "\n" in text:
            line += text.count("\n", 0, match.end(1))
        if line == end_line:
            line = end_line  # one int object for both
        # Statements repeat (a large configuration has few distinct ones): their name and
        # arguments are shared, as the arguments never change.
        key = " ".join(words)
        seen = self.seen_statements.get(key)
        if seen is None:
            args = tuple(map(self.plain_args.__getitem__, words[1:]))  # one allocation, no spare room
            seen = self.seen_statements[key] = (intern(words[0]), self._shared(args))
        return Directive(seen[0], seen[1], self.path, line, end_line, block)

    def _shared(self, args: tuple[Arg, ...]) -> tuple[Arg, ...]:
        """One tuple for equal arguments (the same Arg objects: their ids say it)."""
        key = tuple(map(id, args))
        shared = self.arg_tuples.get(key)
        if shared is None:
            shared = self.arg_tuples[key] = args
        return shared

    def _directive_slow(self, token: Token, block: list[Node] | None) -> Directive:
        """Quotes, escapes, comments or unusual characters: split with the grammar's word patterns."""
        assert self.words is not None
        text: str = token.value
        line = token.line
        plain = self.plain_args
        quoted = self.quoted_args
        args: list[Arg] = []
        before: list[Node] = []
        after: list[Node] = []
        first_line = 0
        for match in self.words.piece.finditer(text):
            kind = match.lastgroup
            piece = match.group()
            if kind == "ws":
                line += piece.count("\n")
                continue
            if kind == "end":
                break
            if kind == "c":
                (after if args else before).append(_comment(piece, self.path, line))
                continue
            if not args:
                first_line = line
            if kind == "w":
                args.append(plain[_unescape(piece) if "\\" in piece else piece])
            elif kind == "q":
                key = (_unescape(piece[1:-1]), piece[0])
                arg = quoted.get(key)
                if arg is None:
                    arg = quoted[key] = Arg(*key)
                args.append(arg)
                line += piece.count("\n")
            else:
                line += piece.count("\n")
                args.append(Arg(_unescape(piece[1:-2]), piece[0], bad_follow=piece[-1], bad_line=line))
        name = args[0]
        end_line = token.end_line
        directive = Directive(
            intern(name.value),
            self._shared(tuple(args[1:])),
            self.path,
            end_line if first_line == end_line else first_line,
            end_line,
            block,
            name_quote=name.quote,
        )
        if before:
            self.before[id(directive)] = before
        if after:
            self.after[id(directive)] = after
        return directive

    def comment(self, token: Token) -> None:
        """A comment the lexer met on its own (the statements take in those before them)."""
        self.trailing.append(_comment(token.value, self.path, token.line))

    # Terminal callbacks run when the parser shifts the token, so each statement becomes a
    # Directive at once and its token is freed: the tree is built as the file is read.
    def SIMPLE(self, token: Token) -> Directive:
        return self._directive_from(token, None)

    def BLOCK_START(self, token: Token) -> Directive:
        return self._directive_from(token, [])

    def _with_comments(self, node: Directive) -> list[Node]:
        key = id(node)
        return [*self.before.pop(key, ()), node, *self.after.pop(key, ())]

    def statements(self, children: list[Any]) -> list[Node]:
        """The list grows by one statement per reduction (the rule is left-recursive)."""
        if len(children) == 1:
            if self.before or self.after:
                return self._with_comments(children[0])
            return children  # the parser's own fresh list of the first statement
        statements: list[Node] = children[0]
        node = children[1]
        if self.before or self.after:
            statements += self._with_comments(node)
        else:
            statements.append(node)
        return statements

    def start(self, children: list[list[Node]]) -> list[Node]:
        statements = children[0] if children else []
        if self.trailing:
            statements += self.trailing
        return statements

    def block(self, children: list[Any]) -> Directive:
        node, closing = children[0], children[-1]
        assert isinstance(node, Directive) and isinstance(closing, Token)
        body: list[Node] = children[1] if len(children) == 3 else []
        opening = self.after.pop(id(node), None)
        closing_comments = self._comments_in(closing)
        if opening or closing_comments:
            body = [*(opening or ()), *body, *closing_comments]
        node.block = body
        end_pos = closing.end_pos
        if end_pos > self.synthetic_from:
            # closed by the parser after a syntax error: where the file's text ends
            node.closed = False
            node.close_line = self.text.count("\n", 0, end_pos) + 1
        else:
            node.close_line = closing.end_line
        return node

    def raw_block(self, children: list[Token]) -> Directive:
        name_token, body = children
        comments = self._comments_in(name_token)
        name = name_token.value.lstrip(" \t\r\n")
        while name.startswith("#"):
            name = name.split("\n", 1)[1].lstrip(" \t\r\n")
        raw = body.value.lstrip(" \t\r\n")
        directive = Directive(
            name=name,
            args=(),
            file=self.path,
            line=name_token.end_line,
            end_line=body.line,
            raw_block=raw[1:-1],
            close_line=body.end_line,
        )
        if comments:
            self.before[id(directive)] = comments
        return directive

    def _comments_in(self, token: Token) -> list[Node]:
        """Comments inside the leading gap of a "}" or a Lua block name."""
        text = token.value
        if "#" not in text:
            return []
        found: list[Node] = []
        line = token.line
        for match in re.finditer(r"#[^\n]*|\n", text):
            if match.group() == "\n":
                line += 1
            else:
                found.append(_comment(match.group(), self.path, line))
        return found


def _comment(text: str, path: str, line: int) -> Comment:
    # the CR of a CRLF line end is not part of the comment
    return Comment(text[1:].rstrip("\r"), path, line)


class without_gc:  # a context manager, named like contextlib's
    """No cyclic garbage collection while a configuration is read (nginx allocates its
    configuration from pools, freed as a whole).  Parsing only allocates: the tree and the
    settings live on, so the collector's passes over a growing heap find nothing, and
    cost as much as the parse.  Nestable; the collector runs again after the outermost."""

    __slots__ = ("enabled",)

    def __enter__(self) -> None:
        self.enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            gc.enable()


def _table() -> Table:
    """The LALR tables of the grammar: made ahead of time (grammar_table.json), unless the
    grammar file is not the one they were made from."""
    grammar = _grammar_text()
    table, made_from = from_json(Path(__file__).with_name("grammar_table.json").read_text(encoding="utf-8"))
    if made_from != grammar:
        table = from_grammar(grammar)  # an edited grammar: analyse it with Lark
    return table


class _Parser:
    """An LALR(1) parser driven by the grammar's tables, with a contextual lexer: in each
    state, the terminals the state accepts are tried in Lark's order (priority, then
    longest possible match), as one regular expression per state.  Lark's own
    ParserState.feed_token and ContextualLexer, specialised for a grammar of few, long
    terminals: one per statement.  Not thread-safe: one per thread."""

    def __init__(self) -> None:
        table = self.table = _table()
        self.terminals = dict(table.terminals)
        self.builder = _Builder("")
        self.builder.words = self.words = _Words(self.terminals)
        self.ignore = frozenset(table.ignore)
        self.scanners: list[re.Pattern[str] | None] = [None] * len(table.states)
        self.by_accepts: dict[frozenset[str], re.Pattern[str]] = {}

    def _scanner(self, state: int) -> re.Pattern[str]:
        accepts = frozenset(self.table.states[state]) | self.ignore
        scanner = self.by_accepts.get(accepts)
        if scanner is None:
            scanner = self.by_accepts[accepts] = re.compile(
                "|".join(f"(?P<{name}>{regexp})" for name, regexp in self.table.terminals if name in accepts)
            )
        self.scanners[state] = scanner
        return scanner

    def run(self, text: str) -> list[Node]:
        """Parse text with the builder's callbacks; _Stop at the first token it cannot take."""
        builder = self.builder
        states, end_state = self.table.states, self.table.end
        rules: list[tuple[str, int, Callable[[list[Any]], Any]]] = [
            (name, size, getattr(builder, name)) for name, size in self.table.rules
        ]
        on_shift: dict[str, Callable[[Token], Any]] = {
            "SIMPLE": builder.SIMPLE,
            "BLOCK_START": builder.BLOCK_START,
        }
        scanners, ignore = self.scanners, self.ignore
        state_stack = [self.table.start]
        value_stack: list[Any] = []
        pos, line, size = 0, 1, len(text)
        last_end, depth = 0, 0  # where the last statement taken ends, the blocks open there
        while True:
            state = state_stack[-1]
            if pos < size:
                match = (scanners[state] or self._scanner(state)).match(text, pos)
                if match is None:
                    raise _Stop(last_end, depth)
                kind: str = match.lastgroup  # type: ignore[assignment]
                value = match.group()
                start_line = line
                if "\n" in value:
                    line += value.count("\n")
                pos = match.end()
                token = Token(kind, value, start_line, line, pos)
                if kind in ignore:
                    if kind == "COMMENT":
                        builder.comment(token)
                    continue
            else:
                kind, token = "$END", Token("$END", "", line, line, pos)
            while True:
                action = states[state_stack[-1]].get(kind)
                if action is None:
                    raise _Stop(last_end, depth)
                what, arg = action
                if what != REDUCE:
                    state_stack.append(arg)
                    callback = on_shift.get(kind)
                    value_stack.append(token if callback is None else callback(token))
                    if kind == "BLOCK_START":
                        depth += 1
                    elif kind == "RBRACE":
                        depth -= 1
                    if kind != "LUA_BLOCK_NAME":
                        last_end = pos
                    break
                name, count, reduce = rules[arg]
                if count:
                    children = value_stack[-count:]
                    del state_stack[-count:]
                    del value_stack[-count:]
                else:
                    children = []
                state_stack.append(states[state_stack[-1]][name][1])
                value_stack.append(reduce(children))
                if kind == "$END" and state_stack[-1] == end_state:
                    result: list[Node] = value_stack[-1]
                    return result

    def parse(self, text: str, path: str) -> ConfFile:
        with without_gc():
            return self._parse(text, path)

    def _parse(self, text: str, path: str) -> ConfFile:
        self.builder.reset(path)
        conf = ConfFile(path=path, text=text)
        try:
            conf.statements = self.run(text)
        except _Stop as stop:
            conf.error = _diagnose(self, text, path, stop.end, stop.depth)
            conf.statements = self._partial_tree(text, stop.end, stop.depth)
        self.builder.reset("")
        return conf

    def _partial_tree(self, text: str, prefix_end: int, depth: int) -> list[Node]:
        """The statements nginx has read before the error: the text up to the last complete
        statement, with the blocks still open closed and marked as not closed."""
        builder = self.builder
        builder.reset(builder.path)
        builder.synthetic_from, builder.text = prefix_end, text
        return self.run(text[:prefix_end] + "\n}" * depth)


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
