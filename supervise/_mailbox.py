"""A bounded FIFO mailbox: one consumer, many senders.

Why not ``asyncio.Queue``: an actor's mailbox has exactly one consumer, so a
deque plus a single waiter future is enough. The actor drains every queued
message without touching the loop in between (``Queue.get`` costs a coroutine
per message), and an idle mailbox is a fraction of a Queue's size.

Overflow: when the mailbox holds ``capacity`` messages, `put` waits for room
(backpressure, the default) and `put_nowait` raises `MailboxFull`. Senders that
wait are served in the order they started waiting, so each sender's messages
stay in the order it sent them.

Hand-over: an item put into the empty mailbox of a parked consumer never
enters the deque; the consumer's waiter future is resolved with the item itself
(it wakes with the item in hand), which saves a deque append, a popleft and the
consumer's checks of the deque: about 2 % of a call round trip on asyncio
(callgrind, CPython 3.11). A consumer leaving its wait by an exception gives a
handed item back (`take_back`), so nothing is lost to a cancellation.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from ._errors import MailboxFull

T = TypeVar("T")

#: asyncio's own ``create_future``: ``Future(loop=loop)`` in a Python method. Where a
#: loop keeps it, the mailbox's consumer and callers make their futures directly,
#: about 25 ns less per future (two per call round trip; `python -m timeit`,
#: CPython 3.11). A loop with a ``create_future`` of its own keeps it.
_BASE_CREATE_FUTURE: Final = asyncio.BaseEventLoop.create_future


class MailboxClosed(Exception):
    """Internal: the mailbox's actor has ended; the item was not queued."""


@dataclass(frozen=True, slots=True)
class MailboxStatistics:
    """A snapshot of a mailbox.

    Attributes:
        size: messages queued now.
        capacity: the most it holds (None: unbounded).
        waiting_senders: senders waiting for room.
        closed: whether its actor has ended.
    """

    size: int
    capacity: int | None
    waiting_senders: int
    closed: bool


