"""A Kubernetes node (+ its pods) as an ECS container instance."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import pytest
from ecs_operator.domain import instances
from ecs_operator.extender.synthetic import node, pod


def test_builtin_attributes_from_well_known_labels():
    inst = instances.build_instance(node("n1", zone="us-east-1b", instance_type="m5.xlarge"))
    assert inst.attributes["ecs.availability-zone"] == "us-east-1b"
    assert inst.attributes["ecs.instance-type"] == "m5.xlarge"
    assert inst.attributes["ecs.os-type"] == "linux"
    assert inst.attributes["ecs.cpu-architecture"] == "x86_64"
    assert inst.attributes["ecs.os-family"] == "LINUX"
    arm = instances.build_instance(node("n2", instance_type="m6g.large"))
    assert arm.attributes["ecs.cpu-architecture"] == "arm64"
    win = instances.build_instance(node("n3", os="windows"))
    assert win.attributes["ecs.os-type"] == "windows" and "ecs.os-family" not in win.attributes


def test_custom_attributes_from_prefixed_labels():
    n = node(
        "n1",
        labels={
            "attribute.ecs.seed.dev/stack": "prod",
            "attribute.ecs.seed.dev/gpu": "",
            "attribute.ecs.seed.dev/ecs.instance-type": "ignored",
            "unrelated": "x",
            "attribute.ecs.seed.dev/ecs.vpc-id": "vpc-1234abcd",
        },
    )
    attrs = instances.build_instance(n).attributes
    assert attrs["stack"] == "prod"
    assert attrs["gpu"] == ""  # attribute without a value
    assert attrs["ecs.vpc-id"] == "vpc-1234abcd"
    assert attrs["ecs.instance-type"] == "m5.large"  # label-backed built-ins come from their labels
    assert "unrelated" not in attrs


def test_node_without_labels():
    inst = instances.build_instance({"metadata": {"name": "bare"}})
    assert inst.attributes == {} and inst.ec2_instance_id == "bare"
    assert inst.registered_cpu == 0 and inst.agent_connected is False and inst.registered_at is None


def test_instance_id_and_registration():
    inst = instances.build_instance(node("ip-10-0-0-1", created="2024-05-01T10:00:00Z", kubelet="v1.36.3"))
    assert inst.ec2_instance_id == inst.instance_id == "ip-10-0-0-1"
    assert inst.registered_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert inst.agent_version == "v1.36.3"
    labelled = instances.build_instance(node("ip-10-0-0-2", labels={"ecs.seed.dev/instance-id": "i-0abc"}))
    assert labelled.ec2_instance_id == "i-0abc" and labelled.name == "ip-10-0-0-2"


def test_status_and_agent():
    assert instances.build_instance(node("a")).status == instances.ACTIVE
    assert instances.build_instance(node("a", unschedulable=True)).status == instances.DRAINING
    assert instances.build_instance(node("a")).agent_connected is True
    assert instances.build_instance(node("a", ready=False)).agent_connected is False


@pytest.mark.parametrize(
    "text, value",
    [
        ("1", Fraction(1)),
        ("1500m", Fraction(3, 2)),
        ("0.5", Fraction(1, 2)),
        ("2Gi", Fraction(2 * 2**30)),
        ("7901164Ki", Fraction(7901164 * 1024)),
        ("512M", Fraction(512 * 10**6)),
        ("1e3", Fraction(1000)),
        ("1.5k", Fraction(1500)),
        ("100n", Fraction(1, 10**7)),
        (3, Fraction(3)),
        ("+2", Fraction(2)),
    ],
)
def test_parse_quantity(text, value):
    assert instances.parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1Qi", "1 Gi", "--1", "1e999", True])
def test_parse_quantity_rejects(text):
    with pytest.raises(ValueError):
        instances.parse_quantity(text)
    assert instances.milli(text) == 0 and instances.whole(text) == 0


def test_scaled_quantities_round_up():
    assert instances.milli("250m") == 250 and instances.milli("0.1m") == 1 and instances.milli(2) == 2000
    assert instances.whole("512Mi") == 512 * 2**20 and instances.whole("1.5") == 2
    assert (
        instances.cpu_units(250) == 256 and instances.cpu_units(1920) == 1966 and instances.memory_mib(2**21 - 1) == 1
    )


def test_registered_and_remaining_resources():
    n = node("n1", cpu="2", memory="8Gi")
    pods = [
        pod("a", node="n1", service="web", cpu="500m", memory="1Gi"),
        pod("b", node="n1", cpu="250m", memory="512Mi", namespace="kube-system"),  # non-ECS pods count too
        pod("done", node="n1", service="web", cpu="1", memory="4Gi", phase="Succeeded"),  # terminated: not
    ]
    inst = instances.build_instance(n, pods)
    assert inst.registered_cpu == 2048 and inst.registered_memory == 8192
    assert inst.remaining_cpu == 2048 - 768 and inst.remaining_memory == 8192 - 1536


def test_pod_requests_init_sidecar_overhead_and_limits_only():
    p = {
        "spec": {
            "containers": [
                {"resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}},
                {"resources": {"limits": {"cpu": "200m", "memory": "200Mi"}}},
            ],
            "initContainers": [
                {"resources": {"requests": {"cpu": "1", "memory": "50Mi"}}},
                {"restartPolicy": "Always", "resources": {"requests": {"cpu": "50m", "memory": "10Mi"}}},
            ],
            "overhead": {"cpu": "10m", "memory": "1Mi"},
        }
    }
    cpu, mem = instances.pod_requests(p)
    assert cpu == 1010  # millicores: the init container dominates
    assert mem == (300 + 10 + 1) * 2**20  # app + sidecar + overhead
    assert instances.pod_requests_ecs(p) == (1035, 311)


def test_running_tasks_and_groups():
    pods = [
        pod("w1", node="n1", service="web"),
        pod("w2", node="n1", service="web", phase="Pending"),
        pod("d1", node="n1", service="db", group="database"),
        pod("t1", node="n1", task_family="batch"),
        pod("sys", node="n1", namespace="kube-system"),
        pod("gone", node="n1", service="web", phase="Failed"),
    ]
    inst = instances.build_instance(node("n1"), pods)
    assert inst.running_tasks_count == 3 and inst.pending_tasks_count == 1
    assert dict(inst.task_groups) == {"service:web": 2, "database": 1, "family:batch": 1}
    assert inst.tasks_in_group("service:web") == 2 and inst.tasks_in_group(None) == 0


def test_task_group_fallbacks():
    p = pod("x", service="api")
    del p["metadata"]["annotations"]["ecs.seed.dev/group"]
    assert instances.task_group(p) == "service:api"
    q = pod("y", task_family="etl")
    del q["metadata"]["annotations"]["ecs.seed.dev/group"]
    assert instances.task_group(q) == "family:etl"
    assert instances.task_group(pod("z")) is None


def test_build_instances_groups_pods_by_node():
    nodes = [node("n1"), node("n2")]
    pods = [
        pod("a", node="n1", service="web"),
        pod("b", node="n2", service="web"),
        pod("c", node="n2", service="web"),
        pod("unbound", service="web"),
    ]
    insts = instances.build_instances(nodes, pods)
    assert set(insts) == {"n1", "n2"}
    assert insts["n1"].running_tasks_count == 1 and insts["n2"].running_tasks_count == 2
