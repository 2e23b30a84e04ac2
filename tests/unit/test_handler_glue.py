"""The handlers' shared glue: per-object locks and cross-kind wake-ups (no cluster)."""

import logging
import threading

import kopf
import pytest
from ecs_operator.handlers import wakeups
from ecs_operator.handlers._locks import KeyedLocks


def test_a_lock_entry_lives_only_while_it_is_used():
    locks = KeyedLocks()
    with locks.hold("ns/a"):
        with locks.hold("ns/a"):  # re-entrant
            assert len(locks) == 1
        with locks.hold("ns/b"):
            assert len(locks) == 2
    assert len(locks) == 0


def test_try_hold_does_not_wait_for_another_holder():
    locks = KeyedLocks()
    held, release = threading.Event(), threading.Event()

    def holder():
        with locks.hold("k"):
            held.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    with locks.try_hold("k") as got:
        assert not got
    release.set()
    t.join()
    with locks.try_hold("k") as got:
        assert got
    assert len(locks) == 0


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(wakeups, "_registry", [])
    return wakeups


@pytest.mark.parametrize(
    ("changed_kind", "want"),
    [
        ("ECSCluster", [("svc", "a"), ("svc", "b"), ("task", "t")]),
        ("TaskDefinition", [("svc", "web")]),
        ("Node", []),
    ],
)
def test_changed_wakes_the_dependents_of_that_kind_only(registry, changed_kind, want):
    ran = []
    registry.depends(
        "ECSService", on="ECSCluster", find=lambda o: ["a", "b"], run=lambda x, log: ran.append(("svc", x))
    )
    registry.depends("ECSTask", on="ECSCluster", find=lambda o: ["t"], run=lambda x, log: ran.append(("task", x)))
    registry.depends(
        "ECSService", on="TaskDefinition", find=lambda o: ["web"], run=lambda x, log: ran.append(("svc", x))
    )
    registry.changed(changed_kind, {"metadata": {"name": "x"}}, logging.getLogger("test"))
    assert ran == want


def test_a_dependent_that_cannot_run_now_does_not_stop_the_others(registry, caplog):
    ran = []

    def run(x, log):
        if x == "busy":
            raise kopf.TemporaryError("conflict", delay=1)
        ran.append(x)

    registry.depends("ECSService", on="ECSCluster", find=lambda o: ["busy", "ok"], run=run)
    registry.changed("ECSCluster", {"metadata": {"name": "c"}}, logging.getLogger("test"))
    assert ran == ["ok"] and "ECSService busy will catch up" in caplog.text


def test_every_registered_dependency_names_kinds_the_operator_handles():
    import ecs_operator.handlers  # noqa: F401  (registers)

    kinds = {"ECSService", "ECSTask", "ECSCluster", "TaskDefinition", "Node", "CapacityProvider"}
    deps = wakeups.dependencies()
    assert deps and all(d.dependent in kinds and d.on in kinds for d in deps)
