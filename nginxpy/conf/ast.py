"""The typed syntax tree of an nginx configuration.

Every directive keeps the file and the line it came from.  ``line`` is where its
name starts; ``end_line`` is where nginx had read its terminator (";" or "{"),
which is the line nginx names in its messages about the directive.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Arg:
    """One word of a statement, after nginx's escape processing."""

    value: str
    quote: str = ""  # "", '"' or "'": how it was written
    # Set on a quoted word that nginx rejects (`"a"b`): the character it rejects.
    bad_follow: str | None = None
    bad_line: int = 0

    def __str__(self) -> str:
        return self.value


@dataclass(slots=True)
class Comment:
    text: str  # without the leading "#"
    file: str
    line: int


class _Rare:
    """The fields few directives have, kept out of the common object (a config has many)."""

    __slots__ = ("close_line", "closed", "end_line", "name_quote", "raw_block")

    def __init__(self, end_line: int, close_line: int) -> None:
        self.end_line = end_line
        self.close_line = close_line
        self.closed = True
        self.raw_block: str | None = None
        self.name_quote = ""


class Directive:
    """One statement.  ``line`` is where its name is, ``end_line`` where its ";" or "{"
    is (nearly always the same line); ``close_line`` is the line of a block's "}" (where
    nginx is when the block ends, for the messages about it), 0 when not known (a block
    made up by the checker)."""

    # Six slots: a directive is 80 bytes (the allocator's next size up is 96).
    __slots__ = ("_extra", "args", "block", "file", "line", "name")

    def __init__(
        self,
        name: str,
        args: tuple[Arg, ...],
        file: str,
        line: int,
        end_line: int,
        block: list[Node] | None = None,
        closed: bool = True,
        raw_block: str | None = None,
        name_quote: str = "",
        close_line: int = 0,
    ) -> None:
        self.name = name
        self.args = args
        self.file = file
        self.line = line
        # None for a simple directive, a list of statements for a block.
        self.block = block
        # The close line, or the rare fields (with the end and close lines) when a directive
        # has any, or ends on another line than it starts on.
        self._extra: int | _Rare = close_line
        if end_line != line or not closed or raw_block is not None or name_quote:
            rare = self._extra = _Rare(end_line, close_line)
            rare.closed, rare.raw_block, rare.name_quote = closed, raw_block, name_quote

    def _rare_fields(self) -> _Rare:
        extra = self._extra
        if isinstance(extra, _Rare):
            return extra
        rare = self._extra = _Rare(self.line, extra)
        return rare

    @property
    def end_line(self) -> int:
        extra = self._extra
        return extra.end_line if isinstance(extra, _Rare) else self.line

    @end_line.setter
    def end_line(self, value: int) -> None:
        if value != self.line or isinstance(self._extra, _Rare):
            self._rare_fields().end_line = value

    @property
    def close_line(self) -> int:
        extra = self._extra
        return extra.close_line if isinstance(extra, _Rare) else extra

    @close_line.setter
    def close_line(self, value: int) -> None:
        if isinstance(self._extra, _Rare):
            self._extra.close_line = value
        else:
            self._extra = value

    @property
    def closed(self) -> bool:
        """False for a block that the file ended inside of: only a partial tree after a syntax error."""
        extra = self._extra
        return extra.closed if isinstance(extra, _Rare) else True

    @closed.setter
    def closed(self, value: bool) -> None:
        self._rare_fields().closed = value

    @property
    def raw_block(self) -> str | None:
        """The raw text of a "*_by_lua_block { ... }" body."""
        extra = self._extra
        return extra.raw_block if isinstance(extra, _Rare) else None

    @raw_block.setter
    def raw_block(self, value: str | None) -> None:
        self._rare_fields().raw_block = value

    @property
    def name_quote(self) -> str:
        extra = self._extra
        return extra.name_quote if isinstance(extra, _Rare) else ""

    @name_quote.setter
    def name_quote(self, value: str) -> None:
        self._rare_fields().name_quote = value

    def _key(self) -> tuple[object, ...]:
        return (
            self.name,
            self.args,
            self.file,
            self.line,
            self.end_line,
            self.block,
            self.closed,
            self.raw_block,
            self.name_quote,
            self.close_line,
        )

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Directive)
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value (as a dataclass)

    def __repr__(self) -> str:
        fields = ("name", "args", "file", "line", "end_line", "block", "closed", "raw_block", "name_quote")
        return f"Directive({', '.join(f'{f}={getattr(self, f)!r}' for f in fields)})"

    @property
    def values(self) -> list[str]:
        return [arg.value for arg in self.args]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.end_line}"

    def directives(self) -> list[Directive]:
        return [node for node in self.block or () if isinstance(node, Directive)]


Node = Directive | Comment


@dataclass(slots=True)
class ConfSyntaxError:
    """A syntax error as nginx reports it; the tree before it stays usable."""

    message: str
    file: str
    line: int


@dataclass(slots=True)
class ConfFile:
    path: str
    statements: list[Node] = field(default_factory=list)
    error: ConfSyntaxError | None = None
    text: str = ""  # the file as read (for -T)

    def directives(self) -> list[Directive]:
        return [node for node in self.statements if isinstance(node, Directive)]
