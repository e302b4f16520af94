"""Write a configuration tree back out: as nginx syntax, or as crossplane's JSON.

:func:`write` is the basis of ``nginxpy fmt``: parse -> write -> parse gives the
same tree (names, argument values, blocks, comments).  An argument is written bare
when nginx's tokenizer reads the bare form back as the same value, and quoted
otherwise (keeping the quote it was written with).

:func:`to_crossplane` gives the payload of ``crossplane parse`` (crossplane 0.5.8):
``{"status", "errors", "config": [{"file", "status", "errors", "parsed"}]}``.  The
values are nginx's (after its escape processing) and a file's statements before a
syntax error are kept, because nginx acts on them.  :func:`parse_tree_to_crossplane`
also follows ``include`` the way nginx does.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from nginxpy.conf.ast import Arg, Comment, ConfFile, ConfSyntaxError, Directive, Node
from nginxpy.conf.parse import _unescape, parse_file

# The grammar's bare word (grammar/nginx.lark, WORD): what may be written unquoted.
_WORD = re.compile(r"""(?:\\[\s\S]|\$\{*|[^ \t\r\n;{}"'#\\$])(?:\\[\s\S]|\$\{*|[^ \t\r\n;{\\$])*""")
_LUA_BLOCK_NAME = re.compile(r"[A-Za-z0-9_]+_by_lua_block")
# What nginx's copy loop turns back into one character after a backslash.
_AFTER_BACKSLASH = frozenset("\"'\\tnr")
_WHITESPACE = frozenset(" \t\r\n")  # nginx's, and nothing else


def _escape(value: str, quote: str) -> str:
    """The text that nginx's tokenizer reads back as value, inside `quote` ("" for a bare word).

    A backslash stays single when nginx keeps it anyway (``\\.php$``); it is doubled
    when what follows would otherwise form an escape, or at the end of the word."""
    pieces: list[str] = []
    for char in value:
        if char == "\\":
            pieces.append(char)
        elif quote and char == quote:
            pieces.append("\\" + char)
        else:
            pieces.append(char)
    for i, piece in enumerate(pieces):
        if piece == "\\":
            following = pieces[i + 1][0] if i + 1 < len(pieces) else ""
            if not following or following in _AFTER_BACKSLASH:
                pieces[i] = "\\\\"
    return "".join(pieces)


def quote_word(value: str, quote: str = "") -> str:
    """One word as nginx syntax: bare when that reads back the same, else quoted.

    Whitespace is written as it is, inside quotes (a multi-line value stays one)."""
    if not quote and value and _WHITESPACE.isdisjoint(value):
        bare = _escape(value, "")
        if _WORD.fullmatch(bare) and _unescape(bare) == value:
            return bare
    if not quote:
        quote = "'" if '"' in value and "'" not in value else '"'
    return quote + _escape(value, quote) + quote


def _arg_text(arg: Arg) -> str:
    text = quote_word(arg.value, arg.quote)
    if arg.bad_follow is not None:
        # nginx rejects this word (`"a"b`); keep it as it was so that the error stays.
        text += arg.bad_follow
    return text


def _head(node: Directive) -> str:
    name = quote_word(node.name, node.name_quote)
    if (
        node.raw_block is None
        and not node.name_quote
        and _LUA_BLOCK_NAME.fullmatch(node.name)
        and (node.args or node.block is not None)
    ):
        name = quote_word(node.name, '"')  # else it reads back as a Lua block
    return " ".join([name, *(_arg_text(arg) for arg in node.args)])


def _last_line(node: Node) -> int:
    """The last line a node is known to reach (a block's "}" is taken to follow its last statement)."""
    if isinstance(node, Comment):
        return node.line
    if node.raw_block is not None:
        return node.end_line + node.raw_block.count("\n")
    if node.block is not None:
        # as the writer puts it: "}" on a line of its own
        return max(node.end_line, _last_line(node.block[-1]) if node.block else node.end_line) + 1
    return node.end_line


def write(statements: Sequence[Node], indent: int = 4) -> str:
    """The statements as nginx configuration text.

    Comments keep their place; a comment on the line of the statement before it stays
    at the end of that line.  One blank line is kept where the source had some."""
    lines: list[str] = []
    _write_block(statements, 0, " " * indent, lines, None)
    return "".join(line + "\n" for line in lines)


def _write_block(
    statements: Sequence[Node], depth: int, unit: str, lines: list[str], opener: Directive | None
) -> None:
    pad = unit * depth
    previous: Node | None = opener
    for node in statements:
        if isinstance(node, Comment):
            text = "#" + node.text
            if (
                isinstance(previous, Directive)
                and previous.file == node.file
                and previous.end_line == node.line
                and (previous is opener or (previous.block is None and previous.raw_block is None))
                and lines
            ):
                lines[-1] += " " + text
            else:
                _blank_line(previous, node, opener, lines)
                lines.append(pad + text)
            previous = node
            continue
        _blank_line(previous, node, opener, lines)
        head = pad + _head(node)
        if node.raw_block is not None:
            raw = node.raw_block
            lines.extend((head + " {" + raw + "}").split("\n"))
        elif node.block is None:
            lines.append(head + ";")
        else:
            lines.append(head + " {")
            _write_block(node.block, depth + 1, unit, lines, node)
            lines.append(pad + "}")
        previous = node


def _blank_line(previous: Node | None, node: Node, opener: Directive | None, lines: list[str]) -> None:
    if previous is None or previous is opener or previous.file != node.file:
        return
    if node.line > _last_line(previous) + 1 and lines and lines[-1].strip():
        lines.append("")


# crossplane's JSON


IncludeKey = tuple[str, int]
IncludeMap = Mapping[IncludeKey, Sequence[int]]


def include_key(directive: Directive) -> IncludeKey:
    """How an include_map names an include directive: its file and the directive itself
    (its identity: the tree it is in stays alive as long as the map is used)."""
    return (directive.file, id(directive))


def _error_text(error: ConfSyntaxError) -> str:
    return f"{error.message} in {error.file}:{error.line}"


def _first_bad_quote(statements: Sequence[Node]) -> tuple[Directive, Arg] | None:
    for node in statements:
        if not isinstance(node, Directive):
            continue
        for arg in node.args:
            if arg.bad_follow is not None:
                return node, arg
        if node.block:
            found = _first_bad_quote(node.block)
            if found is not None:
                return found
    return None


def _cut_at(statements: Sequence[Node], stop: Directive) -> tuple[list[Node], bool]:
    """The statements nginx reads before `stop` (the blocks around it stay, unclosed)."""
    kept: list[Node] = []
    for node in statements:
        if node is stop:
            return kept, True
        if isinstance(node, Directive) and node.block:
            inner, found = _cut_at(node.block, stop)
            if found:
                copy = Directive(
                    name=node.name,
                    args=node.args,
                    file=node.file,
                    line=node.line,
                    end_line=node.end_line,
                    block=inner,
                    closed=False,
                    name_quote=node.name_quote,
                    close_line=node.close_line,
                )
                kept.append(copy)
                return kept, True
        kept.append(node)
    return kept, False


def file_errors(conf: ConfFile) -> tuple[list[Node], list[ConfSyntaxError]]:
    """What nginx's tokenizer makes of a parsed file: the statements it reads, and its error.

    A quoted word followed by a bad character (`"a"b`) stops nginx there; the parser
    leaves it in the tree for the checker, so it is cut off here."""
    statements: list[Node] = list(conf.statements)
    errors: list[ConfSyntaxError] = []
    bad = _first_bad_quote(statements)
    if bad is not None:
        directive, arg = bad
        statements, _ = _cut_at(statements, directive)
        errors.append(ConfSyntaxError(f'unexpected "{arg.bad_follow}"', conf.path, arg.bad_line))
    elif conf.error is not None:
        errors.append(conf.error)
    return statements, errors


def _prepare_if_args(args: list[str]) -> None:
    """crossplane's convention: the parentheses of "if (...)" are not part of the arguments."""
    if args and args[0].startswith("(") and args[-1].endswith(")"):
        args[0] = args[0][1:].lstrip()
        args[-1] = args[-1][:-1].rstrip()
        start = int(not args[0])
        end = len(args) - int(not args[-1])
        args[:] = args[start:end]


def _statements_json(
    statements: Sequence[Node], include_map: IncludeMap, comments: bool
) -> list[dict[str, Any]]:
    parsed: list[dict[str, Any]] = []
    for node in statements:
        if isinstance(node, Comment):
            if comments:
                parsed.append({"directive": "#", "line": node.line, "args": [], "comment": node.text})
            continue
        args = node.values
        if node.raw_block is not None:
            args = [*args, node.raw_block]
        if node.name == "if":
            _prepare_if_args(args)
        stmt: dict[str, Any] = {"directive": node.name, "line": node.line, "args": args}
        included = include_map.get(include_key(node))
        if included is not None:
            stmt["includes"] = list(included)
        if node.block is not None:
            stmt["block"] = _statements_json(node.block, include_map, comments)
        parsed.append(stmt)
    return parsed


def to_crossplane(
    files: Sequence[ConfFile],
    include_map: IncludeMap | None = None,
    *,
    errors: Sequence[ConfSyntaxError] = (),
    comments: bool = True,
) -> dict[str, Any]:
    """crossplane's "parse" payload for files (files[0] is the main one).

    include_map gives, for each include directive (keyed by :func:`include_key`),
    the indices in `files` of the files it pulled in.  `errors` are further errors
    found while resolving (a missing include file...); each goes to the entry of the
    file it names."""
    include_map = include_map or {}
    payload: dict[str, Any] = {"status": "ok", "errors": [], "config": []}
    for conf in files:
        statements, found = file_errors(conf)
        found = sorted(
            [*found, *(error for error in errors if error.file == conf.path)], key=lambda e: e.line
        )
        entry: dict[str, Any] = {
            "file": conf.path,
            "status": "failed" if found else "ok",
            "errors": [{"error": _error_text(error), "line": error.line} for error in found],
            "parsed": _statements_json(statements, include_map, comments),
        }
        for error in found:
            payload["errors"].append({"file": conf.path, "error": _error_text(error), "line": error.line})
        if found:
            payload["status"] = "failed"
        payload["config"].append(entry)
    return payload


def _walk_includes(statements: Sequence[Node]) -> list[Directive]:
    found: list[Directive] = []
    for node in statements:
        if isinstance(node, Directive):
            if node.name == "include" and node.block is None:
                found.append(node)
            if node.block:
                found.extend(_walk_includes(node.block))
    return found


def load_tree(path: str) -> tuple[list[ConfFile], dict[IncludeKey, list[int]], list[ConfSyntaxError]]:
    """Parse a main file and every file it includes, as nginx finds them.

    nginx resolves a relative include against its conf prefix, the directory of the
    main file given with -c (crossplane does the same); a pattern with "*", "?" or
    "[" is a glob (sorted, no match is no error), anything else must open.  Each file
    is parsed once, in the order first found (crossplane's layout)."""
    config_dir = os.path.dirname(path)
    files = [parse_file(path)]
    index = {path: 0}
    include_map: dict[IncludeKey, list[int]] = {}
    errors: list[ConfSyntaxError] = []
    position = 0
    while position < len(files):
        conf = files[position]
        position += 1
        statements, _ = file_errors(conf)
        for directive in _walk_includes(statements):
            if len(directive.args) != 1:
                errors.append(
                    ConfSyntaxError(
                        'invalid number of arguments in "include" directive', conf.path, directive.end_line
                    )
                )
                continue
            pattern = directive.args[0].value
            if not os.path.isabs(pattern):
                pattern = os.path.join(config_dir, pattern)
            if glob.has_magic(pattern):
                names = sorted(glob.glob(pattern))
            else:
                try:
                    with open(pattern, "rb"):
                        pass
                except OSError as error:
                    message = f'open() "{pattern}" failed ({error.errno}: {error.strerror})'
                    errors.append(ConfSyntaxError(message, conf.path, directive.end_line))
                    names = []
                else:
                    names = [pattern]
            indices = include_map.setdefault(include_key(directive), [])
            for name in names:
                if name not in index:
                    index[name] = len(files)
                    files.append(parse_file(name))
                indices.append(index[name])
    return files, include_map, errors


def parse_tree_to_crossplane(path: str, *, comments: bool = True) -> dict[str, Any]:
    """``crossplane parse`` of a main file and its includes (for ``nginxpy -T --json``)."""
    files, include_map, errors = load_tree(path)
    return to_crossplane(files, include_map, errors=errors, comments=comments)
