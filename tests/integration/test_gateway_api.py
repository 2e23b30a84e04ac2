"""Gateway API on the local cluster: the CRDs the cluster comes up with (dev/gateway_api.py) and
the traffic objects translate/service_traffic.py builds, applied to the real API server
(schema and CEL validation of the HTTPRoute, the per-revision Services), idempotently."""

from __future__ import annotations

import json

from ecs_operator import constants
from ecs_operator.dev import gateway_api
from ecs_operator.models.generated import CreateServiceRequest
from ecs_operator.translate import service_traffic as t

ADV = {
    "alternateTargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/green/2",
    "productionListenerRule": "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/lb/1/2/prod",
    "testListenerRule": "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/lb/1/2/test",
}
SVC = CreateServiceRequest.model_validate(
    {
        "taskDefinition": "web",
        "desiredCount": 2,
        "loadBalancers": [
            {"containerName": "web", "containerPort": 80, "advancedConfiguration": ADV},
            {"containerName": "web", "containerPort": 8080},
        ],
    }
)


def _apply(kubectl, objs):
    kubectl(
        "apply",
        "--server-side",
        "--field-manager",
        "ecs-operator",
        "-o",
        "json",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}),
    )


def _get(kubectl, kind, namespace, name):
    return json.loads(kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)


def _owner(kubectl, namespace):
    cm = json.loads(
        kubectl("create", "configmap", "web-owner", "-n", namespace, "-o", "json", "--save-config=false").stdout
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "web-owner",
        "uid": cm["metadata"]["uid"],
        "controller": True,
    }


def test_the_cluster_serves_the_standard_gateway_api_crds(kubectl):
    assert gateway_api.installed_version(kubectl) == gateway_api.VERSION
    served = kubectl("api-resources", "--api-group=gateway.networking.k8s.io", "-o", "name").stdout.split()
    for kind in ("gatewayclasses", "gateways", "httproutes", "referencegrants"):
        assert f"{kind}.gateway.networking.k8s.io" in served
    assert gateway_api.install(kubectl, log=lambda m: None) is False  # installed once, not again


def test_traffic_objects_are_accepted_and_reapplying_changes_nothing(kubectl, namespace):
    owner = _owner(kubectl, namespace)
    kubectl(
        "apply",
        "--server-side",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    {
                        "apiVersion": "gateway.networking.k8s.io/v1",
                        "kind": "Gateway",
                        "metadata": {"name": "gw", "namespace": namespace},
                        "spec": {
                            "gatewayClassName": "none",
                            "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
                        },
                    }
                ],
            }
        ),
    )
    annotations = {constants.GATEWAY: f"{namespace}/gw/http"}
    gateway, warnings = t.gateway_target(annotations)
    assert warnings == []
    stages = [
        [t.RevisionTraffic("1111", 100, 0)],  # one revision
        [t.RevisionTraffic("1111", 100, 0), t.RevisionTraffic("2222", 0, 0)],  # green scaled up
        [t.RevisionTraffic("1111", 100, 0), t.RevisionTraffic("2222", 0, 100)],  # test traffic shifted
        [t.RevisionTraffic("1111", 90, 0), t.RevisionTraffic("2222", 10, 100)],  # canary
        [t.RevisionTraffic("1111", 0, 0), t.RevisionTraffic("2222", 100, 100)],  # production shifted
        [t.RevisionTraffic("2222", 100, 100)],  # blue cleaned up
    ]
    for revisions in stages:
        objs, _ = t.traffic_objects(
            SVC, name="web", namespace=namespace, owner=owner, revisions=revisions, httproute=True, gateway=gateway
        )
        _apply(kubectl, objs)
        route = _get(kubectl, "httproute", namespace, "web")
        production = next(r for r in route["spec"]["rules"] if r["name"] == "production")
        assert {b["name"]: b["weight"] for b in production["backendRefs"]} == {
            t.revision_service_name("web", r.revision): r.production_weight for r in revisions
        }
        assert route["spec"]["parentRefs"][0]["sectionName"] == "http"
        assert route["metadata"]["annotations"][t.ANN_TEST_RULE] == ADV["testListenerRule"]
        # level-based reconciles apply the same objects again: the API server must see no change
        before = {
            (o["kind"], o["metadata"]["name"]): _get(kubectl, o["kind"], namespace, o["metadata"]["name"]) for o in objs
        }
        _apply(kubectl, objs)
        for (kind, name), old in before.items():
            assert (
                _get(kubectl, kind, namespace, name)["metadata"]["resourceVersion"]
                == old["metadata"]["resourceVersion"]
            ), (kind, name)
    second = _get(kubectl, "httproute", namespace, "web-8080")
    assert {b["port"] for r in second["spec"]["rules"] for b in r["backendRefs"]} == {8080}
    svc = _get(kubectl, "service", namespace, "web-2222")
    assert svc["spec"]["selector"] == {constants.SERVICE: "web", constants.SERVICE_REVISION: "2222"}
    assert [p["port"] for p in svc["spec"]["ports"]] == [80, 8080]


def test_the_api_server_refuses_what_the_builder_must_never_produce(kubectl, namespace):
    """The route's bounds are the API server's: a weight above Gateway API's maximum is refused
    (so the builder's weights, percents, are inside them)."""
    objs, _ = t.traffic_objects(
        SVC,
        name="web",
        namespace=namespace,
        owner=_owner(kubectl, namespace),
        revisions=[t.RevisionTraffic("1111", 100, 0)],
        httproute=True,
        gateway=None,
    )
    route = objs[-2]
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = 1_000_001
    proc = kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=json.dumps(route), check=False)
    assert proc.returncode != 0 and "weight" in proc.stderr
