"""Cyclomatic complexity gate (radon): no function in the layers that decide (handlers, plans,
state, translate, domain) above the limit. Prints the most complex functions either way.

    python hack/complexity.py [--limit 25] [--top 10]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from radon.complexity import cc_visit

ROOT = Path(__file__).resolve().parents[1] / "operator" / "ecs_operator"
GATED = ("handlers", "plans", "state", "translate", "domain")


def functions(package: str) -> list[tuple[int, str]]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for block in cc_visit(path.read_text()):  # functions, and methods as functions of their class
            if hasattr(block, "methods"):  # a class: its methods are listed on their own
                continue
            out.append((block.complexity, f"{path.relative_to(ROOT)}:{block.lineno} {block.fullname}"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=25)
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()
    rows = sorted((row for pkg in GATED for row in functions(pkg)), reverse=True)
    print(f"most complex functions in {', '.join(GATED)}:")
    for c, name in rows[: args.top]:
        print(f"  {c:4d}  {name}")
    over = [(c, n) for c, n in rows if c > args.limit]
    if over:
        print(f"{len(over)} function(s) above complexity {args.limit}:", file=sys.stderr)
        for c, name in over:
            print(f"  {c:4d}  {name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
