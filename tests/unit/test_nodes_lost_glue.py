"""handlers/nodes.py glue for lost container instances: the plan's pods are stopped / released
through k8s/pods.py (recorded by a fake), and a pod holding the finalizer is released when its
grace period is over."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from ecs_operator.handlers import nodes as handler
from ecs_operator.plans import nodes as plan


class FakePods:
    def __init__(self):
        self.calls = []

    def stop(self, namespace, name, uid, condition, finalizer, grace_seconds):
        self.calls.append(("stop", name, uid, condition["message"], finalizer, grace_seconds))

    def release(self, namespace, name, uid, finalizer):
        self.calls.append(("release", name, uid, finalizer))


def test_apply_stops_then_releases(monkeypatch):
    fake = FakePods()
    monkeypatch.setattr(handler, "k8s_pods", fake)
    todo = plan.NodePlan(
        lost=True,
        reason="Host EC2 (instance i-1) stopped/terminated",
        stop=[plan.PodRef("ns", "a", "u-a")],
        remove=[plan.PodRef("ns", "b", "u-b")],
    )
    handler._apply("n1", todo, datetime.now(UTC), logging.getLogger("t"))
    assert fake.calls == [
        ("stop", "a", "u-a", "Host EC2 (instance i-1) stopped/terminated", plan.FINALIZER, plan.POD_GRACE_SECONDS),
        ("release", "b", "u-b", plan.FINALIZER),
    ]


def test_a_pod_past_its_grace_is_released_on_its_event(monkeypatch):
    fake = FakePods()
    monkeypatch.setattr(handler, "k8s_pods", fake)
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    body = {
        "metadata": {
            "namespace": "ns",
            "name": "a",
            "uid": "u",
            "finalizers": [plan.FINALIZER],
            "deletionTimestamp": past,
        }
    }
    handler.lost_task_pod.__wrapped__(body=body, type="MODIFIED", logger=logging.getLogger("t"))
    handler.lost_task_pod.__wrapped__(body=body, type="DELETED", logger=logging.getLogger("t"))
    assert fake.calls == [("release", "a", "u", plan.FINALIZER)]
    assert handler._holds_finalizer(body) and not handler._holds_finalizer({"metadata": {}})


def _lost_node(zone: str) -> dict:
    since = (datetime.now(UTC) - timedelta(seconds=60)).isoformat()
    return {
        "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": zone}},
        "status": {"conditions": [{"type": "Ready", "status": "Unknown", "lastTransitionTime": since}]},
    }


def test_a_lost_node_stops_its_tasks_unless_its_whole_zone_is_down(monkeypatch):
    from ecs_operator.state import nodes as node_state

    fake = FakePods()
    monkeypatch.setattr(handler, "k8s_pods", fake)
    pod = {"metadata": {"namespace": "ns", "name": "a", "uid": "u", "labels": {"ecs.seed.dev/service": "web"}}}
    monkeypatch.setattr(node_state, "pods_bound_to", lambda name: [pod])
    readiness = node_state.NodeReadiness()
    monkeypatch.setattr(node_state, "readiness", readiness)
    readiness.update("n1", "z1", False)
    readiness.update("n2", "z1", False)
    handler.lost_node.__wrapped__(body=_lost_node("z1"), logger=logging.getLogger("t"))
    assert fake.calls == []  # the whole zone is down: the control plane lost sight, hosts did not stop
    readiness.update("n2", "z1", True)
    handler.lost_node.__wrapped__(body=_lost_node("z1"), logger=logging.getLogger("t"))
    assert [c[:2] for c in fake.calls] == [("stop", "a")]


def test_one_pods_refusal_does_not_stop_the_others(monkeypatch):
    fake = FakePods()

    def refuse_a(namespace, name, uid, condition, finalizer, grace_seconds):
        if name == "a":
            raise handler.k8s.ApiError(500, "InternalError", "boom")
        FakePods.stop(fake, namespace, name, uid, condition, finalizer, grace_seconds)

    monkeypatch.setattr(handler, "k8s_pods", fake)
    monkeypatch.setattr(fake, "stop", refuse_a)
    todo = plan.NodePlan(
        lost=True,
        reason="Host EC2 (instance i-1) stopped/terminated",
        stop=[plan.PodRef("ns", "a", "u-a"), plan.PodRef("ns", "b", "u-b")],
        remove=[plan.PodRef("ns", "c", "u-c")],
    )
    try:
        handler._apply("n1", todo, datetime.now(UTC), logging.getLogger("t"))
    except handler.kopf.TemporaryError as e:  # the timer looks again
        assert "a" in str(e)
    else:
        raise AssertionError("a refusal is retried")
    assert [c[:2] for c in fake.calls] == [("stop", "b"), ("release", "c")]
