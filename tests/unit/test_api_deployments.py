"""StopServiceDeployment and ContinueServiceDeployment (ecs_operator.api.operations.deployments)
on an in-memory Kubernetes: the request lands in the ServiceDeployment's spec; ECS's errors;
every answer checked against its output shape."""

from __future__ import annotations

import pytest
from ecs_operator import API_VERSION
from ecs_operator.api import model
from ecs_operator.api.errors import EcsApiError
from ecs_operator.api.operations import OPERATIONS, deployments, load, services  # noqa: F401

from .api_fakes import assert_output_conforms, context, kube_with_operator

load()
NS = "team-a"
ARN = "arn:aws:ecs:eu-west-1:123456789012:service-deployment/default/web"


def op(name, ctx, **params):
    operation = model.operation(name)
    model.validate_input(operation, params)
    shaped = model.serialize_output(operation, OPERATIONS[name](ctx, params))
    assert_output_conforms(name, shaped)
    return shaped


def err(name, ctx, **params):
    with pytest.raises(EcsApiError) as e:
        OPERATIONS[name](ctx, params)
    return e.value


@pytest.fixture
def kube():
    return kube_with_operator()


@pytest.fixture
def ctx(kube):
    c = context(kube)
    OPERATIONS["RegisterTaskDefinition"](
        c, {"family": "web", "containerDefinitions": [{"name": "web", "image": "nginx:1", "memory": 128}]}
    )
    OPERATIONS["CreateCluster"](c, {})
    OPERATIONS["CreateService"](c, {"serviceName": "web", "taskDefinition": "web", "desiredCount": 2})
    return c


def record(kube, number="42", status="IN_PROGRESS", strategy="BLUE_GREEN", hooks=()):
    name = services.object_name("default", "web")
    obj = {
        "apiVersion": API_VERSION,
        "kind": "ServiceDeployment",
        "metadata": {"name": f"{name}-{number}", "namespace": NS},
        "spec": {"service": name},
        "status": {"status": status, "strategy": strategy, "lifecycleHookDetails": list(hooks)},
    }
    kube.create(obj)
    return obj["metadata"]["name"]


def spec(kube, name):
    return kube.get(API_VERSION, "ServiceDeployment", NS, name)["spec"]


@pytest.mark.parametrize("stop_type", ["ROLLBACK", "ABORT", None])
def test_stop_writes_the_request_into_the_record(ctx, kube, stop_type):
    name = record(kube)
    params = {"serviceDeploymentArn": f"{ARN}/42", **({"stopType": stop_type} if stop_type else {})}
    assert op("StopServiceDeployment", ctx, **params) == {"serviceDeploymentArn": f"{ARN}/42"}
    assert spec(kube, name)["stop"] == {"stopType": stop_type or "ROLLBACK"}


@pytest.mark.parametrize(
    ("arn", "status", "strategy", "code"),
    [
        (f"{ARN}/7", "IN_PROGRESS", "BLUE_GREEN", "ServiceDeploymentNotFoundException"),
        (
            "arn:aws:ecs:eu-west-1:123456789012:service-deployment/default/nope/42",
            "IN_PROGRESS",
            "BLUE_GREEN",
            "ServiceDeploymentNotFoundException",
        ),
        ("not-an-arn", "IN_PROGRESS", "BLUE_GREEN", "InvalidParameterException"),
        (f"{ARN}/42", "SUCCESSFUL", "BLUE_GREEN", "ConflictException"),
        (f"{ARN}/42", "IN_PROGRESS", "ROLLING", "UnsupportedFeatureException"),
    ],
    ids=["no-record", "no-service", "bad-arn", "finished", "rolling"],
)
def test_stop_refusals(ctx, kube, arn, status, strategy, code):
    record(kube, status=status, strategy=strategy)
    assert err("StopServiceDeployment", ctx, serviceDeploymentArn=arn).code == code


def test_continue_a_hook_awaiting_action(ctx, kube):
    hooks = [
        {"hookId": "post-scale-up-0", "status": "AWAITING_ACTION"},
        {"hookId": "pre-scale-up-0", "status": "SUCCEEDED"},
    ]
    name = record(kube, hooks=hooks)
    out = op("ContinueServiceDeployment", ctx, serviceDeploymentArn=f"{ARN}/42", hookId="post-scale-up-0")
    assert out == {"serviceDeploymentArn": f"{ARN}/42"}
    assert spec(kube, name)["continue"] == [{"hookId": "post-scale-up-0", "action": "CONTINUE"}]
    op("ContinueServiceDeployment", ctx, serviceDeploymentArn=f"{ARN}/42", hookId="post-scale-up-0", action="ROLLBACK")
    assert spec(kube, name)["continue"] == [{"hookId": "post-scale-up-0", "action": "ROLLBACK"}]
    e = err("ContinueServiceDeployment", ctx, serviceDeploymentArn=f"{ARN}/42", hookId="pre-scale-up-0")
    assert e.code == "ClientException" and "not awaiting action" in str(e)
