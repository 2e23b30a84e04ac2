"""The Helm chart on the real control plane: install it, run the operator as the chart's
ServiceAccount (a TokenRequest token, so RBAC decides every call) and pass the service flow end
to end. Proves the ClusterRole is enough for the flow, and that it grants nothing sensitive.

The operator Deployment is installed with operator.replicas=0 (there is no image to pull here);
the same code runs as a local process with the ServiceAccount's identity instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, _free_port
from .kube import wait_for

CHART = REPO / "charts" / "ecs-operator"

WORKLOAD = """
apiVersion: ecs.seed.dev/v1alpha1
kind: TaskDefinition
metadata: {name: web}
spec:
  family: web
  taskRoleArn: arn:aws:iam::123456789012:role/web-task    # -> a ServiceAccount
  containerDefinitions:
    - {name: web, image: "httpd:2.4", cpu: 256, memory: 512, essential: true,
       disableNetworking: true, portMappings: [{containerPort: 80, protocol: tcp}]}
---
apiVersion: ecs.seed.dev/v1alpha1
kind: ECSService
metadata: {name: web}
spec:
  taskDefinition: web
  desiredCount: 2
  loadBalancers:
    - {containerName: web, containerPort: 80,
       targetGroupArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"}
"""


def _helm():
    from ecs_operator.dev.cluster import bin_dir

    return str(bin_dir() / "helm")


@pytest.fixture
def release(kubeconfig, kubectl, crds):
    """The chart installed into a fresh namespace (CRDs come from the crds fixture, which applies
    the same files), operator scaled to 0."""
    suffix = uuid.uuid4().hex[:6]
    name, ns = f"ecs-operator-{suffix}", f"ecs-system-{suffix}"
    helm = [_helm(), "--kubeconfig", kubeconfig]
    proc = subprocess.run([*helm, "install", name, str(CHART), "-n", ns, "--create-namespace", "--skip-crds",
                           "--set", "operator.replicas=0", "--wait", "--timeout", "120s"],
                          text=True, capture_output=True)
    assert proc.returncode == 0, f"helm install failed:\n{proc.stdout}\n{proc.stderr}"
    try:
        yield name, ns
    finally:
        subprocess.run([*helm, "uninstall", name, "-n", ns, "--wait", "--timeout", "60s"],
                       text=True, capture_output=True)
        kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _token_kubeconfig(kubectl, sa: str, ns: str, path: Path) -> Path:
    token = kubectl("create", "token", sa, "-n", ns, "--duration", "1h").stdout.strip()
    assert token.count(".") == 2, "not a JWT from the TokenRequest API"
    admin = json.loads(kubectl("config", "view", "--raw", "--minify", "--flatten", "-o", "json").stdout)
    cluster = admin["clusters"][0]["cluster"]
    cfg = {
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "c", "cluster": {"server": cluster["server"],
                                               "certificate-authority-data": cluster["certificate-authority-data"]}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa"}}],
    }
    path.write_text(yaml.safe_dump(cfg))
    path.chmod(0o600)
    return path


def _can_i(kubectl_exe: str, kubeconfig: Path, *args: str) -> bool:
    proc = subprocess.run([kubectl_exe, "--kubeconfig", str(kubeconfig), "auth", "can-i", *args],
                          text=True, capture_output=True)
    assert proc.stdout.strip() in ("yes", "no"), f"can-i {args}: {proc.stdout} {proc.stderr}"
    return proc.stdout.strip() == "yes"


def test_chart_rbac_is_enough_for_the_service_flow_and_grants_no_secrets(
        release, kubectl, namespace, tmp_path):
    from ecs_operator.dev.cluster import bin_dir

    name, ns = release
    sa = name  # the release name contains the chart name: the full name (and ServiceAccount) is the release name
    kubectl("get", "serviceaccount", sa, "-n", ns)
    assert kubectl("get", "deployment", name, "-n", ns, "-o", "jsonpath={.spec.replicas}").stdout == "0"
    sa_cfg = _token_kubeconfig(kubectl, sa, ns, tmp_path / "sa.kubeconfig")

    # Who the token is, per the API server.
    who = subprocess.run([str(bin_dir() / "kubectl"), "--kubeconfig", str(sa_cfg), "auth", "whoami", "-o", "json"],
                         text=True, capture_output=True)
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:{sa}"

    kexe = str(bin_dir() / "kubectl")
    # Denied: anything about Secrets, destructive node and RBAC calls.
    for args in [("get", "secrets", "-A"), ("list", "secrets", "-A"), ("watch", "secrets", "-A"),
                 ("get", "secrets", "-n", namespace), ("list", "secrets", "-n", ns),
                 ("create", "secrets", "-n", namespace),
                 ("delete", "nodes"), ("update", "nodes"), ("get", "configmaps", "-A"),
                 ("create", "clusterrolebindings"), ("escalate", "clusterroles"),
                 ("delete", "namespaces"), ("create", "pods", "--subresource=exec", "-n", namespace),
                 ("delete", "customresourcedefinitions"), ("update", "deployments", "-n", namespace),
                 ("list", "namespaces")]:  # cluster-wide mode: kopf needs no namespaces
        assert not _can_i(kexe, sa_cfg, *args), f"the chart's ServiceAccount may {' '.join(args)}"
    # Allowed: what the flow needs.
    for args in [("list", "customresourcedefinitions.apiextensions.k8s.io"), ("watch", "ecsservices.ecs.seed.dev", "-A"),
                 ("patch", "ecsservices.ecs.seed.dev", "--subresource=status", "-n", namespace),
                 ("patch", "taskdefinitions.ecs.seed.dev", "-n", namespace),
                 ("create", "controllerrevisions.apps", "-n", namespace),
                 ("create", "deployments.apps", "-n", namespace), ("patch", "deployments.apps", "-n", namespace),
                 ("list", "replicasets.apps", "-n", namespace), ("watch", "pods", "-A"),
                 ("create", "podtemplates", "-n", namespace), ("list", "nodes"),
                 ("create", "events", "-n", namespace), ("create", "events.events.k8s.io", "-n", namespace)]:
        assert _can_i(kexe, sa_cfg, *args), f"the chart's ServiceAccount may not {' '.join(args)}"

    # The operator, as that ServiceAccount.
    port = _free_port()
    log_path = tmp_path / "operator.log"
    env = dict(os.environ, KUBECONFIG=str(sa_cfg), PYTHONUNBUFFERED="1")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ecs_operator.cli", "run", "--liveness", f"http://127.0.0.1:{port}/healthz"],
            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def alive():
            if proc.poll() is not None:
                pytest.fail(f"operator exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200
            except OSError:
                return False

        wait_for(alive, timeout=60, desc="operator liveness")
        kubectl("apply", "-n", namespace, "-f", "-", input=WORKLOAD)

        def ready():
            svc = json.loads(kubectl("get", "ecsservice", "web", "-n", namespace, "-o", "json").stdout)
            st = svc.get("status") or {}
            cond = next((c for c in st.get("conditions") or [] if c["type"] == "Ready"), {})
            ok = (cond.get("status") == "True" and st.get("runningCount") == 2
                  and st.get("observedGeneration") == svc["metadata"]["generation"])
            return st if ok else None

        try:
            st = wait_for(ready, timeout=120, desc="ECSService web Ready with runningCount 2")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- operator log ---\n{log_path.read_text()[-6000:]}") from None
        assert st["desiredCount"] == 2 and st["taskDefinition"] == "web:1"
        kubectl("get", "service", "web", "-n", namespace)  # loadBalancers -> Service
        # taskRoleArn -> a ServiceAccount the operator created for the tasks
        assert kubectl("get", "serviceaccount", "-n", namespace, "-l", "app.kubernetes.io/managed-by=ecs-operator",
                       "-o", "name").stdout.strip()

        # kopf posted the TranslationWarning (disableNetworking) as an Event
        wait_for(lambda: kubectl("get", "events", "-n", namespace, "--field-selector", "reason=TranslationWarning",
                                 "-o", "name").stdout.strip(), timeout=30, desc="TranslationWarning event")

        # Deleting the service drains it (finalizer, Foreground delete of the Deployment).
        kubectl("delete", "ecsservice", "web", "-n", namespace, "--wait=false")
        wait_for(lambda: kubectl("get", "ecsservice", "web", "-n", namespace, check=False).returncode != 0,
                 timeout=90, desc="ECSService web deleted")

        log_text = log_path.read_text()
        forbidden = [line for line in log_text.splitlines()
                     if "forbidden" in line.lower() or " 403" in line or "Not enough permissions" in line
                     or "Failed to post an event" in line]
        assert not forbidden, "the operator was refused calls:\n" + "\n".join(forbidden[:20])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        print(f"\n--- operator log tail ({log_path}) ---\n{log_path.read_text()[-3000:]}", file=sys.stderr)
