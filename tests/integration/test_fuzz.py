"""Fuzzed ECS resources through the real API server and the running operator (issue #15).

Hypothesis draws TaskDefinition, ECSService, ECSCluster and ECSTask specs, valid and invalid
(tests/unit/test_fuzz_specs.py), with a fixed seed (``derandomize``) so every run sends the same
ones. Each one is:

- refused at admission, with a message that names the field (the broken one, when known), or
- accepted, and then the operator either translates it (Ready=True) or reports why not in status
  (Ready=False with a reason and a message): nothing admitted is left without an answer.

Meanwhile the operator never crashes (its process runs on, its log has no traceback of an
unhandled exception), and no planted secret (an environment value named like a password, a
Secrets Manager reference, the Kubernetes Secret's value) appears in any status, event or log
line. ECS_OPERATOR_FUZZ_EXAMPLES sets the number of examples (default 60); bench/fuzz.py runs
more and prints the figures.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections import Counter

import kubernetes
from hypothesis import HealthCheck, given, settings

from ..unit.test_fuzz_specs import FAMILY, PLANTED, PLURALS, SECRET_REF, SECRET_REF_NAME, SECRET_VALUE, fuzzed
from .test_taskdefinition import G, V, wait_ready

EXAMPLES = int(os.environ.get("ECS_OPERATOR_FUZZ_EXAMPLES", "60"))
#: How long every accepted object has, all together, to get its answer in status.
SETTLE_SECONDS = float(os.environ.get("ECS_OPERATOR_FUZZ_SETTLE_SECONDS", "90"))
#: A message names a field: "spec.x", "containerDefinitions[web].image: ...", "desiredCount: ..."
FIELD_RE = re.compile(r"(spec(\.|\[)|[A-Za-z][A-Za-z0-9]*(\[[^\]]*\])?(\.[A-Za-z][A-Za-z0-9]*(\[[^\]]*\])?)*:)")
#: What an unhandled exception leaves in the operator's log.
CRASH_MARKERS = ("Traceback (most recent call last)", "failed with an exception")


def examples(n: int) -> list[dict]:
    """The first ``n`` fuzzed resources of the fixed seed."""
    out: list[dict] = []

    @settings(max_examples=n, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(fuzzed())
    def collect(example):
        out.append(example)

    collect()
    return out[:n]


def _body(kind: str, name: str, spec: dict) -> dict:
    return {"apiVersion": f"{G}/{V}", "kind": kind, "metadata": {"name": name}, "spec": spec}


def _refusal(e: kubernetes.client.ApiException) -> tuple[str, list[dict]]:
    try:
        payload = json.loads(e.body or "{}")
    except ValueError:
        payload = {}
    return str(payload.get("message") or e.reason), list((payload.get("details") or {}).get("causes") or [])


def _names_spec_field(cause: dict) -> bool:
    """A refusal's cause names a spec field (the API server's "some validation rules were not
    checked" note names none, field ``<nil>``, and needs none)."""
    field = str(cause.get("field") or "").lstrip(".")  # a CEL accessor error names ".spec.x"
    return field.startswith("spec") or field in ("", "<nil>") or "not checked" in json.dumps(cause)


def _answer(obj: dict) -> dict | None:
    """The Ready condition once the operator answered the object's current generation."""
    st = obj.get("status") or {}
    ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None or st.get("observedGeneration") != obj["metadata"].get("generation"):
        return None
    return ready


def _setup(custom, core, namespace: str) -> None:
    """The family most fuzzed services and tasks name, with the planted secret it references."""
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": SECRET_REF_NAME}, "stringData": {"value": SECRET_VALUE}}
    )
    spec = {
        "family": FAMILY,
        "containerDefinitions": [
            {
                "name": "c",
                "image": "nginx:1.27",
                "memory": 64,
                "secrets": [{"name": "DB_PASSWORD", "valueFrom": SECRET_REF}],
                "environment": [{"name": "API_TOKEN", "value": PLANTED[0]}],
            }
        ],
    }
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", _body("TaskDefinition", FAMILY, spec))
    wait_ready(custom, namespace, "taskdefinitions", FAMILY, timeout=60)


