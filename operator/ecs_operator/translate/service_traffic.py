"""Traffic of an ECS service's revisions during a BLUE_GREEN, LINEAR or CANARY deployment.

ECS shifts traffic between two target groups behind an ELB listener: the production listener
rule and the test listener rule (``loadBalancers[].advancedConfiguration``) forward to the blue
(source) and green (target) revision by weight. On Kubernetes:

- each revision gets its own ClusterIP Service ``<service>-<revision>`` selecting only that
  revision's pods (label ``constants.SERVICE_REVISION``): the target groups;
- where the cluster serves Gateway API, an HTTPRoute ``<service>`` (one per load-balanced
  container port) with two rules: ``production`` (path prefix ``/``, weighted ``backendRefs``,
  the production listener rule) and ``test`` (the same path and the header
  ``x-ecs-test-traffic: true``, the test listener rule); the route attaches to the Gateway that the
  ECSService's annotation ``ecs.seed.dev/gateway`` names (``name``, ``namespace/name`` or
  ``namespace/name/section``);
- without Gateway API (or without a Gateway), the service's own Service (``service_network``)
  selects every revision's pods, so traffic follows task counts; a warning says so.

Pure: no client, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import GROUP, constants
from ..models.generated import CreateServiceRequest
from .diagnostics import TranslationWarning
from .names import dns_label

__all__ = [
    "HTTPROUTE_API_VERSION",
    "TEST_HEADER",
    "GatewayTarget",
    "RevisionTraffic",
    "gateway_target",
    "revision_service_name",
    "route_name",
    "traffic_objects",
]

Obj = dict[str, Any]

GATEWAY_GROUP = "gateway.networking.k8s.io"
HTTPROUTE_API_VERSION = f"{GATEWAY_GROUP}/v1"
#: The request header that selects the test listener rule (value ``true``).
TEST_HEADER = "x-ecs-test-traffic"
PRODUCTION_RULE = "production"
TEST_RULE = "test"
#: Gateway API's bound on backendRefs per rule.
MAX_BACKENDS = 16
# Annotations on the HTTPRoute recording the ECS ARNs its rules stand for.
ANN_PRODUCTION_RULE = f"{GROUP}/production-listener-rule"
ANN_TEST_RULE = f"{GROUP}/test-listener-rule"
ANN_TARGET_GROUP = f"{GROUP}/target-group"
ANN_ALTERNATE_TARGET_GROUP = f"{GROUP}/alternate-target-group"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class RevisionTraffic:
    """One service revision and the share of traffic (percent, 0..100) it gets."""

    revision: str  # the pods' constants.SERVICE_REVISION label value
    production_weight: int
    test_weight: int


@dataclass(frozen=True)
class GatewayTarget:
    """The Gateway (and optionally its listener) an HTTPRoute attaches to."""

    name: str
    namespace: str | None = None  # None: the route's own namespace
    section_name: str | None = None


def gateway_target(annotations: Mapping[str, str] | None) -> tuple[GatewayTarget | None, list[TranslationWarning]]:
    """The Gateway named by the ECSService annotation ``ecs.seed.dev/gateway``:
    ``name``, ``namespace/name`` or ``namespace/name/section``. Unset -> None; malformed -> None
    and a warning naming the annotation."""
    value = (annotations or {}).get(constants.GATEWAY, "").strip()
    if not value:
        return None, []
    parts = value.split("/")
    if len(parts) == 1:
        target = GatewayTarget(name=parts[0])
    elif len(parts) == 2:
        target = GatewayTarget(name=parts[1], namespace=parts[0])
    elif len(parts) == 3:
        target = GatewayTarget(name=parts[1], namespace=parts[0], section_name=parts[2])
    else:
        target = None
    if (
        target is None
        or not _DNS_SUBDOMAIN.match(target.name)
        or (target.namespace is not None and not _DNS_LABEL.match(target.namespace))
        or (target.section_name is not None and not _DNS_SUBDOMAIN.match(target.section_name))
    ):
        return None, [
            TranslationWarning(
                f"metadata.annotations[{constants.GATEWAY}]",
                f"{value!r} is not name, namespace/name or namespace/name/section of a Gateway; "
                "the HTTPRoute attaches to no Gateway",
            )
        ]
    return target, []


def revision_service_name(name: str, revision: str) -> str:
    """The Service of one revision's tasks: ``<service>-<revision>`` (a DNS label, hashed when long)."""
    return dns_label(f"{name}-{revision}")


