"""nginx's regular expressions are PCRE2; Python's ``re`` is close, and this bridges the gap.

``to_python`` rewrites the PCRE2 syntax ``re`` lacks or reads differently: ``\\Q..\\E``,
``\\h \\v \\R \\N \\z \\Z \\G \\e \\cX \\x{..} \\o{..}``, ``\\g``/``\\k`` back-references,
``\\p{..}`` general categories,
POSIX classes in brackets, option settings such as ``(?i)`` in the middle of a pattern
(scoped to the rest of their group, as in PCRE), lookbehinds whose alternatives differ
in length, and ``{`` that is no quantifier (``{,3}`` is literal in PCRE2 10.42).  It
rejects what PCRE2 rejects and ``re`` would take, with PCRE2's message.  Patterns are
compiled ASCII-only: nginx's PCRE2 runs without UTF or UCP on bytes in the C locale.
Possessive quantifiers and atomic groups are native in Python 3.11.
"""

from __future__ import annotations

import re


class RegexError(ValueError):
    pass


class _Fail(Exception):
    """A PCRE2 compile error found while translating: its text and offset in the pattern."""

    def __init__(self, text: str, offset: int) -> None:
        super().__init__(text)
        self.text = text
        self.offset = offset


_POSIX = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": "\\t\\n\\x0b\\x0c\\r ",
    "blank": " \\t",
    "punct": re.sub(r"(.)", r"\\\1", "!\"#$%&'()*+,-./:;<=>?@[]^_`{|}~\\"),
    "xdigit": "0-9A-Fa-f",
    "word": "\\w",
    "cntrl": "\\x00-\\x1f\\x7f",
    "print": "\\x20-\\x7e",
    "graph": "\\x21-\\x7e",
    "ascii": "\\x00-\\x7f",
}
_HSPACE = "\\t \\xa0"  # \h in 8-bit, non-UTF mode
_VSPACE = "\\n\\x0b\\x0c\\r\\x85"  # \v
_UNSUPPORTED_ESCAPE = "PCRE2 does not support \\F, \\L, \\l, \\N{name}, \\U, or \\u"
_PCRE_LETTERS = set("aAbBcCdDeEfgGhHkKnNopPQrRsStuUvVwWxXzZLlF")
_CLASS_SPECIAL = set("[]\\^-&~|")
_FLAGS = re.compile(r"\(\?([imsx]*(?:-[imsx]*)?)\)")
_QUANTIFIER = re.compile(r"\{(\d+)(,(\d*))?\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Frame:
    """One open group: its opening text, and option scopes opened inside it."""

    def __init__(self, lookbehind: str = "") -> None:
        self.lookbehind = lookbehind  # "(?<=" or "(?<!" for a lookbehind
        self.wraps: list[str] = []


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.pos = 0
        self.out: list[str] = []
        self.origin: list[int] = []  # for each output piece, where it came from
        self.frames: list[_Frame] = [_Frame()]
        self.groups = 0
        self.lookbehinds: list[int] = []

    def emit(self, text: str, origin: int) -> None:
        self.out.append(text)
        self.origin.append(origin)

    def translate(self) -> str:
        pattern = self.pattern
        while self.pos < len(pattern):
            ch = pattern[self.pos]
            start = self.pos
            if ch == "\\":
                self.escape()
            elif ch == "[":
                self.char_class()
            elif ch == "(":
                self.open_group()
            elif ch == ")":
                self.pos += 1
                if len(self.frames) > 1:
                    frame = self.frames.pop()
                    self.close_wraps(frame, start)
                    self.emit("))" if frame.lookbehind else ")", start)
                else:
                    self.emit(")", start)  # re reports the unmatched parenthesis
            elif ch == "|":
                self.pos += 1
                frame = self.frames[-1]
                self.close_wraps(frame, start)
                if frame.lookbehind == "(?<=":
                    self.emit(")|(?<=", start)
                elif frame.lookbehind:
                    self.emit(")(?<!", start)
                else:
                    self.emit("|", start)
                for flags in frame.wraps:
                    self.emit(f"(?{flags}:", start)
            elif ch == "{":
                self.brace()
            else:
                self.pos += 1
                self.emit(ch, start)
        for frame in reversed(self.frames):
            self.close_wraps(frame, len(pattern))
        return "".join(self.out)

    def close_wraps(self, frame: _Frame, origin: int) -> None:
        if frame.wraps:
            self.emit(")" * len(frame.wraps), origin)

    def brace(self) -> None:
        start = self.pos
        match = _QUANTIFIER.match(self.pattern, start)
        if match is None:
            self.pos += 1
            self.emit("\\{", start)  # not a quantifier: a literal brace, as PCRE2 reads it
            return
        low, high = int(match.group(1)), match.group(3)
        end = match.end() - 1
        if low > 65535 or (high and int(high) > 65535):
            raise _Fail("number too big in {} quantifier", end)
        if high and int(high) < low:
            raise _Fail("numbers out of order in {} quantifier", end)
        self.pos = match.end()
        self.emit(match.group(0), start)

    def open_group(self) -> None:
        pattern, start = self.pattern, self.pos
        rest = pattern[start:]
        if rest.startswith("(*"):
            name = re.match(r"\(\*([A-Za-z_]*)", rest)
            assert name is not None
            raise _Fail("(*VERB) not recognized or malformed", start + name.end())
        flags = _FLAGS.match(pattern, start)
        if flags is not None and flags.group(1).strip("-"):
            self.pos = flags.end()
            setting = flags.group(1).rstrip("-")
            if start == 0 and "-" not in setting:
                self.emit(f"(?{setting})", start)  # re takes global flags at the very start
            else:
                # PCRE: the setting lasts to the end of the group, alternatives included.
                self.frames[-1].wraps.append(setting)
                self.emit(f"(?{setting}:", start)
            return
        if rest.startswith(("(?<=", "(?<!")):
            self.pos += 4
            self.lookbehinds.append(start)
            self.frames.append(_Frame(rest[:4]))
            self.emit("(?:" + rest[:4], start)
            return
        named = re.match(r"\(\?(?:P?<|')", rest)
        if named is not None:
            at = start + named.end()
            if at < len(pattern) and pattern[at].isdigit():
                raise _Fail("subpattern name must start with a non-digit", at)
            name = _NAME.match(pattern, at)
            close = ">" if pattern[at - 1] == "<" else "'"
            if name is not None and name.end() >= len(pattern):
                raise _Fail("syntax error in subpattern name (missing terminator?)", name.end())
            if name is not None and pattern.startswith(close, name.end()):
                self.groups += 1
                self.pos = name.end() + 1
                self.frames.append(_Frame())
                self.emit("(?P<", start)
                self.emit(name.group(0), at)
                self.emit(">", name.end())
                return
        if not rest.startswith("(?"):
            self.groups += 1
        self.pos += 1
        self.frames.append(_Frame())
        self.emit("(", start)

    def escape(self) -> None:
        pattern, start = self.pattern, self.pos
        if start + 1 >= len(pattern):
            raise _Fail("\\ at end of pattern", len(pattern))
        letter = pattern[start + 1]
        self.pos = start + 2
        if letter == "Q":
            end = pattern.find("\\E", self.pos)
            literal = pattern[self.pos :] if end < 0 else pattern[self.pos : end]
            for offset, char in enumerate(literal):
                self.emit(re.escape(char), self.pos + offset)
            self.pos = len(pattern) if end < 0 else end + 2
            return
        if letter == "E":
            return
        simple = {
            "h": f"[{_HSPACE}]",
            "H": f"[^{_HSPACE}]",
            "v": f"[{_VSPACE}]",
            "V": f"[^{_VSPACE}]",
            "R": f"(?>\\r\\n|[{_VSPACE}])",
            "N": "[^\\n]",
            "z": "\\Z",
            "Z": "(?=\\n?\\Z)",
            "G": "\\A",  # nginx matches once, from the start of the subject
        }
        if letter == "N" and pattern.startswith("{", self.pos):
            raise _Fail(_UNSUPPORTED_ESCAPE, self.pos)
        if letter in simple:
            self.emit(simple[letter], start)
            return
        if letter in "uULlF":
            raise _Fail(_UNSUPPORTED_ESCAPE, self.pos)
        if letter == "g" or letter == "k":
            self.backreference(letter, start)
            return
        if letter in "pP":
            members = self.property_members(letter)
            if members is not None:
                # An empty set matches nothing, its negation anything; caseless
                # matching leaves Unicode properties alone in PCRE2.
                if not members.strip("^"):
                    members = "^\\x00-\\xff" if members == "" else "\\s\\S"
                self.emit(f"(?-i:[{members}])", start)
                return
        code = self.code_escape(letter)
        if code is not None:
            self.emit(code, start)
            return
        if letter.isascii() and letter.isalpha() and letter not in _PCRE_LETTERS:
            raise _Fail("unrecognized character follows \\", start + 1)
        self.emit("\\" + letter, start)

    def property_members(self, letter: str) -> str | None:
        """\\p{..} \\pX \\P..: the class body of the characters below 256 with that Unicode
        property (PCRE2 without UTF still consults Unicode); None for a property not modelled."""
        match = re.match(r"\{(\^?)([A-Za-z&_ ]+)\}|([A-Za-z])", self.pattern[self.pos :])
        if match is None:
            raise _Fail("malformed \\P or \\p sequence", len(self.pattern))
        name = match.group(2) or match.group(3)
        negate = (letter == "P") != bool(match.group(1))
        members = _property_members(name)
        if members is None:
            return None
        self.pos += match.end()
        return ("^" if negate else "") + members

    def code_escape(self, letter: str) -> str | None:
        """\\e \\cX \\x.. \\x{..} \\o{..}: one character, as re writes it."""
        pattern = self.pattern
        code: int | None = None
        if letter == "e":
            code = 0x1B
        elif letter == "c":
            if self.pos >= len(pattern):
                raise _Fail("\\c at end of pattern", len(pattern))
            code = ord(pattern[self.pos].upper()) ^ 0x40
            self.pos += 1
        elif letter == "x":
            braced = re.match(r"\{([0-9A-Fa-f]+)\}", pattern[self.pos :])
            digits = braced or re.match(r"[0-9A-Fa-f]{0,2}", pattern[self.pos :])
            assert digits is not None
            text = digits.group(1) if braced else digits.group(0)
            code = int(text, 16) if text else 0
            self.pos += digits.end()
        elif letter == "o" and pattern.startswith("{", self.pos):
            octal = re.match(r"\{([0-7]+)\}", pattern[self.pos :])
            if octal is None:
                return None
            code = int(octal.group(1), 8)
            self.pos += octal.end()
        if code is None:
            return None
        if code > 0xFF:
            raise _Fail("character code point value in \\x{} or \\o{} is too large", self.pos - 1)
        return f"\\x{code:02x}"

    def backreference(self, letter: str, start: int) -> None:
        pattern = self.pattern
        forms = [r"\{(-?\d+)\}", r"(-?\d+)", r"\{([A-Za-z_]\w*)\}"] if letter == "g" else []
        forms += [r"<([A-Za-z_]\w*)>", r"'([A-Za-z_]\w*)'", r"\{([A-Za-z_]\w*)\}"] if letter == "k" else []
        for form in forms:
            match = re.match(form, pattern[self.pos :])
            if match is None:
                continue
            ref = match.group(1)
            self.pos += match.end()
            if ref.lstrip("-").isdigit():
                number = int(ref)
                if number < 0:
                    number = self.groups + number + 1
                self.emit(f"(?:\\{number})", start)
            else:
                self.emit(f"(?P={ref})", start)
            return
        self.emit("\\" + letter, start)  # a subroutine call \g<..>: re reports it

    def char_class(self) -> None:
        pattern, start = self.pattern, self.pos
        posix = re.match(r"\[:\^?[A-Za-z]+:\]", pattern[start:])
        if posix is not None:
            raise _Fail("POSIX named classes are supported only within a class", start)
        self.pos += 1
        self.emit("[", start)
        if pattern.startswith("^", self.pos):
            self.emit("^", self.pos)
            self.pos += 1
        items = 0  # pieces seen, the "[" included
        while self.pos < len(pattern):
            items += 1
            at = self.pos
            ch = pattern[at]
            if ch == "]" and items > 1:
                self.pos += 1
                self.emit("]", at)
                return
            if ch == "[":
                posix = re.match(r"\[:(\^?)([A-Za-z]+):\]", pattern[at:])
                if posix is not None:
                    if posix.group(2) not in _POSIX:
                        raise _Fail("unknown POSIX class name", at + 2 + len(posix.group(1)))
                    if not posix.group(1):
                        self.pos += posix.end()
                        self.emit(_POSIX[posix.group(2)], at)
                        continue
            if ch == "\\" and at + 1 < len(pattern):
                letter = pattern[at + 1]
                if letter == "Q":
                    end = pattern.find("\\E", at + 2)
                    literal = pattern[at + 2 :] if end < 0 else pattern[at + 2 : end]
                    for offset, char in enumerate(literal):
                        self.emit("\\" + char if char in _CLASS_SPECIAL else char, at + 2 + offset)
                    self.pos = len(pattern) if end < 0 else end + 2
                    continue
                if letter == "E":
                    self.pos += 2
                    continue
                if letter in "89":
                    self.pos += 2
                    self.emit(letter, at)  # no back-reference in a class: the digit itself
                    continue
                if letter in "hv":
                    self.pos += 2
                    self.emit(_HSPACE if letter == "h" else _VSPACE, at)
                    continue
                if letter in "uULlF":
                    raise _Fail(_UNSUPPORTED_ESCAPE, at + 2)
                self.pos += 2
                if letter in "pP":
                    members = self.property_members(letter)
                    if members is not None and not members.startswith("^"):
                        self.emit(members, at)
                        continue
                    self.pos = at + 2  # a negated property in a class is not modelled
                code = self.code_escape(letter)
                if code is not None:
                    self.emit(code, at)
                    continue
                if letter.isascii() and letter.isalpha() and letter not in _PCRE_LETTERS:
                    raise _Fail("unrecognized character follows \\", at + 1)
                self.emit("\\" + letter, at)
                continue
            self.pos += 1
            if ch == "-":
                # Between two items a range (re judges it); first or last, a literal.
                ranged = items > 1 and pattern[at - 1] != "-" and not pattern.startswith("]", at + 1)
                self.emit("-" if ranged else "\\-", at)
                continue
            self.emit("\\" + ch if ch in _CLASS_SPECIAL else ch, at)
        # Unterminated: re reports it from the end.


_GENERAL_CATEGORIES = set(
    "C Cc Cf Cn Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So "
    "Z Zl Zp Zs".split()
)


def _property_members(name: str) -> str | None:
    import unicodedata

    def has(char: str) -> bool:
        category = unicodedata.category(char)
        if name == "Any":
            return True
        if name == "L&":
            return category in ("Lu", "Ll", "Lt")
        if name == "Xan":
            return category[0] in "LN"
        if name in ("Xsp", "Xps"):
            return category[0] == "Z" or char in "\t\n\x0b\x0c\r"
        if name == "Xwd":
            return category[0] in "LN" or char == "_"
        return category == name if len(name) == 2 else category[0] == name

    if name not in _GENERAL_CATEGORIES and name not in ("Any", "L&", "Xan", "Xsp", "Xps", "Xwd"):
        return None
    return "".join(f"\\x{code:02x}" for code in range(256) if has(chr(code)))


def to_python(pattern: str) -> str:
    return _Translator(pattern).translate()


# Python's messages for the mistakes people make, in PCRE2's words, and where PCRE2
# says the error is: None for the end of the pattern, else at Python's offset (+n).
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


def _failure(pattern: str, text: str, offset: int) -> RegexError:
    if offset >= len(pattern):
        return RegexError(f'pcre2_compile() failed: {text} in "{pattern}"')
    return RegexError(f'pcre2_compile() failed: {text} in "{pattern}" at "{pattern[offset:]}"')


# What the translator rewrites; a pattern without any of it is the same in re.
_NEEDS_TRANSLATION = re.compile(r"[\\\[{]|\([?*]")


def _compile(pattern: str, caseless: bool) -> re.Pattern[str]:
    flags = re.ASCII | (re.IGNORECASE if caseless else 0)
    if _NEEDS_TRANSLATION.search(pattern) is None:
        try:
            return re.compile(pattern, flags)
        except re.error:
            pass  # the translator's pass below words the error as PCRE2 does
    translator = _Translator(pattern)
    try:
        translated = translator.translate()
    except _Fail as fail:
        raise _failure(pattern, fail.text, fail.offset) from None
    try:
        return re.compile(translated, flags)
    except re.error as error:
        text, offset = _pcre2_error(pattern, translator, error)
        raise _failure(pattern, text, offset) from None


def _pcre2_error(pattern: str, translator: _Translator, error: re.error) -> tuple[str, int]:
    """re's complaint about the translated pattern, in PCRE2's words and at its offset."""
    position = len(pattern)
    if error.pos is not None:
        # The piece of output the error falls in, and where that piece came from.
        seen = 0
        for piece, origin in zip(translator.out, translator.origin, strict=True):
            if seen + len(piece) > error.pos:
                position = origin + (
                    error.pos - seen
                    if len(piece) == 1 or piece == pattern[origin : origin + len(piece)]
                    else 0
                )
                break
            seen += len(piece)
    message = error.msg
    if message in _PCRE2_TEXT:
        text, where = _PCRE2_TEXT[message]
        if where is None or error.pos is None:
            return text, len(pattern)
        if text.startswith("quantifier") and pattern.startswith("{", position):
            return text, max(pattern.find("}", position), position)  # PCRE2 points at its end
        return text, position + where
    if message.startswith("look-behind requires fixed-width"):
        return "lookbehind assertion is not fixed length", translator.lookbehinds[
            0
        ] if translator.lookbehinds else 0
    if message.startswith(("invalid group reference", "unknown group name")):
        return "reference to non-existent subpattern", position
    if message.startswith("redefinition of group name"):
        name = message.split("'")[1] if "'" in message else ""
        # PCRE2 points past the name and its ">".
        return "two named subpatterns have the same name (PCRE2_DUPNAMES not set)", position + len(name) + 1
    if message.startswith("bad character range"):
        low, _, high = message[len("bad character range ") :].partition("-")
        if re.fullmatch(r"\\[dDsSwWhHvV]", low):
            return "invalid range in character class", position + len(low)
        if re.fullmatch(r"\\[dDsSwWhHvV]", high):
            return "invalid range in character class", position + len(low) + 1 + len(high)
        return "range out of order in character class", position + len(low) + 1
    if message.startswith("octal escape value"):
        return "octal value is greater than \\377 in 8-bit non-UTF-8 mode", position + 4
    return message, position
