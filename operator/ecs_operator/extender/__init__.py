"""ECS task placement as a kube-scheduler extender.

The ECS rules it applies (query language, container instances, constraints and strategies)
live in :mod:`ecs_operator.domain`; this package serves them:

- :mod:`.server`: the extender HTTP protocol (filter, prioritize, bind) and the in-memory view;
- :mod:`.cache`: the view kept by list + watch of nodes and pods, and the binder.

See docs/placement.md.
"""

#: The scheduler (profile) name ECS task pods name, and the only one whose pods the extender binds by default.
SCHEDULER_NAME = "ecs-scheduler"
