"""The Kubernetes Services of an ECS service: its load balancers and service registries.

Pure: no client, no clock.
"""

from __future__ import annotations

from typing import Any

from .. import GROUP
from ..models.generated import CreateServiceRequest
from .diagnostics import TranslationWarning
from .service import LABEL_SERVICE, ServiceError

Obj = dict[str, Any]


def _container_ports(td_template: Obj, k8s_container: str) -> set[int]:
    for c in td_template.get("spec", {}).get("containers", []):
        if c["name"] == k8s_container:
            return {p["containerPort"] for p in c.get("ports", [])}
    return set()


def _resolve_container(field_: str, ecs_name: str | None, container_names: dict[str, str]) -> str:
    if not ecs_name or ecs_name not in container_names:
        raise ServiceError(
            f"{field_}.containerName", f"The container {ecs_name} does not exist in the task definition."
        )
    return container_names[ecs_name]


def network_services(
    svc: CreateServiceRequest,
    *,
    name: str,
    namespace: str,
    owner: Obj,
    template: Obj,
    container_names: dict[str, str],
) -> tuple[list[Obj], list[TranslationWarning]]:
    """loadBalancers -> a ClusterIP Service; serviceRegistries -> a headless Service (DNS)."""
    out: list[Obj] = []
    warnings: list[TranslationWarning] = []
    labels = {LABEL_SERVICE: name, "app.kubernetes.io/managed-by": "ecs-operator"}
    selector = {LABEL_SERVICE: name}
    if svc.loadBalancers:
        ports: list[Obj] = []
        annotations: dict[str, str] = {}
        for i, lb in enumerate(svc.loadBalancers):
            field_ = f"loadBalancers[{i}]"
            container = _resolve_container(field_, lb.containerName, container_names)
            if lb.containerPort is None or lb.containerPort not in _container_ports(template, container):
                raise ServiceError(
                    f"{field_}.containerPort",
                    f"The container {lb.containerName} does not have a container port "
                    f"{lb.containerPort} defined in the task definition.",
                )
            if lb.targetGroupArn:
                annotations[f"{GROUP}/target-group-{i}"] = lb.targetGroupArn
            if lb.loadBalancerName:
                annotations[f"{GROUP}/load-balancer-{i}"] = lb.loadBalancerName
            if lb.containerPort not in {p["port"] for p in ports}:
                ports.append(
                    {
                        "name": f"port-{lb.containerPort}",
                        "port": lb.containerPort,
                        "targetPort": lb.containerPort,
                        "protocol": "TCP",
                    }
                )
        warnings.append(
            TranslationWarning(
                "loadBalancers",
                "no AWS load balancer or target group is provisioned; the tasks are reachable "
                f"through the Service {name} (change its type or add an Ingress to expose it)",
            )
        )
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": labels,
                    "annotations": annotations,
                    "ownerReferences": [owner],
                },
                "spec": {"type": "ClusterIP", "selector": selector, "ports": ports},
            }
        )
    if svc.serviceRegistries:
        ports = []  # the headless Service's
        for i, reg in enumerate(svc.serviceRegistries):
            if reg.containerName:
                _resolve_container(f"serviceRegistries[{i}]", reg.containerName, container_names)
            port = reg.containerPort or reg.port
            if port and port not in {p["port"] for p in ports}:
                ports.append({"name": f"port-{port}", "port": port, "targetPort": port, "protocol": "TCP"})
        spec: Obj = {"clusterIP": "None", "selector": selector, "publishNotReadyAddresses": False}
        if ports:
            spec["ports"] = ports
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": f"{name[:53]}-discovery",
                    "namespace": namespace,
                    "labels": labels,
                    "annotations": {
                        f"{GROUP}/registry-arns": ",".join(r.registryArn or "" for r in svc.serviceRegistries)
                    },
                    "ownerReferences": [owner],
                },
                "spec": spec,
            }
        )
    return out, warnings
