"""TaskDefinition end to end: revisions as ECS has them, and every published example either
registered (its pod template accepted by the real API server) or refused naming the field."""

from __future__ import annotations

import json

import kubernetes
import pytest
from ecs_operator.convert import to_resource
from ecs_operator.translate.taskdef import register_input_from_ecs_json

from .kube import wait_for

G, V = "ecs.seed.dev", "v1alpha1"


def td(name: str, image: str = "nginx:1.27", **extra) -> dict:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "TaskDefinition",
        "metadata": {"name": name},
        "spec": {
            "family": name,
            "containerDefinitions": [
                {"name": "web", "image": image, "memory": 128, "portMappings": [{"containerPort": 80}]}
            ],
            **extra,
        },
    }


def get(custom, ns, plural, name):
    return custom.get_namespaced_custom_object(G, V, ns, plural, name)


def ready(obj) -> dict | None:
    for c in obj.get("status", {}).get("conditions", []):
        if c["type"] == "Ready":
            return c
    return None


def wait_ready(custom, ns, plural, name, status="True", timeout=60, reason=None):
    """The Ready condition once it has ``status`` for the current generation (and ``reason``,
    when given: a service created with its task definition may first wait for the revision)."""

    def check():
        c = ready(get(custom, ns, plural, name))
        return (
            c
            if c
            and c["status"] == status
            and (reason is None or c.get("reason") == reason)
            and c.get("observedGeneration") == get(custom, ns, plural, name)["metadata"]["generation"]
            else None
        )

    return wait_for(check, timeout=timeout, desc=f"{plural}/{name} Ready={status}" + (f" ({reason})" if reason else ""))


def revisions_of(apps, ns, family):
    crs = apps.list_namespaced_controller_revision(
        ns, label_selector=f"ecs.seed.dev/revision-of=taskdefinition,ecs.seed.dev/family={family}"
    ).items
    return sorted(cr.revision for cr in crs)


def test_each_spec_change_registers_the_next_immutable_revision(custom, apps, namespace, operator):
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("web"))
    wait_ready(custom, namespace, "taskdefinitions", "web")
    st = get(custom, namespace, "taskdefinitions", "web")["status"]
    assert (st["revision"], st["taskDefinitionArn"], st["status"]) == (1, "web:1", "ACTIVE")
    assert st["registeredAt"]
    assert revisions_of(apps, namespace, "web") == [1]

    custom.patch_namespaced_custom_object(
        G,
        V,
        namespace,
        "taskdefinitions",
        "web",
        {"spec": {"containerDefinitions": [{"name": "web", "image": "nginx:1.28", "memory": 128}]}},
    )
    wait_for(
        lambda: get(custom, namespace, "taskdefinitions", "web")["status"].get("revision") == 2,
        timeout=60,
        desc="revision 2",
    )
    assert revisions_of(apps, namespace, "web") == [1, 2]
    cr1 = apps.read_namespaced_controller_revision("web-1", namespace)
    assert cr1.data["spec"]["containerDefinitions"][0]["image"] == "nginx:1.27", "revision 1 kept unchanged"
    # the API server itself refuses to change a registered revision's content
    tampered = apps.read_namespaced_controller_revision("web-1", namespace)
    tampered.data["spec"]["containerDefinitions"][0]["image"] = "evil:1"
    with pytest.raises(kubernetes.client.ApiException, match="(?i)immutable|forbidden|invalid") as e:
        apps.replace_namespaced_controller_revision("web-1", namespace, tampered)
    assert e.value.status == 422

    # a label change (not spec) registers nothing
    custom.patch_namespaced_custom_object(
        G, V, namespace, "taskdefinitions", "web", {"metadata": {"labels": {"x": "y"}}}
    )
    wait_ready(custom, namespace, "taskdefinitions", "web")
    assert revisions_of(apps, namespace, "web") == [1, 2]


def test_deregistered_revision_shows_inactive(custom, apps, namespace, operator, kubectl):
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", td("api"))
    wait_ready(custom, namespace, "taskdefinitions", "api")
    # DeregisterTaskDefinition: label the revision INACTIVE (documented in the README)
    kubectl("-n", namespace, "label", "controllerrevision", "api-1", "ecs.seed.dev/status=INACTIVE", "--overwrite")
    wait_for(
        lambda: get(custom, namespace, "taskdefinitions", "api")["status"].get("status") == "INACTIVE",
        timeout=30,
        desc="status INACTIVE",
    )
    assert get(custom, namespace, "taskdefinitions", "api")["status"]["revisions"][0]["status"] == "INACTIVE"


def test_inconsistent_task_definition_is_refused_naming_the_field(custom, apps, namespace, operator):
    bad = td("broken")
    bad["spec"]["containerDefinitions"][0]["mountPoints"] = [{"sourceVolume": "missing", "containerPath": "/data"}]
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", bad)
    c = wait_ready(custom, namespace, "taskdefinitions", "broken", status="False")
    assert c["reason"] == "InvalidTaskDefinition"
    assert "mountPoints" in c["message"] and "missing" in c["message"]
    assert revisions_of(apps, namespace, "broken") == [], "nothing registered"


def _example_resources(examples):
    for path in sorted((examples / "taskdefs").glob("*.json")):
        spec = register_input_from_ecs_json(json.loads(path.read_text()))
        name = path.stem.lower().replace("_", "-")[:50]
        spec["family"] = spec.get("family") or name
        yield path.name, name, spec


def test_every_published_task_definition_is_registered_or_refused_with_the_field(
    custom, namespace, operator, examples, kubectl
):
    outcomes = {}
    for fname, name, spec in _example_resources(examples):
        res = to_resource("TaskDefinition", spec, namespace)
        res["metadata"]["name"] = name
        proc = kubectl("apply", "--server-side", "-f", "-", input=json.dumps(res), check=False)
        if proc.returncode != 0:  # refused at admission (CRD schema / CEL): must name the field
            assert "spec" in proc.stderr, proc.stderr
            outcomes[fname] = f"refused at admission: {proc.stderr.strip()[:200]}"
            continue
        outcomes[fname] = name
    results = {}
    for fname, name in outcomes.items():
        if name.startswith("refused"):
            results[fname] = name
            continue
        c = wait_for(
            lambda: ready(get(custom, namespace, "taskdefinitions", name)), timeout=60, desc=f"{name} reconciled"
        )
        if c["status"] == "True":
            st = get(custom, namespace, "taskdefinitions", name)["status"]
            results[fname] = f"registered {st['taskDefinitionArn']} ({len(st.get('warnings', []))} warnings)"
        else:
            assert c["reason"] == "InvalidTaskDefinition" and ":" in c["message"], c
            results[fname] = f"refused: {c['message'][:200]}"
    print("\n" + "\n".join(f"  {k}: {v}" for k, v in sorted(results.items())))
    assert len(results) == len(list((examples / "taskdefs").glob("*.json")))


@pytest.mark.parametrize("value, admitted", [("0.25", True), ("2", True), ("two", False), ("0", False)])
def test_gpu_counts_admission_and_translation_agree(custom, namespace, operator, value, admitted):
    body = td(f"gpu-{value.replace('.', '-')}")
    body["spec"]["containerDefinitions"][0]["resourceRequirements"] = [{"type": "GPU", "value": value}]
    if not admitted:
        with pytest.raises(kubernetes.client.ApiException) as e:
            custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", body)
        assert e.value.status == 422 and "containerDefinitions.resourceRequirements.value" in e.value.body
        return
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", body)
    wait_ready(custom, namespace, "taskdefinitions", body["metadata"]["name"])  # registered, not refused
