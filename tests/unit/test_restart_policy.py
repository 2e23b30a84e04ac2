"""containerDefinitions[].restartPolicy -> the container's own restartPolicy / restartPolicyRules
(Kubernetes ContainerRestartRules), table-driven; the pod's restartPolicy stays the caller's."""

from __future__ import annotations

from typing import Any

import pytest
from ecs_operator.models.generated import RegisterTaskDefinitionRequest
from ecs_operator.translate.taskdef import TaskTranslation, translate_task_definition


def _translate(*containers: dict[str, Any]) -> TaskTranslation:
    td = RegisterTaskDefinitionRequest.model_validate({"family": "fam", "containerDefinitions": list(containers)})
    return translate_task_definition(td, family="fam", revision=1)


def _all(t: TaskTranslation) -> dict[str, dict[str, Any]]:
    spec = t.template["spec"]
    return {c["name"]: c for c in spec["containers"] + spec.get("initContainers", [])}


def _warned(t: TaskTranslation, container: str) -> dict[str, str]:
    prefix = f"containerDefinitions[{container}]."
    return {w.field[len(prefix) :]: w.message for w in t.warnings if w.field.startswith(prefix)}


RULE_NOT_IN = {"action": "Restart", "exitCodes": {"operator": "NotIn", "values": [0, 2]}}

# (restartPolicy, expected container restartPolicy, expected restartPolicyRules)
MAIN_CASES: dict[str, tuple[dict[str, Any] | None, str | None, list[dict[str, Any]] | None]] = {
    "unset: the pod's policy": (None, None, None),
    "disabled: the pod's policy": ({"enabled": False, "ignoredExitCodes": [1]}, None, None),
    "enabled, no ignored codes: always": ({"enabled": True}, "Always", None),
    "enabled, empty ignored list: always": ({"enabled": True, "ignoredExitCodes": []}, "Always", None),
    "ignored codes: restart on every other code": (
        {"enabled": True, "ignoredExitCodes": [2, 0, 2]},
        "Never",
        [RULE_NOT_IN],
    ),
    "period does not change the rules": (
        {"enabled": True, "ignoredExitCodes": [0, 2], "restartAttemptPeriod": 60},
        "Never",
        [RULE_NOT_IN],
    ),
}


@pytest.mark.parametrize("case", sorted(MAIN_CASES))
def test_main_container(case: str) -> None:
    policy, want_policy, want_rules = MAIN_CASES[case]
    t = _translate({"name": "app", "image": "busybox", **({"restartPolicy": policy} if policy else {})})
    k = _all(t)["app"]
    assert k.get("restartPolicy") == want_policy
    assert k.get("restartPolicyRules") == want_rules
    assert "restartPolicy" not in t.template["spec"]  # the pod's policy stays the caller's


# (restartPolicy, expected warning field suffix -> words in its message; absent: None)
WARNING_CASES: dict[str, tuple[dict[str, Any] | None, dict[str, str | None]]] = {
    "unset: no warning": (None, {"restartPolicy.restartAttemptPeriod": None, "restartPolicy": None}),
    "disabled: no warning": ({"enabled": False}, {"restartPolicy.restartAttemptPeriod": None}),
    "default period named": ({"enabled": True}, {"restartPolicy.restartAttemptPeriod": "default 300s"}),
    "period named": ({"enabled": True, "restartAttemptPeriod": 120}, {"restartPolicy.restartAttemptPeriod": "120s"}),
}


@pytest.mark.parametrize("case", sorted(WARNING_CASES))
def test_warnings(case: str) -> None:
    policy, expected = WARNING_CASES[case]
    t = _translate({"name": "app", "image": "busybox", **({"restartPolicy": policy} if policy else {})})
    warned = _warned(t, "app")
    for field, words in expected.items():
        if words is None:
            assert field not in warned, warned
        else:
            assert words in warned[field], warned


# Non-essential containers: ECS restarts them in place only with a restart policy; without one,
# the "Kubernetes restarts this container" warning stays.
NON_ESSENTIAL_CASES: dict[str, tuple[dict[str, Any] | None, bool]] = {
    "no policy: warned": (None, True),
    "disabled: warned": ({"enabled": False}, True),
    "enabled: ECS restarts it too": ({"enabled": True}, False),
    "ignored codes: stays stopped on them, as in ECS": ({"enabled": True, "ignoredExitCodes": [0]}, False),
}


@pytest.mark.parametrize("case", sorted(NON_ESSENTIAL_CASES))
def test_non_essential(case: str) -> None:
    policy, warned = NON_ESSENTIAL_CASES[case]
    side = {"name": "side", "image": "busybox", "essential": False, **({"restartPolicy": policy} if policy else {})}
    t = _translate({"name": "app", "image": "busybox"}, side)
    assert ("essential" in _warned(t, "side")) is warned


# Containers others wait for: a HEALTHY/START dependency is a native sidecar (always restarted),
# a COMPLETE/SUCCESS dependency a run-once init container.
ROLE_CASES: dict[str, tuple[str, dict[str, Any], str, str | None]] = {
    "sidecar, no ignored codes: nothing to say": ("START", {"enabled": True}, "Always", None),
    "sidecar, ignored codes: not applied": (
        "START",
        {"enabled": True, "ignoredExitCodes": [3]},
        "Always",
        "restartPolicy.ignoredExitCodes",
    ),
    "init container: not applied": ("COMPLETE", {"enabled": True}, "", "restartPolicy"),
}


@pytest.mark.parametrize("case", sorted(ROLE_CASES))
def test_containers_others_wait_for(case: str) -> None:
    condition, policy, want_policy, warned_field = ROLE_CASES[case]
    dep = {"name": "dep", "image": "busybox", "essential": False, "restartPolicy": policy}
    app = {"name": "app", "image": "busybox", "dependsOn": [{"containerName": "dep", "condition": condition}]}
    t = _translate(app, dep)
    k = _all(t)["dep"]
    assert k.get("restartPolicy", "") == want_policy
    assert "restartPolicyRules" not in k
    warned = _warned(t, "dep")
    if warned_field:
        assert warned_field in warned, warned
    assert "restartPolicy.restartAttemptPeriod" not in warned
