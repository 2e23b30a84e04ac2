"""Translation throughput: task definitions per second (median of several runs).

Input: every published task definition in ../shared/ecs-examples/taskdefs (plus the demo's).
Baseline in the same run: validating the same inputs with the pydantic model alone, so the
figure separates translation from parsing. Rates are per CPU second of the bench's process
(one core). Goal (issue #17): >= 10,000 task definitions/s on one core.

    .venv/bin/python bench/translate_throughput.py [--runs 7] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import yaml
from ecs_operator.models.generated import RegisterTaskDefinitionRequest
from ecs_operator.translate.taskdef import register_input_from_ecs_json, translate_task_definition

REPO = Path(__file__).resolve().parents[1]
GOAL = 10_000


def inputs() -> list[dict]:
    out = []
    for p in sorted((REPO.parent / "shared" / "ecs-examples" / "taskdefs").glob("*.json")):
        out.append(register_input_from_ecs_json(json.loads(p.read_text())))
    for doc in yaml.safe_load_all((REPO / "examples" / "webserver.yaml").read_text()):
        if doc["kind"] == "TaskDefinition":
            out.append(doc["spec"])
    return out


def rate(fn, items, seconds: float) -> float:
    """Items per CPU second of this process (its CPU time, not the wall clock: other work on a
    shared machine then slows the figure much less; the goal is per core anyway)."""
    n, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds:
        for it in items:
            fn(it)
        n += len(items)
    return n / (time.process_time() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--seconds", type=float, default=1.0)
    args = p.parse_args(argv)
    docs = inputs()

    def validate(d):
        return RegisterTaskDefinitionRequest.model_validate(d)

    def full(d):
        m = RegisterTaskDefinitionRequest.model_validate(d)
        return translate_task_definition(m, family=m.family or "x", revision=1)

    models = [validate(d) for d in docs]

    def translate_only(m):
        return translate_task_definition(m, family=m.family or "x", revision=1)

    results = {}
    for name, fn, items in (
        ("baseline: pydantic validation", validate, docs),
        ("translation only", translate_only, models),
        ("validation + translation", full, docs),
    ):
        rates = [rate(fn, items, args.seconds) for _ in range(args.runs)]
        results[name] = statistics.median(rates)
        print(
            f"{name:<32} median {statistics.median(rates):9.0f} task definitions/s "
            f"(min {min(rates):.0f}, max {max(rates):.0f}, {args.runs} runs of {args.seconds}s, {len(items)} inputs)"
        )
    tracemalloc.start()
    for d in docs:
        full(d)
    _, peak = tracemalloc.get_traced_memory()
    print(f"peak Python allocation translating all {len(docs)} inputs once: {peak / 1024:.0f} KiB")
    print(
        f"translation costs {results['baseline: pydantic validation'] / results['translation only']:.2f}x "
        "the time of validation"
    )
    print(
        f"goal: >= {GOAL:,} task definitions/s on one core: translation only {results['translation only']:,.0f}, "
        f"validation + translation {results['validation + translation']:,.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
