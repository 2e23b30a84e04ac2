"""Install it the way users do: the operator image built from the Dockerfile (hack/build-image.sh,
buildah), `helm install charts/ecs-operator` with default values except the image, into a
namespace that enforces the restricted Pod Security Standard, on a cluster whose only worker is
a real node. The chart's operator, extender and ecs-scheduler run as pods from their images;
the example ECS service is placed by the chart's ecs-scheduler and answers HTTP.

This module has its own cluster (``ecs-chart``): the chart's operator watches every namespace,
so no other operator may run beside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from ..cluster_fixtures import REPO, session_cluster
from ..integration.kube import wait_for

CHART = REPO / "charts" / "ecs-operator"
NS = "ecs-system"


def _run(*cmd: str, timeout: float = 900) -> str:
    proc = subprocess.run(list(cmd), text=True, capture_output=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd[:4])} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def chart_cluster():
    name = os.environ.get("ECS_OPERATOR_CHART_CLUSTER", "ecs-chart")
    with session_cluster(name, "chart cluster with 1 real node", nodes=[], real_nodes=1) as c:
        real = c.real_nodes(log=lambda m: None)
        yield c, real.registry
    if not os.environ.get("ECS_OPERATOR_KEEP_CLUSTER"):
        left = real.leftovers()
        assert not left, f"`down` left these behind: {left}"


@pytest.fixture(scope="module")
def tools(chart_cluster):
    from ecs_operator.dev.cluster import bin_dir

    cluster, registry = chart_cluster
    kc = str(cluster.kubeconfig)
    bins = bin_dir()

    def kubectl(*args: str) -> str:
        return _run(str(bins / "kubectl"), "--kubeconfig", kc, *args)

    def helm(*args: str) -> str:
        return _run(str(bins / "helm"), "--kubeconfig", kc, *args)

    return kubectl, helm, registry


def build_and_push(registry: str, tag: str) -> str:
    t0 = time.monotonic()
    _run("bash", str(REPO / "hack" / "build-image.sh"), "--tag", tag, "--push", registry, timeout=1200)
    print(f"\nimage ecs-operator:{tag} built and pushed in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    return f"{registry}/ecs-operator"


def chart_pods(kubectl) -> dict[str, dict]:
    pods = json.loads(kubectl("get", "pods", "-n", NS, "-o", "json"))["items"]
    return {
        p["metadata"]["labels"]["app.kubernetes.io/component"]: p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
    }


def ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def service_pods(kubectl, ns: str) -> list[dict]:
    out = kubectl("get", "pods", "-n", ns, "-l", "ecs.seed.dev/service=webserver", "-o", "json")
    return [p for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")]


def fetch_page(kubectl, ns: str, tmp_path) -> str:
    """The demo's client task (dev/demo.py FETCH, RunTask through the chart's operator) fetches
    the example's page by the Service's DNS name and prints it."""
    from ecs_operator.dev.demo import FETCH

    manifest = tmp_path / "fetch-page.yaml"
    manifest.write_text(FETCH % {"url": f"http://webserver.{ns}.svc.cluster.local/"})
    kubectl("apply", "-n", ns, "-f", str(manifest))
    kubectl("wait", "-n", ns, "--for=jsonpath={.status.lastStatus}=STOPPED", "--timeout=180s", "ecstask/fetch-page")
    return kubectl("logs", "-n", ns, "fetch-page-0", "-c", "client")


def image_facts(image: str) -> tuple[str, str, str]:
    """(user, size, compilers found) of a local buildah image."""
    user = _run("buildah", "inspect", "--type", "image", "--format", "{{.OCIv1.Config.User}}", image).strip()
    size = _run("buildah", "images", "--format", "{{.Size}}", image).strip().splitlines()[0]
    ctr = _run("buildah", "from", "--pull-never", image).strip()
    try:
        found = subprocess.run(
            [
                "buildah",
                "run",
                "--isolation",
                "chroot",
                ctr,
                "--",
                "/bin/sh",
                "-c",
                "for c in gcc cc g++ c++ clang make ld as; do command -v $c; done; true",
            ],
            text=True,
            capture_output=True,
        ).stdout.strip()
    finally:
        subprocess.run(["buildah", "rm", ctr], capture_output=True)
    return user, size, found


def test_helm_install_upgrade_and_uninstall_on_a_real_node(tools, tmp_path):
    kubectl, helm, registry = tools
    repo = build_and_push(registry, "e2e-1")
    user, size, compilers = image_facts("localhost/ecs-operator:e2e-1")
    print(f"\nimage localhost/ecs-operator:e2e-1: {size}, user {user}", file=sys.stderr)
    assert user == "65532:65532" and not compilers, (user, compilers)
    kubectl("create", "namespace", NS)
    kubectl(
        "label", "namespace", NS, *(f"pod-security.kubernetes.io/{m}=restricted" for m in ("enforce", "warn", "audit"))
    )
    t0 = time.monotonic()
    out = helm(
        "install",
        "ecs-operator",
        str(CHART),
        "-n",
        NS,
        "--set",
        f"image.repository={repo}",
        "--set",
        "image.tag=e2e-1",
        "--set",
        "image.pullPolicy=Always",
        "--wait",
        "--timeout",
        "300s",
    )
    assert "STATUS: deployed" in out
    pods = chart_pods(kubectl)
    assert sorted(pods) == ["extender", "operator", "scheduler"]
    for component, pod in pods.items():
        assert ready(pod), f"{component} not Ready (its readiness probe)"
        assert pod["spec"]["nodeName"] == "real-1", f"{component} runs on the real node"
        (c,) = pod["status"]["containerStatuses"]
        assert c["state"].get("running") and c["restartCount"] == 0, (component, c)
        assert pod["spec"]["containers"][0]["livenessProbe"], component
    assert pods["operator"]["spec"]["containers"][0]["image"] == f"{repo}:e2e-1"
    assert pods["scheduler"]["status"]["containerStatuses"][0]["image"].endswith("kube-scheduler:v1.36.3")

    # the example, applied as a user applies it, runs real httpd placed by the chart's scheduler
    app = f"demo-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", app)
    kubectl("apply", "-n", app, "-f", str(REPO / "examples" / "webserver.yaml"))
    kubectl("wait", "-n", app, "--for=condition=Ready", "--timeout=300s", "ecsservice/webserver")
    print(f"\nhelm install -> example steady state: {time.monotonic() - t0:.1f}s", file=sys.stderr)
    before = service_pods(kubectl, app)
    assert len(before) == 3
    assert {p["spec"]["schedulerName"] for p in before} == {"ecs-scheduler"}, "placed by the chart's scheduler"
    assert all(ready(p) for p in before)
    assert "Amazon ECS Sample App" in fetch_page(kubectl, app, tmp_path)

    # helm upgrade to a new image tag rolls the operator, not the ECS service
    repo2 = build_and_push(registry, "e2e-2")
    helm(
        "upgrade",
        "ecs-operator",
        str(CHART),
        "-n",
        NS,
        "--set",
        f"image.repository={repo2}",
        "--set",
        "image.tag=e2e-2",
        "--set",
        "image.pullPolicy=Always",
        "--wait",
        "--timeout",
        "300s",
    )
    wait_for(
        lambda: (
            lambda p: (
                p.get("operator")
                and ready(p["operator"])
                and p["operator"]["spec"]["containers"][0]["image"].endswith(":e2e-2")
            )
        )(chart_pods(kubectl)),
        timeout=180,
        desc="the operator rolled to e2e-2",
    )
    after = service_pods(kubectl, app)
    assert {p["metadata"]["uid"] for p in after} == {p["metadata"]["uid"] for p in before}, "tasks undisturbed"
    assert all(p["status"]["containerStatuses"][0]["restartCount"] == 0 for p in after)
    # the new operator reconciles: scale the service
    kubectl("scale", "-n", app, "ecsservice/webserver", "--replicas=4")
    wait_for(
        lambda: len([p for p in service_pods(kubectl, app) if ready(p)]) == 4,
        timeout=180,
        desc="4 tasks after the upgrade",
    )

    # helm uninstall: the chart's objects go; CRDs, ECS objects and their workloads stay
    helm("uninstall", "ecs-operator", "-n", NS, "--wait", "--timeout", "120s")
    wait_for(lambda: not chart_pods(kubectl), timeout=120, desc="chart pods gone")
    assert "taskdefinitions.ecs.seed.dev" in kubectl("get", "crds", "-o", "name")
    assert "ecsservice.ecs.seed.dev/webserver" in kubectl("get", "ecsservices", "-n", app, "-o", "name")
    assert len(service_pods(kubectl, app)) == 4, "the service's tasks keep running without the operator"