def _log_since(path, offset: int) -> str:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def test_fuzzed_resources_are_refused_naming_the_field_or_answered_in_status(custom, core, namespace, operator):
    proc, log_path = operator
    log_start = os.path.getsize(log_path)
    _setup(custom, core, namespace)
    batch = examples(EXAMPLES)
    outcome: Counter[str] = Counter()
    problems: list[str] = []
    created: dict[str, dict] = {}
    t0 = time.monotonic()
    for i, ex in enumerate(batch):
        name = f"fz-{i}"
        try:
            obj = custom.create_namespaced_custom_object(
                G, V, namespace, PLURALS[ex["kind"]], _body(ex["kind"], name, ex["spec"])
            )
        except kubernetes.client.ApiException as e:
            message, causes = _refusal(e)
            outcome[f"refused {e.status}"] += 1
            if e.status not in (400, 422):
                problems.append(f"{name} {ex['kind']}: refused with HTTP {e.status}: {message}")
            elif ex["field"] and ex["field"] not in message:
                problems.append(f"{name} {ex['kind']}: broke {ex['field']!r}, refusal names another field: {message}")
            elif not FIELD_RE.search(message) or not all(_names_spec_field(c) for c in causes):
                problems.append(f"{name} {ex['kind']}: refusal names no spec field: {message} (causes {causes})")
            continue
        created[name] = {**ex, "generation": obj["metadata"].get("generation")}

    answers: dict[str, dict] = {}
    deadline = time.monotonic() + SETTLE_SECONDS
    while len(answers) < len(created) and time.monotonic() < deadline:
        for name, ex in created.items():
            if name in answers:
                continue
            obj = custom.get_namespaced_custom_object(G, V, namespace, PLURALS[ex["kind"]], name)
            ready = _answer(obj)
            if ready is not None:
                answers[name] = {"ready": ready, "status": obj.get("status") or {}}
        time.sleep(0.5)
    settled = time.monotonic() - t0

    for name, ex in created.items():
        got = answers.get(name)
        if got is None:
            problems.append(f"{name} {ex['kind']} ({ex['how']}): admitted but never answered in status: {ex['spec']}")
            continue
        ready = got["ready"]
        outcome[f"Ready={ready['status']}" + ("" if ready["status"] == "True" else f" {ready.get('reason')}")] += 1
        if ready["status"] != "True" and not (ready.get("reason") and ready.get("message")):
            problems.append(f"{name} {ex['kind']}: Ready={ready['status']} without a reason and message: {ready}")
        if ready["status"] == "False" and ready.get("reason") == "InvalidParameterException":
            if not FIELD_RE.search(ready.get("message") or ""):
                problems.append(f"{name} {ex['kind']}: refused in status without naming a field: {ready}")

    # No planted secret in any status, event or log line; the operator alive and without crashes.
    texts = {f"status of {n}": json.dumps(a["status"]) for n, a in answers.items()}
    events = core.list_namespaced_event(namespace).items
    texts["events"] = "\n".join(f"{e.reason}: {e.message}" for e in events)
    log = _log_since(log_path, log_start)
    texts["operator log"] = log
    for where, text in texts.items():
        for planted in PLANTED:
            if planted in text:
                problems.append(f"planted secret {planted!r} appears in the {where}")
    assert proc.poll() is None, f"the operator exited with {proc.returncode}"
    for marker in CRASH_MARKERS:
        if marker in log:
            at = log.index(marker)
            problems.append(f"operator log shows an unhandled exception: {log[max(0, at - 1500) : at + 1500]}")

    print(
        f"\nfuzz: {len(batch)} resources, {dict(sorted(outcome.items()))}, every answer within {settled:.1f}s",
        file=sys.stderr,
    )
    assert not problems, "\n".join(problems)
