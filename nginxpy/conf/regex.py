"""nginx's regular expressions are PCRE; Python's ``re`` is close, and this bridges the gap.

PCRE's named groups ``(?<name>...)`` and ``(?'name'...)`` become ``(?P<name>...)``;
possessive quantifiers and atomic groups are native in Python 3.11.
"""

from __future__ import annotations

import re


class RegexError(ValueError):
    pass


_NAMED_GROUP = re.compile(r"\(\?(?:<([A-Za-z_][A-Za-z0-9_]*)>|'([A-Za-z_][A-Za-z0-9_]*)')")


def to_python(pattern: str) -> str:
    return _NAMED_GROUP.sub(lambda m: f"(?P<{m.group(1) or m.group(2)}>", pattern)


def compile_regex(pattern: str, caseless: bool = False) -> re.Pattern[str]:
    try:
        return re.compile(to_python(pattern), re.IGNORECASE if caseless else 0)
    except re.error as error:
        offset = error.pos if error.pos is not None else len(pattern)
        raise RegexError(
            f'pcre2_compile() failed: {error.msg} in "{pattern}" at "{pattern[offset:]}"'
        ) from None
