"""The extender's memo of static memberOf verdicts (a speed-up of its filter) answers exactly
what evaluating every expression does, and forgets a node's verdict when the node changes."""

from __future__ import annotations

import pytest
from ecs_operator.domain.placement import filter_instances, spec_from_pod
from ecs_operator.extender.synthetic import cluster, node, node_names, pod
from ecs_operator.extender.verbs import Extender, StaticConstraintMemo
from ecs_operator.extender.view import InMemoryClusterView

GROUP = "ecs.seed.dev"


def _pod(constraints):
    return pod("web-1", service="svc-3", cpu="256m", memory="512Mi", constraints=constraints)


CASES = [
    (
        "attribute",
        [{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ m5.* or attribute:stack == prod"}],
    ),
    ("exists", [{"type": "memberOf", "expression": "attribute:gpu exists"}]),
    ("zone-in", [{"type": "memberOf", "expression": "attribute:ecs.availability-zone in [us-east-1a, us-east-1c]"}]),
    ("with-distinct", [{"type": "memberOf", "expression": "attribute:stack != prod"}, {"type": "distinctInstance"}]),
    ("dynamic", [{"type": "memberOf", "expression": "task:group == service:svc-3"}]),
    ("none", None),
]


@pytest.mark.parametrize("label,constraints", CASES, ids=[c[0] for c in CASES])
def test_memo_filter_answers_as_the_plain_filter(label, constraints):
    nodes, pods = cluster(60, pods_per_node=4)
    view = InMemoryClusterView(nodes, pods)
    ext = Extender(view)
    args = {"Pod": _pod(constraints), "NodeNames": node_names(nodes)}
    plain = filter_instances(spec_from_pod(args["Pod"]), [view.snapshot().instances[n] for n in node_names(nodes)])
    for _ in range(2):  # the second call answers from the memo
        got = ext.filter(args)
        assert got["NodeNames"] == plain.passed
        assert got["FailedNodes"] == plain.failed
        assert got["FailedAndUnresolvableNodes"] == plain.unresolvable


def test_memo_forgets_a_node_whose_resource_version_changed():
    constraints = [{"type": "memberOf", "expression": "attribute:stack == prod"}]
    prod = node("n1", labels={f"attribute.{GROUP}/stack": "prod"}, resource_version="1")
    view = InMemoryClusterView([prod], [])
    ext = Extender(view)
    args = {"Pod": _pod(constraints), "NodeNames": ["n1"]}
    assert ext.filter(args)["NodeNames"] == ["n1"]
    view.upsert_node(node("n1", labels={f"attribute.{GROUP}/stack": "staging"}, resource_version="2"))
    assert ext.filter(args)["NodeNames"] == []
    assert "n1" in ext.filter(args)["FailedAndUnresolvableNodes"]


def test_memo_is_bounded():
    memo = StaticConstraintMemo(max_expressions=2, max_entries=3)
    for i in range(5):
        spec = spec_from_pod(_pod([{"type": "memberOf", "expression": f"attribute:stack == s{i}"}]))
        memo.apply(spec)
    assert len(memo._memos) == 2
    spec = memo.apply(spec_from_pod(_pod([{"type": "memberOf", "expression": "attribute:stack == s4"}])))
    nodes = [node(f"n{i}", resource_version=str(i)) for i in range(6)]
    view = InMemoryClusterView(nodes, [])
    filter_instances(spec, view.snapshot().instances.values())
    filter_instances(spec, view.snapshot().instances.values())
    assert len(memo._memos["attribute:stack == s4"]) <= 6
    memo.apply(spec_from_pod(_pod([{"type": "memberOf", "expression": "attribute:stack == s4"}])))
    assert len(memo._memos["attribute:stack == s4"]) == 0  # over max_entries: started afresh


def test_binder_keeps_a_pool_for_a_burst_of_binds_without_touching_the_factorys_client():
    import kubernetes
    from ecs_operator.extender.kube import KubeBinder

    cfg = kubernetes.client.Configuration()
    cfg.host = "https://127.0.0.1:1"
    cfg.api_key = {"authorization": "Bearer t"}
    binder = KubeBinder(lambda: kubernetes.client.ApiClient(cfg))
    api = binder._api().api_client
    assert api.configuration.connection_pool_maxsize == KubeBinder.POOL_SIZE
    assert api.rest_client.pool_manager.connection_pool_kw["maxsize"] == KubeBinder.POOL_SIZE
    assert api.configuration.host == cfg.host and api.configuration.api_key == cfg.api_key
    assert cfg.connection_pool_maxsize != KubeBinder.POOL_SIZE  # the shared configuration is unchanged
    assert binder._api() is binder._api()


def test_the_extender_freezes_the_garbage_collector_once_its_cache_is_synced():
    import gc

    from ecs_operator.extender.main import _freeze_after_sync

    class Cache:
        def __init__(self, synced):
            self.synced = synced

        def wait_synced(self, timeout):
            return self.synced

    try:
        gc.unfreeze()
        _freeze_after_sync(Cache(False))  # stopped before it synced: nothing frozen
        assert gc.get_freeze_count() == 0
        _freeze_after_sync(Cache(True))
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
