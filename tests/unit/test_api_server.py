"""The endpoint's pipeline (Endpoint.handle) on an in-memory Kubernetes: authentication,
routing, content type, JSON, input validation against ECS's model, error mapping (RBAC denial
-> AccessDeniedException), and every answer shaped as ECS's model says."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from ecs_operator.api.keys import AccessKey, KeyStore
from ecs_operator.api.server import Endpoint, is_loopback, make_app, register_timeout

from .api_fakes import FakeKube, FakeOperator, assert_output_conforms, signed_request

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
KEY = AccessKey("AKIDEXAMPLE", SECRET, "team-a", "210987654321", "system:serviceaccount:team-a:deployer")


class Keys(KeyStore):
    def __init__(self, *keys: AccessKey):
        self._keys = {k.access_key_id: k for k in keys}

    def lookup(self, access_key_id):
        return self._keys.get(access_key_id)


@pytest.fixture
def kube():
    k = FakeKube()
    FakeOperator(k)
    return k


@pytest.fixture
def endpoint(kube):
    seen = []

    def access(key):
        seen.append(key)
        return kube

    ep = Endpoint(Keys(KEY), access, clock=lambda: datetime.now(UTC), workers=2, wait_timeout=0.5)
    ep.seen = seen
    yield ep
    ep.executor.shutdown()


def call(endpoint, req):
    status, headers, body = asyncio.run(endpoint.handle(req))
    return status, headers, json.loads(body)


@pytest.mark.parametrize(
    "kwargs,status,code",
    [
        ({"operation": "ListClusters", "body": {}, "sign": False}, 403, "MissingAuthenticationTokenException"),
        ({"operation": "ListClusters", "body": {}, "key_id": "AKIDUNKNOWN"}, 403, "UnrecognizedClientException"),
        ({"operation": "ListClusters", "body": {}, "secret": "wrong-secret"}, 403, "InvalidSignatureException"),
        ({"operation": "NoSuchOperation", "body": {}}, 400, "UnknownOperationException"),
        ({"operation": None, "body": {}}, 400, "UnknownOperationException"),
        ({"operation": "ListClusters", "body": {}, "content_type": "text/plain"}, 400, "UnknownOperationException"),
        ({"operation": "ListClusters", "body": b"{not json"}, 400, "SerializationException"),
        ({"operation": "ListClusters", "body": b"[1]"}, 400, "SerializationException"),
        ({"operation": "ListClusters", "body": {"maxResults": "ten"}}, 400, "InvalidParameterException"),
        ({"operation": "DescribeClusters", "body": {"include": ["NOPE"]}}, 400, "InvalidParameterException"),
        ({"operation": "RegisterTaskDefinition", "body": {"family": "web"}}, 400, "InvalidParameterException"),
        ({"operation": "DeleteCluster", "body": {"cluster": "nope"}}, 400, "ClusterNotFoundException"),
    ],
)
def test_errors_are_ecs_errors(endpoint, kwargs, status, code):
    kw = dict(kwargs)
    got_status, headers, body = call(endpoint, signed_request(kw.pop("operation"), kw.pop("body"), **kw))
    assert (got_status, body["__type"]) == (status, code), body
    assert headers["x-amzn-ErrorType"] == code
    assert headers["Content-Type"] == "application/x-amz-json-1.1"
    assert SECRET not in json.dumps(body)


def test_input_errors_name_the_member(endpoint):
    body = {"family": "web", "containerDefinitions": [{"name": "a", "portMappings": [{"containerPort": "80"}]}]}
    status, _, out = call(endpoint, signed_request("RegisterTaskDefinition", body))
    assert status == 400 and "containerDefinitions[0].portMappings[0].containerPort" in out["message"]


def test_rbac_denial_is_access_denied(endpoint, kube):
    kube.deny.add(("list", "ECSCluster"))
    status, _, out = call(endpoint, signed_request("ListClusters", {}))
    assert (status, out["__type"]) == (403, "AccessDeniedException")
    assert "system:serviceaccount:team-a:deployer" in out["message"]


def test_unexpected_failures_are_server_exceptions_without_details(endpoint, kube):
    def boom(*a, **k):
        raise RuntimeError("secret internals")

    kube.list_ = boom
    status, _, out = call(endpoint, signed_request("ListClusters", {}))
    assert (status, out["__type"]) == (500, "ServerException") and "internals" not in out["message"]


def test_region_from_the_scope_and_account_from_the_key(endpoint):
    status, _, out = call(endpoint, signed_request("CreateCluster", {"clusterName": "Web_1"}, region="ap-south-1"))
    assert status == 200
    assert out["cluster"]["clusterArn"] == "arn:aws:ecs:ap-south-1:210987654321:cluster/Web_1"
    assert endpoint.seen[-1] == KEY


FLOW = [
    ("CreateCluster", {"clusterName": "prod", "tags": [{"key": "team", "value": "a"}]}),
    ("DescribeClusters", {"clusters": ["prod", "missing"], "include": ["TAGS", "SETTINGS"]}),
    ("ListClusters", {}),
    ("UpdateCluster", {"cluster": "prod", "settings": [{"name": "containerInsights", "value": "enabled"}]}),
    ("UpdateClusterSettings", {"cluster": "prod", "settings": [{"name": "containerInsights", "value": "disabled"}]}),
    (
        "PutClusterCapacityProviders",
        {
            "cluster": "prod",
            "capacityProviders": ["FARGATE"],
            "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}],
        },
    ),
    (
        "RegisterTaskDefinition",
        {
            "family": "web",
            "containerDefinitions": [{"name": "web", "image": "nginx", "memory": 128}],
            "tags": [{"key": "a", "value": "b"}],
        },
    ),
    ("DescribeTaskDefinition", {"taskDefinition": "web", "include": ["TAGS"]}),
    # services and tasks (a callable body is made from the previous answer)
    ("CreateCluster", {"clusterName": "apps"}),
    ("CreateService", {"cluster": "apps", "serviceName": "web", "taskDefinition": "web", "desiredCount": 1}),
    ("DescribeServices", {"cluster": "apps", "services": ["web", "missing"], "include": ["TAGS"]}),
    ("ListServices", {"cluster": "apps"}),
    ("UpdateService", {"cluster": "apps", "service": "web", "desiredCount": 2, "forceNewDeployment": True}),
    ("ListServiceDeployments", {"cluster": "apps", "service": "web"}),
    (
        "DescribeServiceDeployments",
        lambda prev: {"serviceDeploymentArns": [d["serviceDeploymentArn"] for d in prev["serviceDeployments"]]},
    ),
    (
        "DescribeServiceRevisions",
        lambda prev: {"serviceRevisionArns": [prev["serviceDeployments"][0]["targetServiceRevision"]["arn"]]},
    ),
    ("RunTask", {"cluster": "apps", "taskDefinition": "web", "count": 2, "startedBy": "ci"}),
    ("ListTasks", {"cluster": "apps"}),
    ("DescribeTasks", lambda prev: {"cluster": "apps", "tasks": [*prev["taskArns"], "0" * 32]}),
    ("StopTask", lambda prev: {"cluster": "apps", "task": prev["tasks"][0]["taskArn"], "reason": "done"}),
    # capacity providers, tags, account settings
    ("CreateCapacityProvider", {"name": "pool", "autoScalingGroupProvider": {"autoScalingGroupArn": "asg"}}),
    ("DescribeCapacityProviders", {"capacityProviders": ["pool", "FARGATE", "missing"], "include": ["TAGS"]}),
    ("UpdateCapacityProvider", {"name": "pool", "autoScalingGroupProvider": {"managedDraining": "ENABLED"}}),
    ("DeleteCapacityProvider", {"capacityProvider": "pool"}),
    ("TagResource", {"resourceArn": "arn:aws:ecs:eu-west-1:210987654321:service/apps/web", "tags": [{"key": "k"}]}),
    ("UntagResource", {"resourceArn": "arn:aws:ecs:eu-west-1:210987654321:service/apps/web", "tagKeys": ["k"]}),
    ("ListTagsForResource", {"resourceArn": "arn:aws:ecs:eu-west-1:210987654321:cluster/apps"}),
    ("PutAccountSetting", {"name": "containerInsights", "value": "enabled"}),
    ("PutAccountSettingDefault", {"name": "awsvpcTrunking", "value": "enabled"}),
    ("ListAccountSettings", {"effectiveSettings": True}),
    ("DeleteAccountSetting", {"name": "containerInsights"}),
    ("DeleteService", {"cluster": "apps", "service": "web", "force": True}),
    ("ListTaskDefinitions", {}),
    ("ListTaskDefinitionFamilies", {}),
    ("DeregisterTaskDefinition", {"taskDefinition": "web:1"}),
    ("DeleteTaskDefinitions", {"taskDefinitions": ["web:1", "web:9"]}),
    ("DeleteCluster", {"cluster": "prod"}),
]


def test_every_answer_fits_its_output_shape(endpoint):
    """Every implemented operation, called as a client would, answers in its output shape with
    epoch-second timestamps."""
    from ecs_operator.api.operations import load

    # Stop/ContinueServiceDeployment act on the operator's ServiceDeployment records, which the
    # in-memory flow has none of: tests/unit/test_api_deployments.py checks their answers' shapes
    elsewhere = {"StopServiceDeployment", "ContinueServiceDeployment"}
    assert {op for op, _ in FLOW} | elsewhere == set(load()), "a new operation needs a row here"
    out: dict = {}
    for operation, body in FLOW:
        status, _, out = call(endpoint, signed_request(operation, body(out) if callable(body) else body))
        assert status == 200, (operation, out)
        assert_output_conforms(operation, out)
    status, _, out = call(endpoint, signed_request("DescribeTaskDefinition", {"taskDefinition": "web:1"}))
    assert isinstance(out["taskDefinition"]["registeredAt"], float)


@pytest.mark.parametrize(
    "address,ok", [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("10.0.0.1", False)]
)
def test_plain_http_only_on_loopback(address, ok):
    assert is_loopback(address) is ok


async def test_the_http_app_serves_the_pipeline(endpoint):
    """The aiohttp app hands the raw request (path, headers, body) to the pipeline."""
    from aiohttp.test_utils import TestClient, TestServer

    app = make_app(endpoint)
    async with TestClient(TestServer(app)) as client:
        health = await client.get("/healthz")
        assert health.status == 200
        req = signed_request("ListClusters", {}, host=f"{client.host}:{client.port}")
        headers = {k: v for k, v in req.headers if k.lower() != "host"}
        resp = await client.post("/", data=req.body, headers=headers)
        assert resp.status == 200, await resp.text()
        assert await resp.json(content_type=None) == {"clusterArns": []}


@pytest.mark.parametrize(
    "environ,expected",
    [
        ({}, 20.0),
        ({"ECS_API_REGISTER_TIMEOUT_SECONDS": ""}, 20.0),
        ({"ECS_API_REGISTER_TIMEOUT_SECONDS": "5"}, 5.0),
        ({"ECS_API_REGISTER_TIMEOUT_SECONDS": " 2.5 "}, 2.5),
        ({"ECS_API_REGISTER_TIMEOUT_SECONDS": "0"}, None),
        ({"ECS_API_REGISTER_TIMEOUT_SECONDS": "60"}, None),
        ({"ECS_API_REGISTER_TIMEOUT_SECONDS": "ten"}, None),
    ],
)
def test_register_timeout_from_the_environment(environ, expected):
    if expected is None:
        with pytest.raises(ValueError, match="ECS_API_REGISTER_TIMEOUT_SECONDS"):
            register_timeout(environ)
    else:
        assert register_timeout(environ) == expected


def test_an_operator_that_does_not_register_in_time_is_a_retryable_server_exception(endpoint, kube):
    kube.hooks.clear()  # no operator
    body = {"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx", "memory": 64}]}
    status, headers, out = call(endpoint, signed_request("RegisterTaskDefinition", body))
    assert (status, out["__type"], headers["x-amzn-ErrorType"]) == (500, "ServerException", "ServerException")
    assert "not registered within 0.5 seconds" in out["message"]
