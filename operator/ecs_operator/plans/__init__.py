"""What to do, decided from a snapshot (pure: no API client, no clock unless passed in).

Each handler reads a snapshot of the cluster (:mod:`ecs_operator.state`), asks a function here
for the plan -- the objects to apply, the objects to delete, the status to write, the events to
post -- and applies it (:mod:`ecs_operator.k8s`). One module per kind.
"""
