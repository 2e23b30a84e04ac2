import pytest
from ecs_operator.domain import membership as c
from ecs_operator.state.clusters import is_implicit_default


def node(labels):
    return {"metadata": {"labels": labels}}


def test_default_cluster_takes_unclaimed_nodes_and_its_own():
    assert c.is_instance_of(node({}), "default", None)
    assert c.is_instance_of(node({"ecs.seed.dev/cluster": "default"}), "default", None)
    assert not c.is_instance_of(node({"ecs.seed.dev/cluster": "prod"}), "default", None)
    assert c.is_instance_of(node({"ecs.seed.dev/cluster": "prod"}), "prod", None)
    assert not c.is_instance_of(node({}), "prod", None)


def test_capacity_provider_pools_define_the_instances():
    pools = [{"pool": "a"}, {"pool": "b", "zone": "x"}]
    assert c.is_instance_of(node({"pool": "a"}), "prod", pools)
    assert not c.is_instance_of(node({"pool": "b"}), "prod", pools)
    assert c.is_instance_of(node({"pool": "b", "zone": "x"}), "prod", pools)


def test_restriction_is_anded_with_existing_affinity():
    spec = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
                    ]
                }
            }
        }
    }
    out = c.restrict_to_cluster(spec, "default", None)
    terms = out["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert len(terms) == 4  # (a or b) and (mine or unclaimed)
    assert all(len(t["matchExpressions"]) == 2 for t in terms)
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][
        0
    ] == {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}, "input not mutated"
    plain = c.restrict_to_cluster({}, "prod", None)
    assert plain["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "ecs.seed.dev/cluster", "operator": "In", "values": ["prod"]}]}
    ]


IMPLICIT = {
    "metadata": {"name": "default", "labels": {"app.kubernetes.io/managed-by": "ecs-operator"}},
    "spec": {"clusterName": "default"},
}


@pytest.mark.parametrize(
    ("body", "implicit"),
    [
        pytest.param(IMPLICIT, True, id="as-the-operator-creates-it"),
        pytest.param({**IMPLICIT, "metadata": {"name": "default"}}, False, id="created-by-a-user"),
        pytest.param(
            {**IMPLICIT, "spec": {"clusterName": "default", "capacityProviders": ["FARGATE"]}}, False, id="spec"
        ),
        pytest.param({**IMPLICIT, "metadata": {**IMPLICIT["metadata"], "name": "prod"}}, False, id="another-name"),
        pytest.param({**IMPLICIT, "spec": {}}, False, id="empty-spec"),
    ],
)
def test_implicit_default_cluster_wakes_nobody(body, implicit):
    assert is_implicit_default(body) is implicit
