"""ecs-operator: run Amazon ECS task definitions and services, unchanged, on Kubernetes."""

GROUP = "ecs.seed.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FIELD_MANAGER = "ecs-operator"

__version__ = "0.1.0"
