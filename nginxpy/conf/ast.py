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


@dataclass(slots=True)
class Directive:
    name: str
    args: list[Arg]
    file: str
    line: int
    end_line: int
    # None for a simple directive, a list of statements for a block.
    block: list[Node] | None = None
    # A block that the file ended inside of: only a partial tree after a syntax error.
    closed: bool = True
    # The raw text of a "*_by_lua_block { ... }" body.
    raw_block: str | None = None
    name_quote: str = ""
    pos: int = 0  # offsets into the file text, to place comments
    end_pos: int = 0

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
