"""The map module (ngx_http_map_module): a variable whose value is looked up from another.

Look-up order, as nginx's ``ngx_hash_find_combined`` then regexes: exact key, then
(with ``hostnames``) the longest leading wildcard, the longest trailing wildcard, then
the regexes in the order written, then ``default`` (or the empty string).  The value is
computed once per request unless the map is ``volatile``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nginxpy.conf.model import MapConf
from nginxpy.conf.script import ComplexValue

if TYPE_CHECKING:
    from nginxpy.http.request import Request


def find_map_value(conf: MapConf, key: str) -> tuple[ComplexValue | None, object]:
    """The matching entry's value for a key: (value, regex match or None).  Pure."""
    lowered = key.lower()
    if conf.hostnames and lowered.endswith("."):
        lowered = lowered[:-1]
    found = conf.exact.get(lowered)
    if found is not None:
        return found, None
    if conf.hostnames and conf.wildcards:
        best: ComplexValue | None = None
        best_len = -1
        for entry in conf.wildcards:
            name = entry.key
            if name.startswith("*."):
                if lowered.endswith(name[1:]) and len(name) > best_len:
                    best, best_len = entry.value, len(name)
            elif (
                name.startswith(".")
                and (lowered.endswith(name) or lowered == name[1:])
                and len(name) > best_len
            ):
                best, best_len = entry.value, len(name)
        if best is not None:
            return best, None
        for entry in conf.wildcards:
            name = entry.key
            if name.endswith(".*") and lowered.startswith(name[:-1]) and len(name) > best_len:
                best, best_len = entry.value, len(name)
        if best is not None:
            return best, None
    for entry in conf.regexes:
        assert entry.regex is not None
        match = entry.regex.search(key)
        if match is not None:
            return entry.value, match
    return conf.default, None


def map_value(r: Request, conf: MapConf) -> str:
    from nginxpy.http.variables import evaluate

    cache = r.ctx.setdefault("map", {})
    if not conf.volatile and conf.variable in cache:
        return str(cache[conf.variable])
    # Guard against a map that refers to itself.
    if cache.get(conf.variable) is _BUSY:
        return ""
    cache[conf.variable] = _BUSY
    key = evaluate(conf.source, r)
    value, match = find_map_value(conf, key)
    if value is None:
        result = ""
    elif match is not None:
        saved = r.captures
        import re

        assert isinstance(match, re.Match)
        r.set_captures(match)
        result = evaluate(value, r)
        r.captures = saved
    else:
        result = evaluate(value, r)
    cache[conf.variable] = result
    return result


_BUSY = object()
