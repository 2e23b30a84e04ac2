"""ECS's own rules, as pure functions of plain data (no API client, no clock, no randomness
unless passed in). ``translate/`` and the placement extender both build on them.

- :mod:`.query`: the cluster query language (``memberOf`` expressions, ``--filter``);
- :mod:`.instances`: a Kubernetes node (+ its pods) as an ECS container instance;
- :mod:`.placement`: placement constraints as a filter, strategies as scores;
- :mod:`.native`: the constraints Kubernetes enforces itself (node/pod affinity);
- :mod:`.capacity`: launch types, capacity providers and the capacity-provider split;
- :mod:`.membership`: which nodes are a cluster's container instances;
- :mod:`.revisions`: task definition families and revisions;
- :mod:`.policy`: the ECSCluster security policy.
"""
