"""structlog glue: the one place events are emitted.

The library never calls ``structlog.configure()``. Events are only emitted for
lifecycle steps, never per message, so logging costs nothing on the hot path.
"""

from __future__ import annotations

from typing import Any

import structlog

from .events import Event

_logger: Any = structlog.get_logger("supervise")

# Lifecycle steps that mean trouble are logged at error/warning level, the rest at info.
_LEVELS: dict[Event, str] = {
    Event.ACTOR_CRASHED: "error",
    Event.START_FAILED: "error",
    Event.RESTART_INTENSITY_EXCEEDED: "error",
    Event.ACTOR_KILLED: "warning",
    Event.ACTOR_ABANDONED: "error",
    Event.MESSAGE_DEAD_LETTERED: "warning",
    Event.ON_STOP_FAILED: "warning",
}


# Per event: its plain-str name and the logger method. Looked up once here, since
# ``Event.X.value`` (an enum descriptor) costs about as much as a filtered-out call.
_METHODS: dict[Event, tuple[str, str]] = {
    event: (event.value, _LEVELS.get(event, "info")) for event in Event
}


def emit(event: Event, **fields: object) -> None:
    """Log one catalogued lifecycle event with its fields."""
    name, level = _METHODS[event]
    getattr(_logger, level)(name, **fields)
