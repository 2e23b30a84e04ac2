import pytest

from ecs_operator import capacity as c
from ecs_operator.models.generated import CreateServiceRequest
from ecs_operator.translate import service as s


def _strategy(*items):
    return CreateServiceRequest.model_validate({"capacityProviderStrategy": list(items)}).capacityProviderStrategy


def test_launch_types_and_fargate_placement():
    ec2 = c.resolve_launch(None, None, None)
    assert (ec2.launch_type, ec2.provider) == ("EC2", None) and c.pod_placement(ec2) == ({}, [])
    fg = c.resolve_launch("FARGATE", None, ["FARGATE"])
    sel, tol = c.pod_placement(fg)
    assert sel == {"ecs.seed.dev/capacity-provider": "FARGATE"}
    assert tol == [{"key": "ecs.seed.dev/virtual-node", "operator": "Equal", "value": "FARGATE", "effect": "NoSchedule"}]
    spot = c.resolve_launch(None, _strategy({"capacityProvider": "FARGATE_SPOT", "weight": 1}), ["FARGATE"])
    assert c.pod_placement(spot)[0] == {"ecs.seed.dev/capacity-provider": "FARGATE_SPOT"}
    split = c.resolve_launch(None, _strategy({"capacityProvider": "FARGATE", "base": 1},
                                             {"capacityProvider": "FARGATE_SPOT", "weight": 2}), ["FARGATE"])
    assert split.warnings and split.warnings[0][0] == "capacityProviderStrategy"


@pytest.mark.parametrize("launch,strategy,compat,field", [
    ("FARGATE", None, ["EC2"], "launchType"),
    ("FARGATE", None, None, "launchType"),
    (None, [{"capacityProvider": "FARGATE"}, {"capacityProvider": "my-asg"}], ["FARGATE", "EC2"], "capacityProviderStrategy"),
    ("EC2", None, ["FARGATE"], "launchType"),
])
def test_refusals_name_the_field(launch, strategy, compat, field):
    with pytest.raises(c.LaunchError) as e:
        c.resolve_launch(launch, _strategy(*strategy) if strategy else None, compat)
    assert e.value.field == field


def test_fargate_service_goes_to_virtual_nodes_and_daemon_cannot():
    owner = {"apiVersion": "ecs.seed.dev/v1alpha1", "kind": "ECSService", "name": "w", "uid": "u"}
    tpl = {"metadata": {}, "spec": {"containers": [{"name": "w", "image": "x"}]}}
    svc = CreateServiceRequest.model_validate({"taskDefinition": "w", "desiredCount": 1, "launchType": "FARGATE"})
    d = s.workload(svc, name="w", namespace="n", owner=owner, template=tpl, task_definition="w:1",
                   compatibilities=["FARGATE"]).manifest
    assert d["spec"]["template"]["spec"]["nodeSelector"] == {"ecs.seed.dev/capacity-provider": "FARGATE"}
    with pytest.raises(s.ServiceError, match="launchType"):
        s.workload(svc, name="w", namespace="n", owner=owner, template=tpl, task_definition="w:1", compatibilities=["EC2"])
    daemon = CreateServiceRequest.model_validate({"taskDefinition": "w", "schedulingStrategy": "DAEMON", "launchType": "FARGATE"})
    with pytest.raises(s.ServiceError, match="schedulingStrategy"):
        s.workload(daemon, name="w", namespace="n", owner=owner, template=tpl, task_definition="w:1",
                   compatibilities=["FARGATE"])
