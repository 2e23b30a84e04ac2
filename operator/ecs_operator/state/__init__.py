"""Reading the cluster: typed snapshots of what the handlers decide on, read through
:mod:`ecs_operator.k8s` (the only I/O). Nothing here writes, except that ECS's ``default``
cluster comes into being on first use (:func:`.clusters.read_cluster`).

- :mod:`.clusters`: an ECS cluster (its ECSCluster, node pools, default capacity provider
  strategy) and capacity providers;
- :mod:`.families`: a task definition family's revisions, the services that follow a family,
  resolving a ``taskDefinition`` reference.
"""
