"""Location matching (ngx_http_core_find_location), pure.

At each level (the server, then inside the chosen location): an exact ``=`` match
ends the search; otherwise the longest matching prefix is chosen (a prefix equal to
the URI first), or the automatic redirect of a ``proxy_pass``-like location whose name
is the URI plus "/", then its nested locations are searched; unless that prefix is
``^~``, the regex locations of the level are tried in order, and the first match wins
(its nested locations are searched too).
"""

from __future__ import annotations

import re

from nginxpy.http.config import LocConf

OK = 0  # an exact or regex match
DONE = 1  # the automatic "301 with a slash"
AGAIN = 2  # a prefix match
DECLINED = 3  # nothing at this level


def find_static_location(level: LocConf, uri: str) -> tuple[int, LocConf | None]:
    exact = level.exact.get(uri)
    if exact is not None:
        return OK, exact
    same = level.inclusive.get(uri)
    if same is not None:
        return AGAIN, same
    redirect = level.redirects.get(uri + "/")
    if redirect is not None:
        return DONE, redirect
    for loc in level.prefixes:
        if uri.startswith(loc.name):
            return AGAIN, loc
    return DECLINED, None


def find_location(level: LocConf, uri: str) -> tuple[int, LocConf, re.Match[str] | None]:
    """(rc, the location, the regex match that chose it).  ``level`` is the server's conf
    or a location whose nested locations are searched."""
    rc, found = find_static_location(level, uri)
    current = level
    match: re.Match[str] | None = None
    noregex = False
    if rc == AGAIN:
        assert found is not None
        current = found
        noregex = found.noregex
        rc, current, match = find_location(found, uri)
    elif found is not None:
        current = found
    if rc in (OK, DONE):
        return rc, current, match
    if not noregex:
        for loc in level.regexes:
            assert loc.regex is not None
            regex_match = loc.regex.search(uri)
            if regex_match is not None:
                _inner_rc, inner, inner_match = find_location(loc, uri)
                return OK, inner, inner_match or regex_match
    return rc, current, match
