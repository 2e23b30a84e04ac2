import pytest
from ecs_operator.domain import revisions as r


def test_parse_reference_forms():
    assert r.parse_reference("web") == r.TaskDefinitionRef("web", None)
    assert r.parse_reference("web:3") == r.TaskDefinitionRef("web", 3)
    assert r.parse_reference("arn:aws:ecs:us-east-1:012345678910:task-definition/hello_world:8") == r.TaskDefinitionRef(
        "hello_world", 8
    )


@pytest.mark.parametrize("bad", ["", "web:0", "web:x", "we b", "a" * 256])
def test_parse_reference_rejects_with_field_name(bad):
    with pytest.raises(r.ReferenceError_, match="taskDefinition"):
        r.parse_reference(bad)


def _cr(family, rev, spec, status=r.ACTIVE):
    cr = r.controller_revision(
        namespace="ns",
        family=family,
        revision=rev,
        canonical_spec=spec,
        registered_at="2026-01-01T00:00:00Z",
        owner=None,
    )
    cr["metadata"]["labels"][r.LABEL_STATUS] = status
    return cr


def test_plan_is_idempotent_for_the_latest_spec_and_registers_n_plus_one_otherwise():
    a, b = {"family": "web", "x": 1}, {"family": "web", "x": 2}
    assert r.plan_registration([], a) == r.RegistrationPlan(1, True)
    revs = r.revisions_from([_cr("web", 1, a)])
    assert r.plan_registration(revs, a) == r.RegistrationPlan(1, False)
    assert r.plan_registration(revs, b) == r.RegistrationPlan(2, True)
    # going back to older content registers a new revision, as ECS does
    revs = r.revisions_from([_cr("web", 1, a), _cr("web", 2, b)])
    assert r.plan_registration(revs, a) == r.RegistrationPlan(3, True)


def test_resolve_latest_active_and_explicit_revisions():
    revs = r.revisions_from(
        [_cr("web", 1, {"v": 1}), _cr("web", 2, {"v": 2}, r.INACTIVE), _cr("web", 3, {"v": 3}, r.INACTIVE)]
    )
    assert r.resolve(revs, r.TaskDefinitionRef("web", None)).revision == 1
    assert r.resolve(revs, r.TaskDefinitionRef("web", 3)).status == r.INACTIVE
    assert r.resolve(revs, r.TaskDefinitionRef("web", 9)) is None


def test_names_and_labels_are_valid_kubernetes_names():
    long = "Family_" + "x" * 250
    assert len(r.family_label(long)) <= 63
    assert r.family_label("hello_world") == "hello_world"
    name = r.revision_name(long, 12)
    assert len(name) <= 253 and name.endswith("-12") and name == name.lower()
    assert r.revision_name("hello_world", 1) != r.revision_name("hello-world", 1)


def test_daemonset_controller_revisions_are_not_task_definition_revisions():
    ours = _cr("agent", 1, {"v": 1})
    daemonset_history = {
        "metadata": {"name": "agent-7c9d", "labels": {r.LABEL_FAMILY: "agent"}},
        "revision": 1,
        "data": {"spec": {"template": {}}},
    }
    assert [x.name for x in r.revisions_from([ours, daemonset_history])] == ["agent-1"]
    assert r.family_selector("agent") == {r.LABEL_KIND: r.KIND_VALUE, r.LABEL_FAMILY: "agent"}