def route_name(name: str, port: int | None = None) -> str:
    """The HTTPRoute of the first load-balanced port is named like the service; a further port's
    ``<service>-<port>``."""
    return name if port is None else dns_label(f"{name}-{port}")


def _ports(svc: CreateServiceRequest) -> list[int]:
    """The load-balanced container ports in order (serviceRegistries' when there is no load balancer)."""
    out: list[int] = []
    if svc.loadBalancers:
        candidates = [lb.containerPort for lb in svc.loadBalancers]
    else:
        candidates = [reg.containerPort or reg.port for reg in svc.serviceRegistries or []]
    for p in candidates:
        if p and p not in out:
            out.append(p)
    return out


def _revision_service(name: str, namespace: str, owner: Obj, revision: str, ports: list[int]) -> Obj:
    labels = {
        constants.SERVICE: name,
        constants.SERVICE_REVISION: revision,
        constants.MANAGED_BY_LABEL: constants.MANAGED_BY,
    }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": revision_service_name(name, revision),
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [owner],
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {constants.SERVICE: name, constants.SERVICE_REVISION: revision},
            "ports": [{"name": f"port-{p}", "port": p, "targetPort": p, "protocol": "TCP"} for p in ports],
        },
    }


def _backends(name: str, revisions: Sequence[RevisionTraffic], port: int, test: bool) -> list[Obj]:
    weights = [r.test_weight if test else r.production_weight for r in revisions]
    if test and not any(weights):  # no test traffic shifted yet: the test listener follows production
        weights = [r.production_weight for r in revisions]
    return [
        {"group": "", "kind": "Service", "name": revision_service_name(name, r.revision), "port": port, "weight": w}
        for r, w in zip(revisions, weights, strict=True)
    ]


def _join(values: Sequence[str | None]) -> str:
    return ",".join(dict.fromkeys(v for v in values if v))


def _route(
    svc: CreateServiceRequest,
    *,
    name: str,
    namespace: str,
    owner: Obj,
    port: int,
    first: bool,
    revisions: Sequence[RevisionTraffic],
    gateway: GatewayTarget | None,
) -> Obj:
    lbs = [lb for lb in svc.loadBalancers or [] if lb.containerPort == port]
    adv = [lb.advancedConfiguration for lb in lbs if lb.advancedConfiguration]
    annotations = {
        key: v
        for key, v in (
            (ANN_PRODUCTION_RULE, _join([a.productionListenerRule for a in adv])),
            (ANN_TEST_RULE, _join([a.testListenerRule for a in adv])),
            (ANN_TARGET_GROUP, _join([lb.targetGroupArn for lb in lbs])),
            (ANN_ALTERNATE_TARGET_GROUP, _join([a.alternateTargetGroupArn for a in adv])),
        )
        if v
    }
    path = {"type": "PathPrefix", "value": "/"}
    spec: Obj = {
        "rules": [
            {
                "name": PRODUCTION_RULE,
                "matches": [{"path": path}],
                "backendRefs": _backends(name, revisions, port, test=False),
            },
            {
                "name": TEST_RULE,
                "matches": [{"path": path, "headers": [{"type": "Exact", "name": TEST_HEADER, "value": "true"}]}],
                "backendRefs": _backends(name, revisions, port, test=True),
            },
        ]
    }
    if gateway is not None:
        parent: Obj = {"group": GATEWAY_GROUP, "kind": "Gateway", "name": gateway.name}
        if gateway.namespace:
            parent["namespace"] = gateway.namespace
        if gateway.section_name:
            parent["sectionName"] = gateway.section_name
        spec["parentRefs"] = [parent]
    metadata: Obj = {
        "name": route_name(name, None if first else port),
        "namespace": namespace,
        "labels": {constants.SERVICE: name, constants.MANAGED_BY_LABEL: constants.MANAGED_BY},
        "ownerReferences": [owner],
    }
    if annotations:  # an empty map would be a change on every apply
        metadata["annotations"] = annotations
    return {"apiVersion": HTTPROUTE_API_VERSION, "kind": "HTTPRoute", "metadata": metadata, "spec": spec}


