"""Leader election's rules (plans/leadership.py): what a candidate does with the Lease it read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ecs_operator.plans.leadership import Action, Record, Seen, Timing, decide, lost, micro_time, released

T = Timing(lease_duration=8, renew_deadline=6, retry_period=2)
WALL = datetime(2026, 12, 2, 5, 0, 0, 123456, tzinfo=UTC)
STAMP = "2026-12-02T05:00:00.123456Z"
OTHER = Record(
    holder="b_1", lease_duration=8, acquire_time="2026-12-02T04:00:00.000000Z", renew_time="x", transitions=3
)


@pytest.mark.parametrize(
    ("record", "seen", "now", "action", "transitions", "seen_since"),
    [
        # no Lease: create it, first holder
        (None, None, 100.0, Action.CREATE, 0, None),
        # mine: renew, transitions unchanged
        (Record(holder="a_1", lease_duration=8, acquire_time="t0", transitions=2), None, 100.0, Action.RENEW, 2, None),
        # released (no holder): take it at once, one more transition
        (Record(holder="", lease_duration=1, transitions=3), None, 100.0, Action.TAKE, 4, None),
        # someone else's, first seen now: wait a full lease duration by our own clock
        (OTHER, None, 100.0, Action.WAIT, None, 100.0),
        # the same record seen 7.9 s ago: still waiting
        (OTHER, Seen(OTHER, 92.1), 100.0, Action.WAIT, None, 92.1),
        # the same record unchanged for 8 s: expired, take it
        (OTHER, Seen(OTHER, 92.0), 100.0, Action.TAKE, 4, 92.0),
        # the holder renewed meanwhile (the record changed): the wait starts again
        (
            OTHER,
            Seen(Record(holder="b_1", lease_duration=8, renew_time="older"), 50.0),
            100.0,
            Action.WAIT,
            None,
            100.0,
        ),
        # a record with no duration counts as 1 s, never as expired already
        (Record(holder="b_1"), None, 100.0, Action.WAIT, None, 100.0),
        (Record(holder="b_1"), Seen(Record(holder="b_1"), 99.0), 100.0, Action.TAKE, 1, 99.0),
    ],
)
def test_decide(record, seen, now, action, transitions, seen_since):
    d = decide(record, "a_1", now=now, wall=WALL, seen=seen, timing=T)
    assert d.action is action
    assert (d.seen.since if d.seen else None) == seen_since
    if action is Action.WAIT:
        assert d.spec is None
        assert 0 < d.expires_in <= T.lease_duration
        return
    assert d.spec["holderIdentity"] == "a_1"
    assert d.spec["leaseDurationSeconds"] == 8
    assert d.spec["renewTime"] == STAMP
    assert d.spec["leaseTransitions"] == transitions
    # taking or creating starts a new term; renewing keeps its start
    assert d.spec["acquireTime"] == ("t0" if action is Action.RENEW else STAMP)


@pytest.mark.parametrize(
    ("last", "now", "expected"), [(100.0, 105.9, False), (100.0, 106.0, True), (100.0, 100.0, False), (0.0, 50.0, True)]
)
def test_lost_after_the_renew_deadline(last, now, expected):
    assert lost(last, now, T) is expected


def test_released_names_nobody_and_keeps_the_history():
    spec = released(OTHER, WALL)
    assert "holderIdentity" not in spec
    assert spec == {
        "leaseDurationSeconds": 1,
        "renewTime": STAMP,
        "acquireTime": OTHER.acquire_time,
        "leaseTransitions": 3,
    }
    # a candidate reading the released Lease takes it at once
    d = decide(Record.from_spec(spec), "c_1", now=0.0, wall=WALL, seen=None, timing=T)
    assert d.action is Action.TAKE
    assert d.spec["leaseTransitions"] == 4


def test_record_from_a_lease_spec():
    spec = {
        "holderIdentity": "x",
        "leaseDurationSeconds": 10,
        "acquireTime": "a",
        "renewTime": "r",
        "leaseTransitions": 5,
    }
    assert Record.from_spec(spec) == Record("x", 10, "a", "r", 5)
    assert Record.from_spec(None) == Record()
    assert Record.from_spec({"holderIdentity": None}) == Record()


@pytest.mark.parametrize(("duration", "deadline", "retry"), [(8, 8, 2), (8, 6, 6), (8, 6, 0), (5, 6, 2)])
def test_timing_must_let_a_leader_stop_before_its_lease_expires(duration, deadline, retry):
    with pytest.raises(ValueError, match="lease_duration > renew_deadline > retry_period"):
        Timing(duration, deadline, retry)


def test_micro_time_is_utc_with_microseconds():
    from datetime import timedelta, timezone

    assert micro_time(WALL.astimezone(timezone(timedelta(hours=2)))) == STAMP