class Mailbox(Generic[T]):
    """A bounded FIFO with one consumer.

    Args:
        owner: the tree path of the owning actor, for error messages.
        capacity: the most messages it holds, or None for no bound.
    """

    __slots__ = (
        "_capacity",
        "_closed",
        "_owner",
        "high_water",
        "items",
        "loop",
        "parked",
        "plain_futures",
        "putters",
    )

    def __init__(self, owner: str, capacity: int | None) -> None:
        self._owner = owner
        self._capacity = capacity
        #: The queued items, oldest first; None until the first item (an empty
        #: deque is about 600 bytes, most of an idle actor's mailbox, and many
        #: actors of a big pool sit idle). The one consumer reads it to see
        #: whether to wait (``if not mailbox.items: await mailbox.waiter()``) and
        #: then calls `get_nowait`; only the mailbox's methods change it. A
        #: ``take()`` returning an EMPTY sentinel instead measured about 10 ns
        #: slower per message (CPython 3.11), 2-3% of a cast (W3).
        self.items: deque[T] | None = None
        #: The consumer's future while it is parked waiting for a message, None
        #: while it runs: a caller reads it to know that the consumer is not the
        #: task calling (`ActorRef.call`'s self-call check) without asking asyncio.
        #: Whoever resolves it clears it first; it resolves with the item handed
        #: over, or None when the consumer is only woken (see `waiter`).
        self.parked: asyncio.Future[T | None] | None = None
        #: The consumer's event loop, set before it first parks: a caller that
        #: finds it parked reads it here (`asyncio.get_running_loop` costs a
        #: getpid() system call on CPython 3.11, about 0.2 µs).
        self.loop: asyncio.AbstractEventLoop | None = None
        #: Whether ``loop`` makes plain asyncio futures (`bind`): then
        #: ``asyncio.Future(loop=loop)`` is its ``create_future()``, made directly.
        self.plain_futures: bool = False
        #: Senders waiting for room, oldest first; created on first need. The
        #: consumer that takes an item itself (not through `get_nowait`) calls
        #: `wake_putter` when there are some.
        self.putters: deque[asyncio.Future[None]] | None = None
        self._closed = False
        #: The most messages found queued when its consumer woke up (live
        #: introspection, `Tree.snapshot`): sampled once per wake-up by the consumer,
        #: never by senders (a comparison per message cost W3 5%).
        self.high_water: int = 0

    def __len__(self) -> int:
        return len(self.items or ())

    @property
    def closed(self) -> bool:
        return self._closed

    def _wake_consumer(self) -> None:
        waiter = self.parked
        if waiter is not None:
            self.parked = None
            if not waiter.done():
                waiter.set_result(None)

    def put_nowait(self, item: T) -> None:
        """Queue ``item`` at once.

        Raises:
            MailboxFull: the mailbox is at capacity (or senders are already waiting).
            MailboxClosed: the actor has ended.
        """
        waiter = self.parked
        items = self.items
        if waiter is not None and not items and not self.putters:
            # The consumer is parked on an empty mailbox, so it is open (closing
            # wakes it) and there is room. Hand the item over: the busy path of
            # every cast to an idle actor. (Parked with items queued means a quiet
            # control item: the checks below count it against the capacity.)
            self.parked = None
            try:
                waiter.set_result(item)
                return
            except asyncio.InvalidStateError:
                waiter = None  # its wait was cancelled: queue the item as usual
        if self._closed:
            raise MailboxClosed
        if items is None:
            items = self.items = deque()
        if self._capacity is not None and (len(items) >= self._capacity or self.putters):
            raise MailboxFull(self._owner, self._capacity)
        items.append(item)
        if waiter is not None:  # _wake_consumer, inline
            self.parked = None
            if not waiter.done():
                waiter.set_result(None)

    async def put(self, item: T) -> None:
        """Queue ``item``, waiting for room while the mailbox is full.

        Raises:
            MailboxClosed: the actor ended before there was room.
        """
        if self._closed:
            raise MailboxClosed
        capacity = self._capacity
        if capacity is None or (len(self.items or ()) < capacity and not self.putters):
            self._queue().append(item)
            if self.parked is not None:
                self._wake_consumer()
            return
        if self.putters is None:
            self.putters = deque()
        putters = self.putters
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        putters.append(fut)
        try:
            while True:
                await fut
                if self._closed:
                    raise MailboxClosed
                if len(self.items or ()) < capacity:
                    break
                # Someone else filled the free slot first: wait again, at the front.
                fut = asyncio.get_running_loop().create_future()
                putters.appendleft(fut)
        except BaseException:
            if fut in putters:
                putters.remove(fut)
            elif not fut.cancelled() and len(self.items or ()) < capacity:
                # We were woken for a free slot but are leaving: pass it on.
                self.wake_putter()
            raise
        self._queue().append(item)
        if self.parked is not None:
            self._wake_consumer()

    def _queue(self) -> deque[T]:
        items = self.items
        if items is None:
            items = self.items = deque()
        return items

    def put_control(self, item: T) -> None:
        """Queue a control item behind the messages, ignoring capacity."""
        if self._closed:
            raise MailboxClosed
        self._queue().append(item)
        if self.parked is not None:
            self._wake_consumer()

    def put_control_quietly(self, item: T) -> None:
        """Queue a control item behind the messages without waking the consumer.

        The caller wakes it later (`wake`) when the item is due; until then any
        other item queued wakes it, and it takes this one first.
        """
        if self._closed:
            raise MailboxClosed
        self._queue().append(item)

    def wake_putter(self) -> None:
        """Give the room one item left to the oldest sender still waiting for it."""
        putters = self.putters
        while putters:
            fut = putters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def get_nowait(self) -> T:
        """Take the oldest item; the caller checked that one is there."""
        item = self.items.popleft()  # type: ignore[union-attr]
        if self.putters:
            self.wake_putter()
        return item

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Record the consumer's event loop; it calls this before it first parks."""
        self.loop = loop
        self.plain_futures = type(loop).create_future is _BASE_CREATE_FUTURE

    def waiter(self) -> asyncio.Future[T | None]:
        """A future resolved with the next item put, or with None when the consumer is woken.

        For the consumer's loop, which checked that the mailbox is empty: it
        takes an item it is given as it would `get_nowait`'s (the item never
        entered the deque), and looks at the deque again when given None (an
        item may have been queued behind a quiet control item, or `wake` was
        called). Whoever resolves it clears it first, so a new one is needed
        for each wait; a cancelled one left behind is skipped by the next put.
        A consumer leaving its wait by an exception calls `take_back`.
        """
        loop = self.loop
        if loop is None:
            self.bind(asyncio.get_running_loop())
            loop = self.loop
            assert loop is not None
        waiter: asyncio.Future[T | None] = (
            asyncio.Future(loop=loop) if self.plain_futures else loop.create_future()
        )
        self.parked = waiter
        return waiter

    async def take(self) -> T | None:
        """The oldest item, waiting for one on an empty mailbox; None when woken without one.

        For a consumer that can afford a coroutine per item (a supervisor's inbox,
        an isolated actor's forwarder): `get_nowait`, or `wait`. An actor's
        message loop does the same inline.
        """
        if self.items:
            return self.get_nowait()
        return await self.wait()

    async def wait(self) -> T | None:
        """Park on the empty mailbox: the item handed over, or None when woken.

        `waiter`, and `take_back` if the wait ends by an exception.
        """
        waiter = self.waiter()
        try:
            return await waiter
        except BaseException:
            self.take_back(waiter)
            raise

    def take_back(self, waiter: asyncio.Future[T | None]) -> None:
        """Queue again, first, an item handed to ``waiter`` that its consumer did not take.

        For a consumer leaving its wait by an exception (a cancellation that came
        after the item was handed over): the item stays the oldest, and closing
        the mailbox returns it like any other, so its caller is told.
        """
        if waiter.done() and not waiter.cancelled():
            item = waiter.result()
            if item is not None:
                self._queue().appendleft(item)
        if self.parked is waiter:
            self.parked = None

    def wake(self) -> None:
        """Wake the consumer without an item (e.g. a stop was requested)."""
        self._wake_consumer()

    def close(self) -> list[T]:
        """Refuse further items; return the ones still queued; release waiting senders."""
        self._closed = True
        left = list(self.items or ())
        self.items = None
        putters = self.putters
        if putters:
            self.putters = None
            for fut in putters:
                if not fut.done():
                    fut.set_result(None)
        if self.parked is not None:  # not when its own consumer closes it (a restart)
            self._wake_consumer()
        return left

    def statistics(self) -> MailboxStatistics:
        """A snapshot of size, capacity, waiting senders and state."""
        return MailboxStatistics(
            size=len(self.items or ()),
            capacity=self._capacity,
            waiting_senders=len(self.putters or ()),
            closed=self._closed,
        )
