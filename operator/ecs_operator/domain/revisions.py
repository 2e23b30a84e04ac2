"""Task definition families and revisions, as ECS has them (pure logic, no API calls).

Every change of a TaskDefinition's ``spec`` registers revision n+1 of its family. Registered
revisions are immutable and kept as apps/v1 ControllerRevision objects (whose ``data`` the API
server itself refuses to change), labelled by family, so that history does not grow the
TaskDefinition's status and survives operator restarts. A revision's ECS status (ACTIVE or
INACTIVE) is a label, the one mutable part.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from .. import constants

LABEL_FAMILY = constants.FAMILY
LABEL_REVISION = constants.REVISION
LABEL_STATUS = constants.REVISION_STATUS
LABEL_HASH = constants.REVISION_SPEC_HASH
# Marks the ControllerRevisions that are task definition revisions. DaemonSets keep their own
# ControllerRevisions, labelled with their pod template's labels (which include the family
# label), so every lookup selects on this marker as well.
LABEL_KIND = constants.REVISION_OF
KIND_VALUE = "taskdefinition"
ANNOTATION_FAMILY = constants.REVISION_FAMILY
ANNOTATION_REGISTERED_AT = constants.REGISTERED_AT
ANNOTATION_DEREGISTERED_AT = constants.DEREGISTERED_AT
ANNOTATION_REQUEST = constants.REGISTRATION_REQUEST

ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"

_FAMILY_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_ARN_RE = re.compile(r"^arn:[^:]+:ecs:[^:]*:[^:]*:task-definition/(?P<ref>.+)$")


class ReferenceError_(ValueError):
    """A taskDefinition reference that is not ``family``, ``family:revision`` or an ARN."""


@dataclass(frozen=True)
class TaskDefinitionRef:
    family: str
    revision: int | None  # None = the latest ACTIVE revision

    def __str__(self) -> str:
        return self.family if self.revision is None else f"{self.family}:{self.revision}"


def parse_reference(ref: str) -> TaskDefinitionRef:
    """``family``, ``family:revision`` or ``arn:aws:ecs:region:acct:task-definition/family:rev``."""
    ref = ref.strip()
    m = _ARN_RE.match(ref)
    if m:
        ref = m.group("ref")
    family, sep, rev = ref.partition(":")
    if not _FAMILY_RE.match(family):
        raise ReferenceError_(
            f"taskDefinition: {ref!r} is not a valid family (up to 255 letters, numbers, hyphens and underscores)"
        )
    if not sep:
        return TaskDefinitionRef(family, None)
    if not rev.isdigit() or int(rev) < 1:
        raise ReferenceError_(f"taskDefinition: revision in {ref!r} must be a positive integer")
    return TaskDefinitionRef(family, int(rev))


def family_label(family: str) -> str:
    """A label value for a family: ECS allows 255 characters, labels 63."""
    if len(family) <= 63 and re.match(r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$", family):
        return family
    digest = hashlib.sha256(family.encode()).hexdigest()[:10]
    core = re.sub(r"[^A-Za-z0-9_.-]", "-", family)[:52].strip("-_.") or "f"
    return f"{core}-{digest}"


def dns_name(value: str, limit: int = 253) -> str:
    """A DNS-1123 subdomain-safe name derived from ``value`` (stable)."""
    name = re.sub(r"[^a-z0-9-]", "-", value.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name) or "x"
    if name != value or len(name) > limit:
        digest = hashlib.sha256(value.encode()).hexdigest()[:8]
        name = f"{name[: limit - 9].rstrip('-')}-{digest}"
    return name


def revision_name(family: str, revision: int) -> str:
    return f"{dns_name(family, 200)}-{revision}"


def spec_hash(canonical_spec: dict[str, Any]) -> str:
    blob = json.dumps(canonical_spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Revision:
    family: str
    revision: int
    status: str
    registered_at: str
    spec: dict[str, Any]
    hash: str
    name: str
    deregistered_at: str | None = None
    request: str | None = None  # the RegisterTaskDefinition call that registered it (API only)

    @property
    def arn(self) -> str:
        return f"{self.family}:{self.revision}"

    @classmethod
    def from_controller_revision(cls, cr: dict[str, Any]) -> Revision:
        md = cr["metadata"]
        labels = md.get("labels", {})
        annotations = md.get("annotations", {})
        data = cr.get("data") or {}
        return cls(
            family=annotations.get(ANNOTATION_FAMILY, labels.get(LABEL_FAMILY, "")),
            revision=int(cr["revision"]),
            status=labels.get(LABEL_STATUS, ACTIVE),
            registered_at=annotations.get(ANNOTATION_REGISTERED_AT, md.get("creationTimestamp", "")),
            spec=data.get("spec", {}),
            hash=labels.get(LABEL_HASH, ""),
            name=md["name"],
            deregistered_at=annotations.get(ANNOTATION_DEREGISTERED_AT),
            request=annotations.get(ANNOTATION_REQUEST),
        )


def family_selector(family: str) -> dict[str, str]:
    return {LABEL_KIND: KIND_VALUE, LABEL_FAMILY: family_label(family)}


def revisions_from(controller_revisions: list[dict[str, Any]]) -> list[Revision]:
    return sorted(
        (
            Revision.from_controller_revision(cr)
            for cr in controller_revisions
            if cr["metadata"].get("labels", {}).get(LABEL_KIND) == KIND_VALUE
        ),
        key=lambda r: r.revision,
    )


@dataclass(frozen=True)
class RegistrationPlan:
    """What registering ``spec`` means given the family's existing revisions."""

    revision: int
    create: bool  # False: the latest revision already holds exactly this spec (idempotent re-run)


