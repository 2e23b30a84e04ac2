"""The ECSCluster security policy (pure): what a cluster's tasks may do on their nodes.

Privileged containers, host networking, host PID/IPC namespaces and host volumes are denied
unless the cluster's ``spec.kubernetes.securityPolicy`` allows them; on Fargate they are always
denied (as ECS denies them). Checked on the translated pod spec, and reported with the ECS field
that asked for it, so nothing that breaks the policy is ever applied.
"""

from __future__ import annotations

import json
from typing import Any

from .. import constants
from .capacity import FARGATE_PROVIDERS

RULES = (
    ("allowPrivileged", "privileged containers"),
    ("allowHostNetwork", "networkMode host"),
    ("allowHostPID", "pidMode host"),
    ("allowHostIPC", "ipcMode host"),
    ("allowHostVolumes", "host volumes"),
)


def violations(
    template: dict[str, Any], policy: dict[str, Any] | None, *, cluster: str, fargate: bool | None = None
) -> list[str]:
    """Messages ``<ECS field>: <why>`` for everything in ``template`` (a PodTemplateSpec or Pod)
    that the policy does not allow; empty when the task may run. ``fargate`` defaults to whether
    the pod is placed on Fargate's virtual nodes."""
    spec = template.get("spec") or {}
    if fargate is None:
        fargate = spec.get("nodeSelector", {}).get(constants.CAPACITY_PROVIDER) in FARGATE_PROVIDERS
    policy = {} if fargate else dict(policy or {})
    names = json.loads(((template.get("metadata") or {}).get("annotations") or {}).get(constants.CONTAINER_NAMES, "{}"))
    where = "Fargate" if fargate else f"cluster {cluster}"

    def hint(key: str) -> str:
        return "" if fargate else f" (allow it with ECSCluster {cluster} spec.kubernetes.securityPolicy.{key})"

    out = []
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if (c.get("securityContext") or {}).get("privileged") and not policy.get("allowPrivileged"):
            out.append(
                f"containerDefinitions[{names.get(c['name'], c['name'])}].privileged: privileged containers "
                f"are not allowed in {where}{hint('allowPrivileged')}"
            )
    if spec.get("hostNetwork") and not policy.get("allowHostNetwork"):
        out.append(f"networkMode: host networking is not allowed in {where}{hint('allowHostNetwork')}")
    if spec.get("hostPID") and not policy.get("allowHostPID"):
        out.append(f"pidMode: the host PID namespace is not allowed in {where}{hint('allowHostPID')}")
    if spec.get("hostIPC") and not policy.get("allowHostIPC"):
        out.append(f"ipcMode: the host IPC namespace is not allowed in {where}{hint('allowHostIPC')}")
    if not policy.get("allowHostVolumes"):
        for v in spec.get("volumes") or []:
            if "hostPath" in v:
                out.append(
                    f"volumes[{v['name']}].host: host volumes are not allowed in {where}{hint('allowHostVolumes')}"
                )
    return out


def cluster_policy(cluster_obj: dict[str, Any] | None) -> dict[str, Any]:
    return ((((cluster_obj or {}).get("spec") or {}).get("kubernetes") or {}).get("securityPolicy")) or {}
