"""translate/service_traffic.py: per-revision Services and the weighted HTTPRoute (pure)."""

from __future__ import annotations

import pytest
from ecs_operator import constants
from ecs_operator.models.generated import CreateServiceRequest
from ecs_operator.translate import service_traffic as t

OWNER = {"apiVersion": "ecs.seed.dev/v1alpha1", "kind": "ECSService", "name": "web", "uid": "u1", "controller": True}
LB = {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1", "containerName": "web"}
ADV = {
    "alternateTargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/green/2",
    "productionListenerRule": "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/lb/1/2/prod",
    "testListenerRule": "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/lb/1/2/test",
    "roleArn": "arn:aws:iam::1:role/ecs-infra",
}
BLUE_GREEN = [t.RevisionTraffic("1111", 100, 0), t.RevisionTraffic("2222", 0, 100)]
GATEWAY = t.GatewayTarget("gw", "infra")


def _svc(**spec) -> CreateServiceRequest:
    return CreateServiceRequest.model_validate({"taskDefinition": "web", "desiredCount": 2, **spec})


def _objects(svc, revisions=BLUE_GREEN, httproute=True, gateway=GATEWAY):
    return t.traffic_objects(
        svc, name="web", namespace="ns", owner=OWNER, revisions=revisions, httproute=httproute, gateway=gateway
    )


def _kinds(objs):
    return [(o["kind"], o["metadata"]["name"]) for o in objs]


def _rule(route, name):
    return next(r for r in route["spec"]["rules"] if r["name"] == name)


def _weights(rule):
    return {b["name"]: b["weight"] for b in rule["backendRefs"]}


@pytest.mark.parametrize(
    "spec, httproute, expected",
    [
        # one load balancer: a Service per revision and one HTTPRoute named like the service
        (
            {"loadBalancers": [{**LB, "containerPort": 80}]},
            True,
            [("Service", "web-1111"), ("Service", "web-2222"), ("HTTPRoute", "web")],
        ),
        # no Gateway API: only the per-revision Services
        ({"loadBalancers": [{**LB, "containerPort": 80}]}, False, [("Service", "web-1111"), ("Service", "web-2222")]),
        # two load-balanced ports: a route per port, the second named <service>-<port>
        (
            {
                "loadBalancers": [
                    {**LB, "containerPort": 80},
                    {**LB, "containerPort": 8080},
                    {**LB, "containerPort": 80},
                ]
            },
            True,
            [("Service", "web-1111"), ("Service", "web-2222"), ("HTTPRoute", "web"), ("HTTPRoute", "web-8080")],
        ),
        # service registries only: Services but no route (nothing load-balanced)
        (
            {"serviceRegistries": [{"registryArn": "arn:aws:servicediscovery:us-east-1:1:service/srv-1", "port": 53}]},
            True,
            [("Service", "web-1111"), ("Service", "web-2222")],
        ),
        # neither: nothing to route
        ({}, True, []),
    ],
)
def test_objects_per_service_shape(spec, httproute, expected):
    objs, _ = _objects(_svc(**spec), httproute=httproute)
    assert _kinds(objs) == expected
    for o in objs:
        assert o["metadata"]["namespace"] == "ns"
        assert o["metadata"]["ownerReferences"] == [OWNER]


def test_each_revision_service_selects_only_its_revision_pods():
    objs, _ = _objects(_svc(loadBalancers=[{**LB, "containerPort": 80}, {**LB, "containerPort": 8080}]))
    blue = objs[0]
    assert blue["spec"]["selector"] == {constants.SERVICE: "web", constants.SERVICE_REVISION: "1111"}
    assert blue["metadata"]["labels"][constants.SERVICE_REVISION] == "1111"
    assert blue["spec"]["type"] == "ClusterIP"
    assert [p["port"] for p in blue["spec"]["ports"]] == [80, 8080]
    assert [p["name"] for p in blue["spec"]["ports"]] == ["port-80", "port-8080"]


@pytest.mark.parametrize(
    "revisions, production, test",
    [
        # BLUE_GREEN before the test traffic shift: test follows production
        ([("1111", 100, 0), ("2222", 0, 0)], {"web-1111": 100, "web-2222": 0}, {"web-1111": 100, "web-2222": 0}),
        # BLUE_GREEN after the test shift: test traffic on green, production still on blue
        ([("1111", 100, 0), ("2222", 0, 100)], {"web-1111": 100, "web-2222": 0}, {"web-1111": 0, "web-2222": 100}),
        # CANARY 10 %
        ([("1111", 90, 0), ("2222", 10, 100)], {"web-1111": 90, "web-2222": 10}, {"web-1111": 0, "web-2222": 100}),
        # LINEAR step
        ([("1111", 70, 0), ("2222", 30, 100)], {"web-1111": 70, "web-2222": 30}, {"web-1111": 0, "web-2222": 100}),
        # after the shift / rollback end: one revision
        ([("2222", 100, 100)], {"web-2222": 100}, {"web-2222": 100}),
    ],
)
def test_route_weights_follow_the_revisions(revisions, production, test):
    revs = [t.RevisionTraffic(*r) for r in revisions]
    objs, _ = _objects(_svc(loadBalancers=[{**LB, "containerPort": 80}]), revisions=revs)
    route = objs[-1]
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert _weights(_rule(route, "production")) == production
    assert _weights(_rule(route, "test")) == test
    assert all(b["port"] == 80 and b["kind"] == "Service" for r in route["spec"]["rules"] for b in r["backendRefs"])


def test_test_rule_matches_the_test_header_production_everything():
    objs, _ = _objects(_svc(loadBalancers=[{**LB, "containerPort": 80}]))
    route = objs[-1]
    assert _rule(route, "production")["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert _rule(route, "test")["matches"][0]["headers"] == [{"type": "Exact", "name": t.TEST_HEADER, "value": "true"}]


@pytest.mark.parametrize(
    "gateway, parent_refs",
    [
        (t.GatewayTarget("gw"), [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}]),
        (
            t.GatewayTarget("gw", "infra", "http"),
            [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "Gateway",
                    "name": "gw",
                    "namespace": "infra",
                    "sectionName": "http",
                }
            ],
        ),
        (None, None),
    ],
)
def test_parent_refs_name_the_gateway(gateway, parent_refs):
    objs, warnings = _objects(_svc(loadBalancers=[{**LB, "containerPort": 80}]), gateway=gateway)
    assert objs[-1]["spec"].get("parentRefs") == parent_refs
    assert any(w.field == f"metadata.annotations[{constants.GATEWAY}]" for w in warnings) == (gateway is None)


