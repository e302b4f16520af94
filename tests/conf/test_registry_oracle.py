"""The directive table against the real thing: Debian's nginx 1.22.1 (``nginx -t``).

nginx checks a directive's name and context before its arguments and handler
(``ngx_conf_handler``), so the first error of a one-directive config tells whether the
name is known and allowed where it stands.  Every static Spec is placed once in a
context it allows (nginx must not call it unknown, misplaced, or miscounted) and once in
every context no Spec of that name allows (nginx must say it is not allowed here).
Names only the dynamic stream/mail modules define must be unknown to stock nginx.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nginxpy.conf.directives import SPECS
from nginxpy.conf.registry import MAX_ARGS, Args, Ctx, Spec, argument_count_ok

NGINX = shutil.which("nginx")
needs_nginx = pytest.mark.skipif(NGINX is None, reason="no nginx binary on PATH to use as the oracle")

# Where a directive is written, for each context nginx's http/events/main parser knows.
TEMPLATES: dict[Ctx, str] = {
    Ctx.MAIN: "{d}\nevents {{}}\n",
    Ctx.EVENTS: "events {{\n{d}\n}}\n",
    Ctx.HTTP: "events {{}}\nhttp {{\n{d}\n}}\n",
    Ctx.SERVER: "events {{}}\nhttp {{ server {{\n{d}\n}} }}\n",
    Ctx.LOCATION: "events {{}}\nhttp {{ server {{ location / {{\n{d}\n}} }} }}\n",
    Ctx.UPSTREAM: "events {{}}\nhttp {{ upstream u {{\n{d}\nserver 127.0.0.1; }} }}\n",
    Ctx.SERVER_IF: "events {{}}\nhttp {{ server {{ if ($host) {{\n{d}\n}} }} }}\n",
    Ctx.LOCATION_IF: "events {{}}\nhttp {{ server {{ location / {{ if ($host) {{\n{d}\n}} }} }} }}\n",
    Ctx.LIMIT_EXCEPT: "events {{}}\nhttp {{ server {{ location / {{ limit_except GET {{\n{d}\n}} }} }} }}\n",
}
ORACLE_CONTEXTS = list(TEMPLATES)


def shape(spec: Spec) -> Args:
    return Args(spec.args & ~Args.BLOCK)


def min_args(spec: Spec) -> int:
    return next(n for n in range(MAX_ARGS) if argument_count_ok(shape(spec), n))


def directive_line(spec: Spec, nargs: int | None = None) -> str:
    """The directive with nargs arguments (default: the fewest its shape accepts)."""
    if nargs is None:
        nargs = min_args(spec)
    words = [spec.name, *(["on" if shape(spec) & Args.FLAG else "x"] * nargs)]
    return " ".join(words) + (" {}" if spec.is_block else ";")


def positive_context(spec: Spec) -> Ctx:
    return next(c for c in ORACLE_CONTEXTS if spec.contexts & c)


def run_nginx(tmp: Path, key: str, body: str) -> str:
    conf = tmp / f"{key}.conf"
    conf.write_text(f"pid {tmp}/nginx.pid;\nerror_log stderr;\n{body}")
    assert NGINX is not None
    proc = subprocess.run(
        [NGINX, "-t", "-q", "-p", f"{tmp}/", "-c", str(conf), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.stderr


def run_all(tmp: Path, jobs: dict[str, str]) -> dict[str, str]:
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 2)) as pool:
        futures = {key: pool.submit(run_nginx, tmp, key, body) for key, body in jobs.items()}
        return {key: f.result() for key, f in futures.items()}


STATIC = [s for s in SPECS if not s.dynamic]
STATIC_NAMES = {s.name for s in STATIC}


def allowed_anywhere(name: str) -> Ctx:
    allowed = Ctx(0)
    for spec in STATIC:
        if spec.name == name:
            allowed |= spec.contexts
    return allowed


def binary_words() -> set[str]:
    """Every NUL-delimited lower-case word in the nginx binary and its _-suffixes.

    Directive names are string literals; the linker may merge one into the tail of a
    longer one ("ssl_certificate" inside "proxy_ssl_certificate"), hence the suffixes.
    """
    assert NGINX is not None
    data = Path(NGINX).resolve().read_bytes()
    words: set[str] = set()
    for raw in re.findall(rb"(?<=\x00)[a-z][a-z0-9_]{1,60}(?=\x00)", data):
        parts = raw.decode().split("_")
        words.update("_".join(parts[i:]) for i in range(len(parts)) if parts[i])
    return words


def misplaced(name: str, stderr: str) -> bool:
    return f'"{name}" directive is not allowed here' in stderr


# Each test runs its own nginx processes, so pytest-xdist can spread them over workers.


@needs_nginx
def test_every_static_spec_is_accepted_where_it_says(tmp_path: Path) -> None:
    jobs = {
        str(i): TEMPLATES[positive_context(spec)].format(d=directive_line(spec))
        for i, spec in enumerate(STATIC)
    }
    out = run_all(tmp_path, jobs)
    failures = []
    for i, spec in enumerate(STATIC):
        err = out[str(i)]
        bad = (
            f'unknown directive "{spec.name}"' in err
            or misplaced(spec.name, err)
            or f'invalid number of arguments in "{spec.name}" directive' in err
        )
        if bad:
            failures.append(f"{spec.module} {spec.name}: {err.strip()}")
    assert not failures, "\n".join(failures)


@needs_nginx
def test_argument_shapes_match(tmp_path: Path) -> None:
    """Every other argument count 0..7 in an allowed context: nginx's count check agrees."""
    jobs = {
        f"{i}-{n}": TEMPLATES[positive_context(spec)].format(d=directive_line(spec, n))
        for i, spec in enumerate(STATIC)
        for n in range(MAX_ARGS)
        if n != min_args(spec)
    }
    out = run_all(tmp_path, jobs)
    failures = []
    for key, err in out.items():
        i, n = map(int, key.split("-"))
        spec = STATIC[i]
        refused = f'invalid number of arguments in "{spec.name}" directive' in err
        if refused == argument_count_ok(shape(spec), n):
            failures.append(f"{spec.module} {spec.name} with {n} args: {err.strip()}")
    assert not failures, "\n".join(failures)