def plan_registration(
    existing: list[Revision], canonical_spec: dict[str, Any], request: str | None = None
) -> RegistrationPlan:
    """ECS registers a new revision for every RegisterTaskDefinition call. A TaskDefinition is
    level-based: a spec equal to the latest revision's is that revision (so a handler re-run after
    a crash, or ``kubectl apply`` of an unchanged spec, registers nothing). A spec equal to an
    *older* revision registers a new one, as re-registering old JSON does in ECS.

    ``request``: the id of the RegisterTaskDefinition call the object carries (the ECS API sets a
    new one per call). A request no revision has recorded registers a new revision even for the
    latest revision's spec, as ECS's identical re-registration does; a request some revision
    recorded (a re-run, a rolled-back spec's older id) is handled already."""
    h = spec_hash(canonical_spec)
    latest = existing[-1] if existing else None
    handled = request is None or any(r.request == request for r in existing)
    if latest is not None and latest.hash == h and handled:
        return RegistrationPlan(latest.revision, create=False)
    return RegistrationPlan((latest.revision if latest else 0) + 1, create=True)


def controller_revision(
    *,
    namespace: str,
    family: str,
    revision: int,
    canonical_spec: dict[str, Any],
    registered_at: str,
    owner: dict[str, Any] | None,
    request: str | None = None,
) -> dict[str, Any]:
    md: dict[str, Any] = {
        "name": revision_name(family, revision),
        "namespace": namespace,
        "labels": {
            LABEL_KIND: KIND_VALUE,
            LABEL_FAMILY: family_label(family),
            LABEL_REVISION: str(revision),
            LABEL_STATUS: ACTIVE,
            LABEL_HASH: spec_hash(canonical_spec),
            "app.kubernetes.io/managed-by": "ecs-operator",
        },
        "annotations": {ANNOTATION_FAMILY: family, ANNOTATION_REGISTERED_AT: registered_at},
    }
    if request:
        md["annotations"][ANNOTATION_REQUEST] = request
    if owner:
        md["ownerReferences"] = [owner]
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": md,
        "revision": revision,
        # ``data`` is a RawExtension the API server compares byte for byte: any later patch of the
        # revision (e.g. its status label) re-encodes it with sorted keys, so it is stored sorted
        # from the start, and without apiVersion/kind (which would make it an embedded object).
        "data": json.loads(json.dumps({"family": family, "spec": canonical_spec}, sort_keys=True)),
    }


def resolve(existing: list[Revision], ref: TaskDefinitionRef) -> Revision | None:
    """``family`` -> latest ACTIVE revision; ``family:n`` -> revision n (ACTIVE or INACTIVE:
    in ECS a service keeps running an INACTIVE revision it already uses, but a new service
    cannot be created on one; callers decide)."""
    if ref.revision is None:
        active = [r for r in existing if r.status == ACTIVE]
        return active[-1] if active else None
    for r in existing:
        if r.revision == ref.revision:
            return r
    return None
