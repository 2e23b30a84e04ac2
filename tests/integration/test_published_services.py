"""Every published service in ../shared/ecs-examples/services/, applied with a suitable task
definition, reaches a steady state on the real control plane (or is refused naming the field).

Template placeholders (``${ClusterName}``, ``<SERVICE_NAME>``...) are filled in as a user would;
a task definition each service can run is registered first (the published one where the
examples include it)."""

from __future__ import annotations

import json
import re

import kubernetes
from ecs_operator.convert import ecs_documents
from ecs_operator.translate.taskdef import register_input_from_ecs_json

from .kube import wait_for
from .test_taskdefinition import G, V, get, ready

# Published services CreateService itself refuses: the field the admission error names.
REFUSED = {"ecspresso-ci-capacityprovider-fargate-spot.json": "desiredCount: desiredCount is required"}
PLACEHOLDER = re.compile(r"^(\$\{.*\}|<.*>)$")


def _td(family: str, container: str, port: int) -> dict:
    return {
        "family": family,
        "containerDefinitions": [
            {
                "name": container,
                "image": "public.ecr.aws/docker/library/nginx:latest",
                "memory": 128,
                "portMappings": [{"containerPort": port}],
            }
        ],
    }


# service file -> (task definition spec to register, family the service should use)
def suitable_task_definitions(examples) -> dict[str, dict]:
    taskdefs = examples / "taskdefs"

    def published(name: str, family: str | None = None) -> dict:
        spec = register_input_from_ecs_json(json.loads((taskdefs / name).read_text()))
        if family:
            spec["family"] = family
        return spec

    return {
        "awsdocs-ecs-service-discovery-fargate.json": published("awsdocs-webserver-fargate.json", "tutorial-task-def"),
        "botocore-create-service-elb.json": _td("console-sample-app-static", "simple-app", 80),
        "botocore-create-service-simple.json": published("botocore-describe-hello_world-wordpress-links.json"),
        "cpatterns-web-ec2-capacityprovider-spread-binpack.json": _td("web", "web", 80),
        "cwci-cwagent-daemon-service.json": _td("cwagent", "cloudwatch-agent", 8125),
        "ecspresso-ci-capacityprovider-fargate-spot.json": published("ecspresso-ci-fargate-secrets-ephemeral.json"),
        "harness-delegate-service-spread-az-instance.json": _td("harness-delegate-task-spec", "ecs-delegate", 8080),
        "tfdocs-mongo-binpack-memberof-alb.json": _td("mongo", "mongo", 8080),
    }


def fill_placeholders(spec: dict, family: str) -> dict:
    spec = dict(spec)
    spec["taskDefinition"] = family
    if not spec.get("serviceName") or PLACEHOLDER.match(spec["serviceName"]):
        spec["serviceName"] = f"{family}-svc"
    if spec.get("cluster") and PLACEHOLDER.match(spec["cluster"]):
        spec["cluster"] = "default"
    if spec.get("role") and PLACEHOLDER.match(spec["role"]):
        del spec["role"]
    for item in spec.get("capacityProviderStrategy") or []:
        if PLACEHOLDER.match(item.get("capacityProvider", "")):
            item["capacityProvider"] = "ec2-pool"  # created by the test as a node pool
    for lb in spec.get("loadBalancers") or []:
        for k in ("targetGroupArn",):
            if lb.get(k) and PLACEHOLDER.match(lb[k]):
                lb[k] = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/example/0123456789abcdef"
    return spec


