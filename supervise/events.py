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
- ``reason``: ``normal``, ``shutdown``, ``crash`` or ``killed``
  (plus ``reason_detail`` when a detail was given).
"""

from __future__ import annotations

import enum


class Event(enum.StrEnum):
    """Every lifecycle event name, defined once."""

    #: A child started (its ``on_start`` returned). Fields: actor, supervisor,
    #: incarnation, restart_count.
    ACTOR_STARTED = "actor_started"
    #: A child ended normally (reason normal or shutdown). Fields: actor,
    #: supervisor, reason, incarnation.
    ACTOR_STOPPED = "actor_stopped"
    #: A child ended abnormally (crash or killed). Fields: actor, supervisor,
    #: reason, incarnation, restart_count; for a crash also exc_type, exc_message
    #: and exc_info (the exception, which structlog renders as a traceback).
    ACTOR_CRASHED = "actor_crashed"
    #: A child was started again by its supervisor after an exit (logged just
    #: before its actor_started). Fields: actor, supervisor, incarnation, restart_count.
    ACTOR_RESTARTED = "actor_restarted"
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
    #: mailbox_full: a timer message found the mailbox full).
    MESSAGE_DEAD_LETTERED = "message_dead_lettered"
    #: An exception escaped ``on_stop``; the stop goes ahead. Fields: actor,
    #: exc_type, exc_message.
    ON_STOP_FAILED = "on_stop_failed"


__all__ = ["Event"]
