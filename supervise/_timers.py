"""Timers owned by an actor: a message to itself after a delay, or every interval.

::

    class Poller(Actor[Tick | Timeout]):
        async def on_start(self) -> None:
            self.ticker = self.send_interval(5.0, Tick())    # every 5 s, fixed delay
            self.deadline = self.send_after(30.0, Timeout())

        async def handle(self, msg: Tick | Timeout) -> None:
            match msg:
                case Tick():
                    ...
                case Timeout():
                    self.ticker.cancel()

A timer belongs to the incarnation that set it: when the actor stops, crashes
or is restarted, its timers are cancelled with it, so a restarted actor starts
with none (set them again in ``on_start``). Timer messages go through the
actor's own mailbox, in order with every other message, and are checked
against the actor's declared types when the timer is set.

- **fixed delay** (default): each message is due ``interval`` seconds after
  the previous one was sent; a late loop pushes every later message back.
- **fixed rate** (``fixed_rate=True``): message *n* is due at
  ``start + n * interval``; after a stall the missed messages are sent at once
  to catch up, so the average rate holds.

A timer never waits and never grows a mailbox past its capacity: a message
that finds the mailbox full is dead-lettered (cause ``mailbox_full``) and an
interval timer carries on. Cancelling stops future messages; one already in
the mailbox stays there (as ``erlang:cancel_timer``).

Timers are ``loop.call_at`` handles, so they run on whatever clock the loop
keeps, including `supervise.testing.VirtualClockLoop`'s. Nothing here runs per
message: a timer costs one loop handle and one entry in the incarnation's exit
callbacks.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, cast, final

from ._errors import ActorNotRunningError, ArgumentError, MailboxFull
from ._mailbox import MailboxClosed

if TYPE_CHECKING:
    from ._process import ActorProcess, Process
    from ._ref import ActorRef


def _seconds(what: str, value: float, *, zero_ok: bool) -> float:
    ok = math.isfinite(value) and (value >= 0 if zero_ok else value > 0)
    if not ok:
        bound = ">= 0" if zero_ok else "> 0"
        raise ArgumentError(what, f"must be a finite number of seconds {bound}, got {value!r}")
    return float(value)


@final
class TimerHandle:
    """A timer set by `Actor.send_after` or `Actor.send_interval`: cancel it, inspect it.

    Attributes:
        interval: seconds between messages, or None for a one-shot timer.
        fixed_rate: whether an interval timer keeps a fixed rate (else a fixed delay).

    .. versionadded:: 0.1
    """

    __slots__ = ("_copy", "_due", "_handle", "_message", "_process", "fixed_rate", "interval")

    def __init__(
        self,
        process: ActorProcess,
        message: object,
        copy: bool,
        due: float,
        interval: float | None,
        fixed_rate: bool,
    ) -> None:
        self._process = process
        self._message = message
        self._copy = copy
        self._due = due
        self.interval: float | None = interval
        self.fixed_rate: bool = fixed_rate
        loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = loop.call_at(due, self._fire)
        process.add_exit_callback(self, self._owner_ended)

    def __repr__(self) -> str:
        kind = "once" if self.interval is None else f"every {self.interval:g}s"
        state = f"due at {self._due:g}" if self.active else "inactive"
        return f"<TimerHandle {type(self._message).__qualname__} {kind} {state}>"

    @property
    def active(self) -> bool:
        """Whether more messages will come (not cancelled, not fired if one-shot)."""
        return self._handle is not None

    @property
    def when(self) -> float | None:
        """The loop time (``loop.time()``) the next message is due, or None if inactive."""
        return self._due if self._handle is not None else None

    def cancel(self) -> bool:
        """Send no more messages (idempotent).

        Returns:
            True if the timer was active.
        """
        handle = self._handle
        if handle is None:
            return False
        self._handle = None
        handle.cancel()
        self._process.remove_exit_callback(self)
        return True

    def _owner_ended(self, process: Process) -> None:
        # The incarnation's timers die with it.
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()

    def _fire(self) -> None:
        process = self._process
        interval = self.interval
        if interval is None:
            self._handle = None
            process.remove_exit_callback(self)
        else:
            loop = asyncio.get_running_loop()
            self._due = self._due + interval if self.fixed_rate else loop.time() + interval
            self._handle = loop.call_at(self._due, self._fire)
        message = self._message
        if self._copy:  # a mutable message: each delivery is a fresh copy
            message = message.model_copy(deep=True)  # type: ignore[attr-defined]
        try:
            process.mailbox.put_nowait(message)
        except MailboxFull:
            process.child.dead_letters.add(process.path, message, "mailbox_full")
        except MailboxClosed:
            pass  # the incarnation is ending; its exit callbacks cancel this timer


def start_timer(
    process: ActorProcess,
    delay: float,
    message: object,
    interval: float | None,
    fixed_rate: bool,
) -> TimerHandle:
    """Set a timer delivering ``message`` to ``process``'s mailbox; see `Actor.send_after`."""
    if process.reason is not None:
        raise ActorNotRunningError(process.path)
    ref = cast("ActorRef[object]", process.child.ref)  # an actor's child slot
    # A private read across classes on purpose: refs sit a layer above timers (see
    # docs/architecture.md), so the timer cannot call into `_ref`.
    checked = ref._checked(message)  # MessageTypeError now, not when it fires
    loop = asyncio.get_running_loop()
    return TimerHandle(
        process, checked, checked is not message, loop.time() + delay, interval, fixed_rate
    )
