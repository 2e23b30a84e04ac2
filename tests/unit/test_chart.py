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
    assert (chart["apiVersion"], chart["name"], chart["version"], str(chart["appVersion"])) == \
        ("v2", "ecs-operator", "0.1.0", "0.1.0")


# -- values.schema.json ----------------------------------------------------------------------------

def _errors(schema: dict, value, path: str = "") -> list[str]:
    """A tiny validator for the JSON Schema subset values.schema.json uses (no dependency)."""
    where = path or "<root>"
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        py = {"object": dict, "array": list, "string": str, "boolean": bool,
              "integer": int, "number": (int, float)}
        ok = any(isinstance(value, py[t]) and not (t in ("integer", "number") and isinstance(value, bool))
                 for t in types)
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


@pytest.mark.parametrize("override", [
    {"replicaCount": 2},
    {"image": {"repository": "x", "tga": "typo"}},
    {"operator": {"replica": 0}},
    {"resources": {"limits": {"cpu": "1", "gpu": 1}}},
    {"serviceAccount": {"create": True, "annotation": {}}},
    {"extender": {"enabled": False, "port": 8888}},
])
def test_schema_rejects_unknown_keys(override):
    values = {**VALUES, **override}
    assert any("unknown key" in e for e in _errors(SCHEMA, values)), override


def test_schema_rejects_more_than_one_operator_replica():
    assert _errors(SCHEMA, {**VALUES, "operator": {**VALUES["operator"], "replicas": 2}})


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


def _render(helm: str, *args: str) -> list[dict]:
    proc = _run(helm, "template", "ecs-operator", str(CHART), "--namespace", "ecs-system", *args)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def _check_restricted(doc: dict) -> None:
    name = f"{doc['kind']}/{doc['metadata']['name']}"
    pod = doc["spec"]["template"]["spec"]
    psc = pod.get("securityContext") or {}
    assert psc.get("runAsNonRoot") is True, name
    assert (psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", name
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), name
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
        res = c.get("resources") or {}
        assert res.get("requests") and res.get("limits"), f"{where}: resources"
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{where}: no writable /tmp"
        vol = next(v for v in pod["volumes"] if v["name"] == mounts["/tmp"])
        assert "emptyDir" in vol, where


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_rendered_chart(helm, values):
    docs = _render(helm, "-f", str(values))
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "Deployment", "ServiceAccount"], kinds
    workloads = [d for d in docs if d["kind"] in ("Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob")]
    for w in workloads:
        _check_restricted(w)
    dep = next(d for d in docs if d["kind"] == "Deployment")
    assert dep["spec"]["replicas"] in (0, 1)
    c = dep["spec"]["template"]["spec"]["containers"][0]
    port = c["ports"][0]["containerPort"]
    assert c["command"][:4] == ["ecs-operator", "run", "--liveness", f"http://0.0.0.0:{port}/healthz"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    sa = next(d for d in docs if d["kind"] == "ServiceAccount")
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    binding = next(d for d in docs if d["kind"] == "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                    "namespace": "ecs-system"}]


def test_default_render_is_the_documented_one(helm):
    docs = _render(helm)
    dep = next(d for d in docs if d["kind"] == "Deployment")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert dep["spec"]["replicas"] == 1
    assert c["command"] == ["ecs-operator", "run", "--liveness", "http://0.0.0.0:8080/healthz"]
    assert c["image"] == "ecs-operator:0.1.0"
    scaled = next(d for d in _render(helm, "--set", "operator.replicas=0") if d["kind"] == "Deployment")
    assert scaled["spec"]["replicas"] == 0


def test_helm_refuses_unknown_values_and_the_extender(helm):
    proc = _run(helm, "template", "x", str(CHART), "--set", "operator.replicaz=1")
    assert proc.returncode != 0 and "replicaz" in proc.stderr
    proc = _run(helm, "template", "x", str(CHART), "--set", "extender.enabled=true")
    assert proc.returncode != 0 and "extender" in proc.stderr


def test_cluster_role_is_least_privilege(helm):
    role = next(d for d in _render(helm) if d["kind"] == "ClusterRole")
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
    assert granted[("apps", "replicasets")] == {"list"}
    assert granted[("apiextensions.k8s.io", "customresourcedefinitions")] == {"list", "watch"}
    assert ("", "namespaces") not in granted, "cluster-wide mode needs no namespaces access"
    for kind in ("taskdefinitions", "ecsservices", "ecsclusters", "ecstasks", "capacityproviders"):
        assert {"list", "watch", "patch"} <= granted[("ecs.seed.dev", kind)]
        assert granted[("ecs.seed.dev", f"{kind}/status")] == {"patch"}
    # Every kind the operator's client code knows about is either granted or deliberately not.
    from ecs_operator import k8s

    known = {("" if av == "v1" else av.split("/")[0], plural) for (av, _), plural in k8s._PLURALS.items()}
    unused = {("", "configmaps"),  # in the plural table, never called by a handler
              ("", "namespaces")}  # kopf reads them only when it serves a list of namespaces
    assert known - unused <= set(granted), sorted(known - unused - set(granted))


def test_cluster_role_reads_namespaces_only_when_watching_some(helm):
    role = next(d for d in _render(helm, "--set", "operator.watchNamespaces={a,b}") if d["kind"] == "ClusterRole")
    ns_rules = [r for r in role["rules"] if "namespaces" in r["resources"]]
    assert ns_rules == [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}]


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
