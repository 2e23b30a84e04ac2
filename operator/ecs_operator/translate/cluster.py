"""ECSCluster (CreateCluster input): which fields Kubernetes expresses, which it cannot (pure).

Every CreateCluster field is classified; a set field Kubernetes cannot express is reported as a
warning (the cluster's ``Translated`` condition and an Event), never dropped silently.
"""

from __future__ import annotations

import re
from typing import Any

from ..models.gen import CLUSTER_NAME_PATTERN, CLUSTER_NAME_RULE
from .diagnostics import TranslationWarning

TRANSLATED = {
    "clusterName": "the cluster's ECS name (defaults to the object name); services and tasks name it in `cluster`",
    "capacityProviders": "the cluster's container instances are the nodes of its EC2 capacity providers' pools",
    "defaultCapacityProviderStrategy": "used by services and tasks that name neither a strategy nor a launch type",
    "kubernetes": "Kubernetes-side settings (security policy, PodDisruptionBudgets); not an ECS field",
}
WARNED = {
    "settings": "cluster settings (Container Insights) have no Kubernetes equivalent",
    "configuration": "execute command / managed storage configuration (KMS, logging) is not applied; "
    "kubectl exec works on every task",
    "serviceConnectDefaults": "Service Connect is not supported",
}
IGNORED = {
    "tags": "AWS resource tags; kept on the ECSCluster object",
}


def cluster_name_error(name: str) -> str | None:
    """ECS's refusal of a cluster name (None: CreateCluster accepts it). The CRD refuses a bad
    spec.clusterName at admission (the same rule); this also covers a name defaulted from
    metadata.name (which may hold dots) and objects stored before the CRD had the rule."""
    return None if re.fullmatch(CLUSTER_NAME_PATTERN, name) else f"{CLUSTER_NAME_RULE} (got {name!r})"


def cluster_warnings(spec: dict[str, Any] | None) -> list[TranslationWarning]:
    """The set fields of an ECSCluster spec that Kubernetes cannot express."""
    return [TranslationWarning(name, why) for name, why in WARNED.items() if (spec or {}).get(name) is not None]
