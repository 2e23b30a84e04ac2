"""Well-known label and annotation keys the operator, the translators and the extender share.

One place for each key, so the pods the operator writes and the extender reads can never
disagree. (Module-specific keys stay with their module.)"""

from __future__ import annotations

from . import GROUP

SERVICE = f"{GROUP}/service"  # label: the ECSService a pod belongs to
TASK = f"{GROUP}/task"  # label: the ECSTask a pod belongs to
CLUSTER = f"{GROUP}/cluster"  # label: the ECS cluster (pods; nodes: membership)
FAMILY = f"{GROUP}/family"  # label: task definition family
REVISION = f"{GROUP}/revision"  # label: task definition revision
TASK_GROUP = f"{GROUP}/group"  # annotation: ECS task group (service:x, family:y)
TASK_DEFINITION = f"{GROUP}/task-definition"  # annotation: family:revision
PLACEMENT_CONSTRAINTS = f"{GROUP}/placement-constraints"
PLACEMENT_STRATEGY = f"{GROUP}/placement-strategy"
SCHEDULING_STRATEGY = f"{GROUP}/scheduling-strategy"
CAPACITY_PROVIDER = f"{GROUP}/capacity-provider"  # node label: the Fargate provider a virtual node serves;
# pod label: the provider of a split service's share
CONTAINER_NAMES = f"{GROUP}/container-names"  # pod annotation: the ECS container names, in order
ESSENTIAL_CONTAINERS = f"{GROUP}/essential-containers"  # pod annotation: the essential ones
VIRTUAL_NODE = f"{GROUP}/virtual-node"  # node taint key of virtual nodes
INSTANCE_STATUS = f"{GROUP}/container-instance-status"  # node label: DRAINING while the node is cordoned
