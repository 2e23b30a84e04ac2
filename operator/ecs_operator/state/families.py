"""Task definition families: their registered revisions (ControllerRevisions), the services that
follow a family, and resolving a ``taskDefinition`` reference as ECS does."""

from __future__ import annotations

from .. import API_VERSION, k8s
from ..domain import revisions
from ..errors import NotReady


def list_family(namespace: str, family: str) -> list[revisions.Revision]:
    """The family's registered revisions, oldest first."""
    crs = k8s.list_("apps/v1", "ControllerRevision", namespace, labels=revisions.family_selector(family))
    return [r for r in revisions.revisions_from(crs) if r.family == family]


def services_for_family(namespace: str, family: str | None) -> list[dict]:
    """The ECSServices of ``namespace`` whose taskDefinition names ``family``."""
    if not family:
        return []
    out = []
    for svc in k8s.list_(API_VERSION, "ECSService", namespace):
        ref = (svc.get("spec") or {}).get("taskDefinition")
        try:
            if ref and revisions.parse_reference(ref).family == family:
                out.append(svc)
        except revisions.ReferenceError_:
            continue
    return out


def resolve_revision(namespace: str, reference: str, *, keep: str | None = None) -> revisions.Revision:
    """The revision a ``taskDefinition`` reference names (``family``: the latest ACTIVE one).
    As in ECS, an INACTIVE revision cannot be newly used; ``keep``: the ARN of the revision the
    object already runs, which it may keep running although INACTIVE. Raises NotReady with
    ECS's reason otherwise."""
    try:
        ref = revisions.parse_reference(reference)
    except revisions.ReferenceError_ as e:
        raise NotReady("InvalidParameterException", str(e)) from e
    rev = revisions.resolve(list_family(namespace, ref.family), ref)
    if rev is None:
        raise NotReady(
            "TaskDefinitionNotFound",
            f"taskDefinition: Unable to describe task definition {ref} (no such registered, ACTIVE revision "
            f"in namespace {namespace}).",
        )
    if rev.status != revisions.ACTIVE and rev.arn != keep:
        raise NotReady("ClientException", f"taskDefinition: TaskDefinition {rev.arn} is inactive.")
    return rev
