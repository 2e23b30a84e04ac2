"""Everything the translator accepts, the real API server accepts: hypothesis-generated task
definitions (the unit tests' strategies), each translated pod template checked by a
server-side dry run of a PodTemplate."""

from __future__ import annotations

import os

from ecs_operator import k8s
from ecs_operator.models.generated import RegisterTaskDefinitionRequest
from ecs_operator.translate.taskdef import TranslationError, translate_task_definition
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

from ..unit.test_translate_taskdef_hypothesis import task_definitions, wild_task_definitions

EXAMPLES = int(os.environ.get("ECS_OPERATOR_DRYRUN_EXAMPLES", "150"))


def _dry_run(d: dict, namespace: str) -> None:
    try:
        model = RegisterTaskDefinitionRequest.model_validate(d)
        t = translate_task_definition(model, family=model.family or "generated", revision=1)
    except (ValidationError, TranslationError):
        return  # refused before reaching Kubernetes, with the field named (unit-tested)
    try:
        k8s.dry_run_create(
            {
                "apiVersion": "v1",
                "kind": "PodTemplate",
                "metadata": {"name": "generated-1", "namespace": namespace},
                "template": t.template,
            }
        )
        for obj in t.objects:
            k8s.dry_run_create({**obj, "metadata": {**obj["metadata"], "namespace": namespace}})
    except k8s.ApiError as e:
        raise AssertionError(f"API server refused the translation of {d}: {e}") from e


def test_generated_task_definitions_translate_into_objects_the_api_server_accepts(kubeconfig, namespace, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    k8s._configuration = None  # load this cluster's kubeconfig
    k8s._local.__dict__.clear()

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(task_definitions())
    def schema_valid(d):
        _dry_run(d, namespace)

    @settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=list(HealthCheck))
    @given(wild_task_definitions())
    def wild(d):
        _dry_run(d, namespace)

    schema_valid()
    wild()
