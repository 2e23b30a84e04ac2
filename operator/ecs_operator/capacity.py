"""Launch types and capacity providers on Kubernetes (pure).

EC2 container instances are ordinary nodes. FARGATE and FARGATE_SPOT are served by virtual
nodes (virtual-kubelet style; KWOK nodes on the local cluster) labelled
``ecs.seed.dev/capacity-provider=<FARGATE|FARGATE_SPOT>`` and tainted
``ecs.seed.dev/virtual-node=<provider>:NoSchedule``, so only Fargate tasks, which tolerate the
taint, land there; daemon services (which ECS never runs on Fargate) and EC2 tasks stay off them.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import labels

LABEL_CAPACITY_PROVIDER = labels.CAPACITY_PROVIDER
TAINT_VIRTUAL_NODE = labels.VIRTUAL_NODE
FARGATE = "FARGATE"
FARGATE_SPOT = "FARGATE_SPOT"
FARGATE_PROVIDERS = (FARGATE, FARGATE_SPOT)


class LaunchError(ValueError):
    def __init__(self, field_: str, message: str):
        super().__init__(f"{field_}: {message}")
        self.field = field_


@dataclass(frozen=True)
class Launch:
    """Where a service's or task's tasks run."""

    launch_type: str  # EC2 | FARGATE | EXTERNAL
    provider: str | None  # FARGATE / FARGATE_SPOT for Fargate, a capacity provider name, or None
    warnings: tuple[tuple[str, str], ...] = ()


def resolve_launch(launch_type: str | None, strategy: list | None,
                   compatibilities: list[str] | None) -> Launch:
    """ECS's choice of launch type, and its refusal when the task definition does not support it.

    ``strategy`` items have ``capacityProvider``, ``base`` and ``weight``. A strategy whose
    providers are all Fargate ones means Fargate; splitting tasks across several providers by
    base and weight is not implemented yet (reported: all tasks go to the first provider).
    """
    warnings: list[tuple[str, str]] = []
    provider: str | None = None
    if strategy:
        names = [getattr(i, "capacityProvider", None) for i in strategy]
        provider = names[0]
        if len(set(names)) > 1:
            warnings.append(("capacityProviderStrategy",
                             f"splitting tasks across capacity providers by base and weight is not implemented yet; "
                             f"every task runs on {provider}"))
        if all(n in FARGATE_PROVIDERS for n in names):
            launch = FARGATE
        elif any(n in FARGATE_PROVIDERS for n in names):
            raise LaunchError("capacityProviderStrategy",
                              "A capacity provider strategy cannot contain a mix of capacity providers using "
                              "Auto Scaling groups and Fargate providers. Specify one or the other and try again.")
        else:
            launch = "EC2"
    else:
        launch = launch_type or "EC2"
        if launch == FARGATE:
            provider = FARGATE
        elif launch == "EXTERNAL":
            warnings.append(("launchType", "EXTERNAL instances are treated as ordinary nodes"))
    compat = set(compatibilities or ["EC2"])
    if launch == FARGATE and FARGATE not in compat:
        raise LaunchError("launchType", "Task definition does not support launch_type FARGATE.")
    if launch == "EC2" and compatibilities and "EC2" not in compat and "EXTERNAL" not in compat:
        raise LaunchError("launchType", "Task definition does not support launch_type EC2.")
    return Launch(launch, provider, tuple(warnings))


def pod_placement(launch: Launch, pools: dict[str, tuple[dict, list]] | None = None) -> tuple[dict[str, str], list[dict]]:
    """nodeSelector and tolerations that put a task on its launch type's nodes. ``pools``: the
    node pool (nodeSelector, tolerations) of each EC2-style capacity provider by name."""
    if launch.launch_type == FARGATE and launch.provider in FARGATE_PROVIDERS:
        return ({LABEL_CAPACITY_PROVIDER: launch.provider},
                [{"key": TAINT_VIRTUAL_NODE, "operator": "Equal", "value": launch.provider, "effect": "NoSchedule"}])
    if launch.provider is not None:
        if not pools or launch.provider not in pools:
            raise LaunchError("capacityProviderStrategy",
                              f"The specified capacity provider {launch.provider} was not found.")
        selector, tolerations = pools[launch.provider]
        return dict(selector), list(tolerations)
    return {}, []


def is_virtual(node: dict) -> bool:
    return node.get("metadata", {}).get("labels", {}).get(LABEL_CAPACITY_PROVIDER) in FARGATE_PROVIDERS
