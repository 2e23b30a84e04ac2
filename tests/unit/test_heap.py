import threading

import pytest
from ecs_operator import heap


def test_trim_runs_on_this_c_library():
    assert heap._libc("malloc_trim", []) is not None  # glibc (Debian): the operator image's C library too
    assert heap.trim() in (True, False)


def test_the_trimmer_releases_every_interval_until_the_block_ends():
    calls = threading.Semaphore(0)

    def release() -> bool:
        calls.release()
        return True

    with heap.HeapTrimmer(0.01, release) as trimmer:
        for _ in range(3):
            assert calls.acquire(timeout=5)
    rounds = trimmer.rounds
    assert rounds >= 3 and not trimmer._thread.is_alive()


def test_a_failing_release_never_stops_the_trimmer():
    calls = threading.Semaphore(0)

    def release() -> bool:
        calls.release()
        raise OSError("no")

    with heap.HeapTrimmer(0.01, release):
        assert calls.acquire(timeout=5) and calls.acquire(timeout=5)


@pytest.mark.parametrize(
    ("env", "want"),
    [
        ({}, {"MALLOC_ARENA_MAX": 2, "MALLOC_MMAP_THRESHOLD_": 131072}),
        ({"MALLOC_ARENA_MAX": "4"}, {"MALLOC_MMAP_THRESHOLD_": 131072}),
        ({"MALLOC_ARENA_MAX": "4", "MALLOC_MMAP_THRESHOLD_": "65536"}, {}),
        ({"MALLOC_ARENA_MAX": ""}, {"MALLOC_ARENA_MAX": 2, "MALLOC_MMAP_THRESHOLD_": 131072}),
    ],
)
def test_configure_sets_what_the_environment_does_not(env, want):
    assert heap.configure(env) == want
