"""Label and annotation keys a translated pod template carries (the shared ones live in
:mod:`ecs_operator.constants`; the ones only the task definition translation writes live here)."""

from __future__ import annotations

from .. import constants

PREFIX = "ecs.seed.dev/"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "ecs-operator"

ANN_TASK_DEFINITION = constants.TASK_DEFINITION
ANN_CONTAINER_NAMES = constants.CONTAINER_NAMES
ANN_ESSENTIAL = constants.ESSENTIAL_CONTAINERS
ANN_DOCKER_LABELS = PREFIX + "docker-labels"
ANN_LOG_CONFIGURATION = PREFIX + "log-configuration"
ANN_PLACEMENT_CONSTRAINTS = constants.PLACEMENT_CONSTRAINTS
ANN_REQUIRES_COMPATIBILITIES = PREFIX + "requires-compatibilities"
ANN_NETWORK_MODE = PREFIX + "network-mode"
ANN_EXECUTION_ROLE = PREFIX + "execution-role-arn"
ANN_TASK_ROLE = PREFIX + "task-role-arn"
ANN_PORT_NAMES = PREFIX + "port-names"
ANN_APP_PROTOCOLS = PREFIX + "app-protocols"
LABEL_FAMILY = constants.FAMILY
LABEL_REVISION = constants.REVISION
