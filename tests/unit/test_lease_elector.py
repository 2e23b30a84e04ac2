"""The candidate's loops (k8s/lease.py Elector) over a fake Lease: no API server."""

from __future__ import annotations

import threading

import urllib3
from ecs_operator.k8s.lease import Elector
from ecs_operator.plans.leadership import Timing

FAST = Timing(lease_duration=2, renew_deadline=0.6, retry_period=0.1)


class FakeLock:
    """Answers rounds from a script: True (holds it), False (someone else), or an exception."""

    namespace, name, timing, holder_seen = "ns", "lease", FAST, "other_1"

    def __init__(self, answers):
        self.answers = list(answers)
        self.rounds = 0
        self.released = 0

    def round(self) -> bool:
        self.rounds += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def release(self) -> bool:
        self.released += 1
        return True


def test_a_standby_waits_until_it_wins_a_round():
    lock = FakeLock([False, urllib3.exceptions.ProtocolError("reset"), False, True])
    elector = Elector(lock, on_lost=lambda: None)
    assert elector.wait_to_lead(threading.Event()) is True
    assert lock.rounds == 4


def test_a_standby_stops_waiting_when_told():
    stop = threading.Event()
    stop.set()
    assert Elector(FakeLock([False]), on_lost=lambda: None).wait_to_lead(stop) is False


def test_a_leader_that_cannot_renew_gives_up_once():
    lost = threading.Event()
    calls = []
    lock = FakeLock([True, True, OSError("API server unreachable")])

    def on_lost():
        calls.append(1)
        lost.set()

    elector = Elector(lock, on_lost=on_lost)
    assert elector.wait_to_lead(threading.Event())
    elector.keep_leading()
    assert lost.wait(10), "the watchdog never ended the term"
    elector.resign()
    assert calls == [1]


def test_a_leader_that_renews_keeps_leading_and_releases_on_resign():
    lost = threading.Event()
    lock = FakeLock([True])
    lock.timing = Timing(lease_duration=6, renew_deadline=3.0, retry_period=0.1)  # generous: a busy machine
    elector = Elector(lock, on_lost=lost.set)
    assert elector.wait_to_lead(threading.Event())
    elector.keep_leading()
    # more than a renew deadline passes while every renewal succeeds
    assert not lost.wait(lock.timing.renew_deadline + 1)
    elector.resign()
    assert lock.released == 1
    assert lock.rounds > 3
