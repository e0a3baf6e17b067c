"""Call timeouts without a loop timer per call.

A ``loop.call_later`` per call, cancelled when the reply comes, costs about
1.5 µs (a `TimerHandle`, a heap push and pop, the loop's cancelled-timer
bookkeeping): a quarter of a call round trip on asyncio. Calls made with the
same timeout expire in the order they were made, so the calls in flight with
one timeout value wait together in an insertion-ordered dict (a `_Bucket`),
under one timer armed for the oldest of them (an alarm, `supervise._alarms`,
on asyncio's own loop; ``loop.call_at`` on others):

- a call adds its entry (`CallTimeouts.add`) and discards it from the bucket
  (``bucket.discard``) when it ends, however it ends;
- when the timer fires, every call whose deadline has passed fails with
  `Expired`, which its caller turns into `CallTimeoutError` (it knows the actor
  and the message), and the timer is armed again for the oldest call left.

Each call still times out at its own deadline, on the loop's clock (so on a
virtual-clock test loop too); the only difference from a timer per call is
that at most one timer per timeout value is armed at a time. A bucket that
fires with nothing left in flight is dropped, so callers that compute a new
timeout for every call cost no more than a timer per call.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, Final, final

from ._alarms import ALARMS, clock_of


class Expired(Exception):
    """The exception a timed-out call's future gets; the caller raises `CallTimeoutError`.

    The caller knows the actor and the message; keeping them beside every call's
    deadline (a tuple per call) cost a call round trip about 1 % (CPython 3.11).
    """


@final
class _Bucket:
    """The calls in flight with one timeout value, oldest first, and their timer."""

    # No reference to the loop (the loop-keyed weak dict must not keep it alive):
    # `add` is given it, and `ring` runs on it.
    __slots__ = (
        "__weakref__",
        "_armed_for",
        "_buckets",
        "armed",
        "clock",
        "discard",
        "pending",
        "timeout",
    )

    def __init__(
        self,
        timeout: float,
        buckets: dict[float, _Bucket],
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._buckets = buckets
        self.timeout: float = timeout
        #: The loop's clock when reading it needs no loop method (`clock_of`), else
        #: None: read ``loop.time()``. With a clock, the timer is an alarm.
        self.clock: Callable[[], float] | None = clock
        #: future -> deadline; deadlines never decrease. A caller on the busy path
        #: adds its entry itself, then calls `arm` unless ``armed`` (what `add`
        #: does, without its Python frame).
        self.pending: dict[asyncio.Future[Any], float] = {}
        #: ``discard(future, None)``: forget a call that has ended, however it ended.
        #: The dict's own ``pop``, bound once: a method of ours would cost every
        #: call with a timeout another Python frame (about 50 ns).
        self.discard: Callable[[asyncio.Future[Any], None], float | None] = self.pending.pop
        #: Whether its timer is armed (for the oldest call in flight).
        self.armed: bool = False
        self._armed_for = 0.0

    def __len__(self) -> int:
        """Calls in flight."""
        return len(self.pending)

    def add(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]) -> None:
        """Fail ``future`` with `Expired` ``timeout`` seconds from now unless discarded."""
        deadline = loop.time() + self.timeout
        self.pending[future] = deadline
        if not self.armed:
            self.arm(loop, deadline)

    def arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Arm the timer for ``deadline``, the oldest call's (none is armed)."""
        self._armed_for = deadline
        self.armed = True
        if self.clock is None or not ALARMS.set(loop, deadline, self):
            loop.call_at(deadline, self.ring)

    def ring(self) -> None:
        """The timer is due: fail the calls past their deadline, arm it for the next one."""
        self.armed = False
        loop = asyncio.get_running_loop()
        # The loop may run a timer up to its clock resolution early: whatever
        # was due by the deadline the timer was armed for is due now.
        now = max(loop.time(), self._armed_for)
        pending = self.pending
        expired: list[asyncio.Future[Any]] = []
        for future, deadline in pending.items():
            if deadline > now:
                self.arm(loop, deadline)
                break
            expired.append(future)
        for future in expired:
            del pending[future]
            if not future.done():
                future.set_exception(Expired())
        if not self.armed and self._buckets.get(self.timeout) is self:
            del self._buckets[self.timeout]  # nothing in flight: a later call starts afresh


@final
class CallTimeouts:
    """The timeout buckets of one event loop."""

    __slots__ = ("_buckets", "_clock")

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._buckets: dict[float, _Bucket] = {}
        self._clock = clock

    def add(
        self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], timeout: float
    ) -> _Bucket:
        """Fail ``future`` with `Expired` after ``timeout``.

        ``bucket.discard(future, None)`` when the call ends, however it ends.
        """
        bucket = self.bucket(timeout)
        bucket.add(loop, future)
        return bucket

    def bucket(self, timeout: float) -> _Bucket:
        """The bucket of the calls in flight with ``timeout`` (created on first use)."""
        bucket = self._buckets.get(timeout)
        if bucket is None:
            bucket = self._buckets[timeout] = _Bucket(timeout, self._buckets, self._clock)
        return bucket


_by_loop: Final[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CallTimeouts]] = (
    weakref.WeakKeyDictionary()
)
# The last loop asked for and its CallTimeouts, as one tuple so that threads
# running loops of their own never read a mismatched pair. The loop is held
# weakly so that a closed loop can be collected. Kept, measured: every call with
# a timeout asks for its loop's CallTimeouts; the weak dict's lookup costs about
# 110 ns, this check about 60 ns (`python -m timeit`, CPython 3.11). It is only
# this module's own state: nothing outside reads or writes it.
_last: tuple[weakref.ref[asyncio.AbstractEventLoop], CallTimeouts] | None = None


def call_timeouts(loop: asyncio.AbstractEventLoop) -> CallTimeouts:
    """The `CallTimeouts` of ``loop`` (created on first use, dropped with the loop)."""
    global _last
    last = _last
    if last is not None and last[0]() is loop:
        return last[1]
    timeouts = _by_loop.get(loop)
    if timeouts is None:
        # A loop closed with timed calls in flight is kept alive by their futures
        # (a value of the weak dict referring to its own key): forget such loops
        # when another one first makes a call, so they can be collected.
        for old in [old for old in list(_by_loop) if old.is_closed()]:
            del _by_loop[old]
        timeouts = _by_loop[loop] = CallTimeouts(clock_of(loop))
    _last = (weakref.ref(loop), timeouts)
    return timeouts
