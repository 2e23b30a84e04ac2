"""versionConsistency against the real local registry (distribution) and a real kubelet: the
registry client resolves a tag to the digest the registry serves, the pinned pod template runs
``image@digest``, and containerd pulls exactly that digest (the pod's ``imageID``)."""

from __future__ import annotations

from ecs_operator.k8s.registry import RegistryClient
from ecs_operator.models.generated import RegisterTaskDefinitionRequest
from ecs_operator.state.images import resolve_images
from ecs_operator.translate.images import pin_template
from ecs_operator.translate.taskdef import translate_task_definition

from ..integration.kube import wait_for


def test_a_pinned_task_runs_the_digest_the_registry_resolved(cluster, core, namespace):
    registry = cluster.real_nodes(log=lambda m: None).registry
    image = f"{registry}/library/busybox:latest"
    td = RegisterTaskDefinitionRequest.model_validate(
        {
            "family": "pinned",
            "containerDefinitions": [
                {"name": "app", "image": image, "essential": True, "memory": 64, "command": ["sleep", "3600"]},
                {"name": "free", "image": image, "essential": False, "memory": 64, "versionConsistency": "disabled"},
            ],
        }
    )
    images = resolve_images(td, None, client=RegistryClient(insecure=[registry]))
    assert [(ci.container_name, ci.image) for ci in images] == [("app", image)], "disabled: not resolved"
    digest = images[0].image_digest
    assert digest and digest.startswith("sha256:"), images[0].reason

    translation = translate_task_definition(td, family="pinned", revision=1)
    template = pin_template(translation.template, translation.container_names, images)
    spec = template["spec"]
    spec["restartPolicy"] = "Never"
    spec["containers"][1]["command"] = ["sleep", "3600"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pinned"}, "spec": spec}
    core.create_namespaced_pod(namespace, pod)

    def running():
        p = core.read_namespaced_pod("pinned", namespace)
        return p if p.status.phase == "Running" and all(c.image_id for c in p.status.container_statuses or []) else None

    p = wait_for(running, timeout=120, desc="the pinned pod running")
    by_name = {c.name: c for c in p.spec.containers}
    assert by_name["app"].image == f"{image}@{digest}"
    assert by_name["free"].image == image, "versionConsistency disabled: runs the tag"
    pulled = {c.name: c.image_id for c in p.status.container_statuses}
    assert pulled["app"].endswith(f"@{digest}"), pulled
    assert pulled["free"].endswith(f"@{digest}"), "the same tag, pulled by name, is the same image"