def test_every_published_service_runs_with_a_suitable_task_definition(custom, core, namespace, operator, examples):
    suitable = suitable_task_definitions(examples)
    files = sorted((examples / "services").glob("*.json"))
    assert set(suitable) == {f.name for f in files}, "a new published service needs a task definition here"
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "capacityproviders",
        {
            "apiVersion": f"{G}/{V}",
            "kind": "CapacityProvider",
            "metadata": {"name": "ec2-pool"},
            "spec": {
                "autoScalingGroupProvider": {
                    "autoScalingGroupArn": "arn:aws:autoscaling:us-east-1:1:autoScalingGroup:x"
                },
                "kubernetes": {"nodeSelector": {"type": "kwok"}},
            },
        },
    )
    names = {}
    clusters: set[str] = set()
    for f in files:
        td_spec = suitable[f.name]
        family = td_spec["family"]
        ((_, svc_spec),) = ecs_documents(json.loads(f.read_text()))
        svc_spec = fill_placeholders(svc_spec, family)
        if svc_spec.get("desiredCount", 0) > 4:
            svc_spec["desiredCount"] = 4  # keep the local cluster small; the count itself is not under test
        name = re.sub(r"[^a-z0-9-]", "-", svc_spec["serviceName"].lower())[:50]
        names[f.name] = name
        td_name = re.sub(r"[^a-z0-9-]", "-", family.lower())
        try:
            custom.create_namespaced_custom_object(
                G,
                V,
                namespace,
                "taskdefinitions",
                {"apiVersion": f"{G}/{V}", "kind": "TaskDefinition", "metadata": {"name": td_name}, "spec": td_spec},
            )
        except Exception as e:  # the same family used twice
            assert "AlreadyExists" in str(e), e
        cluster = svc_spec.get("cluster") or "default"
        if cluster != "default" and cluster not in clusters:  # as a user creates the cluster first
            clusters.add(cluster)
            custom.create_namespaced_custom_object(
                G,
                V,
                namespace,
                "ecsclusters",
                {
                    "apiVersion": f"{G}/{V}",
                    "kind": "ECSCluster",
                    "metadata": {"name": cluster},
                    "spec": {"clusterName": cluster},
                },
            )
        try:
            custom.create_namespaced_custom_object(
                G,
                V,
                namespace,
                "ecsservices",
                {"apiVersion": f"{G}/{V}", "kind": "ECSService", "metadata": {"name": name}, "spec": svc_spec},
            )
        except kubernetes.client.ApiException as e:
            # what CreateService refuses is refused at admission, naming the field
            assert f.name in REFUSED and e.status == 422 and REFUSED[f.name] in e.body, (f.name, e.body)
            del names[f.name]

    # tfdocs mongo: memberOf attribute:ecs.availability-zone in [us-west-2a, us-west-2b]; the local
    # cluster's container instances are in us-east-1: as on ECS, its tasks cannot be placed.
    unplaceable = "tfdocs-mongo-binpack-memberof-alb.json"
    msg = "(service mongodb) was unable to place a task because no container instance met all of its requirements."
    # (the event comes with the first unplaceable task; the status catches up with all three)
    st = wait_for(
        lambda: (
            lambda st: (
                st if any(e["message"] == msg for e in st.get("events", [])) and st.get("pendingCount") == 3 else None
            )
        )(get(custom, namespace, "ecsservices", names[unplaceable]).get("status", {})),
        timeout=90,
        desc="mongodb: unable to place its 3 tasks",
    )
    assert (
        st["runningCount"] == 0
        and st["pendingCount"] == 3
        and ready(get(custom, namespace, "ecsservices", names[unplaceable]))["status"] == "False"
    )
    del names[unplaceable]

    outcomes = {}
    for fname, name in names.items():
        c = wait_for(
            lambda: (
                lambda c: (
                    c
                    if c
                    and (
                        c["status"] == "True" or c["reason"] != "NotSteady" and c["reason"] != "TaskDefinitionNotFound"
                    )
                    else None
                )
            )(ready(get(custom, namespace, "ecsservices", name))),
            timeout=120,
            desc=f"{fname} settled",
        )
        st = get(custom, namespace, "ecsservices", name)["status"]
        translated = next((x for x in st.get("conditions", []) if x["type"] == "Translated"), {})
        outcomes[fname] = (
            c["status"],
            c["reason"],
            st.get("runningCount"),
            st.get("desiredCount"),
            translated.get("message", "")[:160],
        )
    print("\n" + "\n".join(f"  {k}: Ready={v[0]} ({v[1]}) running {v[2]}/{v[3]}; {v[4]}" for k, v in outcomes.items()))
    assert not set(REFUSED) & set(names), "refused services were created"
    for fname, (status, reason, running, desired, _) in outcomes.items():
        assert status == "True", f"{fname}: {reason}"
        assert running == desired
    # loadBalancers became a Service selecting the tasks; serviceRegistries a headless Service
    svcs = {s.metadata.name: s for s in core.list_namespaced_service(namespace).items}
    elb = svcs[names["botocore-create-service-elb.json"]]
    assert elb.spec.ports[0].target_port == 80 and elb.spec.selector == {
        "ecs.seed.dev/service": names["botocore-create-service-elb.json"]
    }
    sd = svcs[names["awsdocs-ecs-service-discovery-fargate.json"][:53] + "-discovery"]
    assert sd.spec.cluster_ip == "None"