def _advanced_warnings(svc: CreateServiceRequest, name: str, httproute: bool) -> list[TranslationWarning]:
    out: list[TranslationWarning] = []
    route = f"the HTTPRoute {name}" if httproute else f"the Service {name} (no Gateway API in the cluster)"
    for i, lb in enumerate(svc.loadBalancers or []):
        adv = lb.advancedConfiguration
        if adv is None:
            continue
        field_ = f"loadBalancers[{i}].advancedConfiguration"
        if adv.productionListenerRule:
            out.append(
                TranslationWarning(
                    f"{field_}.productionListenerRule",
                    f"the ELB listener rule is not read; {route} rule {PRODUCTION_RULE!r} (path prefix /) "
                    "carries production traffic in its place",
                )
            )
        if adv.testListenerRule:
            out.append(
                TranslationWarning(
                    f"{field_}.testListenerRule",
                    f"the ELB listener rule is not read; {route} rule {TEST_RULE!r} (header {TEST_HEADER}: true) "
                    "carries test traffic in its place",
                )
            )
        if adv.alternateTargetGroupArn:
            out.append(
                TranslationWarning(
                    f"{field_}.alternateTargetGroupArn",
                    "no target group is registered; each revision's Service <service>-<revision> stands in "
                    "for the primary and the alternate target group",
                )
            )
        if adv.roleArn:
            out.append(
                TranslationWarning(
                    f"{field_}.roleArn", "no IAM role is assumed; the operator updates the route weights itself"
                )
            )
    return out


def traffic_objects(
    svc: CreateServiceRequest,
    *,
    name: str,
    namespace: str,
    owner: Obj,
    revisions: Sequence[RevisionTraffic],
    httproute: bool,
    gateway: GatewayTarget | None,
) -> tuple[list[Obj], list[TranslationWarning]]:
    """One ClusterIP Service per revision (selecting only its pods) and, when the cluster serves
    Gateway API HTTPRoutes and the service has load balancers, an HTTPRoute per load-balanced port
    whose ``production`` and ``test`` rules split traffic by the revisions' weights."""
    ports = _ports(svc)
    if not ports:
        return [], [
            TranslationWarning(
                "loadBalancers",
                "the service has no load balancer or service registry port: there is no traffic to shift; "
                "the revisions' tasks run side by side",
            )
        ]
    warnings: list[TranslationWarning] = []
    if len(revisions) > MAX_BACKENDS:
        warnings.append(
            TranslationWarning(
                "deploymentConfiguration",
                f"{len(revisions)} revisions run at once; traffic is routed to the first {MAX_BACKENDS} only",
            )
        )
        revisions = revisions[:MAX_BACKENDS]
    out: list[Obj] = [_revision_service(name, namespace, owner, r.revision, ports) for r in revisions]
    routed = httproute and bool(svc.loadBalancers)
    warnings += _advanced_warnings(svc, name, routed)
    if not routed:
        if svc.loadBalancers:
            warnings.append(
                TranslationWarning(
                    "deploymentConfiguration.strategy",
                    "the cluster serves no Gateway API HTTPRoute: traffic through the Service "
                    f"{name} follows task counts, not the deployment's weights",
                )
            )
        return out, warnings
    if gateway is None:
        warnings.append(
            TranslationWarning(
                f"metadata.annotations[{constants.GATEWAY}]",
                f"no Gateway named: the HTTPRoute {name} carries the weights but attaches to no Gateway; "
                f"traffic through the Service {name} follows task counts",
            )
        )
    if revisions and not any(r.production_weight for r in revisions):
        warnings.append(
            TranslationWarning(
                "deploymentConfiguration.strategy", "every revision has production weight 0: the route answers 500"
            )
        )
    for i, port in enumerate(ports):
        out.append(
            _route(
                svc,
                name=name,
                namespace=namespace,
                owner=owner,
                port=port,
                first=i == 0,
                revisions=revisions,
                gateway=gateway,
            )
        )
    return out, warnings
