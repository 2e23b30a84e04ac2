"""The CI regression guard's short benchmark runs (issue #17): translation throughput and the
extender's filter/prioritize latency at 100 nodes, in-process, no cluster. Their figures are
printed into the test log next to their same-run baselines and goals; nothing about time is
asserted (a shared CI machine's speed says nothing about the code), only that they run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name,argv",
    [
        ("translate_throughput", ["--runs", "1", "--seconds", "0.2"]),
        ("extender_latency", ["--sizes", "100", "--seconds", "0.2", "--churn", "0", "--events", "2000"]),
    ],
)
def test_short_benchmark_prints_its_figures(name, argv, capsys):
    with capsys.disabled():
        print(f"\n--- bench/{name}.py {' '.join(argv)}")
        assert _load(name).main(argv) == 0
