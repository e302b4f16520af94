"""Parsers for nginx's value types, with nginx's rules (src/core/ngx_parse.c).

Each returns None for a value nginx rejects; the caller words the error as the
directive's setter does in nginx.
"""

from __future__ import annotations

MAX_INT = 2**63 - 1  # NGX_MAX_INT_T_VALUE / NGX_MAX_OFF_T_VALUE on 64-bit Linux
MAX_SIZE = 2**63 - 1


def parse_int(text: str) -> int | None:
    """ngx_atoi: decimal digits only, no sign."""
    if not text or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= MAX_INT else None


_SIZE_SCALE = {"k": 1024, "K": 1024, "m": 1024**2, "M": 1024**2}
_OFFSET_SCALE = {**_SIZE_SCALE, "g": 1024**3, "G": 1024**3}


def _scaled(text: str, scales: dict[str, int]) -> int | None:
    if not text:
        return None
    scale = scales.get(text[-1], 1)
    digits = text[:-1] if text[-1] in scales else text
    value = parse_int(digits)
    if value is None or value > MAX_SIZE // scale:
        return None
    return value * scale


def parse_size(text: str) -> int | None:
    """ngx_parse_size: "1024", "8k", "10m"."""
    return _scaled(text, _SIZE_SCALE)


def parse_offset(text: str) -> int | None:
    """ngx_parse_offset: like a size, and "g" too."""
    return _scaled(text, _OFFSET_SCALE)


# (unit, step order, seconds); "ms" is handled on its own.
_TIME_UNITS = {
    "y": (1, 365 * 86400),
    "M": (2, 30 * 86400),
    "w": (3, 7 * 86400),
    "d": (4, 86400),
    "h": (5, 3600),
    "m": (6, 60),
    "s": (7, 1),
}
_STEP_MSEC, _STEP_LAST = 8, 9


def parse_time(text: str, is_sec: bool) -> int | None:
    """ngx_parse_time: "30s", "1h 30m", "500ms", "1d"; a bare number is seconds.

    Returns seconds when is_sec, else milliseconds.  Years and months are only
    accepted for second-valued directives, as in nginx; units must decrease.
    """
    step = 0 if is_sec else 2
    value, total, valid = 0, 0, False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        i += 1
        if "0" <= ch <= "9":
            value = value * 10 + ord(ch) - 48
            if value > MAX_INT:
                return None
            valid = True
            continue
        if ch == "m" and i < n and text[i] == "s":
            if is_sec or step >= _STEP_MSEC:
                return None
            i += 1
            step, scale = _STEP_MSEC, 1
        elif ch in _TIME_UNITS:
            order, seconds = _TIME_UNITS[ch]
            if (ch == "y" and step > 0) or (ch != "y" and step >= order):
                return None
            step, scale = order, seconds
        elif ch == " ":
            if step >= 7:
                return None
            step, scale = _STEP_LAST, 1
        else:
            return None
        if step != _STEP_MSEC and not is_sec:
            scale *= 1000
        value *= scale
        if value > MAX_INT or total > MAX_INT - value:
            return None
        total += value
        value = 0
        while i < n and text[i] == " ":
            i += 1
    if not valid:
        return None
    if not is_sec:
        value *= 1000
    if value > MAX_INT or total > MAX_INT - value:
        return None
    return total + value


def parse_flag(text: str) -> bool | None:
    lowered = text.lower()
    if lowered == "on":
        return True
    if lowered == "off":
        return False
    return None
