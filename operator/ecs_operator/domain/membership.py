"""Which nodes are a cluster's container instances, as node affinity (pure).

ECS clusters isolate workloads: a cluster's tasks never land on another cluster's container
instances. On Kubernetes a cluster's container instances are

- the nodes of its EC2-style capacity providers (``ECSCluster.spec.capacityProviders``; each
  provider's pool is its CapacityProvider's ``spec.kubernetes.nodeSelector``), when it has any;
- otherwise the nodes labelled ``ecs.seed.dev/cluster=<cluster name>``;
- for ``default`` without capacity providers: also every node no cluster has claimed (no
  ``ecs.seed.dev/cluster`` label), so a plain cluster runs ECS's default cluster out of the box.

Fargate tasks run on the FARGATE virtual nodes, which belong to no cluster in particular (as
in ECS, where Fargate capacity is not a container instance).
"""

from __future__ import annotations

import copy
from typing import Any

from .. import constants

LABEL_NODE_CLUSTER = constants.CLUSTER
DEFAULT = "default"


def selector_term(selector: dict[str, str]) -> dict[str, Any]:
    return {"matchExpressions": [{"key": k, "operator": "In", "values": [v]} for k, v in sorted(selector.items())]}


def instance_terms(cluster: str, pools: list[dict[str, str]] | None) -> list[dict[str, Any]]:
    """nodeSelectorTerms (ORed) selecting the cluster's container instances."""
    if pools:
        return [selector_term(p) for p in pools]
    mine = {"key": LABEL_NODE_CLUSTER, "operator": "In", "values": [cluster]}
    if cluster == DEFAULT:
        return [
            {"matchExpressions": [mine]},
            {"matchExpressions": [{"key": LABEL_NODE_CLUSTER, "operator": "DoesNotExist"}]},
        ]
    return [{"matchExpressions": [mine]}]


def and_terms(existing: list[dict[str, Any]] | None, extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """(a1 or a2 ...) and (b1 or b2 ...) as nodeSelectorTerms: every pair, expressions joined."""
    if not existing:
        return copy.deepcopy(extra)
    out = []
    for a in existing:
        for b in extra:
            term = copy.deepcopy(a)
            term["matchExpressions"] = list(a.get("matchExpressions", [])) + copy.deepcopy(
                b.get("matchExpressions", [])
            )
            out.append(term)
    return out


def restrict_to_cluster(pod_spec: dict[str, Any], cluster: str, pools: list[dict[str, str]] | None) -> dict[str, Any]:
    """The pod spec with its required node affinity narrowed to the cluster's instances."""
    spec = copy.deepcopy(pod_spec)
    node_affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    required["nodeSelectorTerms"] = and_terms(required.get("nodeSelectorTerms"), instance_terms(cluster, pools))
    return spec


def is_instance_of(node: dict[str, Any], cluster: str, pools: list[dict[str, str]] | None) -> bool:
    """The same rule, for counting a cluster's container instances."""
    if pools:
        return any(selected(node, p) for p in pools)
    owner = node.get("metadata", {}).get("labels", {}).get(LABEL_NODE_CLUSTER)
    return owner == cluster or (cluster == DEFAULT and owner is None)


def selected(obj: dict[str, Any], selector: dict[str, str]) -> bool:
    """``obj`` (a node, a pod) carries every label of ``selector`` (a matchLabels / nodeSelector)."""
    obj_labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(obj_labels.get(k) == v for k, v in selector.items())
