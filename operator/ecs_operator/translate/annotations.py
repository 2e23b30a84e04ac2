"""The translators' names for the label and annotation keys a translated pod template carries
(the keys themselves are defined in :mod:`ecs_operator.constants`)."""

from __future__ import annotations

from .. import constants

PREFIX = constants.PREFIX
MANAGED_BY_LABEL = constants.MANAGED_BY_LABEL
MANAGED_BY = constants.MANAGED_BY

ANN_TASK_DEFINITION = constants.TASK_DEFINITION
ANN_CONTAINER_NAMES = constants.CONTAINER_NAMES
ANN_ESSENTIAL = constants.ESSENTIAL_CONTAINERS
ANN_DOCKER_LABELS = constants.DOCKER_LABELS
ANN_LOG_CONFIGURATION = constants.LOG_CONFIGURATION
ANN_PLACEMENT_CONSTRAINTS = constants.PLACEMENT_CONSTRAINTS
ANN_REQUIRES_COMPATIBILITIES = constants.REQUIRES_COMPATIBILITIES
ANN_NETWORK_MODE = constants.NETWORK_MODE
ANN_EXECUTION_ROLE = constants.EXECUTION_ROLE
ANN_TASK_ROLE = constants.TASK_ROLE
ANN_PORT_NAMES = constants.PORT_NAMES
ANN_APP_PROTOCOLS = constants.APP_PROTOCOLS
LABEL_FAMILY = constants.FAMILY
LABEL_REVISION = constants.REVISION
