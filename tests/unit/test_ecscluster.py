import pytest
from ecs_operator.dev.cluster import NodeSpec, node_manifest, virtual_node
from ecs_operator.plans.cluster import container_instances, counts


def _ready(node):
    node["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    return node


def test_container_instances_as_ecs_shows_them():
    ec2 = _ready(node_manifest(NodeSpec(name="ip-1", zone="us-east-1a")))
    cordoned = _ready(node_manifest(NodeSpec(name="ip-2", zone="us-east-1b")))
    cordoned["spec"]["unschedulable"] = True
    fargate = _ready(node_manifest(virtual_node("FARGATE", "us-east-1a")))
    pod = {
        "metadata": {
            "name": "t",
            "namespace": "n",
            "labels": {"ecs.seed.dev/service": "web"},
            "annotations": {"ecs.seed.dev/group": "service:web"},
        },
        "spec": {
            "nodeName": "ip-1",
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}],
        },
        "status": {"phase": "Running"},
    }
    out = container_instances([ec2, cordoned, fargate], [pod])
    assert [ci["ec2InstanceId"] for ci in out] == ["ip-1", "ip-2"], "virtual nodes are not container instances"
    one = out[0]
    assert one["status"] == "ACTIVE" and one["agentConnected"] is True and one["runningTasksCount"] == 1
    registered = {r["name"]: r["integerValue"] for r in one["registeredResources"]}
    remaining = {r["name"]: r["integerValue"] for r in one["remainingResources"]}
    assert registered == {"CPU": 2048, "MEMORY": 8192}
    assert remaining["CPU"] == 2048 - 512 and remaining["MEMORY"] == 8192 - 256
    assert {"name": "ecs.availability-zone", "value": "us-east-1a"} in one["attributes"]
    assert out[1]["status"] == "DRAINING"
    st = counts("n", "default", [ec2, cordoned, fargate], [], [])
    assert st["registeredContainerInstancesCount"] == 2, "DRAINING instances stay registered"


def test_a_cluster_counts_only_its_own_container_instances():
    unclaimed = _ready(node_manifest(NodeSpec(name="ip-1", zone="us-east-1a")))
    prod = _ready(node_manifest(NodeSpec(name="ip-2", zone="us-east-1a", labels={"ecs.seed.dev/cluster": "prod"})))
    pooled = _ready(node_manifest(NodeSpec(name="ip-3", zone="us-east-1a", labels={"pool": "gpu"})))
    nodes = [unclaimed, prod, pooled]
    assert counts("n", "default", nodes, [], [])["registeredContainerInstancesCount"] == 2  # unclaimed ones
    assert counts("n", "prod", nodes, [], [])["registeredContainerInstancesCount"] == 1
    assert counts("n", "gpu-cluster", nodes, [], [], pools=[{"pool": "gpu"}])["registeredContainerInstancesCount"] == 1


def test_every_create_cluster_field_is_classified_and_unexpressible_ones_are_reported():
    from ecs_operator.models.generated import ClusterSpec
    from ecs_operator.translate import cluster as c

    classified = set(c.TRANSLATED) | set(c.WARNED) | set(c.IGNORED)
    assert set(ClusterSpec.model_fields) - classified == set(), "new CreateCluster fields must be classified"
    assert not set(c.TRANSLATED) & set(c.WARNED)
    spec = {
        "clusterName": "x",
        "settings": [{"name": "containerInsights", "value": "enabled"}],
        "serviceConnectDefaults": {"namespace": "ns"},
        "tags": [{"key": "a", "value": "b"}],
    }
    assert [w.field for w in c.cluster_warnings(spec)] == ["settings", "serviceConnectDefaults"]
    assert c.cluster_warnings({"clusterName": "x"}) == []


@pytest.mark.parametrize(
    "name, ok",
    [
        ("default", True),
        ("prod_1-A", True),
        ("a" * 255, True),
        ("my cluster", False),
        ("prod.eu", False),
        ("a" * 256, False),
        ("", False),
        ("c/d", False),
        ("é", False),
    ],
)
def test_cluster_names_follow_create_cluster_rule(name, ok):
    import re

    from ecs_operator.models.gen import CLUSTER_NAME_PATTERN
    from ecs_operator.translate.cluster import cluster_name_error

    err = cluster_name_error(name)
    assert (err is None) == ok
    assert bool(re.fullmatch(CLUSTER_NAME_PATTERN, name)) == ok, "the CRD's CEL rule says the same"
    if not ok:
        assert err.startswith("clusterName: ") and repr(name) in err
