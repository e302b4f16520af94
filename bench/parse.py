"""Parse a large configuration with nginxpy, crossplane and nginx -t; compare time and memory.

    python bench/parse.py [--lines 100000] [--runs 3] [CONFIG]

Without CONFIG, bench/gen_config.py writes one into a temporary directory.  Every
contender runs in a fresh subprocess (so imports and caches do not leak between
them); the time is the best of --runs, measured inside the child around the parse
alone (imports and nginxpy's one-off grammar load excluded, reported apart), and the
memory is the child's peak RSS (ru_maxrss), the interpreter and imports included:
the "baseline" rows show what the imports alone cost.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# --- the children ---------------------------------------------------------------


def _maxrss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(kind: str, path: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if kind.startswith("nginx -t="):
        # nginx's own peak RSS: the only child of this process
        start = time.perf_counter()
        run = subprocess.run(
            [kind.split("=", 1)[1], "-t", "-q", "-p", os.path.dirname(path), "-c", path, "-e", "stderr"],
            capture_output=True,
            text=True,
        )
        result["seconds"] = time.perf_counter() - start
        result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        result["ok"] = run.returncode == 0
        result["error"] = run.stderr.strip()[:200]
        return result
    if kind.startswith("nginxpy"):
        from nginxpy.conf import parse

        start = time.perf_counter()
        parse._get_parser()  # build (or load from cache) the LALR tables: once per process
        result["setup"] = time.perf_counter() - start
        result["rss_after_import"] = _maxrss_kb()
        if kind == "nginxpy-baseline":
            result["seconds"] = 0.0
        elif kind == "nginxpy-parse":
            start = time.perf_counter()
            conf = parse.parse_file(path)
            result["seconds"] = time.perf_counter() - start
            result["ok"] = conf.error is None
        elif kind == "nginxpy-json":
            from nginxpy.conf.dump import parse_tree_to_crossplane

            start = time.perf_counter()
            payload = parse_tree_to_crossplane(path, comments=False)
            result["seconds"] = time.perf_counter() - start
            result["ok"] = payload["status"] == "ok"
        elif kind == "nginxpy-check":
            from nginxpy.conf import check

            loader = getattr(check, "check_file", None) or check.load
            start = time.perf_counter()
            checked = loader(path)
            result["seconds"] = time.perf_counter() - start
            result["ok"] = getattr(checked, "error", None) is None
            if not result["ok"]:
                result["error"] = str(checked.error)
    elif kind.startswith("crossplane"):
        import crossplane

        result["rss_after_import"] = _maxrss_kb()
        kwargs: dict[str, Any] = (
            {"check_ctx": False, "check_args": False} if kind == "crossplane-nocheck" else {}
        )
        if kind == "crossplane-baseline":
            result["seconds"] = 0.0
        else:
            start = time.perf_counter()
            payload = crossplane.parse(path, **kwargs)
            result["seconds"] = time.perf_counter() - start
            result["ok"] = payload["status"] == "ok"
            if not result["ok"]:
                result["error"] = payload["errors"][:1]
    result["maxrss_kb"] = _maxrss_kb()
    return result


# --- the parent -----------------------------------------------------------------


def _run_child(kind: str, path: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, path], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = min(runs, key=lambda r: r["seconds"])
    best = dict(best)
    known = [r["maxrss_kb"] for r in runs if r.get("maxrss_kb")]
    best["maxrss_kb"] = max(known) if known else None
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("config", nargs="?")
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return

    tmp = None
    if args.config:
        path = os.path.abspath(args.config)
    else:
        sys.path.insert(0, str(ROOT / "bench"))
        from gen_config import generate

        tmp = tempfile.mkdtemp(prefix="nginxpy-bench-")
        path = os.path.join(tmp, "nginx.conf")
        Path(path).write_text(generate(args.lines))
    text = Path(path).read_bytes()
    lines = text.count(b"\n")
    print(f"config: {path}: {lines} lines, {len(text) / 1e6:.1f} MB; best of {args.runs} runs")

    try:
        from nginxpy.conf import check

        has_check = callable(getattr(check, "check_file", None) or getattr(check, "load", None))
    except Exception as error:  # the checker is being written: a broken import only skips it
        print(f"(nginxpy.conf.check not usable: {error!r})")
        has_check = False

    kinds = ["nginxpy-baseline", "nginxpy-parse", "nginxpy-json"]
    kinds += ["nginxpy-check"] if has_check else []
    kinds += ["crossplane-baseline", "crossplane-nocheck", "crossplane-default"]
    results: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        try:
            results[kind] = _best([_run_child(kind, path) for _ in range(args.runs)])
        except subprocess.CalledProcessError as error:
            print(f"{kind}: failed: {error.stderr.strip().splitlines()[-1:]}")
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx:
        results["nginx -t"] = _best([_run_child(f"nginx -t={nginx}", path) for _ in range(args.runs)])

    labels = {
        "nginxpy-baseline": "nginxpy: imports + grammar only",
        "nginxpy-parse": "nginxpy parse_file",
        "nginxpy-json": "nginxpy parse + crossplane JSON",
        "nginxpy-check": "nginxpy parse + check (conf.check)",
        "crossplane-baseline": "crossplane: import only",
        "crossplane-nocheck": "crossplane.parse(check_ctx=False, check_args=False)",
        "crossplane-default": "crossplane.parse() (defaults)",
        "nginx -t": "nginx -t (whole process, wall time)",
    }
    reference = results.get("crossplane-nocheck", {}).get("seconds")
    ref_rss = results.get("crossplane-nocheck", {}).get("maxrss_kb")
    print(f"{'':54} {'seconds':>8} {'vs xp':>6} {'peak RSS':>9} {'vs xp':>6}  ok")
    for kind, r in results.items():
        seconds = r["seconds"]
        rss = r.get("maxrss_kb")
        ratio = f"{seconds / reference:5.2f}x" if reference and seconds else ""
        rss_text = f"{rss / 1024:7.0f}MB" if rss else "       ?"
        rss_ratio = f"{rss / ref_rss:5.2f}x" if rss and ref_rss else ""
        ok = "" if r.get("ok", True) else f"  FAILED {r.get('error')}"
        print(f"{labels[kind]:54} {seconds:8.3f} {ratio:>6} {rss_text:>9} {rss_ratio:>6}  {ok}")
    setup = results.get("nginxpy-parse", {}).get("setup")
    if setup is not None:
        print(f"(nginxpy's grammar load, once per process, not in the parse times: {setup:.3f} s)")
    if not has_check:
        print("(nginxpy.conf.check has no check_file/load: parse only)")
    print("('vs xp' is against crossplane without its checks, the like-for-like parse)")
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
