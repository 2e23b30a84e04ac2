import contextvars
import threading
import time

from ecs_operator.handlers._coalesce import Coalescer

VAR = contextvars.ContextVar("VAR")


def _wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_burst_of_pokes_runs_once_after_the_delay_with_the_pokers_context():
    runs = []
    c = Coalescer(lambda key: runs.append((key, VAR.get(None), time.monotonic())), delay=0.1)
    VAR.set("from-the-handler")
    start = time.monotonic()
    for _ in range(50):
        c.poke("svc")
    _wait(lambda: runs)
    time.sleep(0.2)
    assert [(k, v) for k, v, _ in runs] == [("svc", "from-the-handler")]
    assert runs[0][2] - start >= 0.1
    assert c.pending() == 0


def test_a_poke_during_a_run_schedules_one_more_and_keys_are_independent():
    started, release, runs = threading.Event(), threading.Event(), []

    def fn(key):
        runs.append(key)
        if key == "a" and len([k for k in runs if k == "a"]) == 1:
            started.set()
            release.wait(5)

    c = Coalescer(fn, delay=0.01)
    c.poke("a")
    assert started.wait(5)
    c.poke("a")  # arrives while "a" runs: one more run
    c.poke("b")  # another key is not held up by "a"
    _wait(lambda: "b" in runs)
    release.set()
    _wait(lambda: runs.count("a") == 2)


def test_a_failing_run_does_not_stop_the_coalescer():
    runs = []

    def fn(key):
        runs.append(key)
        if key == "bad":
            raise RuntimeError("boom")

    c = Coalescer(fn, delay=0.01)
    c.poke("bad")
    _wait(lambda: "bad" in runs)
    c.poke("good")
    _wait(lambda: "good" in runs)
