import pytest
from ecs_operator.models.generated import CreateServiceRequest
from ecs_operator.translate import service as s
from ecs_operator.translate import service_drain, service_status

OWNER = {"apiVersion": "ecs.seed.dev/v1alpha1", "kind": "ECSService", "name": "web", "uid": "u1", "controller": True}
TEMPLATE = {
    "metadata": {"labels": {"ecs.seed.dev/family": "web"}},
    "spec": {"containers": [{"name": "web", "image": "nginx", "livenessProbe": {"exec": {"command": ["true"]}}}]},
}


@pytest.mark.parametrize(
    "desired,maxp,minp,surge,unavail",
    [
        (4, 200, 100, 4, 0),  # ECS defaults: start all new, then stop all old
        (4, 150, 50, 2, 2),
        (3, 150, 50, 1, 1),  # floor(4.5)=4 -> surge 1; ceil(1.5)=2 -> unavailable 1
        (5, 100, 0, 0, 5),
        (10, 120, 90, 2, 1),
        (1, 100, 100, 0, 1),  # ECS could never progress; Kubernetes needs one of them > 0
        (0, 200, 100, 1, 0),
    ],
)
def test_rolling_limits_follow_ecs_rounding(desired, maxp, minp, surge, unavail):
    lim = s.rolling_limits(desired, maxp, minp)
    assert (lim.max_surge, lim.max_unavailable) == (surge, unavail)


def test_circuit_breaker_threshold():
    assert [s.circuit_breaker_threshold(d) for d in (1, 6, 7, 100, 1000)] == [3, 3, 4, 50, 200]


