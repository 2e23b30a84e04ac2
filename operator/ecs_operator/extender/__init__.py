"""ECS task placement as a kube-scheduler extender.

The ECS rules it applies (query language, container instances, constraints and strategies)
live in :mod:`ecs_operator.domain`; this package serves them:

- :mod:`.server`: the HTTP server (the verbs' endpoints, health, metrics);
- :mod:`.protocol`: the extender protocol's JSON shapes (``ExtenderArgs``, results);
- :mod:`.verbs`: filter, prioritize and bind on decoded JSON, the pods in flight;
- :mod:`.view`: the in-memory cluster view (nodes, pods, their container instances);
- :mod:`.cache`: the view kept by list + watch of nodes and pods (pure, over a ``Source``);
- :mod:`.metrics`: ``/metrics``;
- :mod:`.main`: ``ecs-operator extender``.

Its API-server I/O (the list + watch source and the binder) is
:mod:`ecs_operator.extender.kube`.

See docs/placement.md.
"""

#: The scheduler (profile) name ECS task pods name, and the only one whose pods the extender binds by default.
SCHEDULER_NAME = "ecs-scheduler"
