"""The Helm chart on the real control plane: install it (extender enabled, the default) into a
namespace that enforces the restricted Pod Security Standard, then run its three components as
local processes, each with a TokenRequest token of the chart's own ServiceAccount, so RBAC decides
every call:

- the placement extender (`ecs-operator extender`, the extender ServiceAccount),
- the real kube-scheduler binary with the chart's rendered KubeSchedulerConfiguration (only the
  client kubeconfig and the extender URL patched to the local processes; leader election on its
  own Lease, delegated authentication through the chart's kube-system RoleBinding),
- the operator (the operator ServiceAccount, with the environment the chart gives its pod),

and pass the service flow end to end with the ECS task pods placed by that ecs-scheduler. Proves
the roles are enough, and (`kubectl auth can-i`) that they grant nothing sensitive.

The chart's pods land on KWOK nodes and never really run (no image is pulled); the scheduler is
installed under a unique schedulerName so that no other ecs-scheduler of the session (the
``ecs_scheduler`` fixture's) can place these pods.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, _free_port, http_ok, local_process, make_namespace, run_operator
from .kube import wait_for

CHART = REPO / "charts" / "ecs-operator"


@pytest.fixture
def namespace(core, request):
    """This module's namespaces (``c-*``) are served by the chart's operator only; the session's
    operator serves ``t-*``."""
    yield from make_namespace(core, request, "c-")


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

# memberOf with `=~` is not compiled to node affinity: only the extender enforces it.
PLACED = """
apiVersion: ecs.seed.dev/v1alpha1
kind: TaskDefinition
metadata: {name: small}
spec:
  family: small
  containerDefinitions:
    - {name: app, image: "busybox:1.36", cpu: 128, memory: 128, essential: true}
---
apiVersion: ecs.seed.dev/v1alpha1
kind: ECSService
metadata: {name: zone-a}
spec:
  taskDefinition: small
  desiredCount: 3
  placementConstraints:
    - {type: memberOf, expression: "attribute:ecs.availability-zone =~ us-east-1a"}
---
apiVersion: ecs.seed.dev/v1alpha1
kind: ECSService
metadata: {name: c5}
spec:
  taskDefinition: small
  desiredCount: 1
  placementConstraints:
    - {type: memberOf, expression: "attribute:ecs.instance-type =~ c5\\\\..*"}
"""

ZONE = "topology.kubernetes.io/zone"


def _helm():
    from ecs_operator.dev.cluster import bin_dir

    return str(bin_dir() / "helm")


def _kubectl_exe() -> str:
    from ecs_operator.dev.cluster import bin_dir

    return str(bin_dir() / "kubectl")


@dataclass
class Release:
    name: str
    namespace: str
    scheduler_name: str
    notes: str
    deployments: dict[str, dict] = field(default_factory=dict)  # component -> Deployment

    def service_account(self, component: str) -> str:
        return self.deployments[component]["spec"]["template"]["spec"]["serviceAccountName"]

    def subject(self, component: str) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account(component)}"


@pytest.fixture(scope="module")
def release(kubeconfig, kubectl, crds):
    """The chart installed (defaults: extender enabled) into a fresh namespace that enforces the
    restricted Pod Security Standard; CRDs come from the crds fixture (the same files); operator
    scaled to 0; a unique schedulerName."""
    suffix = uuid.uuid4().hex[:6]
    name, ns, scheduler = f"ecs-operator-{suffix}", f"ecs-system-{suffix}", f"ecs-scheduler-{suffix}"
    kubectl("create", "namespace", ns)
    kubectl(
        "label",
        "namespace",
        ns,
        *(f"pod-security.kubernetes.io/{mode}=restricted" for mode in ("enforce", "warn", "audit")),
    )
    helm = [_helm(), "--kubeconfig", kubeconfig]
    proc = subprocess.run(
        [
            *helm,
            "install",
            name,
            str(CHART),
            "-n",
            ns,
            "--skip-crds",
            "--set",
            "operator.replicas=0",
            "--set",
            f"scheduler.schedulerName={scheduler}",
            "--wait",
            "--timeout",
            "120s",
        ],
        text=True,
        capture_output=True,
    )
    try:
        assert proc.returncode == 0, f"helm install failed:\n{proc.stdout}\n{proc.stderr}"
        rel = Release(name, ns, scheduler, proc.stdout)
        for d in json.loads(kubectl("get", "deployments", "-n", ns, "-o", "json").stdout)["items"]:
            rel.deployments[d["metadata"]["labels"]["app.kubernetes.io/component"]] = d
        assert sorted(rel.deployments) == ["extender", "operator", "scheduler"]
        yield rel
    finally:
        subprocess.run(
            [*helm, "uninstall", name, "-n", ns, "--wait", "--timeout", "60s"], text=True, capture_output=True
        )
        kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _token_kubeconfig(kubectl, sa: str, ns: str, path: Path) -> Path:
    token = kubectl("create", "token", sa, "-n", ns, "--duration", "1h").stdout.strip()
    assert token.count(".") == 2, "not a JWT from the TokenRequest API"
    admin = json.loads(kubectl("config", "view", "--raw", "--minify", "--flatten", "-o", "json").stdout)
    cluster = admin["clusters"][0]["cluster"]
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "sa",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": cluster["server"],
                    "certificate-authority-data": cluster["certificate-authority-data"],
                },
            }
        ],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa"}}],
    }
    path.write_text(yaml.safe_dump(cfg))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("chart")


@pytest.fixture(scope="module")
def sa_kubeconfigs(release, kubectl, workdir) -> dict[str, Path]:
    """component -> a kubeconfig holding a TokenRequest token of the chart's ServiceAccount."""
    return {
        c: _token_kubeconfig(kubectl, release.service_account(c), release.namespace, workdir / f"{c}.kubeconfig")
        for c in ("operator", "extender", "scheduler")
    }


