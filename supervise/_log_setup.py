"""`configure_logging`: one call to log a tree's events for an application that embeds it.

The library itself never configures logging. An application that has not set
up structlog can call this once, at start-up, to get what the ``supervise`` CLI
prints: one line per event with an ISO timestamp (UTC), the level, the event's
fields and the context of the actor that logged it (``actor``, ``incarnation``,
``tree``), as JSON lines or as colourful text for people.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Literal, TextIO

import structlog

from ._errors import SpecError

_LEVELS = ("debug", "info", "warning", "error")


def configure_logging(
    destination: str | os.PathLike[str] | TextIO | None = None,
    *,
    format: Literal["auto", "json", "console"] = "auto",
    level: str = "info",
    stdlib: bool = False,
) -> bool:
    """Log supervise's events (and the application's structlog events) as the CLI does.

    Nothing the application configured is changed: if structlog is configured
    already this does nothing and returns False; with ``stdlib=True``, a
    handler is added to the root logger only if it has none (otherwise the
    events go to the application's handlers as ``logging`` records whose
    message is the event name and whose extra attributes are its fields).

    Args:
        destination: a file path (appended to, one line per event), an open
            text stream, or None for standard error.
        format: ``json`` (JSON lines, for ``supervise logs`` and log collectors),
            ``console`` (for people; coloured on a terminal unless ``NO_COLOR`` is
            set), or ``auto``: console on a terminal, else JSON.
        level: drop events below this level (``debug``, ``info``, ``warning``, ``error``).
        stdlib: route events through the standard library's ``logging``, so that
            its handlers write them; records from other ``logging`` users are then
            rendered the same way and carry the actor context too.

    Returns:
        True if logging was configured, False if structlog was configured already.

    Raises:
        SpecError: ``level`` or ``format`` is not one of the names above.

    .. versionadded:: 0.1
    """
    if level.lower() not in _LEVELS:
        raise SpecError("configure_logging", f"level {level!r}: use one of {', '.join(_LEVELS)}")
    if format not in ("auto", "json", "console"):
        raise SpecError("configure_logging", f"format {format!r}: use one of auto, json, console")
    number = logging.getLevelNamesMapping()[level.upper()]
    if structlog.is_configured():
        return False
    stream: TextIO
    if destination is None:
        stream = sys.stderr
    elif isinstance(destination, str | os.PathLike):
        stream = open(destination, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (lives as long as the process logs)
    else:
        stream = destination
    if format == "auto":
        isatty = getattr(stream, "isatty", None)
        format = "console" if isatty is not None and isatty() else "json"
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if format == "json":
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        # https://no-color.org: a non-empty NO_COLOR turns colours off, even on a terminal.
        colors = bool(stream.isatty()) and not os.environ.get("NO_COLOR")
        # A plain traceback: rich's (structlog's default when rich is installed) prints
        # every frame's local variables (secrets in configs) and takes tens of
        # milliseconds per crash on the loop.
        renderer = structlog.dev.ConsoleRenderer(
            colors=colors, exception_formatter=structlog.dev.plain_traceback
        )
    if not stdlib:
        structlog.configure(
            processors=[*shared, renderer],
            wrapper_class=structlog.make_filtering_bound_logger(number),
            logger_factory=structlog.PrintLoggerFactory(stream),
            cache_logger_on_first_use=True,
        )
        return True
    root = logging.getLogger()
    if root.handlers:
        # The application's handlers and formatters write the records.
        last: Any = structlog.stdlib.render_to_log_kwargs
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
                foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            )
        )
        root.addHandler(handler)
        root.setLevel(number)
        last = structlog.stdlib.ProcessorFormatter.wrap_for_formatter
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_logger_name,
            *shared,
            last,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    return True
