"""ECSCluster (CreateCluster input): which fields Kubernetes expresses, which it cannot (pure).

Every CreateCluster field is classified; a set field Kubernetes cannot express is reported as a
warning (the cluster's ``Translated`` condition and an Event), never dropped silently.
"""

from __future__ import annotations

from .taskdef import TranslationWarning

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


def cluster_warnings(spec: dict | None) -> list[TranslationWarning]:
    """The set fields of an ECSCluster spec that Kubernetes cannot express."""
    return [TranslationWarning(name, why) for name, why in WARNED.items() if (spec or {}).get(name) is not None]
