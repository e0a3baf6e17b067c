"""Alarms: callbacks run on an asyncio loop at a deadline, armed from one thread.

Why not ``loop.call_at``: while any timer is armed, asyncio's loop (its
``_run_once``, in Python) looks at its timer heap on every iteration. Call
timeouts (`supervise._deadlines`) keep a timer armed for as long as any timed
call is in flight, which under a steady stream of calls is always: about 600
instructions of a 50,000-instruction call round trip (callgrind, CPython 3.11),
1 % on a loop with no timer of its own. An alarm costs the loop nothing until
it rings: one thread sleeps until the earliest deadline and hands the callback
to its loop with ``call_soon_threadsafe``.

- Only for loops whose clock is ``time.monotonic`` (asyncio's own ``time``):
  the thread sleeps on that clock. uvloop keeps its timers in C, and a virtual
  clock (`supervise.testing`) is not the thread's; both keep ``call_at``.
- An alarm rings no earlier than its deadline; it may ring up to a millisecond
  late when alarms are dense (the thread wakes at most once a millisecond, so
  a program with many distinct deadlines does not keep it busy), and while
  the loop's thread holds the GIL, until the interpreter switches threads.
- The loop and the alarm's owner are held weakly: an alarm never keeps a
  closed loop, or anything of it, alive; one whose loop or owner has gone, or
  whose loop is closed, rings nowhere.
- After ``os.fork`` the child starts with no alarms and a thread of its own
  on first use (the parent's thread does not exist there).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Final, Protocol, final


class Ringing(Protocol):
    """An alarm's owner: ``ring()`` runs on the alarm's loop when it is due."""

    def ring(self) -> None: ...


#: The thread wakes at most this often (seconds): alarms due within it ring together.
GRANULARITY: Final = 0.001

_Due = tuple["weakref.ref[asyncio.AbstractEventLoop]", "weakref.ref[Ringing]"]
_Alarm = tuple[float, int, "weakref.ref[asyncio.AbstractEventLoop]", "weakref.ref[Ringing]"]


@final
class AlarmClock:
    """Alarms of every loop of this process, rung by one daemon thread started on first use."""

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # Fresh in a forked child too: the parent's lock may have been held at the fork.
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._alarms: list[_Alarm] = []  # a heap, the earliest first
        self._order = itertools.count()  # ties ring in the order they were set
        self._thread: threading.Thread | None = None

    def set(self, loop: asyncio.AbstractEventLoop, when: float, owner: Ringing) -> bool:
        """Run ``owner.ring()`` on ``loop`` once ``time.monotonic()`` reaches ``when``.

        Returns False, setting nothing, if the thread cannot be started (an
        interpreter without threads, or out of them): the caller arms a loop
        timer instead.
        """
        alarm: _Alarm = (when, next(self._order), weakref.ref(loop), weakref.ref(owner))
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="supervise-alarms", daemon=True)
                try:
                    thread.start()
                except RuntimeError:
                    return False
                self._thread = thread
            heapq.heappush(self._alarms, alarm)
            if self._alarms[0] is alarm:
                self._changed.notify()  # earlier than what the thread sleeps for
        return True

    def _run(self) -> None:
        while True:
            for loop_ref, owner_ref in self._next_due():
                loop, owner = loop_ref(), owner_ref()
                if loop is None or owner is None or loop.is_closed():
                    continue
                try:
                    loop.call_soon_threadsafe(owner.ring)
                except RuntimeError:
                    pass  # closed since the check: nothing there to ring
            time.sleep(GRANULARITY)  # what falls due meanwhile rings together, next

    def _next_due(self) -> list[_Due]:
        """Sleep until alarms are due, then take them."""
        alarms = self._alarms
        with self._lock:
            while True:
                if not alarms:
                    self._changed.wait()
                    continue
                left = alarms[0][0] - time.monotonic()
                if left > 0:
                    self._changed.wait(left)
                    continue
                now = time.monotonic()
                due: list[_Due] = []
                while alarms and alarms[0][0] <= now:
                    _, _, loop_ref, owner_ref = heapq.heappop(alarms)
                    due.append((loop_ref, owner_ref))
                return due


#: The process's alarm clock.
ALARMS: Final = AlarmClock()


def clock_of(loop: asyncio.AbstractEventLoop) -> Callable[[], float] | None:
    """``time.monotonic`` when ``loop.time`` is asyncio's own, which returns it; else None.

    Such a loop's deadlines can be read without a loop method (through
    ``loop.time()`` that is a Python frame more, about 50 ns) and its alarms
    rung by `ALARMS`; uvloop's clock is C, and a virtual clock
    (`supervise.testing`) or any loop overriding ``time`` keeps its own.
    """
    own = getattr(loop.time, "__func__", None) is asyncio.BaseEventLoop.time
    return time.monotonic if own else None
