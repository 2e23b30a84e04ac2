"""kopf handlers, one module per kind. Importing this package registers them.

Each handler reads a snapshot (:mod:`ecs_operator.state`), makes a plan
(:mod:`ecs_operator.plans`, :mod:`ecs_operator.translate`) and applies it
(:mod:`ecs_operator.k8s`). Kinds that depend on each other are woken up through
:mod:`.wakeups`; no handler module imports another.
"""

from . import capacityprovider, ecscluster, ecsservice, ecstask, nodes, rebalancing, startup, taskdefinition

__all__ = [
    "capacityprovider",
    "ecscluster",
    "ecsservice",
    "ecstask",
    "nodes",
    "rebalancing",
    "startup",
    "taskdefinition",
]
