import pytest
from ecs_operator.domain import capacity as c
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
    assert tol == [
        {"key": "ecs.seed.dev/virtual-node", "operator": "Equal", "value": "FARGATE", "effect": "NoSchedule"}
    ]
    spot = c.resolve_launch(None, _strategy({"capacityProvider": "FARGATE_SPOT", "weight": 1}), ["FARGATE"])
    assert c.pod_placement(spot)[0] == {"ecs.seed.dev/capacity-provider": "FARGATE_SPOT"}
    split = c.resolve_launch(
        None,
        _strategy({"capacityProvider": "FARGATE", "base": 1}, {"capacityProvider": "FARGATE_SPOT", "weight": 2}),
        ["FARGATE"],
    )
    assert not split.warnings and split.providers == ("FARGATE", "FARGATE_SPOT")


@pytest.mark.parametrize(
    "launch,strategy,compat,field",
    [
        ("FARGATE", None, ["EC2"], "launchType"),
        ("FARGATE", None, None, "launchType"),
        (
            None,
            [{"capacityProvider": "FARGATE"}, {"capacityProvider": "my-asg"}],
            ["FARGATE", "EC2"],
            "capacityProviderStrategy",
        ),
        ("EC2", None, ["FARGATE"], "launchType"),
    ],
)
def test_refusals_name_the_field(launch, strategy, compat, field):
    with pytest.raises(c.LaunchError) as e:
        c.resolve_launch(launch, _strategy(*strategy) if strategy else None, compat)
    assert e.value.field == field


def test_fargate_service_goes_to_virtual_nodes_and_daemon_cannot():
    owner = {"apiVersion": "ecs.seed.dev/v1alpha1", "kind": "ECSService", "name": "w", "uid": "u"}
    tpl = {"metadata": {}, "spec": {"containers": [{"name": "w", "image": "x"}]}}
    svc = CreateServiceRequest.model_validate({"taskDefinition": "w", "desiredCount": 1, "launchType": "FARGATE"})
    d = s.workload(
        svc, name="w", namespace="n", owner=owner, template=tpl, task_definition="w:1", compatibilities=["FARGATE"]
    ).manifest
    assert d["spec"]["template"]["spec"]["nodeSelector"] == {"ecs.seed.dev/capacity-provider": "FARGATE"}
    with pytest.raises(s.ServiceError, match="launchType"):
        s.workload(
            svc, name="w", namespace="n", owner=owner, template=tpl, task_definition="w:1", compatibilities=["EC2"]
        )
    daemon = CreateServiceRequest.model_validate(
        {"taskDefinition": "w", "schedulingStrategy": "DAEMON", "launchType": "FARGATE"}
    )
    with pytest.raises(s.ServiceError, match="schedulingStrategy"):
        s.workload(
            daemon,
            name="w",
            namespace="n",
            owner=owner,
            template=tpl,
            task_definition="w:1",
            compatibilities=["FARGATE"],
        )


def _split(count, *items):
    return dict(c.split_tasks(count, _strategy(*items)))


@pytest.mark.parametrize(
    "count,items,expected",
    [
        # base first, then by weight
        (
            10,
            [{"capacityProvider": "A", "base": 2, "weight": 1}, {"capacityProvider": "B", "weight": 1}],
            {"A": 6, "B": 4},
        ),
        # one task on A for every four on B
        (5, [{"capacityProvider": "A", "weight": 1}, {"capacityProvider": "B", "weight": 4}], {"A": 1, "B": 4}),
        (10, [{"capacityProvider": "A", "weight": 1}, {"capacityProvider": "B", "weight": 4}], {"A": 2, "B": 8}),
        # the base caps at the desired count
        (
            2,
            [{"capacityProvider": "A", "base": 5, "weight": 1}, {"capacityProvider": "B", "weight": 1}],
            {"A": 2, "B": 0},
        ),
        # weight 0 gets its base only
        (
            6,
            [
                {"capacityProvider": "FARGATE", "base": 1, "weight": 0},
                {"capacityProvider": "FARGATE_SPOT", "weight": 1},
            ],
            {"FARGATE": 1, "FARGATE_SPOT": 5},
        ),
        # a strategy of one provider runs everything there, whatever its weight
        (3, [{"capacityProvider": "A"}], {"A": 3}),
        (
            0,
            [{"capacityProvider": "A", "base": 1, "weight": 1}, {"capacityProvider": "B", "weight": 1}],
            {"A": 0, "B": 0},
        ),
        # equal weights split evenly, ties to the provider listed first
        (3, [{"capacityProvider": "A", "weight": 1}, {"capacityProvider": "B", "weight": 1}], {"A": 2, "B": 1}),
        (
            7,
            [
                {"capacityProvider": "A", "weight": 2},
                {"capacityProvider": "B", "weight": 3},
                {"capacityProvider": "C", "weight": 5},
            ],
            {"A": 1, "B": 2, "C": 4},
        ),
    ],
)
def test_tasks_split_by_base_then_weight(count, items, expected):
    assert _split(count, *items) == expected


