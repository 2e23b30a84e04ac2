from ecs_operator.domain import membership as c


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
