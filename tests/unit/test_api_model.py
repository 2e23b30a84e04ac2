"""Input validation and output shaping from botocore's ECS model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ecs_operator.api import model
from ecs_operator.api.errors import EcsApiError


@pytest.mark.parametrize(
    "operation,params,member",
    [
        ("CreateCluster", {"clusterName": 5}, "clusterName"),
        ("ListClusters", {"maxResults": True}, "maxResults"),
        ("DescribeClusters", {"clusters": "web"}, "clusters"),
        ("DescribeClusters", {"include": ["TAGS", "BAD"]}, "include[1]"),
        ("DescribeTaskDefinition", {}, "taskDefinition"),
        (
            "RegisterTaskDefinition",
            {"family": "f", "containerDefinitions": [{"cpu": "1"}]},
            "containerDefinitions[0].cpu",
        ),
        (
            "RegisterTaskDefinition",
            {"family": "f", "containerDefinitions": [{"essential": "yes"}]},
            "containerDefinitions[0].essential",
        ),
        ("CreateCluster", {"tags": [{"key": ""}]}, "tags[0].key"),
        ("CreateCluster", {"tags": [{"key": "k"}] * 51}, "tags"),
        ("CreateCluster", {"settings": [{"name": "containerInsights", "value": 1}]}, "settings[0].value"),
    ],
)
def test_invalid_input_names_the_member(operation, params, member):
    with pytest.raises(EcsApiError) as e:
        model.validate_input(model.operation(operation), params)
    assert e.value.code == "InvalidParameterException" and e.value.status == 400
    assert e.value.message.startswith(member + ":"), e.value.message


@pytest.mark.parametrize(
    "operation,params",
    [
        ("ListClusters", {}),
        ("ListClusters", {"maxResults": 10, "nextToken": "x", "unknownMember": 1}),
        ("CreateCluster", {"clusterName": "web", "tags": [{"key": "k", "value": "v"}]}),
        (
            "RegisterTaskDefinition",
            {"family": "f", "containerDefinitions": [{"name": "a", "memory": 128, "essential": True}]},
        ),
    ],
)
def test_valid_input(operation, params):
    model.validate_input(model.operation(operation), params)


def test_output_drops_unknown_members_and_none_and_writes_epoch_seconds():
    op = model.operation("DescribeTaskDefinition")
    out = model.serialize_output(
        op,
        {
            "taskDefinition": {
                "family": "web",
                "revision": 1,
                "registeredAt": "2025-03-01T12:00:00Z",
                "deregisteredAt": None,
                "notInTheModel": 1,
            },
            "tags": None,
        },
    )
    assert out == {"taskDefinition": {"family": "web", "revision": 1, "registeredAt": 1740830400.0}}


@pytest.mark.parametrize(
    "value,seconds",
    [
        (datetime(2025, 3, 1, 12, tzinfo=UTC), 1740830400.0),
        (datetime(2025, 3, 1, 12), 1740830400.0),
        ("2025-03-01T12:00:00.5+00:00", 1740830400.5),
        (1740830400, 1740830400.0),
        ("not a time", None),
        (True, None),
    ],
)
def test_epoch_seconds(value, seconds):
    assert model.epoch_seconds(value) == seconds


def test_unknown_operations():
    assert model.operation("DescribeClusters") is not None and model.operation("Nope") is None
    assert model.target_prefix() == "AmazonEC2ContainerServiceV20141113"