def test_advanced_configuration_is_recorded_and_reported():
    objs, warnings = _objects(_svc(loadBalancers=[{**LB, "containerPort": 80, "advancedConfiguration": ADV}]))
    ann = objs[-1]["metadata"]["annotations"]
    assert ann[t.ANN_PRODUCTION_RULE] == ADV["productionListenerRule"]
    assert ann[t.ANN_TEST_RULE] == ADV["testListenerRule"]
    assert ann[t.ANN_ALTERNATE_TARGET_GROUP] == ADV["alternateTargetGroupArn"]
    assert ann[t.ANN_TARGET_GROUP] == LB["targetGroupArn"]
    fields = {w.field for w in warnings}
    for key in ("productionListenerRule", "testListenerRule", "alternateTargetGroupArn", "roleArn"):
        assert f"loadBalancers[0].advancedConfiguration.{key}" in fields


@pytest.mark.parametrize(
    "httproute, gateway, warned",
    [
        (True, t.GatewayTarget("gw"), set()),
        (True, None, {f"metadata.annotations[{constants.GATEWAY}]"}),
        (False, t.GatewayTarget("gw"), {"deploymentConfiguration.strategy"}),
    ],
)
def test_without_a_router_traffic_follows_task_counts_and_says_so(httproute, gateway, warned):
    _, warnings = _objects(_svc(loadBalancers=[{**LB, "containerPort": 80}]), httproute=httproute, gateway=gateway)
    assert {w.field for w in warnings} == warned
    assert all("follows task counts" in w.message for w in warnings)


def test_nothing_to_route_is_reported():
    objs, warnings = _objects(_svc())
    assert objs == []
    assert [w.field for w in warnings] == ["loadBalancers"]


def test_all_production_weights_zero_is_reported():
    revs = [t.RevisionTraffic("1111", 0, 0), t.RevisionTraffic("2222", 0, 100)]
    _, warnings = _objects(_svc(loadBalancers=[{**LB, "containerPort": 80}]), revisions=revs)
    assert any("production weight 0" in w.message for w in warnings)


def test_more_revisions_than_gateway_api_allows_are_cut_and_reported():
    revs = [t.RevisionTraffic(str(i), 5, 5) for i in range(20)]
    objs, warnings = _objects(_svc(loadBalancers=[{**LB, "containerPort": 80}]), revisions=revs)
    assert len(_rule(objs[-1], "production")["backendRefs"]) == t.MAX_BACKENDS
    assert any("first 16" in w.message for w in warnings)


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        ("", None),
        ("gw", t.GatewayTarget("gw")),
        ("infra/gw", t.GatewayTarget("gw", "infra")),
        ("infra/gw/https", t.GatewayTarget("gw", "infra", "https")),
        ("  infra/gw  ", t.GatewayTarget("gw", "infra")),
    ],
)
def test_gateway_annotation_is_parsed(value, expected):
    annotations = {} if value is None else {constants.GATEWAY: value}
    assert t.gateway_target(annotations) == (expected, [])


@pytest.mark.parametrize("value", ["a/b/c/d", "Infra/gw", "infra/", "/gw", "gw_1", "infra/gw/Https"])
def test_a_malformed_gateway_annotation_is_reported(value):
    target, warnings = t.gateway_target({constants.GATEWAY: value})
    assert target is None
    assert [w.field for w in warnings] == [f"metadata.annotations[{constants.GATEWAY}]"]


@pytest.mark.parametrize(
    "name, revision",
    [("web", "1111"), ("a" * 60, "5669480168316216627"), ("web", "5669480168316216627")],
)
def test_names_are_dns_labels_and_distinct(name, revision):
    n = t.revision_service_name(name, revision)
    assert len(n) <= 63 and n == n.lower()
    assert n != t.revision_service_name(name, revision + "1")
    assert t.route_name(name) == name
    assert t.route_name("web", 8080) == "web-8080"
