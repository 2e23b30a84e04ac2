"""Kind name -> (plural, pydantic model of its spec) for the five ecs.seed.dev kinds.

Hand-written; ``tests/unit/test_generated.py`` checks it against ``gen.KINDS``.
"""

from __future__ import annotations

from typing import NamedTuple

from pydantic import BaseModel

from . import generated

GROUP = "ecs.seed.dev"
VERSION = "v1alpha1"


class KindInfo(NamedTuple):
    plural: str
    model: type[BaseModel]


KINDS: dict[str, KindInfo] = {
    "TaskDefinition": KindInfo("taskdefinitions", generated.RegisterTaskDefinitionRequest),
    "ECSService": KindInfo("ecsservices", generated.CreateServiceRequest),
    # CreateCluster input plus the operator's `kubernetes` settings (security policy).
    "ECSCluster": KindInfo("ecsclusters", generated.ClusterSpec),
    "ECSTask": KindInfo("ecstasks", generated.RunTaskRequest),
    # CreateCapacityProvider input plus the operator's `kubernetes` node-pool field.
    "CapacityProvider": KindInfo("capacityproviders", generated.CapacityProviderSpec),
}

# Spec member that defaults to metadata.name when unset.
IDENTITY_FIELDS: dict[str, str] = {
    "TaskDefinition": "family",
    "ECSService": "serviceName",
    "ECSCluster": "clusterName",
    "CapacityProvider": "name",
}


def spec_model(kind: str) -> type[BaseModel]:
    return KINDS[kind].model
