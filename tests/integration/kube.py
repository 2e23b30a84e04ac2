"""Small helpers for integration tests (real API server; no mocks)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.5, desc: str = "condition"
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
        except Exception as e:  # API hiccups while objects are being created
            last = e
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {desc}; last: {last!r}")
        time.sleep(interval)
