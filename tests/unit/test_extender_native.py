"""Compiling constraints to node affinity / pod anti-affinity, and checking that the compiled
node selector terms select exactly the nodes the extender's filter would."""

from __future__ import annotations

import itertools

import pytest
from ecs_operator.domain import instances
from ecs_operator.domain.native import compile_native
from ecs_operator.domain.query import parse
from ecs_operator.extender.synthetic import node
from hypothesis import assume, given, settings
from hypothesis import strategies as st


def member(expr):
    return [{"type": "memberOf", "expression": expr}]


def terms(result):
    return result.node_affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]


def _req_matches(req, labels, name, fields=False):
    key, op, vals = req["key"], req["operator"], req.get("values", [])
    value = name if fields else labels.get(key)
    present = fields or key in labels
    if op == "In":
        return present and value in vals
    if op == "NotIn":
        return not present or value not in vals
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    raise AssertionError(op)


def selects(node_obj, result) -> bool:
    """Kubernetes' semantics of required node affinity terms (ORed terms, ANDed requirements)."""
    if result.node_affinity is None:
        return True
    labels = node_obj["metadata"]["labels"]
    name = node_obj["metadata"]["name"]
    for t in terms(result):
        if not t:
            continue
        if all(_req_matches(r, labels, name) for r in t.get("matchExpressions", ())) and all(
            _req_matches(r, labels, name, fields=True) for r in t.get("matchFields", ())
        ):
            return True
    return False


def test_equality_and_in():
    r = compile_native(member("attribute:ecs.instance-type == t2.small"))
    assert terms(r) == [
        {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["t2.small"]}]}
    ]
    assert r.compiled == ["memberOf(attribute:ecs.instance-type == t2.small)"] and not r.not_compiled
    r = compile_native(
        member("attribute:ecs.availability-zone in [us-east-1a, us-east-1b] and attribute:stack == prod")
    )
    assert terms(r) == [
        {
            "matchExpressions": [
                {"key": "attribute.ecs.seed.dev/stack", "operator": "In", "values": ["prod"]},
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1a", "us-east-1b"]},
            ]
        }
    ]


def test_not_equal_needs_existence_but_not_equal_does_not():
    r = compile_native(member("attribute:stack != prod"))
    assert terms(r) == [
        {
            "matchExpressions": [
                {"key": "attribute.ecs.seed.dev/stack", "operator": "Exists"},
                {"key": "attribute.ecs.seed.dev/stack", "operator": "NotIn", "values": ["prod"]},
            ]
        }
    ]
    r = compile_native(member("not(attribute:stack == prod)"))
    assert terms(r) == [
        {"matchExpressions": [{"key": "attribute.ecs.seed.dev/stack", "operator": "NotIn", "values": ["prod"]}]}
    ]


def test_cpu_architecture_values_are_mapped_to_kubernetes_names():
    r = compile_native(member("attribute:ecs.cpu-architecture == x86_64"))
    assert terms(r)[0]["matchExpressions"][0] == {
        "key": "kubernetes.io/arch",
        "operator": "In",
        "values": ["amd64", "x86_64"],
    }


def test_or_becomes_several_terms_and_constraints_are_anded():
    r = compile_native(
        member("attribute:ecs.instance-type == t2.small or attribute:gpu exists")
        + member("attribute:ecs.os-type == linux")
    )
    assert len(terms(r)) == 2
    for t in terms(r):
        assert {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]} in t["matchExpressions"]


def test_ec2_instance_id_uses_label_or_node_name():
    r = compile_native(member("ec2InstanceId in ['i-abcd1234', 'i-wxyz5678']"))
    t = terms(r)
    assert {
        "matchExpressions": [
            {"key": "ecs.seed.dev/instance-id", "operator": "In", "values": ["i-abcd1234", "i-wxyz5678"]}
        ]
    } in t
    assert {
        "matchExpressions": [{"key": "ecs.seed.dev/instance-id", "operator": "DoesNotExist"}],
        "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["i-abcd1234"]}],
    } in t
    # matchFields take exactly one value each
    assert all(len(f["values"]) == 1 for term in t for f in term.get("matchFields", ()))


@pytest.mark.parametrize(
    "expr, reason",
    [
        ("task:group == databases", "task:group is not a node label"),
        ("runningTasksCount == 0", "runningTasksCount is not a node label"),
        ("agentConnected == true", "not a node label"),
        ("attribute:ecs.instance-type =~ t2.*", "wildcard or pattern"),
        ("attribute:ecs.instance-type == t2.*", "wildcard or pattern"),
        ("attribute:size > 3", "operator '>'"),
        ("attribute:ecs.os-family == LINUX", "derived"),
        ("attribute:a/b == c", "cannot be a label name"),
    ],
)
def test_not_compiled_with_reason(expr, reason):
    r = compile_native(member(expr))
    assert r.node_affinity is None and r.compiled == []
    assert r.not_compiled and reason in r.not_compiled[0][1] and expr in r.not_compiled[0][0]


def test_partial_compilation_keeps_the_compilable_constraints():
    r = compile_native(
        member("task:group != db") + member("attribute:ecs.os-type == linux") + [{"type": "distinctInstance"}],
        group="service:web",
        pod_labels={"ecs.seed.dev/service": "web", "ecs.seed.dev/cluster": "default"},
    )
    assert r.compiled == ["memberOf(attribute:ecs.os-type == linux)", "distinctInstance"]
    assert [c for c, _ in r.not_compiled] == ["memberOf(task:group != db)"]
    aff = r.affinity()
    assert set(aff) == {"nodeAffinity", "podAntiAffinity"}
    assert aff["podAntiAffinity"] == {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {
                "labelSelector": {"matchLabels": {"ecs.seed.dev/service": "web", "ecs.seed.dev/cluster": "default"}},
                "topologyKey": "kubernetes.io/hostname",
            }
        ]
    }


