from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO.parent / "shared" / "ecs-examples"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def examples() -> Path:
    if not EXAMPLES.is_dir():
        pytest.fail(f"shared examples not found at {EXAMPLES}")
    return EXAMPLES


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test that used the session's operator shows the operator's log since the test
    started (its tail), so a CI failure can be read without the machine."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    operator = getattr(item, "funcargs", {}).get("operator")
    if not (isinstance(operator, tuple) and len(operator) == 2):
        return
    log_path = operator[1]
    start = item.stash.get(_LOG_OFFSET, 0)
    try:
        with open(log_path, "rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
    except OSError:
        return
    report.sections.append(("operator log during the test (tail)", text[-12000:]))


_LOG_OFFSET = pytest.StashKey[int]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    operator = getattr(item, "funcargs", {}).get("operator")
    if isinstance(operator, tuple) and len(operator) == 2:
        try:
            item.stash[_LOG_OFFSET] = Path(operator[1]).stat().st_size
        except OSError:
            pass
    yield
