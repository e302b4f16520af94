"""Write nginxpy/conf/grammar_table.json: the LALR tables of grammar/nginx.lark, made by Lark.

    python3 tools/gen_grammar_table.py [--check]

Run it after every change to grammar/nginx.lark (tests/conf/test_grammar_table.py fails
until then).  --check only says whether the file is up to date (exit status 1 if not).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nginxpy.conf.lalr import from_grammar, to_json  # noqa: E402

TARGET = ROOT / "nginxpy" / "conf" / "grammar_table.json"


def main() -> int:
    grammar = (ROOT / "grammar" / "nginx.lark").read_text(encoding="utf-8")
    text = to_json(from_grammar(grammar), grammar)
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
    if "--check" in sys.argv[1:]:
        if current != text:
            print(f"{TARGET} is out of date: run tools/gen_grammar_table.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        TARGET.write_text(text, encoding="utf-8")
        print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
