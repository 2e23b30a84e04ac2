"""TaskDefinition: register immutable numbered revisions of a family, as ECS does.

Level-based and idempotent: every run recomputes the canonical spec, compares it with the
family's latest registered revision (a ControllerRevision), registers revision n+1 only when it
differs, and rewrites status. A crash at any line is repaired by the next run.

The ECS API's RegisterTaskDefinition also sets a new request id on the object
(``registration.ecs.seed.dev/request``); a request no revision has recorded registers revision n+1
even for an unchanged spec (ECS registers a revision per call), and the revision records it, so a
re-run registers nothing. ``kubectl apply`` of an unchanged spec changes nothing and registers
nothing.
"""

from __future__ import annotations

import kopf
from pydantic import ValidationError

from .. import API_VERSION, GROUP, VERSION, k8s, metrics
from ..domain import revisions
from ..errors import validation_message
from ..models.generated import RegisterTaskDefinitionRequest
from ..state.families import list_family
from ..status import condition, format_warnings, merge_conditions, now_iso
from ..translate.taskdef import TranslationError, translate_task_definition
from . import wakeups
from ._locks import KeyedLocks

STATUS_REVISIONS = 20  # the newest revisions listed in status; all of them are ControllerRevisions


def family_of(spec: dict, name: str) -> str:
    return spec.get("family") or name


def load_spec(spec: dict, name: str) -> tuple[RegisterTaskDefinitionRequest, dict]:
    """Validate the spec; returns the model and its canonical form (the revision's content)."""
    model = RegisterTaskDefinitionRequest.model_validate(dict(spec))
    canonical = model.model_dump(mode="json", exclude_none=True)
    canonical["family"] = family_of(spec, name)
    return model, canonical


def _status_patch(
    body: dict,
    *,
    family: str,
    current: revisions.Revision | None,
    family_revs,
    conditions: list[dict],
    warnings: list[str],
) -> dict:
    status: dict = {
        "observedGeneration": body["metadata"].get("generation"),
        "family": family,
        "conditions": merge_conditions(body.get("status", {}).get("conditions"), conditions),
        "warnings": warnings,
    }
    if current is not None:
        status.update(
            {
                "revision": current.revision,
                "taskDefinitionArn": current.arn,
                "status": current.status,
                "registeredAt": current.registered_at,
            }
        )
    status["revisions"] = [
        {
            k: v
            for k, v in {
                "revision": r.revision,
                "status": r.status,
                "registeredAt": r.registered_at,
                "deregisteredAt": r.deregistered_at,
            }.items()
            if v is not None
        }
        for r in family_revs[-STATUS_REVISIONS:]
    ]
    return status


def reconcile(body: dict, logger) -> dict:
    """Register the spec (if new) and return the status to write."""
    md = body["metadata"]
    name, namespace, generation = md["name"], md["namespace"], md.get("generation")
    spec = body.get("spec") or {}
    family = family_of(spec, name)
    request = (md.get("annotations") or {}).get(revisions.ANNOTATION_REQUEST)
    now = now_iso()

    try:
        model, canonical = load_spec(spec, name)
        existing = list_family(namespace, family)
        plan = revisions.plan_registration(existing, canonical, request)
        translation = translate_task_definition(model, family=family, revision=plan.revision)
    except (ValidationError, TranslationError) as e:
        message = validation_message(e) if isinstance(e, ValidationError) else str(e)
        kopf.warn(body, reason="InvalidTaskDefinition", message=message)
        current = None
        existing = list_family(namespace, family)
        return _status_patch(
            body,
            family=family,
            current=existing[-1] if existing else None,
            family_revs=existing,
            warnings=[],
            conditions=[condition("Ready", False, "InvalidTaskDefinition", message, generation, now)],
        )

    if plan.create:
        # The API server validates the pod template before anything is registered, so an
        # invalid translation never becomes a revision (nothing is half-applied).
        try:
            k8s.dry_run_create(
                {
                    "apiVersion": "v1",
                    "kind": "PodTemplate",
                    "metadata": {"name": f"{revisions.revision_name(family, plan.revision)}", "namespace": namespace},
                    "template": translation.template,
                }
            )
        except k8s.ApiError as e:
            message = f"the Kubernetes API server refused the translated pod template: {e.message}"
            kopf.warn(body, reason="InvalidTaskDefinition", message=message)
            return _status_patch(
                body,
                family=family,
                current=existing[-1] if existing else None,
                family_revs=existing,
                warnings=[],
                conditions=[condition("Ready", False, "InvalidTaskDefinition", message, generation, now)],
            )
        owner = k8s.owner_of(body).as_dict(controller=False)
        k8s.create(
            revisions.controller_revision(
                namespace=namespace,
                family=family,
                revision=plan.revision,
                canonical_spec=canonical,
                registered_at=now,
                owner=owner,
                request=request,
            ),
            canonical=True,
        )
        logger.info(f"registered task definition {family}:{plan.revision}")
        kopf.info(body, reason="Registered", message=f"registered task definition {family}:{plan.revision}")
        warnings = format_warnings(translation.warnings)
        if warnings:
            kopf.warn(
                body, reason="TranslationWarning", message=f"{family}:{plan.revision}: " + "; ".join(warnings)[:900]
            )
        existing = list_family(namespace, family)

    current = next((r for r in existing if r.revision == plan.revision), None)
    warnings = format_warnings(translation.warnings)
    conditions = [
        condition(
            "Ready", True, "Registered", f"task definition {family}:{plan.revision} is registered", generation, now
        ),
        condition(
            "Translated",
            True,
            "TranslatedWithWarnings" if warnings else "Translated",
            ("Kubernetes cannot express: " + "; ".join(warnings))
            if warnings
            else "every field is expressed in the pod template",
            generation,
            now,
        ),
    ]
    return _status_patch(
        body, family=family, current=current, family_revs=existing, conditions=conditions, warnings=warnings
    )


