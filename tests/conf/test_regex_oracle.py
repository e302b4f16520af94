"""PCRE2 syntax that Python's ``re`` reads otherwise: nginx and nginxpy must match alike.

Each regex is a ``map`` key on ``$uri`` (decoded, so a subject may hold a newline, a tab
or a Latin-1 byte), and one response lists which regexes matched, with their ``$1``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "http"))

from http_oracle import NGINX, Pair

REGEXES = [
    r"^/a{,3}$",
    r"^/\Qa.b\E$",
    r"^/a\hb$",
    r"^/a\Rb$",
    r"^/x(?i)ab|cd$",
    r"^/(x(?i)ab|cd)$",
    r"^/[[:alpha:]]+$",
    r"^/[^[:digit:]]+$",
    r"^/a\z",
    r"^/a\Z",
    r"^/a$",
    r"^/\w+$",
    r"(?<=/ab|/c)d",
    r"(?<!/ab|/c)d$",
    r"^/\x41\x{42}",
    r"^/(?<n>a)\k<n>$",
    r"^/(a)\g{-1}$",
    r"^/a\N$",
    r"^/[\w-]+$",
    r"^/a\vb$",
    r"^/a\sb$",
    r"^/a[\h]b$",
    r"^/(?s)a.b$",
    r"^/a(?-i)B$",
    r"^/\p{L}+$",
    r"^/\PL$",
    r"^/\p{Lu}",
    r"^/\p{Nd}+$",
    r"^/\p{^Ll}",
    r"^/\p{Cs}?a",
    r"^/[\p{Lu}\d]+$",
]
CASELESS = [r"^/\p{Lu}", r"^/\w+$", r"^/a(?-i)B$", r"^/[[:upper:]]+$"]

SUBJECTS = [
    "/a{,3}",
    "/aa",
    "/a.b",
    "/axb",
    "/a%20b",
    "/a%09b",
    "/a%A0b",
    "/a%0D%0Ab",
    "/a%0Ab",
    "/a%0Bb",
    "/xAB",
    "/CD",
    "/xcd",
    "/abc",
    "/a1",
    "/%E9",
    "/%C9",
    "/a",
    "/a%0A",
    "/abd",
    "/cd",
    "/xd",
    "/AB",
    "/ab",
    "/a-b",
    "/AB",
    "/Ab",
    "/aB",
]


def _conf() -> str:
    maps, values = [], []
    keys = [("~", regex) for regex in REGEXES] + [("~*", regex) for regex in CASELESS]
    for index, (operator, regex) in enumerate(keys):
        maps.append(f'    map $uri $m{index} {{ default "-"; "{operator}{regex}" "+$1"; }}')
        values.append(f"$m{index}")
    body = " ".join(values)
    return (
        "events {}\nhttp {\n"
        + "\n".join(maps)
        + f'\n    server {{\n        listen 127.0.0.1:{{port0}};\n        location / {{ return 200 "{body}\\n"; }}\n    }}\n}}\n'
    )


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    if not Path(NGINX).exists():
        pytest.skip("no nginx binary to use as the oracle")
    with Pair(tmp_path_factory.mktemp("regex"), _conf()) as running:
        yield running


@pytest.mark.parametrize("subject", SUBJECTS)
def test_regex_matches(pair: Pair, subject: str) -> None:
    pair.compare(f"GET {subject} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
