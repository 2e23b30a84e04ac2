"""domain/revisions.plan_registration with RegisterTaskDefinition request ids: ECS registers a
revision per call (an identical spec too); a TaskDefinition stays level-based (a re-run, or an
unchanged spec without a new request, registers nothing)."""

from __future__ import annotations

import pytest
from ecs_operator.domain import revisions as r

A = {"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx"}]}
B = {"family": "web", "containerDefinitions": [{"name": "app", "image": "httpd"}]}


def _revs(*items: tuple[dict, str | None]) -> list[r.Revision]:
    crs = [
        r.controller_revision(
            namespace="ns",
            family="web",
            revision=i + 1,
            canonical_spec=spec,
            registered_at="2025-03-01T12:00:00Z",
            owner=None,
            request=request,
        )
        for i, (spec, request) in enumerate(items)
    ]
    for cr in crs:
        cr["metadata"]["creationTimestamp"] = "2025-03-01T12:00:00Z"
    return r.revisions_from(crs)


@pytest.mark.parametrize(
    ("existing", "spec", "request_id", "plan"),
    [
        ([], A, None, r.RegistrationPlan(1, True)),
        ([], A, "r1", r.RegistrationPlan(1, True)),
        # kubectl apply of the unchanged spec (no request id, or the id already handled): nothing
        ([(A, None)], A, None, r.RegistrationPlan(1, False)),
        ([(A, "r1")], A, "r1", r.RegistrationPlan(1, False)),
        ([(A, "r1")], A, None, r.RegistrationPlan(1, False)),
        # a new RegisterTaskDefinition call with the identical spec: a new revision, as ECS
        ([(A, "r1")], A, "r2", r.RegistrationPlan(2, True)),
        ([(A, None)], A, "r2", r.RegistrationPlan(2, True)),
        # a spec change registers whatever the request id (kubectl edits keep the last id)
        ([(A, "r1")], B, "r1", r.RegistrationPlan(2, True)),
        ([(A, "r1"), (B, "r1")], A, "r1", r.RegistrationPlan(3, True)),
        # a rolled-back spec brings back an id an older revision recorded: handled already
        ([(A, "r1"), (B, "r2"), (A, "r3")], A, "r1", r.RegistrationPlan(3, False)),
    ],
)
def test_plan_registration_with_requests(existing, spec, request_id, plan):
    assert r.plan_registration(_revs(*existing), spec, request_id) == plan


def test_the_revision_records_its_request():
    (rev,) = _revs((A, "r1"))
    assert rev.request == "r1"
    (rev,) = _revs((A, None))
    assert rev.request is None