@dataclass
class Placement:
    extender_log: Path
    scheduler_log: Path
    extender_port: int
    secure_port: int


@pytest.fixture(scope="module")
def placement(release, sa_kubeconfigs, kubectl, workdir):
    """The chart's extender and ecs-scheduler as local processes with their ServiceAccounts."""
    from ecs_operator.dev.cluster import bin_dir

    ext_port, secure_port = _free_port(), _free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("KUBECONFIG", None)

    # The chart's extender command, listening locally.
    ext_cmd = release.deployments["extender"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert ext_cmd[:2] == ["ecs-operator", "extender"] and "--port" in ext_cmd
    extender_cmd = [
        sys.executable,
        "-m",
        "ecs_operator.cli",
        "extender",
        "--kubeconfig",
        str(sa_kubeconfigs["extender"]),
        "--address",
        "127.0.0.1",
        "--port",
        str(ext_port),
    ]
    # it binds only the pods of the chart's ecs-scheduler
    at = ext_cmd.index("--scheduler-name")
    assert ext_cmd[at + 1] == release.scheduler_name
    extender_cmd += ext_cmd[at : at + 2]

    # The chart's KubeSchedulerConfiguration as installed, with only the client kubeconfig and the
    # extender URL pointing at the local processes.
    cm_name = release.deployments["scheduler"]["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
    cm = json.loads(kubectl("get", "configmap", cm_name, "-n", release.namespace, "-o", "json").stdout)
    config = yaml.safe_load(cm["data"]["config.yaml"])
    assert config["extenders"][0]["urlPrefix"].startswith(f"http://{release.name}-extender.{release.namespace}.svc:")
    assert config["clientConnection"]["kubeconfig"] == ""  # in the pod: its ServiceAccount
    config["clientConnection"]["kubeconfig"] = str(sa_kubeconfigs["scheduler"])
    config["extenders"][0]["urlPrefix"] = f"http://127.0.0.1:{ext_port}"
    config_path = workdir / "ecs-scheduler.yaml"
    config_path.write_text(yaml.safe_dump(config))

    # The chart's arguments; in a pod, delegated authn/authz use the in-cluster ServiceAccount:
    # here the same identity through --authentication/authorization-kubeconfig.
    container = release.deployments["scheduler"]["spec"]["template"]["spec"]["containers"][0]
    args = dict(a.split("=", 1) for a in container["args"])
    assert set(args) == {"--config", "--bind-address", "--secure-port", "--v"}, args
    args.update(
        {
            "--config": str(config_path),
            "--bind-address": "127.0.0.1",
            "--secure-port": str(secure_port),
            "--authentication-kubeconfig": str(sa_kubeconfigs["scheduler"]),
            "--authorization-kubeconfig": str(sa_kubeconfigs["scheduler"]),
        }
    )
    scheduler_cmd = [str(bin_dir() / "kube-scheduler"), *(f"{k}={v}" for k, v in args.items())]

    # Ready as the chart's readiness probes see it (the extender: once its cache has synced).
    ext_ready = _probe_path(release, "extender", "readinessProbe")
    sched_ready = _probe_path(release, "scheduler", "readinessProbe")
    ext_log, sched_log = workdir / "extender.log", workdir / "kube-scheduler.log"
    with local_process(
        "extender",
        extender_cmd,
        env=env,
        log_path=ext_log,
        healthy=lambda: http_ok(f"http://127.0.0.1:{ext_port}{ext_ready}"),
    ):
        with local_process(
            "kube-scheduler",
            scheduler_cmd,
            env=env,
            log_path=sched_log,
            healthy=lambda: http_ok(f"https://127.0.0.1:{secure_port}{sched_ready}"),
        ):
            yield Placement(ext_log, sched_log, ext_port, secure_port)


def _probe_path(release: Release, component: str, probe: str) -> str:
    get = release.deployments[component]["spec"]["template"]["spec"]["containers"][0][probe]["httpGet"]
    assert get.get("scheme", "HTTP") == ("HTTPS" if component == "scheduler" else "HTTP"), get
    return get["path"]


@pytest.fixture(scope="module")
def chart_operator(release, sa_kubeconfigs, placement, workdir):
    """The operator as the chart's operator ServiceAccount, with the ECS_OPERATOR_SCHEDULER_NAME
    the chart gives its pod."""
    container = release.deployments["operator"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert env["ECS_OPERATOR_SCHEDULER_NAME"] == release.scheduler_name
    log_path = workdir / "operator.log"
    with run_operator(sa_kubeconfigs["operator"], log_path, scheduler_name=env["ECS_OPERATOR_SCHEDULER_NAME"]):
        yield log_path


def _can_i(kubeconfig: Path | str, *args: str, as_: str | None = None) -> bool:
    """kubectl auth can-i, with ``kubeconfig``'s identity or impersonating the ServiceAccount
    ``as_`` (with the groups the API server gives ServiceAccounts)."""
    imp = []
    if as_:
        ns = as_.split(":")[2]
        imp = [
            f"--as={as_}",
            "--as-group=system:serviceaccounts",
            f"--as-group=system:serviceaccounts:{ns}",
            "--as-group=system:authenticated",
        ]
    proc = subprocess.run(
        [_kubectl_exe(), "--kubeconfig", str(kubeconfig), "auth", "can-i", *imp, *args], text=True, capture_output=True
    )
    assert proc.stdout.strip() in ("yes", "no"), f"can-i {args}: {proc.stdout} {proc.stderr}"
    return proc.stdout.strip() == "yes"


def _refused(log: str) -> list[str]:
    return [
        line
        for line in log.splitlines()
        if "forbidden" in line.lower()
        or " 403" in line
        or "Not enough permissions" in line
        or "Failed to post an event" in line
    ]


# -- tests -----------------------------------------------------------------------------------------


def test_chart_workloads_pass_the_restricted_pod_security_standard(release, kubectl):
    ns = release.namespace
    # helm --wait: the extender's and the scheduler's pods were admitted under enforce=restricted
    # and became Available (on KWOK nodes)
    for component in ("extender", "scheduler"):
        dep = json.loads(
            kubectl(
                "get", "deployment", release.deployments[component]["metadata"]["name"], "-n", ns, "-o", "json"
            ).stdout
        )
        assert dep["status"].get("availableReplicas") == dep["spec"]["replicas"] >= 1, component
    # every pod template, operator included (replicas 0), as a server-side dry-run Pod
    for component, dep in release.deployments.items():
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"pss-{component}", "namespace": ns},
            "spec": dep["spec"]["template"]["spec"],
        }
        proc = kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
        assert proc.returncode == 0 and "Warning" not in proc.stderr, f"{component}: {proc.stderr}"
    assert release.scheduler_name in release.notes  # NOTES.txt names the ecs-scheduler


def test_chart_service_accounts_are_least_privilege(release, sa_kubeconfigs, kubectl, kubeconfig, namespace):
    ns, op = release.namespace, sa_kubeconfigs["operator"]

    # The operator, with its own token: who it is, per the API server.
    who = subprocess.run(
        [_kubectl_exe(), "--kubeconfig", str(op), "auth", "whoami", "-o", "json"], text=True, capture_output=True
    )
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["status"]["userInfo"]["username"] == release.subject("operator")
    # Denied: anything about Secrets, destructive node and RBAC calls.
    for args in [
        ("get", "secrets", "-A"),
        ("list", "secrets", "-A"),
        ("watch", "secrets", "-A"),
        ("get", "secrets", "-n", namespace),
        ("list", "secrets", "-n", ns),
        ("create", "secrets", "-n", namespace),
        ("delete", "nodes"),
        ("update", "nodes"),
        ("get", "configmaps", "-A"),
        ("create", "clusterrolebindings"),
        ("escalate", "clusterroles"),
        ("delete", "namespaces"),
        ("create", "pods", "--subresource=exec", "-n", namespace),
        ("delete", "customresourcedefinitions"),
        ("update", "deployments", "-n", namespace),
        ("list", "namespaces"),
    ]:  # cluster-wide mode: kopf needs no namespaces
        assert not _can_i(op, *args), f"the operator's ServiceAccount may {' '.join(args)}"
    # Allowed: what the flow needs.
    for args in [
        ("list", "customresourcedefinitions.apiextensions.k8s.io"),
        ("watch", "ecsservices.ecs.seed.dev", "-A"),
        ("patch", "ecsservices.ecs.seed.dev", "--subresource=status", "-n", namespace),
        ("patch", "taskdefinitions.ecs.seed.dev", "-n", namespace),
        ("create", "controllerrevisions.apps", "-n", namespace),
        ("create", "deployments.apps", "-n", namespace),
        ("patch", "deployments.apps", "-n", namespace),
        ("list", "replicasets.apps", "-n", namespace),
        ("watch", "pods", "-A"),
        ("create", "podtemplates", "-n", namespace),
        ("list", "nodes"),
        ("create", "events", "-n", namespace),
        ("create", "events.events.k8s.io", "-n", namespace),
    ]:
        assert _can_i(op, *args), f"the operator's ServiceAccount may not {' '.join(args)}"

    # The extender reads nodes and pods and binds pods (the scheduler's bindVerb), nothing else.
    ext = release.subject("extender")
    for args in [
        ("get", "nodes"),
        ("list", "nodes"),
        ("watch", "nodes"),
        ("get", "pods", "-n", namespace),
        ("list", "pods", "-A"),
        ("watch", "pods", "-A"),
        ("create", "pods", "--subresource=binding", "-n", namespace),
    ]:
        assert _can_i(kubeconfig, *args, as_=ext), f"the extender may not {' '.join(args)}"
    for args in [
        ("get", "secrets", "-A"),
        ("list", "secrets", "-n", ns),
        ("get", "configmaps", "-A"),
        ("create", "pods", "-n", namespace),
        ("patch", "pods", "-n", namespace),
        ("update", "pods", "-n", namespace),
        ("delete", "pods", "-n", namespace),
        ("create", "bindings", "-n", namespace),
        ("patch", "pods", "--subresource=status", "-n", namespace),
        ("create", "pods", "--subresource=eviction", "-n", namespace),
        ("patch", "nodes"),
        ("update", "nodes"),
        ("delete", "nodes"),
        ("list", "ecsservices.ecs.seed.dev", "-A"),
        ("list", "taskdefinitions.ecs.seed.dev", "-A"),
        ("list", "deployments.apps", "-A"),
        ("create", "events", "-n", ns),
        ("get", "leases.coordination.k8s.io", "-n", ns),
        ("list", "namespaces"),
    ]:
        assert not _can_i(kubeconfig, *args, as_=ext), f"the extender may {' '.join(args)}"

    # The ecs-scheduler: a kube-scheduler's rights, its own lease, no Secrets, no pod writes.
    sch, lease = release.subject("scheduler"), f"leases.coordination.k8s.io/{release.scheduler_name}"
    for args in [
        ("create", "pods", "--subresource=binding", "-n", namespace),
        ("watch", "pods", "-A"),
        ("list", "nodes"),
        ("patch", "pods", "--subresource=status", "-n", namespace),
        ("create", "events.events.k8s.io", "-n", namespace),
        ("list", "persistentvolumes"),
        ("list", "storageclasses.storage.k8s.io"),  # system:volume-scheduler
        ("create", "tokenreviews.authentication.k8s.io"),
        ("create", "subjectaccessreviews.authorization.k8s.io"),
        ("get", "configmaps/extension-apiserver-authentication", "-n", "kube-system"),
        ("create", "leases.coordination.k8s.io", "-n", ns),
        ("get", lease, "-n", ns),
        ("update", lease, "-n", ns),
    ]:
        assert _can_i(kubeconfig, *args, as_=sch), f"the ecs-scheduler may not {' '.join(args)}"
    for args in [
        ("get", "secrets", "-A"),
        ("get", "configmaps", "-n", ns),
        ("list", "configmaps", "-n", "kube-system"),
        ("create", "pods", "-n", namespace),
        ("update", "pods", "-n", namespace),
        ("delete", "nodes"),
        ("patch", "nodes"),
        ("create", "deployments.apps", "-n", namespace),
        ("update", "leases.coordination.k8s.io/another-scheduler", "-n", ns),
        ("delete", lease, "-n", ns),
        ("list", "ecsservices.ecs.seed.dev", "-A"),
    ]:
        assert not _can_i(kubeconfig, *args, as_=sch), f"the ecs-scheduler may {' '.join(args)}"


def test_chart_ecs_scheduler_holds_its_own_lease_and_probes_answer(release, placement, kubectl):
    def holder():
        proc = kubectl("get", "lease", release.scheduler_name, "-n", release.namespace, "-o", "json", check=False)
        return json.loads(proc.stdout)["spec"].get("holderIdentity") if proc.returncode == 0 else None

    assert wait_for(holder, timeout=60, desc="the ecs-scheduler's Lease")
    # the default scheduler's lease is not the one taken
    assert release.scheduler_name != "kube-scheduler"
    # every probe of the chart answers, unauthenticated as the kubelet asks
    for component, base in (
        ("extender", f"http://127.0.0.1:{placement.extender_port}"),
        ("scheduler", f"https://127.0.0.1:{placement.secure_port}"),
    ):
        for probe in ("livenessProbe", "readinessProbe"):
            path = _probe_path(release, component, probe)
            assert http_ok(base + path), f"{component} {probe} {path}"


def _pods(kubectl, ns: str, service: str) -> list[dict]:
    return json.loads(kubectl("get", "pods", "-n", ns, "-l", f"ecs.seed.dev/service={service}", "-o", "json").stdout)[
        "items"
    ]


def _scheduled_by(kubectl, ns: str, pod: str) -> set[str]:
    """Who reported the pod's Scheduled events (kube-scheduler reports as its profile's name)."""
    events = json.loads(
        kubectl(
            "get", "events", "-n", ns, "--field-selector", f"reason=Scheduled,involvedObject.name={pod}", "-o", "json"
        ).stdout
    )["items"]
    return {e.get("reportingComponent") or (e.get("source") or {}).get("component") for e in events}


def _extender_binds(placement: Placement) -> dict[str, float]:
    """The extender's bind counters ({"ok": n, "error": n}), from its /metrics."""
    import re
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{placement.extender_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    counts = dict(re.findall(r'^ecs_extender_binds_total\{result="(\w+)"\} (\S+)$', text, re.M))
    assert "ok" in counts, f"no bind counter in the extender's metrics:\n{text[:2000]}"
    return {k: float(v) for k, v in counts.items()}


def test_service_flow_as_the_chart_identities_on_the_chart_ecs_scheduler(
    release, placement, chart_operator, kubectl, namespace
):
    kubectl("apply", "-n", namespace, "-f", "-", input=WORKLOAD)

    def ready():
        svc = json.loads(kubectl("get", "ecsservice", "web", "-n", namespace, "-o", "json").stdout)
        st = svc.get("status") or {}
        cond = next((c for c in st.get("conditions") or [] if c["type"] == "Ready"), {})
        ok = (
            cond.get("status") == "True"
            and st.get("runningCount") == 2
            and st.get("observedGeneration") == svc["metadata"]["generation"]
        )
        return st if ok else None

    try:
        st = wait_for(ready, timeout=120, desc="ECSService web Ready with runningCount 2")
    except AssertionError as e:
        raise AssertionError(
            f"{e}\n--- operator log ---\n{chart_operator.read_text()[-6000:]}\n"
            f"--- kube-scheduler log ---\n{placement.scheduler_log.read_text()[-4000:]}"
        ) from None
    assert st["desiredCount"] == 2 and st["taskDefinition"] == "web:1"

    # The tasks were placed by the chart's ecs-scheduler, on the KWOK nodes, and run.
    pods = _pods(kubectl, namespace, "web")
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["schedulerName"] == release.scheduler_name
        assert pod["spec"]["nodeName"] and pod["status"]["phase"] == "Running"
        assert wait_for(
            lambda: _scheduled_by(kubectl, namespace, pod["metadata"]["name"]), timeout=30, desc="Scheduled event"
        ) == {release.scheduler_name}
    # ... and bound by the extender (the chart's bindVerb), with its ServiceAccount
    config = yaml.safe_load((placement.scheduler_log.parent / "ecs-scheduler.yaml").read_text())
    if config["extenders"][0].get("bindVerb"):
        binds = _extender_binds(placement)
        assert binds["ok"] >= 2 and not binds.get("error"), binds

    kubectl("get", "service", "web", "-n", namespace)  # loadBalancers -> Service
    # taskRoleArn -> a ServiceAccount the operator created for the tasks
    assert kubectl(
        "get", "serviceaccount", "-n", namespace, "-l", "app.kubernetes.io/managed-by=ecs-operator", "-o", "name"
    ).stdout.strip()
    # kopf posted the TranslationWarning (disableNetworking) as an Event
    wait_for(
        lambda: kubectl(
            "get", "events", "-n", namespace, "--field-selector", "reason=TranslationWarning", "-o", "name"
        ).stdout.strip(),
        timeout=30,
        desc="TranslationWarning event",
    )

    # Deleting the service drains it (finalizer, Foreground delete of the Deployment).
    kubectl("delete", "ecsservice", "web", "-n", namespace, "--wait=false")
    wait_for(
        lambda: kubectl("get", "ecsservice", "web", "-n", namespace, check=False).returncode != 0,
        timeout=90,
        desc="ECSService web deleted",
    )


def test_chart_ecs_scheduler_enforces_constraints_only_the_extender_knows(
    release, placement, chart_operator, kubectl, namespace
):
    nodes = json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]
    zone_of = {n["metadata"]["name"]: n["metadata"]["labels"].get(ZONE) for n in nodes}
    kubectl("apply", "-n", namespace, "-f", "-", input=PLACED)

    def zone_a_running():
        pods = [p for p in _pods(kubectl, namespace, "zone-a") if p["status"].get("phase") == "Running"]
        return pods if len(pods) == 3 else None

    pods = wait_for(zone_a_running, timeout=120, desc="zone-a: 3 tasks running")
    assert {zone_of[p["spec"]["nodeName"]] for p in pods} == {"us-east-1a"}, [p["spec"]["nodeName"] for p in pods]
    # (the pods' node affinity is the ECSCluster's, never the zone: `=~` is not compiled natively)
    assert not any(
        ZONE in json.dumps(p["spec"].get("affinity") or {}) or "us-east-1a" in json.dumps(p["spec"]) for p in pods
    ), "the zone constraint reached the pod spec: the test would not prove the extender"

    # no c5 instance: the extender's reason reaches the pending pod, through the chart's config
    def unschedulable():
        pods = _pods(kubectl, namespace, "c5")
        conds = [c for p in pods for c in p["status"].get("conditions", []) if c["type"] == "PodScheduled"]
        return conds[0] if conds and conds[0].get("reason") == "Unschedulable" else None

    cond = wait_for(unschedulable, timeout=90, desc="c5: Unschedulable")
    assert "memberOf constraint not satisfied" in cond["message"], cond["message"]
    pod = _pods(kubectl, namespace, "c5")[0]
    assert pod["spec"]["schedulerName"] == release.scheduler_name and not pod["spec"].get("nodeName")


def test_no_call_of_the_chart_identities_was_refused(placement, chart_operator):
    """Runs last: the logs of the whole module's flows."""
    for what, path in (
        ("operator", chart_operator),
        ("extender", placement.extender_log),
        ("kube-scheduler", placement.scheduler_log),
    ):
        refused = _refused(path.read_text())
        assert not refused, f"the {what} was refused calls:\n" + "\n".join(refused[:20])
