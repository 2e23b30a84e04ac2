"""The Helm chart and the Dockerfile, checked statically (no cluster, no Docker engine).

helm comes from the project's cached binaries (``ecs_operator.dev.cluster.bin_dir()``), which
``make test`` builds before any test runs.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "ecs-operator"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


# -- CRDs ------------------------------------------------------------------------------------------


def test_chart_crds_are_byte_identical_copies_of_the_top_level_crds():
    top = {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert top, "no CRDs in crds/"
    assert sorted(chart) == sorted(top), "charts/ecs-operator/crds/ must hold exactly the files of crds/"
    stale = [name for name in top if chart[name] != top[name]]
    assert not stale, f"stale chart CRDs (cp crds/*.yaml charts/ecs-operator/crds/): {stale}"


def test_chart_metadata():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert (chart["apiVersion"], chart["name"], chart["version"], str(chart["appVersion"])) == (
        "v2",
        "ecs-operator",
        "0.1.0",
        "0.1.0",
    )


# -- values.schema.json ----------------------------------------------------------------------------


def _errors(schema: dict, value, path: str = "") -> list[str]:
    """A tiny validator for the JSON Schema subset values.schema.json uses (no dependency)."""
    where = path or "<root>"
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        py = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int, "number": (int, float)}
        ok = any(
            isinstance(value, py[t]) and not (t in ("integer", "number") and isinstance(value, bool)) for t in types
        )
        if not ok:
            return [f"{where}: {value!r} is not of type {types}"]
    errs: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append(f"{where}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errs.append(f"{where}: {value} > {schema['maximum']}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        errs.append(f"{where}: shorter than {schema['minLength']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errs.append(f"{where}: missing {key}")
        for key, item in value.items():
            if key in props:
                errs += _errors(props[key], item, f"{path}.{key}" if path else key)
            elif schema.get("additionalProperties") is False:
                errs.append(f"{where}: unknown key {key!r}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errs += _errors(schema["additionalProperties"], item, f"{path}.{key}" if path else key)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errs += _errors(schema["items"], item, f"{where}[{i}]")
    return errs


def _object_nodes(schema: dict, path: str = ""):
    if schema.get("type") == "object" or "properties" in schema:
        yield path or "<root>", schema
    for key, sub in (schema.get("properties") or {}).items():
        yield from _object_nodes(sub, f"{path}.{key}" if path else key)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _object_nodes(schema["additionalProperties"], f"{path}.*")
    if isinstance(schema.get("items"), dict):
        yield from _object_nodes(schema["items"], f"{path}[]")


def test_schema_closes_every_object_level():
    nodes = list(_object_nodes(SCHEMA))
    assert len(nodes) > 10
    for path, node in nodes:
        if "properties" in node:
            assert node.get("additionalProperties") is False, f"{path}: additionalProperties must be false"
        else:  # a map (annotations, nodeSelector): keys are free, values are typed
            assert isinstance(node.get("additionalProperties"), dict), f"{path}: untyped free-form object"


@pytest.mark.parametrize("path", [CHART / "values.yaml", *CI_VALUES], ids=lambda p: p.name)
def test_values_files_satisfy_the_schema(path):
    assert _errors(SCHEMA, yaml.safe_load(path.read_text()) or {}) == []


@pytest.mark.parametrize(
    "override",
    [
        {"replicaCount": 2},
        {"image": {"repository": "x", "tga": "typo"}},
        {"operator": {"replica": 0}},
        {"resources": {"limits": {"cpu": "1", "gpu": 1}}},
        {"serviceAccount": {"create": True, "annotation": {}}},
        {"extender": {"enabled": False, "prot": 8888}},
        {"extender": {"enabled": True, "image": {"repo": "x"}}},
        {"extender": {"enabled": True, "resources": {"requests": {"cpus": 1}}}},
        {"scheduler": {"schedulerName": "ecs-scheduler", "wieght": 150}},
        {"scheduler": {"leaderElection": {"leaderElection": True}}},
        {"scheduler": {"serviceAccount": {"create": True, "annotation": {}}}},
        {"schedulers": {}},
    ],
)
def test_schema_rejects_unknown_keys(override):
    values = {**VALUES, **override}
    assert any("unknown key" in e for e in _errors(SCHEMA, values)), override


def test_schema_bounds_operator_replicas():
    assert not _errors(SCHEMA, {**VALUES, "operator": {**VALUES["operator"], "replicas": 2}})
    assert _errors(SCHEMA, {**VALUES, "operator": {**VALUES["operator"], "replicas": 6}})


def test_helm_refuses_replicas_without_leader_election(helm):
    args = ("--set", "operator.leaderElection.enabled=false")
    proc = _run(helm, "template", "x", str(CHART), *args)
    assert proc.returncode != 0 and "operator.replicas > 1 needs operator.leaderElection.enabled" in proc.stderr
    # one replica without leader election: the single standalone process, never two side by side
    docs = _render(helm, *args, "--set", "operator.replicas=1")
    dep = _one(docs, "Deployment", "operator")
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert "--leader-elect" not in dep["spec"]["template"]["spec"]["containers"][0]["command"]
    assert not [d for d in docs if d["kind"] in ("Role", "PodDisruptionBudget") and _component(d) == "operator"]


def test_operator_leader_election_is_least_privilege(helm):
    docs = _render(helm)
    dep = _one(docs, "Deployment", "operator")
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    role = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "ecs-operator-leader-election")
    assert role["metadata"]["namespace"] == "ecs-system"
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["ecs-operator-leader"],
            "verbs": ["get", "update"],
        },
    ]
    rb = next(d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["name"] == "ecs-operator-leader-election")
    assert rb["roleRef"]["name"] == role["metadata"]["name"]
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "ecs-operator", "namespace": "ecs-system"}]
    pdb = _one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert _matches(pdb["spec"]["selector"], dep["spec"]["template"]["metadata"]["labels"])
    custom = _one(_render(helm, "--set", "operator.leaderElection.leaseName=my-lease"), "Deployment", "operator")
    assert custom["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == ["--leader-elect-name", "my-lease"]


def test_readme_lists_every_value():
    readme = (CHART / "README.md").read_text()

    def leaves(d: dict, prefix: str = ""):
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict) and v:
                yield from leaves(v, key)
            else:
                yield key

    missing = [k for k in leaves(VALUES) if f"`{k}`" not in readme]
    assert not missing, f"charts/ecs-operator/README.md does not list: {missing}"


# -- helm lint / template --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helm() -> str:
    from ecs_operator.dev.cluster import bin_dir

    exe = bin_dir() / "helm"
    assert exe.exists(), f"no helm in {exe.parent}"
    return str(exe)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), text=True, capture_output=True, timeout=120)


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_helm_lint(helm, values):
    proc = _run(helm, "lint", "--strict", str(CHART), "-f", str(values))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _component(doc: dict) -> str | None:
    return doc["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def _render(helm: str, *args: str) -> list[dict]:
    proc = _run(helm, "template", "ecs-operator", str(CHART), "--namespace", "ecs-system", *args)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob")


def _check_restricted(doc: dict) -> None:
    """The restricted Pod Security Standard, resources and probes, for every container."""
    name = f"{doc['kind']}/{doc['metadata']['name']}"
    pod = doc["spec"]["template"]["spec"]
    psc = pod.get("securityContext") or {}
    assert psc.get("runAsNonRoot") is True, name
    assert (psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", name
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), name
    assert not any("hostPath" in v for v in pod.get("volumes", [])), name
    containers = pod.get("containers", []) + pod.get("initContainers", [])
    assert containers, name
    for c in containers:
        sc = c.get("securityContext") or {}
        where = f"{name} container {c['name']}"
        assert sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, where
        assert sc.get("runAsUser", psc.get("runAsUser")) == 65532, where
        assert sc.get("readOnlyRootFilesystem") is True, where
        assert sc.get("allowPrivilegeEscalation") is False, where
        assert not sc.get("privileged"), where
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
        assert not sc.get("capabilities", {}).get("add"), where
        assert (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", where
        assert not any(p.get("hostPort") for p in c.get("ports", [])), where
        res = c.get("resources") or {}
        assert res.get("requests") and res.get("limits"), f"{where}: resources"
        assert {"cpu", "memory"} <= set(res["requests"]) and {"cpu", "memory"} <= set(res["limits"]), where
        for probe in ("livenessProbe", "readinessProbe"):
            get = (c.get(probe) or {}).get("httpGet")
            assert get and get.get("path"), f"{where}: {probe}"
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            assert get["port"] in ports or get["port"] in ports.values(), f"{where}: {probe} port {get['port']}"
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{where}: no writable /tmp"
        vol = next(v for v in pod["volumes"] if v["name"] == mounts["/tmp"])
        assert "emptyDir" in vol, where


def _values(path: Path) -> dict:
    """values.yaml overlaid with a values file (maps merged, other values replaced)."""

    def merge(a, b):
        if isinstance(a, dict) and isinstance(b, dict):
            return {k: merge(a.get(k), b[k]) if k in b else a[k] for k in {**a, **b}}
        return b

    return merge(VALUES, yaml.safe_load(path.read_text()) or {})


def _one(docs: list[dict], kind: str, component: str | None = None) -> dict:
    found = [
        d
        for d in docs
        if d["kind"] == kind
        and (component is None or d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component)
    ]
    assert len(found) == 1, f"{len(found)} {kind} of component {component}"
    return found[0]


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def _matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


# the operator's: with leader election (default) its Lease's Role and RoleBinding, and with more
# than one replica (default 2) its PodDisruptionBudget
BASE_KINDS = [
    "ClusterRole",
    "ClusterRoleBinding",
    "Deployment",
    "PodDisruptionBudget",
    "Role",
    "RoleBinding",
    "ServiceAccount",
]


def _base_kinds(vals: dict) -> list[str]:
    return [k for k in BASE_KINDS if k != "PodDisruptionBudget" or vals["operator"]["replicas"] > 1]


EXTENDER_KINDS = [
    "ClusterRole",
    "ClusterRoleBinding",
    "Deployment",
    "Service",
    "ServiceAccount",  # extender
    "ClusterRoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Deployment",
    "Role",
    "RoleBinding",
    "RoleBinding",
    "ServiceAccount",  # ecs-scheduler
]


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_rendered_chart(helm, values):
    docs = _render(helm, "-f", str(values))
    vals = _values(values)
    enabled = vals["extender"]["enabled"]
    kinds = sorted(d["kind"] for d in docs)
    policy = enabled and vals["extender"]["networkPolicy"]["enabled"]
    expected = _base_kinds(vals) + (EXTENDER_KINDS if enabled else []) + (["NetworkPolicy"] if policy else [])
    assert kinds == sorted(expected), kinds
    workloads = [d for d in docs if d["kind"] in WORKLOAD_KINDS]
    assert len(workloads) == (3 if enabled else 1)
    for w in workloads:
        _check_restricted(w)
        # no workload's selector picks another workload's pods
        for other in workloads:
            if other is not w:
                assert not _matches(w["spec"]["selector"], other["spec"]["template"]["metadata"]["labels"]), (
                    w["metadata"]["name"],
                    other["metadata"]["name"],
                )
        assert _matches(w["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])
    dep = _one(docs, "Deployment", "operator")
    assert dep["spec"]["replicas"] == vals["operator"]["replicas"]
    c = dep["spec"]["template"]["spec"]["containers"][0]
    port = c["ports"][0]["containerPort"]
    assert c["command"][:4] == ["ecs-operator", "run", "--liveness", f"http://0.0.0.0:{port}/healthz"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    sa = _one(docs, "ServiceAccount", "operator")
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    binding = _one(docs, "ClusterRoleBinding", "operator")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "ecs-system"}
    ]
    env = _env(c)
    if not enabled:
        assert "ECS_OPERATOR_SCHEDULER_NAME" not in env
        return
    sched_name = vals["scheduler"]["schedulerName"]
    assert env["ECS_OPERATOR_SCHEDULER_NAME"] == sched_name

    # The extender: Deployment, Service, ServiceAccount, least-privilege ClusterRole.
    ext = _one(docs, "Deployment", "extender")
    ext_pod = ext["spec"]["template"]["spec"]
    ext_c = ext_pod["containers"][0]
    ext_port = vals["extender"]["port"]
    assert ext["spec"]["replicas"] == vals["extender"]["replicas"]
    assert ext_c["command"][:6] == ["ecs-operator", "extender", "--address", "0.0.0.0", "--port", str(ext_port)]
    verbose = ["--verbose"] if vals["extender"]["verbose"] else []
    assert ext_c["command"][6:8] == ["--scheduler-name", vals["scheduler"]["schedulerName"]]  # binds only its pods
    assert ext_c["command"][8:] == verbose + vals["extender"]["extraArgs"]
    image = vals["extender"]["image"]["repository"] or vals["image"]["repository"]
    tag = vals["extender"]["image"]["tag"] or vals["image"]["tag"] or "0.1.0"
    assert ext_c["image"] == f"{image}:{tag}"
    assert ext_c["imagePullPolicy"] == (vals["extender"]["image"]["pullPolicy"] or vals["image"]["pullPolicy"])
    assert ext_c["ports"] == [{"name": "http", "containerPort": ext_port, "protocol": "TCP"}]
    assert ext_c["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert ext_c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ext_sa = _one(docs, "ServiceAccount", "extender")
    assert ext_pod["serviceAccountName"] == ext_sa["metadata"]["name"]
    if vals["extender"]["serviceAccount"]["name"]:
        assert ext_sa["metadata"]["name"] == vals["extender"]["serviceAccount"]["name"]
    svc = _one(docs, "Service", "extender")
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"] == [{"name": "http", "port": ext_port, "targetPort": "http", "protocol": "TCP"}]
    assert svc["spec"]["selector"] == ext["spec"]["selector"]["matchLabels"]
    if policy:  # only the ecs-scheduler's pods reach the extender's port
        np = _one(docs, "NetworkPolicy", "extender")["spec"]
        sched_labels = _one(docs, "Deployment", "scheduler")["spec"]["template"]["metadata"]["labels"]
        assert np["podSelector"] == ext["spec"]["selector"] and np["policyTypes"] == ["Ingress"]
        assert len(np["ingress"]) == 1 and len(np["ingress"][0]["from"]) == 1
        peer = np["ingress"][0]["from"][0]
        assert set(peer) == {"podSelector"} and _matches(peer["podSelector"], sched_labels)
        for w in workloads:  # the scheduler's pods, and no other workload's
            is_scheduler = w["metadata"]["labels"]["app.kubernetes.io/component"] == "scheduler"
            assert _matches(peer["podSelector"], w["spec"]["template"]["metadata"]["labels"]) == is_scheduler
        assert np["ingress"][0]["ports"] == [{"port": "http", "protocol": "TCP"}]
    ext_binding = _one(docs, "ClusterRoleBinding", "extender")
    ext_role = _one(docs, "ClusterRole", "extender")
    assert ext_binding["roleRef"]["name"] == ext_role["metadata"]["name"]
    assert ext_binding["subjects"] == [
        {"kind": "ServiceAccount", "name": ext_sa["metadata"]["name"], "namespace": "ecs-system"}
    ]

    # The ecs-scheduler: ConfigMap mounted at --config, probes on the secure port over HTTPS.
    sched = _one(docs, "Deployment", "scheduler")
    pod = sched["spec"]["template"]["spec"]
    kc = pod["containers"][0]
    assert kc["image"] == f"{vals['scheduler']['image']['repository']}:{vals['scheduler']['image']['tag']}"
    assert kc["command"] == ["kube-scheduler"]
    args = dict(a.split("=", 1) for a in kc["args"])
    secure = vals["scheduler"]["securePort"]
    assert args == {
        "--config": "/etc/ecs-scheduler/config.yaml",
        "--bind-address": "0.0.0.0",
        "--secure-port": str(secure),
        "--v": str(vals["scheduler"]["logLevel"]),
    }
    assert kc["ports"] == [{"name": "https", "containerPort": secure, "protocol": "TCP"}]
    assert kc["livenessProbe"]["httpGet"] == {"scheme": "HTTPS", "path": "/healthz", "port": "https"}
    assert kc["readinessProbe"]["httpGet"] == {"scheme": "HTTPS", "path": "/readyz", "port": "https"}
    cm = _one(docs, "ConfigMap", "scheduler")
    mount = next(m for m in kc["volumeMounts"] if m["mountPath"] == "/etc/ecs-scheduler")
    vol = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert vol["configMap"]["name"] == cm["metadata"]["name"] and mount["readOnly"] is True
    assert sched["spec"]["replicas"] == vals["scheduler"]["replicas"]
    assert sched["spec"]["strategy"]["type"] == "RollingUpdate"  # leader election on in every ci file
    cfg = yaml.safe_load(cm["data"]["config.yaml"])
    assert cfg["profiles"] == [{"schedulerName": sched_name}]
    assert cfg["extenders"][0]["urlPrefix"] == f"http://{svc['metadata']['name']}.ecs-system.svc:{ext_port}"
    assert cfg["extenders"][0]["weight"] == vals["scheduler"]["weight"]
    assert cfg["extenders"][0]["httpTimeout"] == vals["scheduler"]["httpTimeout"]
    assert cfg["extenders"][0].get("bindVerb") == ("bind" if vals["extender"]["bind"] else None)
    ext_rules = _one(docs, "ClusterRole", "extender")["rules"]
    assert ({"apiGroups": [""], "resources": ["pods/binding"], "verbs": ["create"]} in ext_rules) == vals["extender"][
        "bind"
    ]
    le = vals["scheduler"]["leaderElection"]
    assert cfg["leaderElection"] == {
        "leaderElect": le["leaderElect"],
        "resourceLock": "leases",
        "resourceName": sched_name,
        "resourceNamespace": "ecs-system",
        "leaseDuration": le["leaseDuration"],
        "renewDeadline": le["renewDeadline"],
        "retryPeriod": le["retryPeriod"],
    }
    assert cfg["clientConnection"] == {
        "kubeconfig": "",
        "qps": vals["scheduler"]["qps"],
        "burst": vals["scheduler"]["burst"],
    }
    sched_sa = _one(docs, "ServiceAccount", "scheduler")
    assert pod["serviceAccountName"] == sched_sa["metadata"]["name"]
    assert len({sa["metadata"]["name"], ext_sa["metadata"]["name"], sched_sa["metadata"]["name"]}) == 3
    _check_scheduler_rbac(docs, sched_sa["metadata"]["name"], sched_name)


def _check_scheduler_rbac(docs: list[dict], sa: str, lease: str) -> None:
    subject = [{"kind": "ServiceAccount", "name": sa, "namespace": "ecs-system"}]
    bindings = [
        d
        for d in docs
        if d["kind"] in ("ClusterRoleBinding", "RoleBinding")
        and d["metadata"]["labels"]["app.kubernetes.io/component"] == "scheduler"
    ]
    refs = sorted(
        (b["kind"], b["metadata"].get("namespace"), b["roleRef"]["kind"], b["roleRef"]["name"]) for b in bindings
    )
    role = _one(docs, "Role", "scheduler")
    assert refs == sorted(
        [
            ("ClusterRoleBinding", None, "ClusterRole", "system:kube-scheduler"),
            ("ClusterRoleBinding", None, "ClusterRole", "system:volume-scheduler"),
            ("RoleBinding", "kube-system", "Role", "extension-apiserver-authentication-reader"),
            ("RoleBinding", "ecs-system", "Role", role["metadata"]["name"]),
        ]
    ), refs
    for b in bindings:
        assert b["subjects"] == subject, b["metadata"]["name"]
    assert role["metadata"]["namespace"] == "ecs-system"
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lease],
            "verbs": ["get", "update"],
        },
    ]


def test_default_render_is_the_documented_one(helm):
    docs = _render(helm)
    dep = _one(docs, "Deployment", "operator")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert dep["spec"]["replicas"] == 2
    assert c["command"] == [
        "ecs-operator",
        "run",
        "--liveness",
        "http://0.0.0.0:8080/healthz",
        "--leader-elect",
        "--leader-elect-namespace",
        "ecs-system",
        "--leader-elect-name",
        "ecs-operator-leader",
    ]
    assert c["image"] == "ecs-operator:0.1.0"
    assert _env(c)["ECS_OPERATOR_SCHEDULER_NAME"] == "ecs-scheduler"  # extender.enabled is the default
    ext = _one(docs, "Deployment", "extender")
    assert ext["metadata"]["name"] == "ecs-operator-extender"
    assert ext["spec"]["template"]["spec"]["containers"][0]["image"] == "ecs-operator:0.1.0"
    assert ext["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "ecs-operator",
        "extender",
        "--address",
        "0.0.0.0",
        "--port",
        "8888",
        "--scheduler-name",
        "ecs-scheduler",
    ]
    sched = _one(docs, "Deployment", "scheduler")
    assert sched["metadata"]["name"] == "ecs-operator-scheduler"
    assert sched["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.k8s.io/kube-scheduler:v1.36.3"
    scaled = _one(_render(helm, "--set", "operator.replicas=0"), "Deployment", "operator")
    assert scaled["spec"]["replicas"] == 0


def test_extender_disabled_renders_the_operator_alone(helm):
    docs = _render(helm, "--set", "extender.enabled=false")
    assert sorted(d["kind"] for d in docs) == sorted(BASE_KINDS)
    assert {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in docs} == {"operator"}
    c = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "ECS_OPERATOR_SCHEDULER_NAME" not in _env(c)


def test_helm_refuses_unknown_values_and_racing_schedulers(helm):
    proc = _run(helm, "template", "x", str(CHART), "--set", "operator.replicaz=1")
    assert proc.returncode != 0 and "replicaz" in proc.stderr
    proc = _run(helm, "template", "x", str(CHART), "--set", "scheduler.wieght=1")
    assert proc.returncode != 0 and "wieght" in proc.stderr
    proc = _run(helm, "template", "x", str(CHART), "--set", "scheduler.weight=0")
    assert proc.returncode != 0 and "weight" in proc.stderr
    proc = _run(
        helm,
        "template",
        "x",
        str(CHART),
        "--set",
        "scheduler.leaderElection.leaderElect=false",
        "--set",
        "scheduler.replicas=2",
    )
    assert proc.returncode != 0 and "leaderElect" in proc.stderr
    # one scheduler without leader election is fine (and is never rolled side by side)
    docs = _render(helm, "--set", "scheduler.leaderElection.leaderElect=false")
    sched = _one(docs, "Deployment", "scheduler")
    assert sched["spec"]["strategy"] == {"type": "Recreate"}
    cfg = yaml.safe_load(_one(docs, "ConfigMap", "scheduler")["data"]["config.yaml"])
    assert cfg["leaderElection"]["leaderElect"] is False


def test_long_release_names_stay_valid(helm):
    release = "r" * 53  # helm's maximum
    proc = _run(helm, "template", release, str(CHART), "--namespace", "ecs-system")
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    keys = [(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs]
    assert len(keys) == len(set(keys)), "names collide after truncation"
    for d in docs:
        name = d["metadata"]["name"]
        # Services and the pods' owners are DNS labels; RBAC names may be longer (253)
        assert len(name) <= (63 if d["kind"] in ("Service", "Deployment", "ServiceAccount", "ConfigMap") else 253), name
        labels = dict(d["metadata"]["labels"])
        if d["kind"] in WORKLOAD_KINDS:
            labels.update(d["spec"]["template"]["metadata"]["labels"])
        for v in labels.values():
            assert len(v) <= 63, v


# -- the ecs-scheduler's configuration vs the local control plane's --------------------------------


def _chart_scheduler_config(helm: str, *args: str) -> dict:
    return yaml.safe_load(_one(_render(helm, *args), "ConfigMap", "scheduler")["data"]["config.yaml"])


def _without_url(extenders: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k != "urlPrefix"} for e in extenders]


def test_chart_scheduler_config_matches_the_dev_scheduler(helm):
    """The chart's KubeSchedulerConfiguration and dev/scheduler.py's (the one the integration
    tests and `make demo` run) must not drift: same profiles, same extender call settings,
    with the extender binding (the default of both) and without."""
    from ecs_operator.dev.scheduler import scheduler_config

    chart = _chart_scheduler_config(helm)
    dev = scheduler_config("/unused/kubeconfig", 8888)
    assert (chart["apiVersion"], chart["kind"]) == (dev["apiVersion"], dev["kind"])
    assert chart["profiles"] == dev["profiles"]
    assert _without_url(chart["extenders"]) == _without_url(dev["extenders"])
    unbound = _chart_scheduler_config(helm, "--set", "extender.bind=false")
    dev_unbound = scheduler_config("/unused", 8888, bind=False)
    assert _without_url(unbound["extenders"]) == _without_url(dev_unbound["extenders"])
    assert chart["extenders"][0]["urlPrefix"] == "http://ecs-operator-extender.ecs-system.svc:8888"
    assert set(chart) == set(dev), "same top-level sections"
    # Where they differ on purpose: in a cluster, leader election on the scheduler's own lease.
    assert dev["leaderElection"] == {"leaderElect": False}
    assert chart["leaderElection"]["leaderElect"] is True
    assert chart["leaderElection"]["resourceName"] == dev["profiles"][0]["schedulerName"] != "kube-scheduler"


def _kube_scheduler_effective_config(config: dict, tmp_path: Path) -> dict:
    """The configuration kube-scheduler itself loads, validates and defaults (--write-config-to;
    its client is built but never connects)."""
    from ecs_operator.dev.cluster import bin_dir

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "unused"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    config = {**config, "clientConnection": {**config["clientConnection"], "kubeconfig": str(kubeconfig)}}
    src, out = tmp_path / f"in-{id(config)}.yaml", tmp_path / f"out-{id(config)}.yaml"
    src.write_text(yaml.safe_dump(config))
    proc = _run(
        str(bin_dir() / "kube-scheduler"), "--config", str(src), "--secure-port", "0", "--write-config-to", str(out)
    )
    assert proc.returncode == 0 and out.exists(), proc.stdout + proc.stderr
    return yaml.safe_load(out.read_text())


def test_kube_scheduler_accepts_the_chart_config_as_it_accepts_the_dev_one(helm, tmp_path):
    from ecs_operator.dev.scheduler import scheduler_config

    chart = _kube_scheduler_effective_config(_chart_scheduler_config(helm), tmp_path)
    dev = _kube_scheduler_effective_config(scheduler_config("/unused", 8888), tmp_path)
    assert chart["profiles"] == dev["profiles"]  # the default plugins, fully expanded
    assert _without_url(chart["extenders"]) == _without_url(dev["extenders"])
    assert chart["leaderElection"]["resourceName"] == "ecs-scheduler"
    assert chart["leaderElection"]["resourceNamespace"] == "ecs-system"
    custom = _kube_scheduler_effective_config(
        _chart_scheduler_config(helm, "-f", str(CHART / "ci" / "extender-enabled-values.yaml")), tmp_path
    )
    assert [p["schedulerName"] for p in custom["profiles"]] == ["ecs-placement"]
    assert custom["extenders"][0]["weight"] == 200 and custom["extenders"][0]["httpTimeout"] == "10s"


def test_cluster_role_is_least_privilege(helm):
    role = _one(_render(helm), "ClusterRole", "operator")
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, "no resourceNames/nonResourceURLs needed"
        for g in rule["apiGroups"]:
            for r in rule["resources"]:
                granted.setdefault((g, r), set()).update(rule["verbs"])
    flat = {(g, r, v) for (g, r), vs in granted.items() for v in vs}
    assert not any("*" in x for x in flat), "no wildcards"
    assert not any(r in ("secrets", "configmaps") for _, r, _ in flat), "no Secrets/ConfigMaps access"
    assert not any(v in ("update", "escalate", "bind", "impersonate", "deletecollection") for _, _, v in flat)
    assert not any(g.startswith("rbac") for g, _, _ in flat)
    assert granted[("", "nodes")] == {"list", "watch", "patch"}  # DRAINING: the node watch and its label
    assert granted[("", "podtemplates")] == {"create"}
    assert granted[("apps", "replicasets")] == {"list", "watch"}  # kopf index of the services' ReplicaSets
    assert granted[("apiextensions.k8s.io", "customresourcedefinitions")] == {"list", "watch"}
    assert ("", "namespaces") not in granted, "cluster-wide mode needs no namespaces access"
    for kind in ("taskdefinitions", "ecsservices", "ecsclusters", "ecstasks", "capacityproviders"):
        assert {"list", "watch", "patch"} <= granted[("ecs.seed.dev", kind)]
        assert granted[("ecs.seed.dev", f"{kind}/status")] == {"patch"}
    # Every kind the operator's client code knows about is either granted or deliberately not.
    from ecs_operator import k8s

    known = {("" if av == "v1" else av.split("/")[0], plural) for (av, _), plural in k8s._PLURALS.items()}
    unused = {
        ("", "configmaps"),  # in the plural table, never called by a handler
        ("", "namespaces"),
    }  # kopf reads them only when it serves a list of namespaces
    assert known - unused <= set(granted), sorted(known - unused - set(granted))


def test_cluster_role_reads_namespaces_only_when_watching_some(helm):
    role = _one(_render(helm, "--set", "operator.watchNamespaces={a,b}"), "ClusterRole", "operator")
    ns_rules = [r for r in role["rules"] if "namespaces" in r["resources"]]
    assert ns_rules == [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}]


def test_extender_cluster_role_reads_nodes_and_pods_and_only_binds(helm):
    """What operator/ecs_operator/extender/ calls: it reads nodes and pods (list + watch for its
    cache, get for single lookups) and, as the scheduler's binder (extender.bind), creates
    pods/binding; nothing else."""
    read = {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list", "watch"]}
    role = _one(_render(helm), "ClusterRole", "extender")
    assert role["rules"] == [read, {"apiGroups": [""], "resources": ["pods/binding"], "verbs": ["create"]}]
    role = _one(_render(helm, "--set", "extender.bind=false"), "ClusterRole", "extender")
    assert role["rules"] == [read]
    # The scheduler gets no chart-defined ClusterRole: only the built-in ones (see test_rendered_chart).
    assert not [
        d
        for d in _render(helm)
        if d["kind"] == "ClusterRole" and d["metadata"]["labels"]["app.kubernetes.io/component"] == "scheduler"
    ]


# -- the ECS API endpoint (api.enabled) ------------------------------------------------------------

API_ON = (
    "--set",
    "api.enabled=true",
    "--set",
    "api.tls.secretName=api-tls",
    "--set",
    "api.impersonate.users={alice,bob}",
)
API_KINDS = ["ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"]


def _api_docs(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "api"]


def _rbac_grants(docs: list[dict]) -> set[tuple]:
    """(kind of role, namespace, apiGroup, resource, verb, resourceNames) of every rule."""
    out = set()
    for d in docs:
        if d["kind"] not in ("Role", "ClusterRole"):
            continue
        for rule in d["rules"]:
            assert set(rule) <= {"apiGroups", "resources", "verbs", "resourceNames"}, rule
            for g in rule["apiGroups"]:
                for r in rule["resources"]:
                    for v in rule["verbs"]:
                        names = tuple(rule.get("resourceNames") or ())
                        out.add((d["kind"], d["metadata"].get("namespace"), g, r, v, names))
    return out


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_api_is_off_unless_enabled(helm, values):
    assert VALUES["api"]["enabled"] is False
    docs = _render(helm, "-f", str(values))
    assert not _api_docs(docs)
    assert not [d for d in docs if d["kind"] in ("Certificate", "Role") and "api" in d["metadata"]["name"]]


def test_api_enabled_renders_the_endpoint(helm):
    docs = _render(helm, *API_ON)
    api = _api_docs(docs)
    assert sorted(d["kind"] for d in api) == API_KINDS  # no Certificate without cert-manager
    dep = _one(docs, "Deployment", "api")
    assert dep["metadata"]["name"] == "ecs-operator-api"
    _check_restricted(dep)
    workloads = [d for d in docs if d["kind"] in WORKLOAD_KINDS]
    for other in workloads:  # no other workload's selector picks the endpoint's pods, nor the reverse
        if other is not dep:
            assert not _matches(other["spec"]["selector"], dep["spec"]["template"]["metadata"]["labels"])
            assert not _matches(dep["spec"]["selector"], other["spec"]["template"]["metadata"]["labels"])
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == "ecs-operator:0.1.0"  # the operator's image
    assert c["command"] == [
        "ecs-operator",
        "api",
        "serve",
        "--address",
        "0.0.0.0",
        "--port",
        "8443",
        "--tls-cert",
        "/etc/ecs-api/tls/tls.crt",
        "--tls-key",
        "/etc/ecs-api/tls/tls.key",
        "--keys-namespace",
        "ecs-system",
    ]
    assert c["ports"] == [{"name": "https", "containerPort": 8443, "protocol": "TCP"}]
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"scheme": "HTTPS", "path": "/healthz", "port": "https"}
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/etc/ecs-api/tls")
    assert mount["readOnly"] is True
    tls = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert tls["secret"]["secretName"] == "api-tls"
    assert [i["key"] for i in tls["secret"]["items"]] == ["tls.crt", "tls.key"]
    svc = _one(docs, "Service", "api")
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}]
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    sa = _one(docs, "ServiceAccount", "api")
    assert pod["serviceAccountName"] == sa["metadata"]["name"] == "ecs-operator-api"
    assert sa["metadata"]["name"] not in {
        _one(docs, "ServiceAccount", c)["metadata"]["name"] for c in ("operator", "extender", "scheduler")
    }
    # the rest of the chart is unchanged by api.enabled
    assert [d for d in docs if d not in api] == _render(helm)


def test_api_rbac_is_least_privilege(helm):
    docs = _render(helm, *API_ON, "--set", "api.impersonate.groups={ecs-deployers}")
    api = _api_docs(docs)
    assert _rbac_grants(api) == {
        ("Role", "ecs-system", "", "secrets", "get", ()),
        ("Role", "ecs-system", "", "secrets", "list", ()),
        ("ClusterRole", None, "", "users", "impersonate", ("alice", "bob")),
        ("ClusterRole", None, "", "groups", "impersonate", ("ecs-deployers",)),
    }
    subject = [{"kind": "ServiceAccount", "name": "ecs-operator-api", "namespace": "ecs-system"}]
    role, cluster_role = _one(api, "Role"), _one(api, "ClusterRole")
    rb, crb = _one(api, "RoleBinding"), _one(api, "ClusterRoleBinding")
    assert rb["metadata"]["namespace"] == role["metadata"]["namespace"] == "ecs-system"
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert crb["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": cluster_role["metadata"]["name"],
    }
    assert rb["subjects"] == crb["subjects"] == subject
    # without groups there is no groups rule at all (empty resourceNames would mean every group)
    grants = _rbac_grants(_api_docs(_render(helm, *API_ON)))
    assert not [g for g in grants if g[3] == "groups"]
    assert all(g[5] for g in grants if g[4] == "impersonate")
    # the operator's own identities still get no Secrets and no impersonation
    others = _rbac_grants([d for d in docs if d not in api])
    assert not [g for g in others if g[3] == "secrets" or g[4] == "impersonate"]
    # rbac.create=false: no roles of the endpoint either
    assert not [d for d in _render(helm, *API_ON, "--set", "rbac.create=false") if "Role" in d["kind"]]


def test_api_keys_namespace_and_service_values(helm):
    docs = _render(
        helm,
        *API_ON,
        "--set",
        "api.keysNamespace=ecs-keys",
        "--set",
        "api.port=9443",
        "--set",
        "api.service.type=LoadBalancer",
        "--set",
        "api.service.port=8443",
        "--set",
        "api.verbose=true",
        "--set",
        "api.extraArgs={--foo}",
        "--set",
        "api.image.tag=dev",
        "--set",
        "api.serviceAccount.name=ecs-api",
    )
    api = _api_docs(docs)
    assert {d["metadata"]["namespace"] for d in api if d["kind"] in ("Role", "RoleBinding")} == {"ecs-keys"}
    assert {d["metadata"]["namespace"] for d in api if d["kind"] in ("Deployment", "Service", "ServiceAccount")} == {
        "ecs-system"
    }
    c = _one(docs, "Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    assert c["command"][5:7] == ["--port", "9443"]
    assert c["command"][11:] == ["--keys-namespace", "ecs-keys", "--verbose", "--foo"]
    assert c["image"] == "ecs-operator:dev"
    svc = _one(docs, "Service", "api")["spec"]
    assert svc["type"] == "LoadBalancer" and svc["ports"][0]["port"] == 8443
    assert _one(docs, "RoleBinding", "api")["subjects"][0] == {
        "kind": "ServiceAccount",
        "name": "ecs-api",
        "namespace": "ecs-system",
    }


def test_api_tls_from_cert_manager_only_when_enabled(helm):
    args = [
        "--set",
        "api.enabled=true",
        "--set",
        "api.impersonate.users={alice}",
        "--set",
        "api.tls.certManager.enabled=true",
        "--set",
        "api.tls.certManager.issuerRef.name=ca",
        "--set",
        "api.tls.certManager.issuerRef.kind=ClusterIssuer",
        "--set",
        "api.tls.certManager.dnsNames={ecs.example.com}",
    ]
    docs = _render(helm, *args)
    cert = _one(docs, "Certificate", "api")
    assert cert["apiVersion"] == "cert-manager.io/v1"
    spec = cert["spec"]
    assert spec["secretName"] == "ecs-operator-api-tls"
    assert spec["issuerRef"] == {"name": "ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    assert spec["dnsNames"] == [
        "ecs-operator-api",
        "ecs-operator-api.ecs-system",
        "ecs-operator-api.ecs-system.svc",
        "ecs-operator-api.ecs-system.svc.cluster.local",
        "ecs.example.com",
    ]
    assert (spec["duration"], spec["renewBefore"]) == ("2160h", "360h")
    vols = _one(docs, "Deployment", "api")["spec"]["template"]["spec"]["volumes"]
    assert next(v for v in vols if v["name"] == "tls")["secret"]["secretName"] == "ecs-operator-api-tls"
    named = _render(helm, *args, "--set", "api.tls.secretName=mine")
    assert _one(named, "Certificate", "api")["spec"]["secretName"] == "mine"
    assert not [d for d in _render(helm, *API_ON) if d["kind"] == "Certificate"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--set", "api.enabled=true", "--set", "api.impersonate.users={a}"), "api.tls.secretName"),
        (("--set", "api.enabled=true", "--set", "api.tls.secretName=t"), "api.impersonate.users"),
        (
            (
                "--set",
                "api.enabled=true",
                "--set",
                "api.impersonate.users={a}",
                "--set",
                "api.tls.certManager.enabled=true",
            ),
            "issuerRef.name",
        ),
        ((*API_ON, "--set", "api.tlss=x"), "tlss"),
        ((*API_ON, "--set", "api.service.type=ExternalName"), "type"),
        ((*API_ON, "--set", "api.impersonate.user={a}"), "user"),
        ((*API_ON, "--set", "api.keysNamespace=Not_A_Namespace"), "keysNamespace"),
    ],
)
def test_api_refuses_incomplete_or_unknown_values(helm, args, message):
    proc = _run(helm, "template", "x", str(CHART), *args)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "override",
    [
        {"enabeld": True},
        {"tls": {"secretName": "x", "certmanager": {}}},
        {"tls": {"certManager": {"issuerRef": {"name": "x", "namespace": "y"}}}},
        {"impersonate": {"users": ["a"], "serviceAccounts": []}},
        {"service": {"nodePort": 30443}},
        {"resources": {"limits": {"gpu": 1}}},
        {"serviceAccount": {"annotation": {}}},
        {"image": {"digest": "sha256:x"}},
    ],
)
def test_schema_rejects_unknown_api_keys(override):
    assert any("unknown key" in e for e in _errors(SCHEMA, {**VALUES, "api": {**VALUES["api"], **override}})), override


def test_long_release_names_stay_valid_with_the_api(helm):
    proc = _run(helm, "template", "r" * 53, str(CHART), "--namespace", "ecs-system", *API_ON)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    keys = [(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs]
    assert len(keys) == len(set(keys)), "names collide after truncation"
    for d in _api_docs(docs):
        assert len(d["metadata"]["name"]) <= 63, d["metadata"]["name"]
        for v in d["metadata"]["labels"].values():
            assert len(v) <= 63, v


# -- Dockerfile ------------------------------------------------------------------------------------


def _stages(text: str) -> list[list[str]]:
    lines, joined = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        joined += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            lines.append(joined)
            joined = ""
    stages: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


DOCKERFILE = (REPO / "Dockerfile").read_text()


def test_dockerfile_is_multi_stage_with_a_pinned_slim_base():
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", DOCKERFILE, re.M))
    stages = _stages(DOCKERFILE)
    assert len(stages) >= 2
    for stage in stages:
        image = stage[0].split()[1]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert image == "python:3.11-slim-bookworm" or image.startswith("python:3.11-slim-bookworm@sha256:"), image


def test_dockerfile_installs_the_lock_with_hashes_in_the_builder():
    builder, final = _stages(DOCKERFILE)[0], _stages(DOCKERFILE)[-1]
    pip = [line for line in builder if "pip install" in line]
    assert pip and all("--require-hashes" in line for line in pip)
    assert any("lock.txt" in line for line in pip)
    assert any("requirements/lock.txt" in line for line in builder if line.startswith("COPY"))
    assert not any("pip install" in line for line in final), "the final stage installs nothing"
    assert any(line.startswith("COPY --from=builder /opt/venv") for line in final)
    assert any("operator/ecs_operator" in line or "/opt/app" in line for line in final if line.startswith("COPY"))


def test_dockerfile_final_stage_is_non_root_without_compilers():
    final = _stages(DOCKERFILE)[-1]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] == "65532"
    text = "\n".join(final)
    for tool in ("build-essential", "gcc", "g++", "clang", "make ", "apt-get install"):
        assert tool not in text, tool
    entry = next(line for line in final if line.startswith("ENTRYPOINT"))
    assert json.loads(entry.split(None, 1)[1]) == ["ecs-operator"]


def test_dockerignore_keeps_the_context_small():
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in lines and "!requirements/lock.txt" in lines and "!operator/ecs_operator/" in lines


def test_readme_rbac_table_matches_the_operator_cluster_role(helm):
    """The chart README's table of the operator's permissions says exactly what the ClusterRole
    grants (the `*/status` row aside, checked by its own test)."""
    role = _one(_render(helm), "ClusterRole", "operator")
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for g in rule["apiGroups"]:
            for r in rule["resources"]:
                if not r.endswith("/status"):
                    granted.setdefault((g, r), set()).update(rule["verbs"])
    text = (CHART / "README.md").read_text()
    table = text.split("| API group | Resources | Verbs | Why |", 1)[1].split("\n\n", 1)[0]
    documented: dict[tuple[str, str], set[str]] = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        groups = [g.strip().strip("`").replace('""', "") for g in cells[0].split(",")]
        if "status" in cells[1] or "namespaces" in cells[1]:  # status: own test; namespaces: only with watchNamespaces
            continue
        for g in groups:
            for r in (x.strip() for x in cells[1].split(",")):
                documented.setdefault((g, r), set()).update(v.strip() for v in cells[2].split(","))
    assert documented == granted


# -- metrics ---------------------------------------------------------------------------------------


def test_metrics_are_off_by_default_and_exposed_when_enabled(helm):
    assert not [d for d in _render(helm) if d["metadata"]["name"].endswith("-metrics")]
    docs = _render(helm, "--set", "operator.metrics.enabled=true")
    c = _one(docs, "Deployment", "operator")["spec"]["template"]["spec"]["containers"][0]
    assert c["command"][-2:] == ["--metrics-port", "8081"]
    assert {"name": "metrics", "containerPort": 8081, "protocol": "TCP"} in c["ports"]
    svc = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "ecs-operator-metrics")
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 8081, "targetPort": "metrics", "protocol": "TCP"}]
    pod_labels = _one(docs, "Deployment", "operator")["spec"]["template"]["metadata"]["labels"]
    selected = [
        d
        for d in docs
        if d["kind"] == "Deployment"
        and _matches({"matchLabels": svc["spec"]["selector"]}, d["spec"]["template"]["metadata"]["labels"])
    ]
    assert _matches({"matchLabels": svc["spec"]["selector"]}, pod_labels) and len(selected) == 1
    assert not [d for d in docs if d["kind"] == "ServiceMonitor"]


def test_service_monitor_only_when_asked(helm):
    docs = _render(
        helm,
        "--set",
        "operator.metrics.enabled=true",
        "--set",
        "operator.metrics.serviceMonitor.enabled=true",
        "--set",
        "operator.metrics.serviceMonitor.interval=30s",
        "--set",
        "operator.metrics.serviceMonitor.labels.release=prom",
    )
    sm = _one(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "prom"
    assert sm["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    assert sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "operator"


@pytest.mark.parametrize(
    "metrics",
    [{"enabled": True, "port": 0}, {"scrape": True}, {"serviceMonitor": {"enabled": True, "labels": {"a": 1}}}],
)
def test_schema_rejects_bad_metrics_values(metrics):
    values = {**VALUES, "operator": {**VALUES["operator"], "metrics": {**VALUES["operator"]["metrics"], **metrics}}}
    assert _errors(SCHEMA, values), metrics


def test_helm_refuses_a_scrape_interval_prometheus_cannot_read(helm):
    r = _run(helm, "template", "t", str(CHART), "--set", "operator.metrics.serviceMonitor.interval=soon")
    assert r.returncode != 0 and "interval" in r.stderr
