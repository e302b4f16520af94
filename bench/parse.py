"""Parse a large configuration with nginxpy, crossplane and nginx -t; compare time and memory.

    python bench/parse.py [--lines 100000] [--runs 3] [CONFIG]

Without CONFIG, bench/gen_config.py writes one into a temporary directory.  Every
contender runs in a fresh subprocess (so imports and caches do not leak between
them); the time is the best of --runs, measured inside the child around the parse
alone (imports and nginxpy's one-off grammar load excluded, reported apart), and the
memory is the child's peak RSS (ru_maxrss), the interpreter and imports included:
the "baseline" rows show what the imports alone cost.

On a shared, loaded machine wall time is noisy: each child also reports its CPU time
(time.process_time around the same code), and the best run is the one with the least
CPU time.  ru_maxrss of a child starts from the parent's size at fork (Linux keeps the
high-water mark across exec), so the "own peak" column is the child's VmHWM from
/proc/self/status: its own address space only, the interpreter and imports included.
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


def _hwm_kb() -> int | None:
    """The peak RSS of this process's own address space (Linux), None elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _child(kind: str, path: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if kind.startswith("nginx -t="):
        # nginx's own peak RSS: the only child of this process
        start = time.perf_counter()
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        run = subprocess.run(
            [kind.split("=", 1)[1], "-t", "-q", "-p", os.path.dirname(path), "-c", path, "-e", "stderr"],
            capture_output=True,
            text=True,
        )
        result["seconds"] = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        result["cpu"] = usage.ru_utime + usage.ru_stime - cpu.ru_utime - cpu.ru_stime
        result["maxrss_kb"] = usage.ru_maxrss
        result["ok"] = run.returncode == 0
        result["error"] = run.stderr.strip()[:200]
        return result
    if kind.startswith("nginxpy"):
        from nginxpy.conf import parse

        start = time.perf_counter()
        parse._get_parser()  # load the LALR tables (grammar_table.json): once per process
        result["setup"] = time.perf_counter() - start
        result["rss_after_import"] = _maxrss_kb()
        if kind == "nginxpy-baseline":
            result["seconds"] = result["cpu"] = 0.0
        elif kind == "nginxpy-parse":
            start, cpu = time.perf_counter(), time.process_time()
            conf = parse.parse_file(path)
            result["seconds"], result["cpu"] = time.perf_counter() - start, time.process_time() - cpu
            result["ok"] = conf.error is None
        elif kind == "nginxpy-json":
            from nginxpy.conf.dump import parse_tree_to_crossplane

            start, cpu = time.perf_counter(), time.process_time()
            payload = parse_tree_to_crossplane(path, comments=False)
            result["seconds"], result["cpu"] = time.perf_counter() - start, time.process_time() - cpu
            result["ok"] = payload["status"] == "ok"
        elif kind == "nginxpy-check":
            # what load() imports on its first call: imports are not timed (as for crossplane)
            import nginxpy.http  # noqa: F401  (the runtime's list of implemented directives)
            from nginxpy.conf import check, finish, handlers  # noqa: F401

            loader = getattr(check, "check_file", None) or check.load
            start, cpu = time.perf_counter(), time.process_time()
            checked = loader(path)
            result["seconds"], result["cpu"] = time.perf_counter() - start, time.process_time() - cpu
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
            result["seconds"] = result["cpu"] = 0.0
        else:
            start, cpu = time.perf_counter(), time.process_time()
            payload = crossplane.parse(path, **kwargs)
            result["seconds"], result["cpu"] = time.perf_counter() - start, time.process_time() - cpu
            result["ok"] = payload["status"] == "ok"
            if not result["ok"]:
                result["error"] = payload["errors"][:1]
    result["maxrss_kb"] = _maxrss_kb()
    result["hwm_kb"] = _hwm_kb()
    return result


# --- the parent -----------------------------------------------------------------


def _run_child(kind: str, path: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, path], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the least CPU time (wall time is noisy on a shared machine); the
    highest memory figures of all runs."""
    best = dict(min(runs, key=lambda r: (r.get("cpu", r["seconds"]), r["seconds"])))
    for key in ("maxrss_kb", "hwm_kb"):
        known = [r[key] for r in runs if r.get(key)]
        best[key] = max(known) if known else None
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
    ref = results.get("crossplane-nocheck", {})

    def ratio(value: float | None, reference: float | None) -> str:
        return f"{value / reference:5.2f}x" if value and reference else ""

    def megabytes(kb: int | None) -> str:
        return f"{kb / 1024:5.0f}MB" if kb else "      ?"

    print(
        f"{'':54} {'seconds':>7} {'vs xp':>6} {'CPU s':>6} {'vs xp':>6}"
        f" {'peak RSS':>8} {'vs xp':>6} {'own peak':>8} {'vs xp':>6}  ok"
    )
    for kind, r in results.items():
        ok = "" if r.get("ok", True) else f"  FAILED {r.get('error')}"
        print(
            f"{labels[kind]:54} {r['seconds']:7.3f} {ratio(r['seconds'], ref.get('seconds')):>6}"
            f" {r.get('cpu', 0.0):6.3f} {ratio(r.get('cpu'), ref.get('cpu')):>6}"
            f" {megabytes(r.get('maxrss_kb')):>8} {ratio(r.get('maxrss_kb'), ref.get('maxrss_kb')):>6}"
            f" {megabytes(r.get('hwm_kb')):>8} {ratio(r.get('hwm_kb'), ref.get('hwm_kb')):>6}  {ok}"
        )
    setup = results.get("nginxpy-parse", {}).get("setup")
    if setup is not None:
        print(f"(nginxpy's grammar load, once per process, not in the parse times: {setup:.3f} s)")
    if not has_check:
        print("(nginxpy.conf.check has no check_file/load: parse only)")
    print("('vs xp' is against crossplane without its checks, the like-for-like parse;")
    print(" 'peak RSS' is ru_maxrss, floored by the parent's size; 'own peak' is VmHWM)")
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