def test_scaling_out_never_moves_a_task_and_shares_converge_to_the_weights():
    items = [
        {"capacityProvider": "A", "base": 3, "weight": 2},
        {"capacityProvider": "B", "weight": 3},
        {"capacityProvider": "C", "weight": 7},
    ]
    previous = None
    for n in range(300):
        now = _split(n, *items)
        assert sum(now.values()) == n
        if previous is not None:
            grown = [k for k in now if now[k] != previous[k]]
            assert len(grown) == 1 and now[grown[0]] == previous[grown[0]] + 1
        previous = now
    beyond = {"A": previous["A"] - 3, "B": previous["B"], "C": previous["C"]}
    for k, w in {"A": 2, "B": 3, "C": 7}.items():
        assert abs(beyond[k] - (299 - 3) * w / 12) <= 1


@pytest.mark.parametrize(
    "items,field",
    [
        (
            [{"capacityProvider": "A", "base": 1, "weight": 1}, {"capacityProvider": "B", "base": 1, "weight": 1}],
            "capacityProviderStrategy[1].base",
        ),
        ([{"capacityProvider": "A"}, {"capacityProvider": "B"}], "capacityProviderStrategy"),
        (
            [{"capacityProvider": "A", "weight": 1}, {"capacityProvider": "A", "weight": 1}],
            "capacityProviderStrategy[1].capacityProvider",
        ),
    ],
)
def test_strategies_ecs_refuses(items, field):
    with pytest.raises(c.LaunchError) as e:
        c.resolve_launch(None, _strategy(*items), None)
    assert e.value.field == field


OWNER = {"apiVersion": "ecs.seed.dev/v1alpha1", "kind": "ECSService", "name": "w", "uid": "u"}
TPL = {"metadata": {}, "spec": {"containers": [{"name": "w", "image": "x"}]}}
POOLS = {
    "spot": ({"pool": "spot"}, [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}]),
    "ondemand": ({"pool": "ondemand"}, []),
}


def test_a_split_service_is_one_deployment_per_provider_on_its_pool():
    svc = CreateServiceRequest.model_validate(
        {
            "taskDefinition": "w",
            "desiredCount": 5,
            "capacityProviderStrategy": [
                {"capacityProvider": "ondemand", "base": 2, "weight": 1},
                {"capacityProvider": "spot", "weight": 2},
            ],
        }
    )
    wl = s.workload(
        svc, name="w", namespace="n", owner=OWNER, template=TPL, task_definition="w:1", capacity_pools=POOLS
    )
    assert wl.refs() == ["Deployment/w-ondemand", "Deployment/w-spot"]
    by_name = {m["metadata"]["name"]: m for m in wl.manifests}
    assert by_name["w-ondemand"]["spec"]["replicas"] == 3 and by_name["w-spot"]["spec"]["replicas"] == 2
    spot = by_name["w-spot"]["spec"]
    assert spot["selector"]["matchLabels"] == {"ecs.seed.dev/service": "w", "ecs.seed.dev/capacity-provider": "spot"}
    assert spot["template"]["metadata"]["labels"]["ecs.seed.dev/capacity-provider"] == "spot"
    assert spot["template"]["spec"]["nodeSelector"] == {"pool": "spot"}
    assert spot["template"]["spec"]["tolerations"] == POOLS["spot"][1]
    # the task group spans the providers: spread and distinctInstance see every task of the service
    assert spot["template"]["metadata"]["annotations"][s.ANNOTATION_GROUP] == "service:w"


def test_the_cluster_default_strategy_applies_without_launch_type_or_strategy():
    default = _strategy({"capacityProvider": "FARGATE", "base": 1}, {"capacityProvider": "FARGATE_SPOT", "weight": 1})
    svc = CreateServiceRequest.model_validate({"taskDefinition": "w", "desiredCount": 3})
    wl = s.workload(
        svc,
        name="w",
        namespace="n",
        owner=OWNER,
        template=TPL,
        task_definition="w:1",
        compatibilities=["FARGATE"],
        default_strategy=default,
    )
    assert [(m["metadata"]["name"], m["spec"]["replicas"]) for m in wl.manifests] == [
        ("w-fargate", 1),
        ("w-fargate-spot", 2),
    ]
    explicit = CreateServiceRequest.model_validate({"taskDefinition": "w", "desiredCount": 3, "launchType": "EC2"})
    assert s.workload(
        explicit, name="w", namespace="n", owner=OWNER, template=TPL, task_definition="w:1", default_strategy=default
    ).refs() == ["Deployment/w"]


def test_a_daemon_on_several_providers_runs_on_every_pool():
    svc = CreateServiceRequest.model_validate(
        {
            "taskDefinition": "w",
            "schedulingStrategy": "DAEMON",
            "capacityProviderStrategy": [
                {"capacityProvider": "ondemand", "weight": 1},
                {"capacityProvider": "spot", "weight": 1},
            ],
        }
    )
    ds = s.workload(
        svc, name="w", namespace="n", owner=OWNER, template=TPL, task_definition="w:1", capacity_pools=POOLS
    ).manifest
    spec = ds["spec"]["template"]["spec"]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    not_draining = {"key": "ecs.seed.dev/container-instance-status", "operator": "NotIn", "values": ["DRAINING"]}
    assert [t["matchExpressions"] for t in terms] == [
        [{"key": "pool", "operator": "In", "values": ["ondemand"]}, not_draining],
        [{"key": "pool", "operator": "In", "values": ["spot"]}, not_draining],
    ]
    assert spec["tolerations"] == POOLS["spot"][1]
