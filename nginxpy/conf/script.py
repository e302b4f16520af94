"""Complex values: strings with variables, compiled once at load.

``"$scheme://$host$request_uri"`` becomes ``["", Var("scheme"), "://", Var("host"),
Var("request_uri")]``-like parts, following ``ngx_http_script_compile``: ``$name``
(letters, digits, "_"), ``${name}``, and ``$1``..``$9`` for regex captures.
"""

from __future__ import annotations

from dataclasses import dataclass


class ScriptError(ValueError):
    """A value nginx's script compiler rejects; the text is nginx's message."""


@dataclass(frozen=True, slots=True)
class Var:
    name: str  # lower-cased: nginx's variable names are case-insensitive


@dataclass(frozen=True, slots=True)
class Capture:
    number: int  # $1..$9


Part = str | Var | Capture


@dataclass(frozen=True, slots=True)
class ComplexValue:
    source: str
    parts: tuple[Part, ...]

    @property
    def is_constant(self) -> bool:
        return all(isinstance(part, str) for part in self.parts)

    @property
    def variables(self) -> list[str]:
        return [part.name for part in self.parts if isinstance(part, Var)]


def _is_name_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


_COMPILED: dict[str, ComplexValue] = {}


def compile_value(source: str) -> ComplexValue:
    """Compile once: configurations repeat the same values, and a ComplexValue is immutable."""
    value = _COMPILED.get(source)
    if value is None:
        value = _compile(source) if "$" in source else ComplexValue(source, (source,) if source else ())
        if len(_COMPILED) < 100_000:
            _COMPILED[source] = value
    return value


def _compile(source: str) -> ComplexValue:
    parts: list[Part] = []
    text: list[str] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch != "$":
            text.append(ch)
            i += 1
            continue
        i += 1
        if i == n:
            raise ScriptError("invalid variable name")
        if "1" <= source[i] <= "9":
            if text:
                parts.append("".join(text))
                text = []
            parts.append(Capture(int(source[i])))
            i += 1
            continue
        bracket = source[i] == "{"
        if bracket:
            i += 1
            if i == n:
                raise ScriptError("invalid variable name")
        start = i
        while i < n:
            if bracket and source[i] == "}":
                break
            if not _is_name_char(source[i]):
                break
            i += 1
        name = source[start:i]
        if bracket:
            if i == n or source[i] != "}":
                raise ScriptError(f'the closing bracket in "{name}" variable is missing')
            i += 1
        if not name:
            raise ScriptError("invalid variable name")
        if text:
            parts.append("".join(text))
            text = []
        parts.append(Var(name.lower()))
    if text:
        parts.append("".join(text))
    return ComplexValue(source, tuple(parts))
