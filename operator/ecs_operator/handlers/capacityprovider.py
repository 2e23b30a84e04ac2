"""CapacityProvider: an EC2-style capacity provider is a Kubernetes node pool.

``spec.kubernetes.nodeSelector`` and ``tolerations`` say which nodes form the pool; tasks placed
on the provider get them. FARGATE and FARGATE_SPOT are built in (virtual nodes) and cannot be
created, as in ECS.
"""

from __future__ import annotations

import kopf

from .. import GROUP, VERSION, metrics
from ..plans.capacityprovider import provider_status
from ..state import fleet
from ..state.clusters import provider_name, provider_pool
from ..status import now_iso

REFRESH_SECONDS = 30


def _status(body: dict, max_age: float = fleet.TTL) -> dict:
    selector, _ = provider_pool(body)
    return provider_status(body, provider_name(body), selector, fleet.nodes(max_age), now_iso())


@kopf.on.resume(GROUP, VERSION, "capacityproviders")
@kopf.on.create(GROUP, VERSION, "capacityproviders")
@kopf.on.update(GROUP, VERSION, "capacityproviders", field="spec")
@metrics.reconciled("CapacityProvider")
def provider_changed(body, patch, reason, **_):
    patch.setdefault("status", {}).update(_status(dict(body), max_age=fleet.fresh(reason)))


@kopf.timer(GROUP, VERSION, "capacityproviders", interval=REFRESH_SECONDS, idle=REFRESH_SECONDS / 2)
@metrics.reconciled("CapacityProvider")
def provider_nodes(body, patch, **_):
    status = _status(dict(body))
    if (body.get("status") or {}).get("nodes") != status.get("nodes"):
        patch.setdefault("status", {}).update(status)
