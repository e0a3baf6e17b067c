"""The catalogue of lifecycle events supervise logs.

Events are part of the API: every name below is stable, and the fields listed
with it are always present (``exc_type``/``exc_message`` only where an exception
is involved). Every event is a structlog event whose ``event`` key is the name,
logged on the ``supervise`` logger. supervise never configures structlog; the
application (or the ``supervise`` CLI) does.

Common fields:

- ``actor``: the tree path of the child concerned, e.g. ``root/db/pool``.
- ``supervisor``: the tree path of its supervisor.
- ``incarnation``: how many times this child slot has been started (1 = first start).
- ``restart_count``: automatic restarts of this child slot so far.
- ``reason``: ``normal``, ``shutdown``, ``crash``, ``killed`` or ``nodedown``
  (plus ``reason_detail`` when a detail was given).
- ``tree``: the name of the tree (its root supervisor), on every event.

`CATALOGUE` holds each event's level and fields, for tools and tests.

Context: code running inside an incarnation (a handler, ``on_start``, ``on_stop``,
a supervised task, and tasks they create) logs with ``actor``, ``incarnation``
and ``tree`` bound as structlog context variables (`CONTEXT_FIELDS`), so its
own structlog events (and stdlib ``logging`` records routed through structlog's
``ProcessorFormatter``) carry them when ``merge_contextvars`` is among the
processors (it is in structlog's default configuration and in
``supervise.configure_logging``). Lifecycle events are not affected: they carry
exactly their catalogued fields.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


class Event(enum.StrEnum):
    """Every lifecycle event name, defined once."""

    #: A child started (its ``on_start`` returned). Fields: actor, supervisor,
    #: incarnation, restart_count.
    ACTOR_STARTED = "actor_started"
    #: A child ended normally (reason normal or shutdown). Fields: actor,
    #: supervisor, reason (and reason_detail when given; for a supervisor that gave
    #: up also exc_type and exc_message), incarnation, restart_count.
    ACTOR_STOPPED = "actor_stopped"
    #: A child ended abnormally (crash or killed). Fields: actor, supervisor,
    #: reason, incarnation, restart_count; for a crash also exc_type, exc_message
    #: and exc_info (the exception, which structlog renders as a traceback).
    ACTOR_CRASHED = "actor_crashed"
    #: A child was started again by its supervisor after an exit (logged just
    #: before its actor_started). Fields: actor, supervisor, incarnation, restart_count.
    ACTOR_RESTARTED = "actor_restarted"
    #: A child did not start: its ``on_start`` (or, for a plain task, its call)
    #: raised `supervise.Ignore`, OTP's ``ignore``. It is not restarted; a temporary
    #: child is dropped, others stay stopped. Fields: actor, supervisor,
    #: incarnation (of its last start), restart_count; reason_detail when the
    #: `Ignore` gave one.
    ACTOR_IGNORED = "actor_ignored"
    #: A child had to be killed: brutal_kill, or its shutdown timeout ran out.
    #: Fields: actor, supervisor, shutdown.
    ACTOR_KILLED = "actor_killed"
    #: A child did not end even after cancellation and was abandoned so that
    #: shutdown ends in bounded time. Fields: actor, supervisor.
    ACTOR_ABANDONED = "actor_abandoned"
    #: A child's start failed. Fields: actor, supervisor, exc_type, exc_message.
    START_FAILED = "start_failed"
    #: A supervisor exceeded max_restarts in max_seconds and gives up. Fields:
    #: supervisor, actor (the last child to exit), child_reason (how it exited),
    #: max_restarts, max_seconds. The supervisor then ends with ``shutdown``.
    RESTART_INTENSITY_EXCEEDED = "restart_intensity_exceeded"
    #: A supervisor started all its children. Fields: supervisor, strategy, children.
    SUPERVISOR_STARTED = "supervisor_started"
    #: A supervisor stopped (after stopping its children). Fields: supervisor, reason.
    SUPERVISOR_STOPPED = "supervisor_stopped"
    #: A message could not be delivered, or was still queued when its actor
    #: ended. Fields: actor, message_type, cause (not_running, actor_stopped,
    #: mailbox_full: a timer message found the mailbox full, or a cast from another
    #: node; nodedown: a cast to an actor on a node that is down).
    MESSAGE_DEAD_LETTERED = "message_dead_lettered"
    #: An exception escaped ``on_stop``; the stop goes ahead. Fields: actor,
    #: reason (``crash``: the exception from ``on_stop``), exc_type, exc_message.
    ON_STOP_FAILED = "on_stop_failed"
    #: The loop watchdog (``open_tree(..., watchdog=True)``, on in ``supervise run``)
    #: saw the event loop not turn for longer than the block threshold of whoever
    #: runs. Logged from the watchdog thread while the loop is still blocked.
    #: Fields: actor (the tree path of the actor, task or supervisor whose code
    #: runs, else the asyncio task's name, or ``-`` for a plain callback),
    #: blocked_seconds (so far), threshold, stack (the loop thread's stack); for an
    #: actor handling a message also message_type.
    EVENT_LOOP_BLOCKED = "event_loop_blocked"
    #: The blocked event loop turned again. Fields: actor, blocked_seconds (in
    #: all), on_block (``warn`` or ``crash``: the actor is crashed once its
    #: handler returns).
    EVENT_LOOP_UNBLOCKED = "event_loop_unblocked"
    #: Across nodes (the ``nats`` extra): another node's heartbeats arrive (first
    #: seen, back after a node_down, or a new incarnation). Fields: node (this node),
    #: peer (the other node), incarnation (its process's id), labels; supervisor (the
    #: root of the tree this node runs, if it runs one: ``supervise logs --actor ROOT``
    #: keeps the node's events, ``--tree`` shows the node the root runs on).
    NODE_UP = "node_up"
    #: Another node was declared down; requests pending to it failed with
    #: ``NodeDownError``. Fields: node, peer, how (``disconnect``: the server saw its
    #: connection close; ``heartbeat``: none for misses x interval; ``no_responders``:
    #: nothing answered on its subjects; ``restarted``: a new incarnation); supervisor
    #: (as for node_up).
    NODE_DOWN = "node_down"
    #: This node was cut off from the server, or its own event loop stalled, for
    #: misses x heartbeat: the other nodes count it down; or it left its name to another
    #: process that joined under it at the same moment. Fields: node, how
    #: (``disconnected``, ``frozen`` or ``name_taken``), seconds; supervisor (as for
    #: node_up).
    NODE_ISOLATED = "node_isolated"
    #: A payload on a supervise subject was oversized or not a valid envelope (or a
    #: message its actor does not accept) and was dropped. Fields: node, subject,
    #: size (bytes), problem.
    MESSAGE_REJECTED = "message_rejected"
    #: A placed child (an actor or a subtree) started on a node of the cluster
    #: (logged before its actor_started). Fields: actor, supervisor, node, incarnation.
    SUBTREE_PLACED = "subtree_placed"
    #: A placed child started on another node than its previous incarnation (its
    #: node was lost, or its placement chose another): logged before its
    #: subtree_placed. Fields: actor, supervisor, from_node, node.
    SUBTREE_RELOCATED = "subtree_relocated"


@dataclass(frozen=True)
class EventFields:
    """One event's level and fields.

    Attributes:
        level: the level it is logged at (``info``, ``warning`` or ``error``).
        fields: the fields always present, ``tree`` included.
        optional: the fields present only where they apply (an exception, a detail).

    .. versionadded:: 0.1
    """

    level: str
    fields: frozenset[str]
    optional: frozenset[str] = frozenset()


def _spec(level: str, fields: str, optional: str = "") -> EventFields:
    return EventFields(level, frozenset(["tree", *fields.split()]), frozenset(optional.split()))


_REASON_EXC: Final = "reason_detail exc_type exc_message"

CATALOGUE: Final[Mapping[Event, EventFields]] = {
    Event.ACTOR_STARTED: _spec("info", "actor supervisor incarnation restart_count"),
    Event.ACTOR_RESTARTED: _spec("info", "actor supervisor incarnation restart_count"),
    Event.ACTOR_STOPPED: _spec(
        # exc_*: a child supervisor that gave up (RestartIntensityExceeded).
        "info",
        "actor supervisor reason incarnation restart_count",
        _REASON_EXC,
    ),
    Event.ACTOR_CRASHED: _spec(
        "error", "actor supervisor reason incarnation restart_count", f"{_REASON_EXC} exc_info"
    ),
    Event.ACTOR_IGNORED: _spec(
        "info", "actor supervisor incarnation restart_count", "reason_detail"
    ),
    Event.ACTOR_KILLED: _spec("warning", "actor supervisor shutdown"),
    Event.ACTOR_ABANDONED: _spec("error", "actor supervisor"),
    Event.START_FAILED: _spec("error", "actor supervisor exc_type exc_message"),
    Event.RESTART_INTENSITY_EXCEEDED: _spec(
        "error", "supervisor actor child_reason max_restarts max_seconds"
    ),
    Event.SUPERVISOR_STARTED: _spec("info", "supervisor strategy children"),
    Event.SUPERVISOR_STOPPED: _spec("info", "supervisor reason", _REASON_EXC),
    Event.MESSAGE_DEAD_LETTERED: _spec("warning", "actor message_type cause"),
    Event.ON_STOP_FAILED: _spec("warning", "actor reason exc_type exc_message"),
    Event.EVENT_LOOP_BLOCKED: _spec(
        "warning", "actor blocked_seconds threshold stack", "message_type"
    ),
    Event.EVENT_LOOP_UNBLOCKED: _spec("warning", "actor blocked_seconds on_block"),
    Event.NODE_UP: _spec("info", "node peer incarnation labels", "supervisor"),
    Event.NODE_DOWN: _spec("error", "node peer how", "supervisor"),
    Event.NODE_ISOLATED: _spec("warning", "node how seconds", "supervisor"),
    Event.MESSAGE_REJECTED: _spec("warning", "node subject size problem"),
    Event.SUBTREE_PLACED: _spec("info", "actor supervisor node incarnation"),
    Event.SUBTREE_RELOCATED: _spec("warning", "actor supervisor from_node node"),
}
"""Every event's level and fields; ``exc_info`` is the exception object, which a
JSON renderer (``format_exc_info``) writes as the ``exception`` traceback text.
"""

NODE_EVENTS: Final = frozenset(
    {
        Event.NODE_UP,
        Event.NODE_DOWN,
        Event.NODE_ISOLATED,
        Event.MESSAGE_REJECTED,
        Event.SUBTREE_PLACED,
        Event.SUBTREE_RELOCATED,
    }
)
"""The events of a node in a cluster (the ``nats`` extra), logged by its connection: their
``tree`` is the tree the node runs (``-`` if none); node_up, node_down and node_isolated
also name its root as ``supervisor`` (when it runs a tree).
"""

CONTEXT_FIELDS: Final = ("actor", "incarnation", "tree")
"""The context bound for code running inside an incarnation (see the module docs)."""

__all__ = ["CATALOGUE", "CONTEXT_FIELDS", "NODE_EVENTS", "Event", "EventFields"]
