"""Constraints as a filter, strategies as extender scores."""

from __future__ import annotations

import json

import pytest
from ecs_operator.domain import instances
from ecs_operator.domain.placement import (
    DEFAULT_SERVICE_STRATEGY,
    PlacementError,
    Strategy,
    filter_instances,
    parse_constraints,
    parse_strategies,
    rank_scores,
    score_instances,
    spec_from_pod,
    strategy_keys,
)
from ecs_operator.extender.synthetic import node, pod
from hypothesis import given, settings
from hypothesis import strategies as st

ZONE = "attribute:ecs.availability-zone"


def cluster(nodes, pods):
    return instances.build_instances(nodes, pods)


def scores_for(p, insts, candidates=None):
    spec = spec_from_pod(p)
    cands = [insts[n] for n in (candidates or insts)]
    return score_instances(spec, cands, insts.values())


def best(scores):
    top = max(scores.values())
    return {n for n, s in scores.items() if s == top}


# -- annotations -----------------------------------------------------------------------


def test_spec_from_annotations():
    p = pod(
        "t",
        service="web",
        cpu="512m",
        memory="1Gi",
        constraints=[
            {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t2.*"},
            {"type": "distinctInstance"},
        ],
        strategy=[{"type": "spread", "field": "host"}, {"type": "binpack", "field": "MEMORY"}, {"type": "random"}],
    )
    spec = spec_from_pod(p)
    assert spec.managed and spec.service and not spec.daemon and spec.group == "service:web"
    assert [c.type for c in spec.constraints] == ["memberOf", "distinctInstance"]
    assert spec.strategies == (Strategy("spread", "instanceId"), Strategy("binpack", "memory"), Strategy("random"))
    assert (spec.cpu, spec.memory) == (525, 1024)  # 512m -> ceil(0.512 * 1024)
    assert not spec.default_strategy


def test_defaults_service_spreads_zone_then_instance_standalone_none():
    svc = spec_from_pod(pod("s", service="web"))
    assert svc.strategies == DEFAULT_SERVICE_STRATEGY and svc.default_strategy and svc.scored
    assert spec_from_pod(pod("s", service="web", strategy=[])).strategies == DEFAULT_SERVICE_STRATEGY
    task = spec_from_pod(pod("t", task_family="batch"))
    assert task.managed and task.strategies == () and not task.scored
    daemon = spec_from_pod(pod("d", service="agent", daemon=True))
    assert daemon.daemon and daemon.strategies == () and not daemon.scored
    marked = pod("d2", service="agent", annotations={"ecs.seed.dev/scheduling-strategy": "DAEMON"})
    assert spec_from_pod(marked).daemon


def test_unmanaged_pod():
    spec = spec_from_pod(pod("plain"))
    assert not spec.managed and not spec.scored


@pytest.mark.parametrize(
    "constraints, field, message",
    [
        ("not json", "ecs.seed.dev/placement-constraints", "not valid JSON"),
        ('{"type": "distinctInstance"}', "ecs.seed.dev/placement-constraints", "expected a JSON list"),
        (
            '[{"type": "memberof", "expression": "runningTasksCount == 1"}]',
            "ecs.seed.dev/placement-constraints[0].type",
            "not a constraint type",
        ),
        ('[{"type": "memberOf"}]', "ecs.seed.dev/placement-constraints[0]", "needs an expression"),
        (
            '[{"type": "distinctInstance", "expression": "x"}]',
            "ecs.seed.dev/placement-constraints[0]",
            "cannot be given",
        ),
        (
            '[{"type": "memberOf", "expression": "runningTasksCount == 1 xx"}]',
            "ecs.seed.dev/placement-constraints[0].expression",
            "memberOf expression: unexpected token 'xx' at column 24",
        ),
        ('[{"type": "memberOf", "expresion": "x"}]', "ecs.seed.dev/placement-constraints[0]", "unknown field"),
        ('["distinctInstance"]', "ecs.seed.dev/placement-constraints[0]", "expected an object"),
        (json.dumps([{"type": "distinctInstance"}] * 11), "ecs.seed.dev/placement-constraints", "at most 10"),
    ],
)
def test_invalid_constraints(constraints, field, message):
    with pytest.raises(PlacementError) as ei:
        spec_from_pod(pod("t", service="web", constraints=constraints))
    assert ei.value.field == field
    assert message in str(ei.value) and str(ei.value).startswith(field + ": ")


@pytest.mark.parametrize(
    "strategy, field, message",
    [
        ("[", "ecs.seed.dev/placement-strategy", "not valid JSON"),
        ('[{"type": "spread"}]', "ecs.seed.dev/placement-strategy[0].field", "spread needs a field"),
        ('[{"type": "spread", "field": "cpu"}]', "ecs.seed.dev/placement-strategy[0].field", "cannot be spread"),
        ('[{"type": "binpack", "field": "disk"}]', "ecs.seed.dev/placement-strategy[0].field", "cpu or memory"),
        ('[{"type": "binpack"}]', "ecs.seed.dev/placement-strategy[0].field", "cpu or memory"),
        ('[{"type": "pack"}]', "ecs.seed.dev/placement-strategy[0].type", "not a strategy type"),
        ('[{"type": "spread", "field": 3}]', "ecs.seed.dev/placement-strategy[0].field", "expected a string"),
        (json.dumps([{"type": "random"}] * 6), "ecs.seed.dev/placement-strategy", "at most 5"),
    ],
)
def test_invalid_strategies(strategy, field, message):
    with pytest.raises(PlacementError) as ei:
        spec_from_pod(pod("t", service="web", strategy=strategy))
    assert ei.value.field == field and message in str(ei.value)


def test_annotation_parsing_is_cached():
    text = '[{"type": "memberOf", "expression": "attribute:a exists"}]'
    assert parse_constraints(text) is parse_constraints(text)
    assert parse_strategies('[{"type": "random"}]') is parse_strategies('[{"type": "random"}]')


# -- filter ----------------------------------------------------------------------------


def test_draining_and_disconnected_instances_fail_unresolvably():
    insts = cluster([node("ok"), node("cordoned", unschedulable=True), node("notready", ready=False)], [])
    out = filter_instances(spec_from_pod(pod("t", service="web")), insts.values())
    assert out.passed == ["ok"] and not out.failed
    assert "DRAINING" in out.unresolvable["cordoned"]
    assert "disconnected" in out.unresolvable["notready"]


def test_unmanaged_pods_pass_everywhere():
    insts = cluster([node("ok"), node("cordoned", unschedulable=True)], [])
    out = filter_instances(spec_from_pod(pod("plain")), insts.values())
    assert out.passed == ["ok", "cordoned"]


def test_member_of_attribute_is_unresolvable_task_group_is_resolvable():
    insts = cluster(
        [
            node("t2", instance_type="t2.small"),
            node("m5", instance_type="m5.large"),
            node("db", instance_type="t2.small"),
        ],
        [pod("d", node="db", service="database")],
    )
    p = pod(
        "t",
        service="web",
        constraints=[
            {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t2.*"},
            {"type": "memberOf", "expression": "not(task:group == service:database)"},
        ],
    )
    out = filter_instances(spec_from_pod(p), insts.values())
    assert out.passed == ["t2"]
    assert out.unresolvable == {"m5": "memberOf constraint not satisfied: attribute:ecs.instance-type =~ t2.*"}
    assert out.failed == {"db": "memberOf constraint not satisfied: not(task:group == service:database)"}


def test_member_of_affinity_to_a_group():
    insts = cluster([node("a"), node("b")], [pod("d", node="b", service="databases", group="databases")])
    p = pod("t", task_family="cache", constraints=[{"type": "memberOf", "expression": "task:group == databases"}])
    assert filter_instances(spec_from_pod(p), insts.values()).passed == ["b"]


def test_distinct_instance_within_the_group_only():
    insts = cluster(
        [node("a"), node("b"), node("c")], [pod("w1", node="a", service="web"), pod("o1", node="b", service="other")]
    )
    p = pod("w2", service="web", constraints=[{"type": "distinctInstance"}])
    out = filter_instances(spec_from_pod(p), insts.values())
    assert out.passed == ["b", "c"]
    assert "distinctInstance" in out.failed["a"] and "service:web" in out.failed["a"]


def test_daemon_only_constraints_apply():
    insts = cluster(
        [node("a", instance_type="t2.small"), node("b", instance_type="m5.large")],
        [pod("old", node="a", service="agent", daemon=True)],
    )
    p = pod(
        "new",
        service="agent",
        daemon=True,
        strategy=[{"type": "binpack", "field": "cpu"}],
        constraints=[
            {"type": "distinctInstance"},
            {"type": "memberOf", "expression": "attribute:ecs.instance-type == t2.small"},
        ],
    )
    spec = spec_from_pod(p)
    assert filter_instances(spec, insts.values()).passed == ["a"]  # distinctInstance implied, not enforced
    assert set(score_instances(spec, list(insts.values()), insts.values()).values()) == {0}


# -- strategies --------------------------------------------------------------------------


def zoned(per_zone=2, zones=("us-east-1a", "us-east-1b", "us-east-1c")):
    return [node(f"{z[-1]}{i}", zone=z) for z in zones for i in range(per_zone)]


def test_spread_by_zone_counts_tasks_of_the_group_cluster_wide():
    pods = [
        pod("w1", node="a0", service="web"),
        pod("w2", node="a1", service="web"),
        pod("w3", node="b0", service="web"),
        pod("x1", node="c0", service="other"),
        pod("x2", node="c1", service="other"),
    ]
    insts = cluster(zoned(), pods)
    p = pod("w4", service="web", strategy=[{"type": "spread", "field": ZONE}])
    s = scores_for(p, insts)
    assert best(s) == {"c0", "c1"} and s["c0"] == 10
    assert s["b0"] == s["b1"] == 9 and s["a0"] == s["a1"] == 8
    # the zone count includes instances that are not candidates
    s = scores_for(p, insts, candidates=["a0", "b1"])
    assert s == {"b1": 10, "a0": 9}


def test_spread_by_instance_id_and_host():
    insts = cluster(
        zoned(1),
        [pod("w1", node="a0", service="web"), pod("w2", node="a0", service="web"), pod("w3", node="b0", service="web")],
    )
    for fld in ("instanceId", "host"):
        s = scores_for(pod("w4", service="web", strategy=[{"type": "spread", "field": fld}]), insts)
        assert s == {"c0": 10, "b0": 9, "a0": 8}


def test_spread_on_a_custom_attribute_missing_values_form_a_bucket():
    nodes = [
        node("p1", labels={"attribute.ecs.seed.dev/stack": "prod"}),
        node("s1", labels={"attribute.ecs.seed.dev/stack": "staging"}),
        node("none"),
    ]
    insts = cluster(nodes, [pod("w1", node="p1", service="web"), pod("w2", node="none", service="web")])
    s = scores_for(pod("w3", service="web", strategy=[{"type": "spread", "field": "attribute:stack"}]), insts)
    assert s == {"s1": 10, "p1": 9, "none": 9}


def test_binpack_memory_and_cpu_least_remaining_first():
    nodes = [
        node("big", cpu="4", memory="16Gi"),
        node("small", cpu="2", memory="4Gi"),
        node("full", cpu="2", memory="1Gi"),
    ]
    insts = cluster(nodes, [pod("x", node="big", cpu="3", memory="1Gi")])
    mem = scores_for(pod("t", task_family="f", memory="2Gi", strategy=[{"type": "binpack", "field": "memory"}]), insts)
    # 'full' would be left with -1 GiB: the task does not fit there, it sorts last
    assert mem == {"small": 10, "big": 9, "full": 8}
    cpu = scores_for(pod("t", task_family="f", cpu="500m", strategy=[{"type": "binpack", "field": "cpu"}]), insts)
    assert cpu == {"big": 10, "small": 9, "full": 9}


def test_random_is_stable_per_pod_and_varies_across_pods():
    insts = cluster([node(f"n{i}") for i in range(20)], [])
    rnd = [{"type": "random"}]
    a1 = scores_for(pod("a", task_family="f", strategy=rnd), insts)
    a2 = scores_for(pod("a", task_family="f", strategy=rnd), insts)
    assert a1 == a2 and len(best(a1)) == 1
    winners = {next(iter(best(scores_for(pod(f"p{i}", task_family="f", strategy=rnd), insts)))) for i in range(30)}
    assert len(winners) > 5


def test_strategies_apply_in_order_later_ones_break_ties():
    # AZ spread first: zone c is empty; within zone c binpack prefers the fuller node.
    nodes = [
        node("a0", zone="us-east-1a", memory="8Gi"),
        node("c0", zone="us-east-1c", memory="8Gi"),
        node("c1", zone="us-east-1c", memory="8Gi"),
        node("b0", zone="us-east-1b", memory="2Gi"),
    ]
    pods = [
        pod("w1", node="a0", service="web"),
        pod("w2", node="b0", service="web"),
        pod("filler", node="c1", namespace="kube-system", memory="4Gi"),
    ]
    insts = cluster(nodes, pods)
    p = pod("w3", service="web", strategy=[{"type": "spread", "field": ZONE}, {"type": "binpack", "field": "memory"}])
    s = scores_for(p, insts)
    assert s["c1"] == 10 and s["c0"] == 9  # zone c first, then least memory left
    assert s["b0"] == 8 and s["a0"] == 7  # zones a/b tie on spread; b0 has less memory left
    # reversed order: binpack dominates
    q = pod("w3", service="web", strategy=[{"type": "binpack", "field": "memory"}, {"type": "spread", "field": ZONE}])
    assert best(scores_for(q, insts)) == {"b0"}


def test_default_service_strategy_balances_zones_then_instances():
    pods = [
        pod("w1", node="a0", service="web"),
        pod("w2", node="b0", service="web"),
        pod("w3", node="c0", service="web"),
        pod("w4", node="a1", service="web"),
    ]
    insts = cluster(zoned(), pods)
    s = scores_for(pod("w5", service="web"), insts)  # no annotation: ECS's service default
    assert best(s) == {"b1", "c1"}  # zones b/c have 1 task; their empty instances
    assert s["b0"] == s["c0"] == 9 and s["a0"] == s["a1"] == 8


def test_standalone_without_strategy_has_no_preference():
    insts = cluster(zoned(), [pod("w1", node="a0", task_family="batch")])
    assert set(scores_for(pod("t", task_family="batch"), insts).values()) == {0}


def test_rank_scores_top_ten_exact_then_zero():
    keys = {f"n{i}": (i // 2,) for i in range(30)}
    s = rank_scores(keys)
    assert s["n0"] == s["n1"] == 10 and s["n2"] == 9 and s["n19"] == 1 and s["n20"] == 0 and s["n29"] == 0


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=4), st.tuples(st.integers(0, 5), st.integers(-3, 3)), min_size=1, max_size=40
    )
)
def test_rank_scores_preserve_lexicographic_order(keys):
    s = rank_scores(keys)
    assert all(0 <= v <= 10 for v in s.values())
    best_key = min(keys.values())
    assert {n for n, v in s.items() if v == 10} == {n for n, k in keys.items() if k == best_key}
    for a in keys:
        for b in keys:
            if keys[a] < keys[b]:
                assert s[a] >= s[b]
                if s[b] > 0:
                    assert s[a] > s[b]


def test_strategy_keys_shape():
    insts = cluster(zoned(1), [])
    spec = spec_from_pod(pod("w", service="web"))
    keys = strategy_keys(spec, list(insts.values()), insts.values())
    assert keys == {"a0": (0, 0), "b0": (0, 0), "c0": (0, 0)}
