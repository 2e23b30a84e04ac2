"""Leader election over a coordination.k8s.io/v1 Lease (pure): what one candidate does next,
from the Lease it just read, its own identity and the time.

The rules are client-go's (and so controller-runtime's):

- no Lease: create it, holding it;
- the Lease names me: renew it (``renewTime`` = now);
- the Lease names nobody (released by a leader that stopped cleanly): take it at once;
- the Lease names someone else: take it only when this candidate has seen the same record
  unchanged for ``leaseDurationSeconds`` by its *own* clock. The holder's ``renewTime`` is
  never compared with our clock, so clock skew between machines cannot make two leaders.

A leader that could not renew for ``renew_deadline`` has lost: it stops reconciling (the
process exits; a restarted process is a fresh candidate). ``renew_deadline`` is shorter than
``lease_duration``, so the old leader has stopped before anyone else may take the Lease.

Times: ``now`` is monotonic seconds (for expiry), ``wall`` the wall clock written into the Lease
(for people and for other tools reading it); both are passed in.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: The Lease's timestamps are metav1.MicroTime: RFC 3339 with microseconds, in UTC.
_MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class Timing:
    """How long a Lease lasts unrenewed, how long a leader keeps trying to renew before it
    gives up, and how often every candidate acts. Failover after a leader dies without
    releasing takes at most ``lease_duration + retry_period`` (plus the new leader's start)."""

    lease_duration: int = 8
    renew_deadline: float = 6.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError(
                "leader election needs lease_duration > renew_deadline > retry_period > 0, got "
                f"{self.lease_duration}, {self.renew_deadline}, {self.retry_period}"
            )


@dataclass(frozen=True)
class Record:
    """The fields of a Lease's spec that election reads (``holder`` empty: nobody holds it)."""

    holder: str = ""
    lease_duration: int = 0
    acquire_time: str | None = None
    renew_time: str | None = None
    transitions: int = 0

    @classmethod
    def from_spec(cls, spec: dict[str, Any] | None) -> Record:
        spec = spec or {}
        return cls(
            holder=spec.get("holderIdentity") or "",
            lease_duration=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            transitions=int(spec.get("leaseTransitions") or 0),
        )


@dataclass(frozen=True)
class Seen:
    """A record as this candidate last saw it, and when (its monotonic clock) it first saw it so."""

    record: Record
    since: float


class Action(enum.Enum):
    CREATE = "create"  # no Lease yet: create it holding it
    TAKE = "take"  # free or expired: replace it (resourceVersion precondition) holding it
    RENEW = "renew"  # mine: replace it with a fresh renewTime
    WAIT = "wait"  # someone else's and alive


@dataclass(frozen=True)
class Decision:
    action: Action
    #: what to remember for the next round
    seen: Seen | None
    #: the Lease spec to write (None when waiting)
    spec: dict[str, Any] | None = None
    #: seconds until the current holder's Lease may expire, as far as we know (WAIT only)
    expires_in: float = 0.0


def micro_time(wall: datetime) -> str:
    return wall.astimezone(UTC).strftime(_MICRO)


def decide(
    record: Record | None, me: str, *, now: float, wall: datetime, seen: Seen | None, timing: Timing
) -> Decision:
    """What the candidate ``me`` does with the Lease it read (``record``; None: there is none)."""
    stamp = micro_time(wall)
    if record is None:
        return Decision(Action.CREATE, None, _spec(me, timing, acquired=stamp, renewed=stamp, transitions=0))
    if record.holder == me:
        return Decision(
            Action.RENEW,
            None,
            _spec(me, timing, acquired=record.acquire_time or stamp, renewed=stamp, transitions=record.transitions),
        )
    taken = _spec(me, timing, acquired=stamp, renewed=stamp, transitions=record.transitions + 1)
    if not record.holder:
        return Decision(Action.TAKE, None, taken)
    if seen is None or seen.record != record:
        seen = Seen(record, now)
    left = seen.since + max(record.lease_duration, 1) - now
    if left <= 0:
        return Decision(Action.TAKE, seen, taken)
    return Decision(Action.WAIT, seen, expires_in=left)


def lost(last_renewed: float, now: float, timing: Timing) -> bool:
    """A leader whose last successful renewal (monotonic) is ``renew_deadline`` old has lost."""
    return now - last_renewed >= timing.renew_deadline


def released(record: Record, wall: datetime) -> dict[str, Any]:
    """The spec a leader that stops cleanly writes: nobody holds it, so a standby takes it at
    its next round instead of waiting for it to expire. Transitions are kept."""
    spec: dict[str, Any] = {"leaseDurationSeconds": 1, "renewTime": micro_time(wall)}
    if record.acquire_time:
        spec["acquireTime"] = record.acquire_time
    spec["leaseTransitions"] = record.transitions
    return spec


def _spec(me: str, timing: Timing, *, acquired: str, renewed: str, transitions: int) -> dict[str, Any]:
    return {
        "holderIdentity": me,
        "leaseDurationSeconds": timing.lease_duration,
        "acquireTime": acquired,
        "renewTime": renewed,
        "leaseTransitions": transitions,
    }