# Status writers of one TaskDefinition (its handler, and revision events such as a
# deregistration) are serialised, and each recomputes from a fresh listing of the revisions, so
# the last write is never an older view.
_locks = KeyedLocks()


@kopf.on.resume(GROUP, VERSION, "taskdefinitions")
@kopf.on.create(GROUP, VERSION, "taskdefinitions")
# Any change kopf sees (spec, labels, annotations outside its prefix): the ECS API changes the spec
# and the registration request id together, and one run handles both (two field handlers would run
# twice); a label or annotation change alone is a cheap no-op run.
@kopf.on.update(GROUP, VERSION, "taskdefinitions")
@metrics.reconciled("TaskDefinition")
def taskdefinition_changed(body, logger, **_):
    md = body["metadata"]
    with _locks.hold(f"{md['namespace']}/{md['name']}"):
        status = reconcile(dict(body), logger)
        try:
            k8s.merge_patch(
                API_VERSION, "TaskDefinition", md["namespace"], md["name"], {"status": status}, subresource="status"
            )
        except k8s.ApiError as e:
            if e.status == 404:  # deleted while its handler ran: nothing to report, nobody to wake
                logger.debug(f"task definition {md['name']} is gone")
                return
            raise
    # A new revision of a family that services follow starts a new deployment of each of them
    # (reconciled here, in this process, rather than by writing to the services' objects).
    wakeups.changed("TaskDefinition", {"metadata": md, "status": status}, logger)


@kopf.on.event("apps", "v1", "controllerrevisions", labels={revisions.LABEL_KIND: revisions.KIND_VALUE})
@metrics.reconciled("TaskDefinition")
def revision_changed(body, logger, **_):
    """A revision was deregistered (label ecs.seed.dev/status=INACTIVE) or deleted: refresh the
    owning TaskDefinition's status."""
    for ref in body["metadata"].get("ownerReferences", []):
        if ref.get("kind") == "TaskDefinition":
            with _locks.hold(f"{body['metadata']['namespace']}/{ref['name']}"):
                _refresh_revisions(body["metadata"]["namespace"], ref["name"])


def _refresh_revisions(namespace: str, name: str) -> None:
    td = k8s.get(API_VERSION, "TaskDefinition", namespace, name)
    if td is None:
        return
    family = family_of(td.get("spec") or {}, name)
    existing = list_family(namespace, family)
    status = td.get("status") or {}
    current = next((r for r in existing if r.revision == status.get("revision")), None)
    if current is None:
        return
    revs = _status_patch(
        td, family=family, current=current, family_revs=existing, conditions=[], warnings=status.get("warnings", [])
    )["revisions"]
    k8s.merge_patch(
        API_VERSION,
        "TaskDefinition",
        namespace,
        name,
        {"status": {"status": current.status, "revisions": revs}},
        subresource="status",
    )
