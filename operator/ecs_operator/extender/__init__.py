"""ECS task placement as a kube-scheduler extender.

- :mod:`.query`: the ECS cluster query language (memberOf expressions);
- :mod:`.model`: a Kubernetes node (+ its pods) as an ECS container instance;
- :mod:`.placement`: constraints as a filter, strategies as scores 0..10;
- :mod:`.native`: the constraints Kubernetes can enforce itself (node/pod affinity);
- :mod:`.server`: the extender HTTP protocol (filter, prioritize, bind) and the in-memory view;
- :mod:`.cache`: the view kept by list + watch of nodes and pods, and the binder.

See docs/placement.md.
"""

#: The scheduler (profile) name ECS task pods name, and the only one whose pods the extender binds by default.
SCHEDULER_NAME = "ecs-scheduler"
