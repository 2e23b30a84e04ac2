"""Install it the way users do: the operator image built from the Dockerfile (hack/build-image.sh,
buildah), `helm install charts/ecs-operator` with default values except the image, into a
namespace that enforces the restricted Pod Security Standard, on a cluster whose only worker is
a real node. The chart's operator, extender and ecs-scheduler run as pods from their images;
the example ECS service is placed by the chart's ecs-scheduler and answers HTTP.
With `api.enabled`, the ECS API endpoint runs from the same image behind its HTTPS Service and
boto3 deploys through it.

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

from .. import api_support
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


# -- the ECS API endpoint (api.enabled) --------------------------------------------------------------

API_USER = "ecs-e2e-deployer"
API_SECRET = "e2e-secret-Abc123/xyz"
ACCOUNT = "210987654321"


def self_signed_cert(tmp_path, service: str) -> tuple[str, str]:
    """(certificate, key) files of a self-signed ECDSA certificate for the Service's DNS names
    and the loopback (the port-forward), made with the openssl CLI."""
    crt, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    names = [service, f"{service}.{NS}", f"{service}.{NS}.svc", f"{service}.{NS}.svc.cluster.local", "localhost"]
    san = ",".join([*(f"DNS:{n}" for n in names), "IP:127.0.0.1"])
    _run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN={service}",
        "-addext",
        f"subjectAltName={san}",
        "-keyout",
        str(key),
        "-out",
        str(crt),
    )
    return str(crt), str(key)


def create_key(kubeconfig: str, key_id: str, namespace: str, user: str) -> None:
    api_support.create_key(
        kubeconfig, key_id=key_id, namespace=namespace, user=user, keys_namespace=NS, secret=API_SECRET, account=ACCOUNT
    )


class PortForward:
    """`kubectl port-forward` of a Service's port to a loopback port, for the test's duration."""

    def __init__(self, kubectl_exe: str, kubeconfig: str, target: str, remote_port: int):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [
                kubectl_exe,
                "--kubeconfig",
                kubeconfig,
                "port-forward",
                "-n",
                NS,
                target,
                f"{self.port}:{remote_port}",
                "--address",
                "127.0.0.1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        assert "Forwarding from" in line, f"kubectl port-forward: {line}"

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def test_helm_install_with_the_ecs_api_and_boto3_through_its_service(chart_cluster, tools, tmp_path, monkeypatch):
    """`helm install --set api.enabled=true` with a TLS Secret: the endpoint runs from the
    operator image on the real node, answers /healthz on the Service's ClusterIP over TLS (from
    inside the node, through kube-proxy), and boto3 -- pointed at it only by AWS_ENDPOINT_URL_ECS
    and AWS_CA_BUNDLE, through `kubectl port-forward svc/...` -- lists, creates and describes
    clusters and registers a task definition as a key made by `ecs-operator api keys create`, whose
    user's RBAC in its namespace comes from the chart's api.keyIdentities (no hand-written Role).
    Its ServiceAccount reads Secrets only in the release namespace and impersonates only the
    listed user: a key of another user is AccessDeniedException."""
    import botocore.exceptions
    from ecs_operator.dev.cluster import bin_dir
    from ecs_operator.dev.realnode import NodeNet

    cluster, _ = chart_cluster
    kubectl, helm, registry = tools
    kc = str(cluster.kubeconfig)
    repo = build_and_push(registry, "e2e-api")
    if "namespace/" + NS not in kubectl("get", "namespaces", "-o", "name").split():
        kubectl("create", "namespace", NS)
    kubectl("label", "--overwrite", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted")
    service = "ecs-operator-api"
    crt, key = self_signed_cert(tmp_path, service)
    kubectl("create", "secret", "tls", "ecs-api-tls", "-n", NS, "--cert", crt, "--key", key)
    team = f"team-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", team)

    t0 = time.monotonic()
    try:
        helm(
            "install",
            "ecs-operator",
            str(CHART),
            "-n",
            NS,
            "--set",
            f"image.repository={repo}",
            "--set",
            "image.tag=e2e-api",
            "--set",
            "image.pullPolicy=Always",
            "--set",
            "api.enabled=true",
            "--set",
            "api.tls.secretName=ecs-api-tls",
            # the key user's RBAC in its namespace and its impersonation, from the chart alone
            "--set",
            f"api.keyIdentities[0].namespace={team}",
            "--set",
            f"api.keyIdentities[0].user={API_USER}",
            "--wait",
            "--timeout",
            "300s",
        )
    except AssertionError as e:  # helm --wait timed out: say which pod was not ready, and why
        pods = kubectl("get", "pods", "-n", NS, "-o", "wide")
        events = kubectl("get", "events", "-n", NS, "--sort-by=.lastTimestamp")
        raise AssertionError(
            f"{e}\n--- pods ---\n{pods}\n--- events (last 40) ---\n" + "\n".join(events.splitlines()[-40:])
        ) from None
    forward = None
    try:
        pods = chart_pods(kubectl)
        assert sorted(pods) == ["api", "extender", "operator", "scheduler"]
        api_pod = pods["api"]
        assert ready(api_pod) and api_pod["spec"]["nodeName"] == "real-1"
        (c,) = api_pod["status"]["containerStatuses"]
        assert c["state"].get("running") and c["restartCount"] == 0, c
        assert api_pod["spec"]["containers"][0]["image"] == f"{repo}:e2e-api"
        print(f"\nhelm install with api.enabled -> Ready: {time.monotonic() - t0:.1f}s", file=sys.stderr)

        # the Service: 443 -> the container's HTTPS port, TLS with the Secret's certificate,
        # reached on its ClusterIP from inside the node (kube-proxy's rules)
        ip = kubectl("get", "service", "-n", NS, service, "-o", "jsonpath={.spec.clusterIP}").strip()
        netns = NodeNet(cluster.name, 1).netns
        host = f"{service}.{NS}.svc"
        curl = ["nsenter", f"--net=/run/netns/{netns}", "curl", "-sS", "--max-time", "5", "--cacert", crt]
        curl += ["--resolve", f"{host}:443:{ip}", f"https://{host}/healthz"]
        wait_for(
            lambda: subprocess.run(curl, text=True, capture_output=True).stdout.strip() == "ok",
            timeout=60,
            desc="https://<service>/healthz on the ClusterIP",
        )

        # the endpoint's own identity: the keys namespace's Secrets and the listed user, nothing else
        def can(*args: str, who: str = f"system:serviceaccount:{NS}:{service}") -> bool:
            proc = subprocess.run(
                [str(bin_dir() / "kubectl"), "--kubeconfig", kc, "auth", "can-i", "--as", who, *args],
                text=True,
                capture_output=True,
            )
            return proc.stdout.strip() == "yes"

        assert can("list", "secrets", "-n", NS) and can("impersonate", f"users/{API_USER}")
        assert not can("get", "secrets", "-n", team) and not can("impersonate", "users/someone-else")
        assert not can("impersonate", "groups/system:masters") and not can("list", "ecsclusters", "-n", team)
        assert not can("create", "secrets", "-n", NS)
        # the key user (api.keyIdentities): what ECS operations do, in its namespace only
        assert can("create", "ecsservices", "-n", team, who=API_USER)
        assert can("patch", "deployments", "-n", team, who=API_USER)
        assert not can("create", "ecsservices", "-n", NS, who=API_USER)
        assert not can("get", "secrets", "-n", team, who=API_USER)

        create_key(kc, "AKIAE2EAPI", team, API_USER)
        create_key(kc, "AKIAE2ENOBODY", team, "ecs-e2e-nobody")  # a user the endpoint may not impersonate
        forward = PortForward(str(bin_dir() / "kubectl"), kc, f"svc/{service}", 443)
        for var, value in {
            "AWS_ENDPOINT_URL_ECS": f"https://127.0.0.1:{forward.port}",
            "AWS_CA_BUNDLE": crt,
            "AWS_ACCESS_KEY_ID": "AKIAE2EAPI",
            "AWS_SECRET_ACCESS_KEY": API_SECRET,
            "AWS_REGION": "eu-central-1",
            "AWS_DEFAULT_REGION": "eu-central-1",  # boto3's
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        }.items():
            monkeypatch.setenv(var, value)
        ecs = api_support.client(None, "AKIAE2EAPI", secret=API_SECRET, region=None)
        assert ecs.list_clusters()["clusterArns"] == []
        made = ecs.create_cluster(clusterName="e2e_Cluster")["cluster"]
        assert made["clusterArn"] == f"arn:aws:ecs:eu-central-1:{ACCOUNT}:cluster/e2e_Cluster"
        assert ecs.list_clusters()["clusterArns"] == [made["clusterArn"]]
        described = ecs.describe_clusters(clusters=["e2e_Cluster", "missing"])
        assert [c["clusterName"] for c in described["clusters"]] == ["e2e_Cluster"]
        assert described["failures"][0]["reason"] == "MISSING"
        # the chart's operator registers what the API writes
        td = ecs.register_task_definition(
            family="web",
            containerDefinitions=[{"name": "web", "image": "httpd:2.4", "memory": 128, "essential": True}],
        )["taskDefinition"]
        assert td["revision"] == 1 and td["status"] == "ACTIVE"
        seen = kubectl("get", "ecsclusters", "-n", team, "-o", "jsonpath={.items[*].spec.clusterName}").split()
        assert "e2e_Cluster" in seen, seen
        seen = kubectl("get", "taskdefinitions", "-n", team, "-o", "jsonpath={.items[*].status.revision}").split()
        assert seen == ["1"], seen

        nobody = api_support.client(None, "AKIAE2ENOBODY", secret=API_SECRET, region=None)
        with pytest.raises(botocore.exceptions.ClientError) as denied:
            nobody.list_clusters()
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
        wrong = api_support.client(None, "AKIAE2EAPI", secret="not-the-secret", region=None)
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            wrong.list_clusters()
        assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"
        logs = kubectl("logs", "-n", NS, api_pod["metadata"]["name"])
        assert API_SECRET not in logs and "ListClusters" in logs
    finally:
        if forward is not None:
            forward.close()
        helm("uninstall", "ecs-operator", "-n", NS, "--wait", "--timeout", "120s")
    wait_for(lambda: not chart_pods(kubectl), timeout=120, desc="chart pods gone")