@needs_nginx
def test_every_static_name_is_refused_elsewhere(tmp_path: Path) -> None:
    jobs: dict[str, str] = {}
    for name in sorted(STATIC_NAMES):
        allowed = allowed_anywhere(name)
        spec = next(s for s in STATIC if s.name == name)
        for ctx in ORACLE_CONTEXTS:
            if not allowed & ctx:
                jobs[f"{name}-{ctx.name}"] = TEMPLATES[ctx].format(d=directive_line(spec))
    assert len(jobs) > len(STATIC_NAMES)
    out = run_all(tmp_path, jobs)
    failures = [f"{key}: {err.strip()}" for key, err in out.items() if not misplaced(key.split("-")[0], err)]
    assert not failures, "\n".join(failures)


def known_to_stock_nginx(tmp_path: Path, names: set[str]) -> list[str]:
    jobs = {name: TEMPLATES[Ctx.MAIN].format(d=f"{name} x;") for name in sorted(names)}
    out = run_all(tmp_path, jobs)
    return [name for name, err in out.items() if f'unknown directive "{name}"' not in err]


@needs_nginx
def test_dynamic_only_names_are_unknown_to_stock_nginx(tmp_path: Path) -> None:
    names = {s.name for s in SPECS if s.dynamic} - STATIC_NAMES
    assert len(names) > 30
    assert known_to_stock_nginx(tmp_path, names) == []


@needs_nginx
def test_no_directive_of_the_binary_is_missing(tmp_path: Path) -> None:
    """Any word of the binary that stock nginx knows as a directive has a static Spec."""
    words = binary_words() - STATIC_NAMES
    assert len(words) > 1000
    assert known_to_stock_nginx(tmp_path, words) == []


def test_specs_are_complete_and_unique() -> None:
    pairs = Counter((s.name, s.module) for s in SPECS)
    assert [p for p, n in pairs.items() if n > 1] == []
    for spec in SPECS:
        assert spec.summary, spec
        assert len(spec.summary) <= 100 and "\n" not in spec.summary, spec
        assert re.fullmatch(r"https://nginx\.org/en/docs/[\w/]+\.html(#\w+)?", spec.doc), spec
        assert spec.contexts, spec
        assert spec.kind in {
            "flag",
            "num",
            "size",
            "off",
            "msec",
            "sec",
            "str",
            "enum",
            "bitmask",
            "path",
            "bufs",
            "keyval",
            "str_array",
            "custom",
        }, spec
        assert bool(spec.values) == (spec.kind in ("enum", "bitmask")), spec
        assert spec.dynamic == spec.module.startswith(("ngx_stream_", "ngx_mail_")), spec
        assert not spec.implemented, spec
