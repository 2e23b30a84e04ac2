"""The extender's seams: only ecs_operator.extender.kube talks to the API server, the
protocol's JSON shapes, /metrics text, and the cache driven through its Source protocol."""

from __future__ import annotations

import ast
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ecs_operator.extender import cache as cache_module
from ecs_operator.extender.cache import NODES, PODS, Source, WatchCache
from ecs_operator.extender.kube import KubeBinder, KubeSource
from ecs_operator.extender.metrics import Latency, render
from ecs_operator.extender.protocol import (
    ArgsError,
    filter_result,
    get,
    host_priorities,
    parse_args,
    parse_binding_args,
    set_passed,
)
from ecs_operator.extender.synthetic import node, pod
from ecs_operator.extender.verbs import Extender
from ecs_operator.extender.view import InMemoryClusterView

EXTENDER = Path(cache_module.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module a file imports, relative ones as written (``..k8s``, ``.view``)."""
    out: set[str] = set()
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.Import):
            out.update(a.name for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            base = "." * n.level + (n.module or "")
            out.add(base)
            out.update(base + ("" if base.endswith(".") else ".") + a.name for a in n.names)
    return out


def _talks_to_the_api_server(module: str) -> bool:
    return module.split(".")[0] in ("kubernetes", "urllib3") or module.startswith(("..k8s", "ecs_operator.k8s"))


@pytest.mark.parametrize(
    "path", sorted(p for p in EXTENDER.glob("*.py") if p.name not in ("main.py", "kube.py")), ids=lambda p: p.name
)
def test_only_the_adapter_talks_to_the_api_server(path):
    """extender/ (but main.py, which wires the adapter in) imports neither the kubernetes
    client nor ecs_operator.k8s: its API-server I/O is extender/kube.py."""
    bad = {m for m in _imports(path) if _talks_to_the_api_server(m)}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_the_layer_check_sees_main_wiring_the_adapter_in():
    assert any(_talks_to_the_api_server(m) for m in _imports(EXTENDER / "main.py"))


def test_the_adapter_implements_the_interfaces() -> None:
    # structurally: the methods the cache and the bind verb call, with their arity
    for name in ("list", "watch", "close"):
        assert callable(getattr(KubeSource, name))
    assert callable(KubeBinder)
    src: Source = KubeSource(lambda: None)  # mypy checks that it is a Source
    assert src is not None


# -- the protocol's JSON shapes ------------------------------------------------------------


def test_keys_are_matched_case_insensitively():
    assert get({"nodenames": ["a"]}, "NodeNames") == ["a"]
    assert get({"NodeNames": ["a"], "nodenames": ["b"]}, "NodeNames") == ["a"]
    assert get({}, "Pod") is None


def test_parse_args_both_forms_and_errors():
    p = pod("w")
    a = parse_args({"pod": p, "nodes": {"Items": [node("n1"), node("n2")]}})
    assert a.pod is p and a.names == ["n1", "n2"] and a.nodes is not None
    a = parse_args({"Pod": p, "NodeNames": ["n1"]})
    assert a.nodes is None and a.names == ["n1"]
    for bad in ([], {"NodeNames": []}, {"Pod": p}, {"Pod": p, "NodeNames": "n1"}, {"Pod": p, "Nodes": {"items": 1}}):
        with pytest.raises(ArgsError):
            parse_args(bad)


def test_parse_binding_args():
    b = parse_binding_args({"PodName": "w", "PodNamespace": "ns", "PodUID": "", "Node": "n1"})
    assert (b.name, b.namespace, b.uid, b.node) == ("w", "ns", None, "n1")
    assert parse_binding_args({"podname": "w", "podnamespace": "", "poduid": "u", "node": "n"}).uid == "u"
    for bad in ("x", {"PodName": "w", "PodNamespace": "ns", "Node": ""}, {"PodName": "w", "Node": "n"}):
        with pytest.raises(ArgsError):
            parse_binding_args(bad)


def test_results_keep_the_request_form_and_order():
    names = parse_args({"Pod": pod("w"), "NodeNames": ["b", "a", "c"]})
    r = filter_result()
    set_passed(r, names, {"a", "c"})
    assert r["NodeNames"] == ["a", "c"] and r["Nodes"] is None and r["Error"] == ""
    full = parse_args({"Pod": pod("w"), "Nodes": {"items": [node("b"), node("a")]}})
    r = filter_result("e")
    set_passed(r, full, {"a"})
    assert [n["metadata"]["name"] for n in r["Nodes"]["items"]] == ["a"] and r["NodeNames"] is None
    assert r["Error"] == "e"
    assert host_priorities(["b", "a"], {"a": 7}) == [{"Host": "b", "Score": 0}, {"Host": "a", "Score": 7}]


# -- /metrics -------------------------------------------------------------------------------


def test_metrics_text():
    lat = Latency(window=3)
    for s in (0.1, 0.2, 0.3, 0.4):
        lat.add("filter", s)
    assert lat.summary()["filter"]["count"] == 4 and lat.summary()["filter"]["quantiles"][0.5] == 0.3
    ext = Extender(InMemoryClusterView([node("n1")]))
    text = render(lat, ext)
    assert 'ecs_extender_request_duration_seconds{verb="filter",quantile="0.99"} 0.400000' in text
    assert 'ecs_extender_request_duration_seconds_count{verb="filter"} 4' in text
    assert "ecs_extender_api_duration_seconds" not in text  # no bind call yet
    assert "ecs_extender_cache_" not in text  # the view has no status()
    assert 'ecs_extender_binds_total{result="ok"} 0' in text and text.endswith("\n")
    ext.api_latency.add("bind", 0.01)
    assert 'ecs_extender_api_duration_seconds_count{call="bind"} 1' in render(lat, ext)


# -- the cache through its Source protocol -------------------------------------------------


class OneShotSource:
    """A Source: one listing per kind, then watches that end at once (server timeouts)."""

    def __init__(self) -> None:
        self.timeouts: list[int] = []
        self.closed = False

    def list(self, kind: str) -> tuple[list[dict], str | None]:
        return ([node("n1")] if kind == NODES else [pod("a", node="n1", service="web")]), "7"

    def watch(
        self, kind: str, resource_version: str | None, timeout_seconds: int, stop: threading.Event
    ) -> Iterator[dict]:
        self.timeouts.append(timeout_seconds)
        stop.wait(0.01)
        yield {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "8"}}}

    def close(self) -> None:
        self.closed = True


def test_watch_cache_over_a_typed_source_sets_timeouts_and_closes_it() -> None:
    src = OneShotSource()
    cache = WatchCache(src, min_timeout=3, max_timeout=4).start()
    try:
        assert cache.wait_synced(5)
        assert cache.snapshot().instances["n1"].task_groups == {"service:web": 1}
        deadline = threading.Event()
        while len(src.timeouts) < 4 and not deadline.wait(0.01):
            pass
        assert all(3 <= t <= 4 for t in src.timeouts)
        assert {cache.status()[k]["resourceVersion"] for k in (NODES, PODS)} == {"8"}
    finally:
        cache.stop()
    assert src.closed
