"""Helpers for testing code built on supervise.

- `capture_events`: record the lifecycle events a block emits, and wait for one.

Example::

    from supervise.testing import capture_events

    async def test_counter_heals() -> None:
        with capture_events() as events:
            async with open_tree(spec) as tree:
                tree.whereis("root/counter").kill()
                await events.wait_for("actor_restarted", actor="root/counter")
        assert events.names()[-1] == "supervisor_stopped"
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

from .events import Event

EventDict = dict[str, Any]


def _matches(entry: EventDict, event: str | None, fields: dict[str, object]) -> bool:
    if event is not None and entry.get("event") != event:
        return False
    return all(entry.get(key) == value for key, value in fields.items())


class EventLog:
    """The events captured so far, as dicts (``event`` holds the name), oldest first."""

    def __init__(self) -> None:
        self.entries: list[EventDict] = []
        self._waiters: list[tuple[Callable[[EventDict], bool], asyncio.Future[EventDict]]] = []

    def __call__(
        self, logger: object, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> Any:
        entry = dict(event_dict)
        entry.setdefault("log_level", method_name)
        self.entries.append(entry)
        if self._waiters:
            still = []
            for predicate, future in self._waiters:
                if future.done():
                    continue
                if predicate(entry):
                    future.set_result(entry)
                else:
                    still.append((predicate, future))
            self._waiters = still
        raise structlog.DropEvent

    def names(self) -> list[str]:
        """The event names, in order."""
        return [str(e.get("event")) for e in self.entries]

    def of(self, event: str | Event | None = None, **fields: object) -> list[EventDict]:
        """The entries with that name (any if None) whose fields have these values."""
        name = None if event is None else str(event)
        return [e for e in self.entries if _matches(e, name, fields)]

    def sequence(self, *events: str | Event, key: str = "actor") -> list[tuple[str, object]]:
        """``(event, entry[key])`` pairs for the named events, in order, to assert order."""
        wanted = {str(e) for e in events}
        return [(str(e["event"]), e.get(key)) for e in self.entries if e.get("event") in wanted]

    async def wait_for(
        self,
        event: str | Event | None = None,
        *,
        timeout: float = 10.0,
        count: int = 1,
        **fields: object,
    ) -> EventDict:
        """Wait until ``count`` matching events have been logged (past ones count); return the last.

        Raises:
            TimeoutError: with the events seen so far, if they do not come in ``timeout``.
        """
        name = None if event is None else str(event)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    seen = [e for e in self.entries if _matches(e, name, fields)]
                    if len(seen) >= count:
                        return seen[count - 1]
                    future: asyncio.Future[EventDict] = (
                        asyncio.get_running_loop().create_future()
                    )
                    self._waiters.append((lambda e: _matches(e, name, fields), future))
                    await future
        except TimeoutError:
            raise TimeoutError(
                f"waited {timeout:g} s for {count} x {name or 'any event'} {fields}; "
                f"events so far: {self.names()}"
            ) from None


@contextmanager
def capture_events() -> Iterator[EventLog]:
    """Capture structlog events (supervise's and the application's) within the block.

    Like ``structlog.testing.capture_logs``, the events are not printed. The
    previous structlog configuration is restored afterwards.
    """
    log = EventLog()
    old = structlog.get_config()
    structlog.configure(
        processors=[structlog.processors.add_log_level, log],
        cache_logger_on_first_use=False,
    )
    try:
        yield log
    finally:
        structlog.configure(**old)


__all__ = ["EventLog", "capture_events"]
