"""Synthetic nodes and pods shaped like the API server's (unit tests and bench only)."""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Iterable

from .. import GROUP

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
INSTANCE_TYPES = {
    "m5.large": (2, 8),
    "m5.xlarge": (4, 16),
    "c5.2xlarge": (8, 16),
    "t3.medium": (2, 4),
    "m6g.large": (2, 8),
}


def node(
    name: str,
    *,
    zone: str = "us-east-1a",
    instance_type: str = "m5.large",
    arch: str | None = None,
    os: str = "linux",
    cpu: str | None = None,
    memory: str | None = None,
    ready: bool = True,
    unschedulable: bool = False,
    labels: dict | None = None,
    created: str = "2024-05-01T10:00:00Z",
    kubelet: str = "v1.36.3",
    resource_version: str = "1",
    images: int = 0,
) -> dict:
    cores, gib = INSTANCE_TYPES.get(instance_type, (2, 8))
    arch = arch or ("arm64" if instance_type.startswith(("m6g", "c6g", "t4g")) else "amd64")
    alloc = {
        "cpu": cpu or f"{cores * 1000 - 80}m",
        "memory": memory or f"{gib * 1024 * 1024 - 600 * 1024}Ki",
        "pods": "110",
        "ephemeral-storage": "95551679124",
    }
    capacity = {
        "cpu": str(cores),
        "memory": f"{gib * 1024 * 1024}Ki",
        "pods": "110",
        "ephemeral-storage": "104845292Ki",
    }
    md_labels = {
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": os,
        "kubernetes.io/arch": arch,
        "kubernetes.io/os": os,
        "kubernetes.io/hostname": name,
        "node.kubernetes.io/instance-type": instance_type,
        "topology.kubernetes.io/region": zone[:-1],
        "topology.kubernetes.io/zone": zone,
        "eks.amazonaws.com/nodegroup": "workers",
        "eks.amazonaws.com/capacityType": "ON_DEMAND",
        **(labels or {}),
    }
    conditions = [
        {
            "type": t,
            "status": "False",
            "reason": f"Kubelet{r}",
            "message": "ok",
            "lastHeartbeatTime": "2024-05-01T10:05:00Z",
            "lastTransitionTime": "2024-05-01T10:00:00Z",
        }
        for t, r in (
            ("MemoryPressure", "HasSufficientMemory"),
            ("DiskPressure", "HasNoDiskPressure"),
            ("PIDPressure", "HasSufficientPID"),
        )
    ]
    conditions.append(
        {
            "type": "Ready",
            "status": "True" if ready else "Unknown",
            "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
            "lastHeartbeatTime": "2024-05-01T10:05:00Z",
            "lastTransitionTime": "2024-05-01T10:00:00Z",
        }
    )
    spec: dict = {"providerID": f"aws:///{zone}/i-{zlib.crc32(name.encode()):017x}"}
    if unschedulable:
        spec["unschedulable"] = True
        spec["taints"] = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "resourceVersion": resource_version,
            "creationTimestamp": created,
            "labels": md_labels,
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": spec,
        "status": {
            "allocatable": alloc,
            "capacity": capacity,
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": name}],
            "nodeInfo": {
                "architecture": arch,
                "operatingSystem": os,
                "kubeletVersion": kubelet,
                "kubeProxyVersion": kubelet,
                "containerRuntimeVersion": "containerd://1.7.11",
                "osImage": "Amazon Linux 2023",
                "kernelVersion": "6.1.72",
            },
            "images": [
                {
                    "names": [
                        f"123456789012.dkr.ecr.us-east-1.amazonaws.com/app{i}@sha256:{i:064x}",
                        f"123456789012.dkr.ecr.us-east-1.amazonaws.com/app{i}:v{i}",
                    ],
                    "sizeBytes": 50_000_000 + i,
                }
                for i in range(images)
            ],
        },
    }


def pod(
    name: str,
    *,
    node: str | None = None,
    namespace: str = "default",
    service: str | None = None,
    task_family: str | None = None,
    group: str | None = None,
    cpu: str = "250m",
    memory: str = "512Mi",
    phase: str = "Running",
    constraints: list | str | None = None,
    strategy: list | str | None = None,
    daemon: bool = False,
    labels: dict | None = None,
    annotations: dict | None = None,
    uid: str | None = None,
) -> dict:
    md_labels = dict(labels or {})
    ann = dict(annotations or {})
    if service:
        md_labels[f"{GROUP}/service"] = service
        md_labels[f"{GROUP}/cluster"] = "default"
        ann.setdefault(f"{GROUP}/group", f"service:{service}")
    if task_family:
        md_labels[f"{GROUP}/task"] = name
        md_labels[f"{GROUP}/family"] = task_family
        ann.setdefault(f"{GROUP}/group", f"family:{task_family}")
    if group:
        ann[f"{GROUP}/group"] = group
    if constraints is not None:
        ann[f"{GROUP}/placement-constraints"] = constraints if isinstance(constraints, str) else json.dumps(constraints)
    if strategy is not None:
        ann[f"{GROUP}/placement-strategy"] = strategy if isinstance(strategy, str) else json.dumps(strategy)
    md = {
        "name": name,
        "namespace": namespace,
        "uid": uid or f"uid-{namespace}-{name}",
        "labels": md_labels,
        "annotations": ann,
    }
    if daemon:
        md["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": service or name, "uid": "ds-uid", "controller": True}
        ]
    spec: dict = {
        "containers": [
            {
                "name": "app",
                "image": "httpd:2.4",
                "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}},
            }
        ]
    }
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec, "status": {"phase": phase}}


def cluster(
    n_nodes: int, *, pods_per_node: int = 10, services: int = 20, seed: int = 7, images: int = 8
) -> tuple[list[dict], list[dict]]:
    """``n_nodes`` nodes over three zones and a few instance types, each running
    ``pods_per_node`` pods: ECS service tasks (``svc-0`` ... ``svc-<services-1>``), standalone
    tasks and some non-ECS pods (daemons, system)."""
    rng = random.Random(seed)
    types = list(INSTANCE_TYPES)
    nodes, pods = [], []
    for i in range(n_nodes):
        name = f"ip-10-{i // 250}-{i % 250}-{i % 7}.ec2.internal"
        extra = {f"attribute.{GROUP}/stack": rng.choice(["prod", "staging"])}
        if i % 5 == 0:
            extra[f"attribute.{GROUP}/gpu"] = ""
        nodes.append(
            node(
                name,
                zone=ZONES[i % 3],
                instance_type=types[i % len(types)],
                labels=extra,
                resource_version=str(1000 + i),
                images=images,
            )
        )
        for j in range(pods_per_node):
            r = rng.random()
            pname = f"p-{i}-{j}"
            if r < 0.7:
                pods.append(pod(pname, node=name, service=f"svc-{rng.randrange(services)}", cpu="128m", memory="256Mi"))
            elif r < 0.8:
                pods.append(
                    pod(
                        pname,
                        node=name,
                        task_family=f"batch-{rng.randrange(5)}",
                        cpu="64m",
                        memory="128Mi",
                        phase=rng.choice(["Running", "Pending", "Succeeded"]),
                    )
                )
            else:
                pods.append(pod(pname, node=name, namespace="kube-system", cpu="50m", memory="64Mi"))
    return nodes, pods


def node_names(nodes: Iterable[dict]) -> list[str]:
    return [n["metadata"]["name"] for n in nodes]
