"""The dead-letter sink: messages that could not be delivered are logged and counted.

OTP drops such messages silently; we do not. A message is dead-lettered when it
is cast to an actor that is not running, or is still queued when its actor
ends (a queued call also fails its caller with `ActorExitedError`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from . import _log
from .events import Event


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One undelivered message.

    Attributes:
        actor: the tree path it was sent to.
        message: the message itself.
        cause: ``not_running`` (nothing ran behind the ref), ``actor_stopped``
            (it was queued when the actor ended) or ``mailbox_full`` (a timer's
            message found the mailbox full; timers never wait).
    """

    actor: str
    message: object
    cause: str


class DeadLetters:
    """Counts undelivered messages and keeps the most recent ones.

    Attributes:
        count: messages dead-lettered since the tree started.
        by_cause: the same count per cause (``not_running``, ...).
        recent: the last ``keep`` dead letters, oldest first.
    """

    __slots__ = ("by_cause", "count", "recent")

    def __init__(self, keep: int = 100) -> None:
        self.count: int = 0
        self.by_cause: dict[str, int] = {}
        self.recent: deque[DeadLetter] = deque(maxlen=keep)

    def add(self, actor: str, message: object, cause: str, tree: str | None = None) -> None:
        """Record and log one undelivered message.

        ``tree``: the tree's name, for an ``actor`` that is no path of it
        (``name@node``, an actor on another node); else it is the path's first part.
        """
        self.count += 1
        self.by_cause[cause] = self.by_cause.get(cause, 0) + 1
        self.recent.append(DeadLetter(actor, message, cause))
        fields: dict[str, object] = {} if tree is None else {"tree": tree}
        _log.emit(
            Event.MESSAGE_DEAD_LETTERED,
            actor=actor,
            message_type=type(message).__qualname__,
            cause=cause,
            **fields,
        )
