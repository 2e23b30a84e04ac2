"""Every label, annotation and taint key the operator writes or reads, in one place.

One definition for each key, so the objects the operator writes, the extender and the API read
can never disagree. Modules may give a key a local alias (``LABEL_TASK = constants.TASK``); the
string itself is defined only here."""

from __future__ import annotations

from . import GROUP

SERVICE = f"{GROUP}/service"  # label: the ECSService a pod belongs to
TASK = f"{GROUP}/task"  # label: the ECSTask a pod belongs to
CLUSTER = f"{GROUP}/cluster"  # label: the ECS cluster (pods; nodes: membership)
FAMILY = f"{GROUP}/family"  # label: task definition family
REVISION = f"{GROUP}/revision"  # label: task definition revision
TASK_GROUP = f"{GROUP}/group"  # annotation: ECS task group (service:x, family:y)
TASK_DEFINITION = f"{GROUP}/task-definition"  # annotation: family:revision
SERVICE_REVISION = f"{GROUP}/service-revision"  # label: the ECS service revision (deployment) a pod/workload runs
GATEWAY = f"{GROUP}/gateway"  # ECSService annotation: [namespace/]name[/section] of its HTTPRoute's Gateway
PLACEMENT_CONSTRAINTS = f"{GROUP}/placement-constraints"
PLACEMENT_STRATEGY = f"{GROUP}/placement-strategy"
SCHEDULING_STRATEGY = f"{GROUP}/scheduling-strategy"
CAPACITY_PROVIDER = f"{GROUP}/capacity-provider"  # node label: the Fargate provider a virtual node serves;
# pod label: the provider of a split service's share
CONTAINER_NAMES = f"{GROUP}/container-names"  # pod annotation: the ECS container names, in order
ESSENTIAL_CONTAINERS = f"{GROUP}/essential-containers"  # pod annotation: the essential ones
VIRTUAL_NODE = f"{GROUP}/virtual-node"  # node taint key of virtual nodes
INSTANCE_STATUS = f"{GROUP}/container-instance-status"  # node label: DRAINING while the node is cordoned
PREFIX = f"{GROUP}/"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "ecs-operator"

# Task definition revisions (apps/v1 ControllerRevisions).
REVISION_STATUS = f"{GROUP}/status"  # label: ACTIVE / INACTIVE
REVISION_SPEC_HASH = f"{GROUP}/spec-hash"  # label: hash of the canonical spec
REVISION_OF = f"{GROUP}/revision-of"  # label: marks task definition revisions (value "taskdefinition")
REVISION_FAMILY = f"{GROUP}/family"  # annotation: the family as given (labels are truncated)
REGISTERED_AT = f"{GROUP}/registered-at"  # annotation
DEREGISTERED_AT = f"{GROUP}/deregistered-at"  # annotation

# Translated pod templates.
DOCKER_LABELS = f"{GROUP}/docker-labels"
LOG_CONFIGURATION = f"{GROUP}/log-configuration"
REQUIRES_COMPATIBILITIES = f"{GROUP}/requires-compatibilities"
NETWORK_MODE = f"{GROUP}/network-mode"
EXECUTION_ROLE = f"{GROUP}/execution-role-arn"
TASK_ROLE = f"{GROUP}/task-role-arn"
PORT_NAMES = f"{GROUP}/port-names"
APP_PROTOCOLS = f"{GROUP}/app-protocols"

# Standalone tasks (ECSTask pods and the ECSTask object).
TASK_INDEX = f"{GROUP}/task-index"  # pod label: the task's index in its RunTask call
STARTED_BY = f"{GROUP}/started-by"  # pod annotation
TASK_ARN = f"{GROUP}/task-arn"  # pod annotation
DESIRED_STATUS = f"{GROUP}/desired-status"  # ECSTask annotation: StopTask
STOP_REASON = f"{GROUP}/stop-reason"  # ECSTask annotation: StopTask's reason

# Container instances (nodes).
INSTANCE_ID = f"{GROUP}/instance-id"  # node label: the container instance id
ATTRIBUTE_PREFIX = f"attribute.{GROUP}/"  # node labels: custom container instance attributes
REAL_NODE = f"{GROUP}/real-node"  # node label: a real kubelet node of the local cluster (dev)

# RegisterTaskDefinition through the ECS API: each call's request id, on the TaskDefinition (outside
# kopf's prefix, so a new id alone reconciles it: ECS registers a new revision per call, even for an
# identical spec) and on the ControllerRevision it registered (so the request is handled once).
REGISTRATION_REQUEST = f"registration.{GROUP}/request"

# Lost container instances (handlers/nodes.py): a task pod of a node that stopped answering keeps this
# finalizer while it is stopped, so that its ECSTask sees it stop (with its DisruptionTarget reason)
# before it is gone.
LOST_INSTANCE_FINALIZER = f"{GROUP}/container-instance-lost"