def test_distinct_instance_for_standalone_family_and_custom_groups():
    r = compile_native(
        [{"type": "distinctInstance"}],
        group="family:batch",
        pod_labels={"ecs.seed.dev/family": "batch", "ecs.seed.dev/task": "t-1"},
    )
    sel = r.pod_anti_affinity["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"]
    assert sel["matchLabels"] == {"ecs.seed.dev/family": "batch"}
    r = compile_native('[{"type": "distinctInstance"}]', group="my-group", pod_labels={})
    assert r.pod_anti_affinity is None and "no label" in r.not_compiled[0][1]


def test_trivially_true_and_unsatisfiable():
    r = compile_native(member("not(attribute:a in ['no way'])"))  # 'no way' is no label value: always true
    assert r.node_affinity is None and r.compiled and not r.not_compiled
    r = compile_native(member("attribute:a == x") + member("attribute:a == y"))
    assert r.node_affinity is None and len(r.not_compiled) == 2 and "no node can satisfy" in r.not_compiled[0][1]


EXPRESSIONS = [
    "attribute:ecs.instance-type == t2.small",
    "attribute:ecs.instance-type != t2.small",
    "not(attribute:ecs.instance-type == t2.small)",
    "not(attribute:stack != prod)",
    "attribute:stack !in [prod, dev]",
    "not(attribute:stack !in [prod, dev])",
    "attribute:gpu exists or attribute:ecs.availability-zone in [us-east-1a]",
    "not(attribute:gpu exists and attribute:ecs.availability-zone == us-east-1b)",
    "attribute:stack !exists && !(attribute:ecs.cpu-architecture == arm64)",
    "(attribute:stack == prod or attribute:stack == dev) and not(attribute:ecs.os-type != linux)",
    "ec2InstanceId in [n1, i-0002]",
    "ec2InstanceId != n1",
    "not(ec2InstanceId in [n1, i-0002]) and attribute:ecs.cpu-architecture == x86_64",
]


def _nodes():
    out = []
    for i, (stack, zone, itype, gpu, iid) in enumerate(
        itertools.product(
            [None, "prod", "dev", "qa"],
            ["us-east-1a", "us-east-1b"],
            ["t2.small", "m6g.large"],
            [False, True],
            [None, "i-0002"],
        )
    ):
        labels = {}
        if stack:
            labels["attribute.ecs.seed.dev/stack"] = stack
        if gpu:
            labels["attribute.ecs.seed.dev/gpu"] = ""
        if iid:
            labels["ecs.seed.dev/instance-id"] = iid
        out.append(node(f"n{i % 3}", zone=zone, instance_type=itype, labels=labels))
    return out


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_compiled_terms_select_exactly_what_the_extender_selects(expr):
    r = compile_native(member(expr))
    assert not r.not_compiled, r.not_compiled
    e = parse(expr)
    for n in _nodes():
        assert selects(n, r) == e.evaluate(instances.build_instance(n)), (expr, n["metadata"])


_ATOMS = st.one_of(
    st.builds(
        lambda a, op, v: f"attribute:{a} {op} {v}",
        st.sampled_from(["stack", "ecs.availability-zone", "ecs.cpu-architecture", "ecs.instance-type"]),
        st.sampled_from(["==", "!="]),
        st.sampled_from(["prod", "dev", "us-east-1a", "x86_64", "arm64", "amd64", "t2.small", "'no way'"]),
    ),
    st.builds(
        lambda a, op, vs: f"attribute:{a} {op} [{', '.join(vs)}]",
        st.sampled_from(["stack", "ecs.availability-zone", "ecs.cpu-architecture"]),
        st.sampled_from(["in", "!in"]),
        st.lists(st.sampled_from(["prod", "qa", "us-east-1b", "x86_64", "arm64"]), min_size=1, max_size=3),
    ),
    st.builds(
        lambda a, op: f"attribute:{a} {op}", st.sampled_from(["gpu", "stack"]), st.sampled_from(["exists", "!exists"])
    ),
    st.builds(
        lambda op, vs: f"ec2InstanceId {op} [{', '.join(vs)}]",
        st.sampled_from(["in", "!in"]),
        st.lists(st.sampled_from(["n0", "n1", "i-0002"]), min_size=1, max_size=2),
    ),
)
_EXPRS = st.recursive(
    _ATOMS,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a}) and ({b})", inner, inner),
        st.builds(lambda a, b: f"({a}) or ({b})", inner, inner),
        st.builds(lambda a: f"not({a})", inner),
    ),
    max_leaves=5,
)
_GRID = _nodes()
_GRID_INSTANCES = [instances.build_instance(n) for n in _GRID]


@settings(max_examples=150, deadline=None)
@given(st.lists(_EXPRS, min_size=1, max_size=2))
def test_compiled_affinity_is_exact_for_generated_expressions(exprs):
    constraints = [c for e in exprs for c in member(e)]
    r = compile_native(constraints)
    assume(not any("more than" in why for _, why in r.not_compiled))
    parsed = [parse(e) for e in exprs]
    for n, inst in zip(_GRID, _GRID_INSTANCES, strict=True):
        want = all(p.evaluate(inst) for p in parsed)
        if r.not_compiled:  # only when together unsatisfiable
            assert not want
        else:
            assert selects(n, r) == want, (exprs, n["metadata"]["labels"])
