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


# Python's messages for the mistakes people make, in PCRE2's words, and where PCRE2
# says the error is: None for the end of the pattern, else at Python's offset (+1).
_PCRE2_TEXT: dict[str, tuple[str, int | None]] = {
    "missing ), unterminated subpattern": ("missing closing parenthesis", None),
    "unbalanced parenthesis": ("unmatched closing parenthesis", 0),
    "unterminated character set": ("missing terminating ] for character class", None),
    "nothing to repeat": ("quantifier does not follow a repeatable item", 0),
    "multiple repeat": ("quantifier does not follow a repeatable item", 0),
    "bad escape (end of pattern)": ("\\ at end of pattern", None),
}


# Compiled patterns by (pattern, caseless): configurations repeat their regexes (the same
# location in every server), and a compiled pattern is immutable.  re's own cache holds
# 512 and is flushed in order, so a large configuration would compile them again.
_COMPILED: dict[tuple[str, bool], re.Pattern[str]] = {}
_MAX_COMPILED = 10_000


def compile_regex(pattern: str, caseless: bool = False) -> re.Pattern[str]:
    key = (pattern, caseless)
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _compile(pattern, caseless)
        if len(_COMPILED) >= _MAX_COMPILED:
            _COMPILED.clear()
        _COMPILED[key] = compiled
    return compiled


def _compile(pattern: str, caseless: bool) -> re.Pattern[str]:
    try:
        return re.compile(
            to_python(pattern) if "(?" in pattern else pattern, re.IGNORECASE if caseless else 0
        )
    except re.error as error:
        text, where = _PCRE2_TEXT.get(error.msg, (error.msg, 0))
        offset = len(pattern) if where is None or error.pos is None else error.pos + where
        if offset >= len(pattern):
            raise RegexError(f'pcre2_compile() failed: {text} in "{pattern}"') from None
        raise RegexError(f'pcre2_compile() failed: {text} in "{pattern}" at "{pattern[offset:]}"') from None
