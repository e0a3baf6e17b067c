from __future__ import annotations

from collections.abc import Iterator

import pytest

from supervise.testing import EventLog, capture_events


@pytest.fixture
def events() -> Iterator[EventLog]:
    """Lifecycle events logged during the test."""
    with capture_events() as log:
        yield log


@pytest.fixture(autouse=True)
def _clear_stops() -> Iterator[None]:
    from _support import STOPS

    STOPS.clear()
    yield
    STOPS.clear()
