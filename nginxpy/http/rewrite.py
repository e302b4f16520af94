"""The rewrite module (ngx_http_rewrite_module): return, rewrite, set, if, break.

A scope's statements run in order (``Scope.script``).  An ``if`` whose condition
holds makes its block the request's configuration (as nginx's ``if`` does) and runs
its statements in line; the statements after it run too.  The result tells the phase
runner what to do next.  Pure: no sockets, only the request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from nginxpy.conf.ast import Directive
from nginxpy.conf.model import IfScope, Scope
from nginxpy.conf.regex import compile_regex
from nginxpy.conf.script import ComplexValue, compile_value
from nginxpy.http.request import Request
from nginxpy.http.variables import evaluate

REDIRECT_CODES = (301, 302, 303, 307, 308)


@dataclass(slots=True)
class Outcome:
    action: str  # "done" (all ran), "break", "last" (find the location again), "status"
    status: int = 0


DONE = Outcome("done")
BREAK = Outcome("break")
LAST = Outcome("last")


@lru_cache(maxsize=4096)
def _value(text: str) -> ComplexValue:
    return compile_value(text)


@lru_cache(maxsize=1024)
def _regex(pattern: str, caseless: bool) -> re.Pattern[str]:
    return compile_regex(pattern, caseless)


Statement = Callable[[Request], "Outcome | None"]

# Each scope's statements, made once (keyed by the scope, which lives as long as its
# configuration): an IfScope, or a function of the request.
_SCRIPTS: dict[int, tuple[Scope, list[IfScope | Statement]]] = {}


def _script(scope: Scope) -> list[IfScope | Statement]:
    cached = _SCRIPTS.get(id(scope))
    if cached is None or cached[0] is not scope:
        if len(_SCRIPTS) >= 4096:  # configurations reloaded many times
            _SCRIPTS.clear()
        script: list[IfScope | Statement] = [
            item if isinstance(item, IfScope) else _statement(item) for item in scope.script
        ]
        cached = _SCRIPTS[id(scope)] = (scope, script)
    return cached[1]


def _statement(directive: Directive) -> Statement:
    if directive.name == "return":
        constant = _constant_return(directive.values)
        if constant is not None:
            outcome, text = constant

            def run_return(r: Request) -> Outcome:
                r.ctx["return_text"] = text
                return outcome

            return run_return
    return lambda r: run_statement(r, directive)


def _constant_return(words: list[str]) -> tuple[Outcome, ComplexValue | None] | None:
    """A return that only sends a status (and a body text): its outcome, made once."""
    first = words[0]
    if not first.isdigit():
        return None
    code = int(first)
    text = words[1] if len(words) > 1 else None
    if code == 444 or not (code < 400 or text) or code in REDIRECT_CODES:
        return None
    return _status(-code), _value(text) if text is not None else None


def run_script(r: Request, scope: Scope) -> Outcome:
    """Run a scope's rewrite statements (ngx_http_rewrite_handler)."""
    if not scope.script:
        return DONE
    for item in _script(scope):
        if isinstance(item, IfScope):
            if not test_condition(r, item.condition):
                continue
            if_loc = r.http.ifs.get(id(item))
            if if_loc is not None:
                r.loc = if_loc
            inner = run_script(r, item)
            if inner.action != "done":
                return inner
            continue
        outcome = item(r)
        if outcome is not None:
            return outcome
    return DONE


def run_statement(r: Request, directive: Directive) -> Outcome | None:
    name = directive.name
    words = directive.values
    if name == "set":
        variable = words[0][1:].lower()
        value = evaluate(_value(words[1]), r)
        if variable == "args":
            r.args = value
        else:
            r.vars[variable] = value
        return None
    if name == "break":
        return BREAK
    if name == "return":
        return rewrite_return(r, words)
    if name == "rewrite":
        return rewrite_rewrite(r, words)
    return None


@lru_cache(maxsize=1024)
def _status(code: int) -> Outcome:
    return Outcome("status", code)


def rewrite_return(r: Request, words: list[str]) -> Outcome:
    """ngx_http_rewrite_return: the status, and the Location or the body text."""
    first = words[0]
    if not first.isdigit():
        r.location = evaluate(_value(first), r)
        return _status(302)
    code = int(first)
    text = words[1] if len(words) > 1 else None
    if code == 444:
        return _status(444)
    if code < 400 or text:
        if code in REDIRECT_CODES:
            r.location = evaluate(_value(text), r) if text is not None else ""
            return _status(code)
        # evaluated when sent, after the body is discarded (ngx_http_send_response)
        r.ctx["return_text"] = _value(text) if text is not None else None
        return _status(-code)  # negative: "send this body with this status"
    return _status(code)


def rewrite_rewrite(r: Request, words: list[str]) -> Outcome | None:
    """ngx_http_rewrite: the regex tests $uri; the replacement becomes the new URI or a redirect."""
    regex = _regex(words[0], False)
    match = regex.search(r.uri)
    if match is None:
        return None
    r.set_captures(match)
    replacement = words[1]
    flag = words[2] if len(words) > 2 else ""
    result = evaluate(_value(replacement), r)
    redirect = flag in ("redirect", "permanent") or replacement.startswith(("http://", "https://", "$scheme"))
    if "?" in result:
        new_uri, _, new_args = result.partition("?")
        if replacement.endswith("?"):
            args = new_args[:-1] if new_args.endswith("?") else new_args
        elif new_args and r.args:
            args = f"{new_args}&{r.args}"
        else:
            args = new_args or r.args
    else:
        new_uri, args = result, r.args
    if redirect:
        r.location = f"{new_uri}?{args}" if args else new_uri
        return Outcome("status", 301 if flag == "permanent" else 302)
    r.uri = new_uri
    r.args = args
    r.ctx["uri_changed"] = True
    if flag == "break":
        return BREAK
    if flag == "last":
        return LAST
    return None


def test_condition(r: Request, words: list[str]) -> bool:
    """ngx_http_rewrite_if_condition at run time."""
    first = words[0]
    if first.startswith("$"):
        value = evaluate(_value(first), r)
        if len(words) == 1:
            return value not in ("", "0")
        operator, operand = words[1], words[2]
        if operator == "=":
            return value == evaluate(_value(operand), r)
        if operator == "!=":
            return value != evaluate(_value(operand), r)
        regex = _regex(operand, operator.endswith("*"))
        match = regex.search(value)
        if operator.startswith("!"):
            return match is None
        if match is not None:
            r.set_captures(match)
        return match is not None
    negate = first.startswith("!")
    test = first.lstrip("!")
    path = evaluate(_value(words[1]), r)
    try:
        st = os.stat(path)
    except OSError:
        return negate
    import stat as stat_mod

    if test == "-f":
        result = stat_mod.S_ISREG(st.st_mode)
    elif test == "-d":
        result = stat_mod.S_ISDIR(st.st_mode)
    elif test == "-e":
        result = True
    else:
        result = not stat_mod.S_ISDIR(st.st_mode) and bool(st.st_mode & 0o111)
    return result != negate
