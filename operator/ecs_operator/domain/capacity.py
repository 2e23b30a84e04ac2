"""Launch types and capacity providers on Kubernetes (pure).

EC2 container instances are ordinary nodes. FARGATE and FARGATE_SPOT are served by virtual
nodes (virtual-kubelet style; KWOK nodes on the local cluster) labelled
``ecs.seed.dev/capacity-provider=<FARGATE|FARGATE_SPOT>`` and tainted
``ecs.seed.dev/virtual-node=<provider>:NoSchedule``, so only Fargate tasks, which tolerate the
taint, land there; daemon services (which ECS never runs on Fargate) and EC2 tasks stay off them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .. import constants

LABEL_CAPACITY_PROVIDER = constants.CAPACITY_PROVIDER
TAINT_VIRTUAL_NODE = constants.VIRTUAL_NODE
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
    #: every provider of the capacity provider strategy, in its order (empty without one)
    providers: tuple[str, ...] = ()

    def for_provider(self, provider: str) -> Launch:
        return Launch(self.launch_type, provider)


class StrategyItem(Protocol):
    """A capacity provider strategy item (the ECS model ``CapacityProviderStrategyItem``)."""

    @property
    def capacityProvider(self) -> str: ...
    @property
    def base(self) -> int | None: ...
    @property
    def weight(self) -> int | None: ...


#: ECS's limits on a capacity provider strategy item.
MAX_BASE = 100_000
MAX_WEIGHT = 1_000


def validate_strategy(strategy: Sequence[StrategyItem] | None, field_: str = "capacityProviderStrategy") -> None:
    """The rules ECS applies to a capacity provider strategy (CreateService / RunTask /
    PutClusterCapacityProviders refuse it otherwise)."""
    if not strategy:
        return
    names = [getattr(i, "capacityProvider", None) for i in strategy]
    for i, item in enumerate(strategy):
        if not names[i]:
            raise LaunchError(f"{field_}[{i}].capacityProvider", "a capacity provider name is required")
        if names.index(names[i]) != i:
            raise LaunchError(
                f"{field_}[{i}].capacityProvider", f"The capacity provider strategy contains {names[i]} more than once."
            )
        base, weight = item.base or 0, item.weight or 0
        if not 0 <= base <= MAX_BASE:
            raise LaunchError(f"{field_}[{i}].base", f"base must be between 0 and {MAX_BASE}.")
        if not 0 <= weight <= MAX_WEIGHT:
            raise LaunchError(f"{field_}[{i}].weight", f"weight must be between 0 and {MAX_WEIGHT}.")
    with_base = [i for i, item in enumerate(strategy) if item.base]
    if len(with_base) > 1:
        raise LaunchError(
            f"{field_}[{with_base[1]}].base",
            "Only one capacity provider in a capacity provider strategy can have a base defined.",
        )
    if len(strategy) > 1 and not any(item.weight for item in strategy):
        raise LaunchError(
            f"{field_}",
            "At least one capacity provider in a capacity provider strategy must have a weight greater than zero.",
        )


def assign_tasks(count: int, strategy: Sequence[StrategyItem]) -> list[str]:
    """The capacity provider of each of ``count`` tasks, in launch order, by ECS's rule: the
    provider with a ``base`` gets the first ``base`` tasks; every further task goes to the
    provider furthest below its share of ``weight`` (the one whose count beyond its base,
    plus this task, divided by its weight is smallest; ties go to the provider listed first).
    Weight 1 and 4 thus place one task on the first provider for every four on the second,
    and adding a task never moves an earlier one: scaling out by one adds exactly one task to
    one provider. Providers of weight 0 get only their base. A strategy of one provider gets
    every task whatever its weight."""
    if not strategy:
        return []
    names = [i.capacityProvider for i in strategy]
    if len(strategy) == 1:
        return [names[0]] * count
    out: list[str] = []
    for i, item in enumerate(strategy):
        if item.base:
            out += [names[i]] * min(item.base, count)
    beyond = [0] * len(strategy)
    weights = [item.weight or 0 for item in strategy]
    candidates = [i for i, w in enumerate(weights) if w > 0]
    while len(out) < count:
        best = candidates[0]
        for i in candidates[1:]:
            # (beyond[i] + 1) / weights[i] < (beyond[best] + 1) / weights[best], exactly
            if (beyond[i] + 1) * weights[best] < (beyond[best] + 1) * weights[i]:
                best = i
        beyond[best] += 1
        out.append(names[best])
    return out


def split_tasks(count: int, strategy: Sequence[StrategyItem]) -> list[tuple[str, int]]:
    """How many of ``count`` tasks each provider of the strategy runs (every provider listed,
    in the strategy's order, zero included)."""
    assigned = assign_tasks(count, strategy)
    return [(item.capacityProvider, assigned.count(item.capacityProvider)) for item in strategy]


def resolve_launch(
    launch_type: str | None, strategy: Sequence[StrategyItem] | None, compatibilities: list[str] | None
) -> Launch:
    """ECS's choice of launch type, and its refusal when the task definition does not support it.

    ``strategy`` items have ``capacityProvider``, ``base`` and ``weight``. A strategy whose
    providers are all Fargate ones means Fargate; EC2-style providers and Fargate ones cannot
    be mixed. ``provider`` is the first provider; callers split tasks across ``providers``
    with :func:`assign_tasks`.
    """
    warnings: list[tuple[str, str]] = []
    provider: str | None = None
    names: list[str] = []
    if strategy:
        validate_strategy(strategy)
        names = [i.capacityProvider for i in strategy]
        provider = names[0]
        if all(n in FARGATE_PROVIDERS for n in names):
            launch = FARGATE
        elif any(n in FARGATE_PROVIDERS for n in names):
            raise LaunchError(
                "capacityProviderStrategy",
                "A capacity provider strategy cannot contain a mix of capacity providers using "
                "Auto Scaling groups and Fargate providers. Specify one or the other and try again.",
            )
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
    return Launch(launch, provider, tuple(warnings), tuple(names))


def pod_placement(
    launch: Launch, pools: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] | None = None
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """nodeSelector and tolerations that put a task on its launch type's nodes. ``pools``: the
    node pool (nodeSelector, tolerations) of each EC2-style capacity provider by name."""
    if launch.launch_type == FARGATE and launch.provider in FARGATE_PROVIDERS:
        return (
            {LABEL_CAPACITY_PROVIDER: launch.provider},
            [{"key": TAINT_VIRTUAL_NODE, "operator": "Equal", "value": launch.provider, "effect": "NoSchedule"}],
        )
    if launch.provider is not None:
        if not pools or launch.provider not in pools:
            raise LaunchError(
                "capacityProviderStrategy", f"The specified capacity provider {launch.provider} was not found."
            )
        selector, tolerations = pools[launch.provider]
        return dict(selector), list(tolerations)
    return {}, []


def is_virtual(node: dict[str, Any]) -> bool:
    return node.get("metadata", {}).get("labels", {}).get(LABEL_CAPACITY_PROVIDER) in FARGATE_PROVIDERS