def test_replica_service_becomes_deployment():
    svc = CreateServiceRequest.model_validate(
        {
            "taskDefinition": "web:1",
            "desiredCount": 3,
            "healthCheckGracePeriodSeconds": 60,
            "placementStrategy": [{"type": "binpack", "field": "memory"}],
        }
    )
    wl = s.workload(svc, name="web", namespace="ns", owner=OWNER, template=TEMPLATE, task_definition="web:1")
    d = wl.manifest
    assert d["kind"] == "Deployment" and d["spec"]["replicas"] == 3
    assert d["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 3, "maxUnavailable": 0}
    assert d["spec"]["selector"] == {"matchLabels": {"ecs.seed.dev/service": "web"}}
    tpl = d["spec"]["template"]
    assert tpl["metadata"]["labels"]["ecs.seed.dev/cluster"] == "default"
    assert tpl["metadata"]["annotations"]["ecs.seed.dev/group"] == "service:web"
    assert tpl["spec"]["containers"][0]["livenessProbe"]["initialDelaySeconds"] == 60
    assert [w.field for w in wl.warnings] == ["placementStrategy"]
    assert TEMPLATE["spec"]["containers"][0]["livenessProbe"] == {"exec": {"command": ["true"]}}, "input not mutated"


def test_daemon_service_becomes_daemonset():
    svc = CreateServiceRequest.model_validate(
        {"taskDefinition": "agent", "schedulingStrategy": "DAEMON", "cluster": "arn:aws:ecs:us-east-1:1:cluster/prod"}
    )
    d = s.workload(
        svc, name="agent", namespace="ns", owner=OWNER, template=TEMPLATE, task_definition="agent:2"
    ).manifest
    assert d["kind"] == "DaemonSet"
    assert d["spec"]["updateStrategy"]["rollingUpdate"] == {"maxUnavailable": "100%"}
    assert d["spec"]["template"]["metadata"]["labels"]["ecs.seed.dev/cluster"] == "prod"


@pytest.mark.parametrize(
    "spec,field",
    [
        ({"taskDefinition": "a", "schedulingStrategy": "DAEMON", "desiredCount": 2}, "desiredCount"),
        ({"taskDefinition": "a"}, "desiredCount"),
        (
            {
                "taskDefinition": "a",
                "desiredCount": 1,
                "launchType": "EC2",
                "capacityProviderStrategy": [{"capacityProvider": "x"}],
            },
            "launchType",
        ),
        ({"desiredCount": 1}, "taskDefinition"),
        (
            {"taskDefinition": "a", "schedulingStrategy": "DAEMON", "deploymentConfiguration": {"maximumPercent": 200}},
            "deploymentConfiguration.maximumPercent",
        ),
    ],
)
def test_invalid_services_are_refused_naming_the_field(spec, field):
    with pytest.raises(s.ServiceError) as e:
        s.validate(CreateServiceRequest.model_validate(spec))
    assert e.value.field == field and str(e.value).startswith(field)


def test_every_create_service_field_is_classified():
    fields = set(CreateServiceRequest.model_fields)
    classified = set(s.TRANSLATED) | set(s.WARNED) | set(s.IGNORED)
    assert fields - classified == set(), "new CreateService fields must be translated, warned or ignored"


def _pod(name, phase, hash_="h1", td="web:1"):
    return {
        "metadata": {
            "name": name,
            "labels": {"pod-template-hash": hash_},
            "annotations": {"ecs.seed.dev/task-definition": td},
        },
        "status": {"phase": phase},
    }


def test_status_reaches_steady_state_once():
    svc = CreateServiceRequest.model_validate({"taskDefinition": "web", "desiredCount": 2})
    dep = {
        "metadata": {"generation": 1, "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2},
    }
    rs = {
        "metadata": {"annotations": {"deployment.kubernetes.io/revision": "1"}, "labels": {"pod-template-hash": "h1"}},
        "spec": {"replicas": 2, "template": {"metadata": {"annotations": {"ecs.seed.dev/task-definition": "web:1"}}}},
    }
    pods = [_pod("a", "Running"), _pod("b", "Running")]
    st, steady = service_status.service_status(
        svc=svc,
        name="web",
        workloads=[dep],
        replicasets=[rs],
        pods=pods,
        previous={},
        task_definition="web:1",
        now="T1",
    )
    assert steady and st["runningCount"] == 2 and st["pendingCount"] == 0
    assert st["rolloutState"] == "COMPLETED"
    assert [d["status"] for d in st["deployments"]] == ["PRIMARY"]
    assert st["events"][0]["message"] == "(service web) has reached a steady state."
    st["conditions"] = [{"type": "Ready", "status": "True"}]
    st2, _ = service_status.service_status(
        svc=svc,
        name="web",
        workloads=[dep],
        replicasets=[rs],
        pods=pods,
        previous=st,
        task_definition="web:1",
        now="T2",
    )
    assert st2["events"] == st["events"], "no duplicate steady-state or deployment-completed event"
    assert [e["message"] for e in st["events"]] == [
        "(service web) has reached a steady state.",
        f"(service web) (deployment {st['deployments'][0]['id']}) deployment completed.",
    ]


def test_status_during_rollout_has_primary_and_active_deployments():
    svc = CreateServiceRequest.model_validate({"taskDefinition": "web", "desiredCount": 2})
    dep = {
        "metadata": {"generation": 2, "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 2, "availableReplicas": 2},
    }
    rs1 = {
        "metadata": {"annotations": {"deployment.kubernetes.io/revision": "1"}, "labels": {"pod-template-hash": "h1"}},
        "spec": {"replicas": 2, "template": {"metadata": {"annotations": {"ecs.seed.dev/task-definition": "web:1"}}}},
    }
    rs2 = {
        "metadata": {"annotations": {"deployment.kubernetes.io/revision": "2"}, "labels": {"pod-template-hash": "h2"}},
        "spec": {"replicas": 2, "template": {"metadata": {"annotations": {"ecs.seed.dev/task-definition": "web:2"}}}},
    }
    pods = [
        _pod("a", "Running"),
        _pod("b", "Running"),
        _pod("c", "Running", "h2", "web:2"),
        _pod("d", "Pending", "h2", "web:2"),
    ]
    st, steady = service_status.service_status(
        svc=svc,
        name="web",
        workloads=[dep],
        replicasets=[rs1, rs2],
        pods=pods,
        previous={},
        task_definition="web:2",
        now="T",
    )
    assert not steady and st["rolloutState"] == "IN_PROGRESS"
    assert [(d["status"], d["taskDefinition"], d["runningCount"], d["pendingCount"]) for d in st["deployments"]] == [
        ("PRIMARY", "web:2", 1, 1),
        ("ACTIVE", "web:1", 2, 0),
    ]


def test_circuit_breaker_fails_the_primary_deployment_at_ecs_threshold():
    svc = CreateServiceRequest.model_validate(
        {
            "taskDefinition": "web",
            "desiredCount": 2,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
        }
    )
    dep = {
        "metadata": {"generation": 2, "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 2, "availableReplicas": 2},
    }
    rs = {
        "metadata": {"annotations": {"deployment.kubernetes.io/revision": "2"}, "labels": {"pod-template-hash": "h2"}},
        "spec": {"replicas": 2, "template": {"metadata": {"annotations": {"ecs.seed.dev/task-definition": "web:2"}}}},
    }

    def crashing(restarts):
        p = _pod("c", "Running", "h2", "web:2")
        p["status"]["containerStatuses"] = [{"name": "web", "restartCount": restarts}]
        return p

    st, _ = service_status.service_status(
        svc=svc,
        name="web",
        workloads=[dep],
        replicasets=[rs],
        pods=[crashing(2)],
        previous={},
        task_definition="web:2",
        now="T",
    )
    assert st["rolloutState"] == "IN_PROGRESS" and st["deployments"][0]["failedTasks"] == 2
    st, _ = service_status.service_status(
        svc=svc,
        name="web",
        workloads=[dep],
        replicasets=[rs],
        pods=[crashing(3)],
        previous=st,
        task_definition="web:2",
        now="T2",
    )
    assert st["rolloutState"] == "FAILED"
    assert st["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert "deployment failed: tasks failed to start." in st["events"][0]["message"]
    # without the circuit breaker ECS keeps trying
    plain = CreateServiceRequest.model_validate({"taskDefinition": "web", "desiredCount": 2})
    st, _ = service_status.service_status(
        svc=plain,
        name="web",
        workloads=[dep],
        replicasets=[rs],
        pods=[crashing(50)],
        previous={},
        task_definition="web:2",
        now="T",
    )
    assert st["rolloutState"] == "IN_PROGRESS"


def _deployment(uid, replicas, revision="1", ready=None):
    ready = replicas if ready is None else ready
    return {
        "metadata": {"uid": uid, "generation": 1, "annotations": {"deployment.kubernetes.io/revision": revision}},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": ready,
        },
    }


def _rs(uid, owner, replicas, td="web:1", revision="1"):
    return {
        "metadata": {
            "uid": uid,
            "ownerReferences": [{"uid": owner}],
            "labels": {"pod-template-hash": uid},
            "annotations": {"deployment.kubernetes.io/revision": revision},
        },
        "spec": {"replicas": replicas, "template": {"metadata": {"annotations": {"ecs.seed.dev/task-definition": td}}}},
    }


def _owned_pod(name, rs_uid, phase="Running", td="web:1"):
    p = _pod(name, phase, rs_uid, td)
    p["metadata"]["ownerReferences"] = [{"uid": rs_uid}]
    return p


SPLIT = CreateServiceRequest.model_validate(
    {
        "taskDefinition": "web",
        "desiredCount": 3,
        "capacityProviderStrategy": [
            {"capacityProvider": "ondemand", "base": 1, "weight": 1},
            {"capacityProvider": "spot", "weight": 1},
        ],
    }
)


def test_status_of_a_split_service_adds_up_its_deployments():
    deps = [_deployment("d1", 2), _deployment("d2", 1)]
    rss = [_rs("r1", "d1", 2), _rs("r2", "d2", 1)]
    pods = [_owned_pod("a", "r1"), _owned_pod("b", "r1"), _owned_pod("c", "r2")]
    st, steady = service_status.service_status(
        svc=SPLIT,
        name="web",
        workloads=deps,
        replicasets=rss,
        pods=pods,
        previous={},
        task_definition="web:1",
        now="T",
        started_tasks=["aa", "bb", "cc"],
        capacity_provider_strategy=SPLIT.capacityProviderStrategy,
    )
    assert steady and (st["desiredCount"], st["runningCount"]) == (3, 3)
    assert [(d["status"], d["desiredCount"], d["runningCount"]) for d in st["deployments"]] == [("PRIMARY", 3, 3)]
    assert st["capacityProviderStrategy"] == [
        {"capacityProvider": "ondemand", "base": 1, "weight": 1},
        {"capacityProvider": "spot", "weight": 1},
    ]
    assert [e["message"] for e in st["events"]] == [
        "(service web) has reached a steady state.",
        f"(service web) (deployment {st['deployments'][0]['id']}) deployment completed.",
        "(service web) has started 3 tasks: (task aa) (task bb) (task cc).",
    ]
    # one Deployment short of its replicas: not steady
    deps[1] = _deployment("d2", 1, ready=0)
    _, steady = service_status.service_status(
        svc=SPLIT, name="web", workloads=deps, replicasets=rss, pods=pods, previous={}, task_definition="web:1", now="T"
    )
    assert not steady


def test_a_deployment_the_service_no_longer_wants_is_an_active_deployment():
    deps = [_deployment("d1", 2), _deployment("d2", 1)]
    rss = [_rs("r1", "d1", 2), _rs("r2", "d2", 1), _rs("old", "former", 3, td="web:1")]
    pods = [
        _owned_pod("a", "r1"),
        _owned_pod("b", "r1"),
        _owned_pod("c", "r2"),
        _owned_pod("x", "old"),
        _owned_pod("y", "old"),
        _owned_pod("z", "old"),
    ]
    st, steady = service_status.service_status(
        svc=SPLIT, name="web", workloads=deps, replicasets=rss, pods=pods, previous={}, task_definition="web:1", now="T"
    )
    assert not steady and st["rolloutState"] == "IN_PROGRESS"
    assert [(d["status"], d["runningCount"]) for d in st["deployments"]] == [("PRIMARY", 3), ("ACTIVE", 3)]
    assert s.workloads_complete(SPLIT, deps)


def _task(name, node, ready=True, phase="Running"):
    return {
        "metadata": {"name": name, "labels": {"ecs.seed.dev/service": "web"}},
        "spec": {"nodeName": node},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def _drain(desired, pods, draining, maximum=None, minimum=None):
    dc = {k: v for k, v in (("maximumPercent", maximum), ("minimumHealthyPercent", minimum)) if v is not None}
    svc = CreateServiceRequest.model_validate(
        {"taskDefinition": "web", "desiredCount": desired, **({"deploymentConfiguration": dc} if dc else {})}
    )
    wl = s.workload(svc, name="web", namespace="ns", owner=OWNER, template=TEMPLATE, task_definition="web:1")
    plan = service_drain.drain(svc, wl.manifests, pods, draining)
    return plan.manifests[0]["spec"]["replicas"], set(plan.mark), set(plan.stop)


def test_draining_with_ecs_defaults_starts_replacements_before_stopping_anything():
    pods = [_task("a", "n1"), _task("b", "n2"), _task("c", "n2")]
    # n2 drains: 2 replacements start elsewhere first (maximumPercent 200), nothing stops yet
    assert _drain(3, pods, {"n2"}) == (5, {"b", "c"}, set())
    # replacements running but not healthy yet: still nothing stops
    pods += [_task("d", "n3", ready=False), _task("e", "n3", ready=False)]
    assert _drain(3, pods, {"n2"}) == (5, {"b", "c"}, set())
    # healthy elsewhere covers the desired count: back to 3, the ReplicaSet removes the marked tasks
    pods[3:] = [_task("d", "n3"), _task("e", "n3")]
    assert _drain(3, pods, {"n2"}) == (3, {"b", "c"}, set())


def test_draining_without_surge_stops_what_minimum_healthy_allows():
    pods = [_task("a", "n1"), _task("b", "n2"), _task("c", "n2"), _task("d", "n2")]
    # maximumPercent 100, minimumHealthyPercent 50: no surge, 2 of 4 may stop at once
    assert _drain(4, pods, {"n2"}, maximum=100, minimum=50) == (4, {"b", "c", "d"}, {"b", "c"})
    # minimumHealthyPercent 0: all stop at once and are replaced
    assert _drain(4, pods, {"n2"}, maximum=100, minimum=0) == (4, {"b", "c", "d"}, {"b", "c", "d"})
    # an unhealthy task on the draining node can always go
    pods[1] = _task("b", "n2", ready=False)
    assert _drain(4, pods, {"n2"}, maximum=100, minimum=100)[2] == {"b"}


def test_nothing_drains_without_draining_nodes_or_tasks_on_them():
    pods = [_task("a", "n1"), _task("b", "n2")]
    assert _drain(2, pods, set()) == (2, set(), set())
    assert _drain(2, pods, {"n9"}) == (2, set(), set())


def test_disruption_budgets_keep_ecs_minimum_healthy_share_of_each_deployment():
    split = CreateServiceRequest.model_validate(
        {
            "taskDefinition": "web",
            "desiredCount": 5,
            "deploymentConfiguration": {"minimumHealthyPercent": 50},
            "capacityProviderStrategy": [
                {"capacityProvider": "a", "base": 1, "weight": 1},
                {"capacityProvider": "b", "weight": 1},
            ],
        }
    )
    pools = {"a": ({"pool": "a"}, []), "b": ({"pool": "b"}, [])}
    wl = s.workload(
        split, name="web", namespace="ns", owner=OWNER, template=TEMPLATE, task_definition="web:1", capacity_pools=pools
    )
    budgets = s.disruption_budgets(split, wl.manifests, OWNER)
    # shares 3 and 2; at least ceil(50 %) of each stays available
    assert [(b["metadata"]["name"], b["spec"]["minAvailable"]) for b in budgets] == [("web-a", 2), ("web-b", 1)]
    assert budgets[0]["spec"]["selector"] == wl.manifests[0]["spec"]["selector"]
    assert budgets[0]["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert budgets[0]["metadata"]["ownerReferences"] == [OWNER]
    daemon = CreateServiceRequest.model_validate({"taskDefinition": "web", "schedulingStrategy": "DAEMON"})
    ds = s.workload(daemon, name="agent", namespace="ns", owner=OWNER, template=TEMPLATE, task_definition="web:1")
    assert s.disruption_budgets(daemon, ds.manifests, OWNER) == []


@pytest.mark.parametrize(
    ("own_policy", "failed"),
    [
        (None, 3),  # restarted by the pod's restartPolicy Always: each restart is a task ECS would have replaced
        ("Always", 0),  # an ECS restartPolicy: restarted in place by design, no failed task
        ("Never", 0),  # an ECS restartPolicy with ignoredExitCodes (Never + restart rules)
    ],
)
def test_restarts_in_place_of_an_ecs_restart_policy_are_no_failed_tasks(own_policy, failed):
    pod = {
        "spec": {"containers": [{"name": "web", **({"restartPolicy": own_policy} if own_policy else {})}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "web", "restartCount": 3}]},
    }
    assert service_status._failed_tasks([pod]) == failed
