"""structlog glue: the one place events are emitted.

The library never calls ``structlog.configure()``. Events are only emitted for
lifecycle steps, never per message, so logging costs nothing on the hot path.

Cost: with structlog configured as its docs advise for production (a filtering
bound logger, ``cache_logger_on_first_use=True``), an event below the level
costs a level check (`enabled`), and callers on busy lifecycle paths (a child
exiting or starting) skip building its fields. Unconfigured, structlog renders
every event to stdout (about 15 µs each).
"""

from __future__ import annotations

import contextvars
import logging
import sys
from types import FunctionType
from typing import Any, Final

import structlog

from .events import CATALOGUE, Event

_logger: Any = structlog.get_logger("supervise")

# Per event: its plain-str name, the logger method and its level number. Looked up
# once here, since ``Event.X.value`` (an enum descriptor) costs about as much as a
# filtered-out call.
_METHODS: dict[Event, tuple[str, str, int]] = {
    event: (
        event.value,
        CATALOGUE[event].level,
        logging.getLevelNamesMapping()[CATALOGUE[event].level.upper()],
    )
    for event in Event
}


def _structlog_vars() -> tuple[contextvars.ContextVar[Any], ...]:
    # structlog's own context variables for these keys (what bind_contextvars
    # sets and merge_contextvars reads), found through its public API.
    tokens = structlog.contextvars.bind_contextvars(actor=..., incarnation=..., tree=...)
    structlog.contextvars.reset_contextvars(**tokens)
    return tokens["actor"].var, tokens["incarnation"].var, tokens["tree"].var


_ACTOR, _INCARNATION, _TREE = _structlog_vars()


def incarnation_context(path: str, incarnation: int) -> contextvars.Context:
    """The context an incarnation's task runs in: the creator's, plus who is running.

    Everything the incarnation logs through structlog (with ``merge_contextvars``)
    then carries ``actor``, ``incarnation`` and ``tree``, and so do the tasks it
    creates, which copy it. Binding happens once per incarnation, in the copy the
    task would have made anyway, so it costs a few context-variable sets per
    start and nothing per message; it ends with the task.
    """
    context = contextvars.copy_context()
    context.run(bind_incarnation, path, incarnation)
    return context


def bind_incarnation(path: str, incarnation: int) -> None:
    """Bind who is running in the current context: `incarnation_context`'s binding.

    An actor's task calls it as its first step instead, in the context its task
    copied anyway: on a restart, that saves entering a context and a Python
    frame in the exiting task, inside the restart's latency.
    """
    _ACTOR.set(path)
    _INCARNATION.set(incarnation)
    tree = path.partition("/")[0]
    if _TREE.get() != tree:  # a supervisor starts its children in its own context: set
        _TREE.set(tree)


# The next log context of each actor that restarted, made ahead (`prepare_context`):
# path -> (the context it was made from, its incarnation number, the context).
# Bounded as `_launch`'s plans: more restarting actors than this only bind their own.
_prepared: dict[str, tuple[contextvars.Context, int, contextvars.Context]] = {}
_PREPARED_KEPT: Final = 256


def prepare_context(path: str, incarnation: int) -> None:
    """Make ``path``'s incarnation ``incarnation``'s context ahead: the current one, bound.

    A supervisor calls it after a restart, outside any restart's latency, for
    the next one (`take_context`).
    """
    current = contextvars.copy_context()
    context = current.copy()
    context.run(bind_incarnation, path, incarnation)
    if len(_prepared) >= _PREPARED_KEPT:
        _prepared.clear()
    _prepared[path] = (current, incarnation, context)


def take_context(path: str, incarnation: int) -> contextvars.Context | None:
    """The context `prepare_context` made for this incarnation, or None: bind one.

    Only while the current context is still the one it was made from, so that
    it is exactly what `incarnation_context` would make now. Contexts compare
    in O(1) while they share their contents (a supervisor's rarely changes);
    one changed since compares value by value.
    """
    prepared = _prepared.pop(path, None)
    if prepared is None or prepared[1] != incarnation or prepared[0] != contextvars.copy_context():
        return None
    return prepared[2]


def _dropped(logger: Any, number: int) -> bool:
    # Filtering bound loggers (structlog's default wrapper class) answer
    # is_enabled_for; with any other wrapper class, assume the event is wanted.
    is_enabled_for = getattr(logger, "is_enabled_for", None)
    return is_enabled_for is not None and not is_enabled_for(number)


# The answers of `enabled` for the logger structlog cached on first use, which no
# later configuration changes (``cache_logger_on_first_use``): the proxy's ``bind``
# is then the same function every time, and the answer for a level cannot change
# while it is. Saves a restart or a start about 0.2 µs per event checked.
_answered_for: object = None
_answers: dict[Event, bool] = {}


def enabled(event: Event) -> bool:
    """False if the configured logger drops ``event`` (so its fields need not be built)."""
    # bind() is what the lazy proxy runs on every attribute access; when structlog
    # caches loggers it returns the cached one without building anything. The
    # answer kept for the event first: a restart asks twice (about 40 ns each).
    bind = _logger.bind
    if bind is _answered_for:
        answer = _answers.get(event)
        if answer is not None:
            return answer
    return _enabled(event, bind)


def _enabled(event: Event, bind: Any) -> bool:
    global _answered_for
    try:
        answer = not _dropped(bind(), _METHODS[event][2])
    except Exception:
        return True  # a broken configuration: let emit() report it, once
    if type(bind) is FunctionType:  # the cached logger's (a method would be a new object)
        if bind is not _answered_for:
            _answers.clear()
            _answered_for = bind
        _answers[event] = answer
    return answer


_sink_failed = False


def emit(event: Event, **fields: object) -> None:
    """Log one catalogued lifecycle event with its fields.

    A failing log sink (a closed pipe, a full disk, a broken processor) must never
    take supervision down with it: the error is reported once on stderr and the
    runtime carries on, as the stdlib's ``logging`` does with ``handleError``.
    """
    name, level, number = _METHODS[event]
    try:
        logger = _logger.bind()
        if _dropped(logger, number):
            return
        if "tree" not in fields:  # given only where no path names it (the loop watchdog)
            path = fields.get("supervisor") or fields["actor"]
            fields["tree"] = str(path).partition("/")[0]
        # The event names its own actor: the context of whichever task emits it
        # (a sender's, a supervisor's) must not add a foreign actor or incarnation.
        actor = _ACTOR.set(...)
        incarnation = _INCARNATION.set(...)
        try:
            getattr(logger, level)(name, **fields)
        finally:
            _ACTOR.reset(actor)
            _INCARNATION.reset(incarnation)
    except Exception as exc:
        _report_sink_failure(name, exc)


def _report_sink_failure(name: str, exc: Exception) -> None:
    global _sink_failed
    if _sink_failed:
        return
    _sink_failed = True
    try:
        sys.stderr.write(
            f"supervise: logging the {name!r} event failed ({type(exc).__name__}: {exc}); "
            f"further logging failures are not reported\n"
        )
        sys.stderr.flush()
    except Exception:
        pass  # stderr is gone too; nothing more we can do
