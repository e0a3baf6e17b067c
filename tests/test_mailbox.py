"""The bounded mailbox on its own."""

from __future__ import annotations

import asyncio

import pytest

from supervise import MailboxFull
from supervise._mailbox import Mailbox, MailboxClosed


async def test_fifo_and_capacity() -> None:
    """Items come out in order; put_nowait beyond capacity raises MailboxFull."""
    box: Mailbox[int] = Mailbox("a", 2)
    box.put_nowait(1)
    box.put_nowait(2)
    with pytest.raises(MailboxFull):
        box.put_nowait(3)
    assert [box.get_nowait(), box.get_nowait()] == [1, 2]


async def test_waiting_putters_are_served_in_order_and_nobody_jumps_the_queue() -> None:
    """put waits while full; waiters go first, before later put_nowait calls."""
    box: Mailbox[int] = Mailbox("a", 1)
    box.put_nowait(0)
    waiting = [asyncio.ensure_future(box.put(i)) for i in (1, 2)]
    await asyncio.sleep(0)
    assert box.statistics().waiting_senders == 2
    assert box.get_nowait() == 0
    with pytest.raises(MailboxFull):
        box.put_nowait(99)  # senders are waiting: no overtaking
    await asyncio.sleep(0)
    assert box.get_nowait() == 1
    await asyncio.sleep(0)
    assert box.get_nowait() == 2
    await asyncio.gather(*waiting)


async def test_cancelled_putter_leaves_no_trace() -> None:
    """A sender cancelled while waiting does not queue its item or block others."""
    box: Mailbox[int] = Mailbox("a", 1)
    box.put_nowait(0)
    gone = asyncio.ensure_future(box.put(1))
    stays = asyncio.ensure_future(box.put(2))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    box.get_nowait()
    await stays
    assert box.get_nowait() == 2
    assert len(box) == 0


async def test_close_returns_leftovers_and_releases_senders() -> None:
    """close() hands back queued items; waiting and later senders get MailboxClosed."""
    box: Mailbox[int] = Mailbox("a", 1)
    box.put_nowait(7)
    waiting = asyncio.ensure_future(box.put(8))
    await asyncio.sleep(0)
    assert box.close() == [7]
    with pytest.raises(MailboxClosed):
        await waiting
    with pytest.raises(MailboxClosed):
        box.put_nowait(9)
    assert box.statistics().closed


async def test_a_parked_consumer_is_handed_the_item_or_woken_with_none() -> None:
    """An item put into the empty mailbox of a parked consumer is handed over, not queued.

    A second item put before the consumer runs is queued behind it; a wake
    (for a stop) resolves the waiter with None.
    """
    box: Mailbox[int] = Mailbox("a", 1)
    parked = box.waiter()
    box.put_nowait(1)
    assert parked.result() == 1
    assert len(box) == 0
    assert box.parked is None
    box.put_nowait(2)  # the consumer has not run yet: queued, in order behind the first
    assert box.get_nowait() == 2
    parked = box.waiter()
    box.wake()
    assert parked.result() is None


async def test_take_gives_the_oldest_item_or_waits_for_one() -> None:
    """Queued items come first, in order; on an empty mailbox take() waits and is handed
    the next item, or gets None when the consumer is woken."""
    box: Mailbox[int] = Mailbox("a", None)
    box.put_control_quietly(1)
    box.put_nowait(2)
    assert [await box.take(), await box.take()] == [1, 2]
    taking = asyncio.ensure_future(box.take())
    await asyncio.sleep(0)
    box.put_nowait(3)
    assert await taking == 3
    taking = asyncio.ensure_future(box.take())
    await asyncio.sleep(0)
    box.wake()
    assert await taking is None


async def test_a_consumer_cancelled_after_the_hand_over_gives_the_item_back() -> None:
    """The handed item goes back to the front of the mailbox, before items queued since.

    A put into the empty mailbox of a consumer whose wait was cancelled (it has
    not run since) queues the item, and closing the mailbox returns it.
    """
    box: Mailbox[int] = Mailbox("a", None)
    task = asyncio.ensure_future(box.wait())
    await asyncio.sleep(0)
    box.put_nowait(1)
    box.put_nowait(2)
    task.cancel()  # after the hand-over, before the consumer ran
    with pytest.raises(asyncio.CancelledError):
        await task
    assert box.parked is None
    assert [box.get_nowait(), box.get_nowait()] == [1, 2]
    task = asyncio.ensure_future(box.wait())
    await asyncio.sleep(0)
    task.cancel()  # cancelled while parked, nothing handed: the next put queues
    box.put_nowait(3)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert box.close() == [3]


async def test_a_parked_consumer_is_woken_and_senders_waiting_for_room_still_go_first() -> None:
    """put_nowait to a parked consumer queues and wakes it, but never overtakes a waiting sender.

    A quiet control item counts against the capacity; once closed, a mailbox whose
    consumer was parked refuses items.
    """
    box: Mailbox[int] = Mailbox("a", 1)
    box.put_nowait(0)
    waiting = [asyncio.ensure_future(box.put(i)) for i in (1, 2)]
    await asyncio.sleep(0)
    assert box.get_nowait() == 0  # room for the first sender; the second still waits
    parked = box.waiter()  # the consumer parks on the empty mailbox
    with pytest.raises(MailboxFull):
        box.put_nowait(99)
    assert not parked.done()
    await asyncio.sleep(0)  # the first sender queues its item and wakes the consumer
    assert parked.result() is None
    assert box.get_nowait() == 1
    await asyncio.sleep(0)
    assert box.get_nowait() == 2
    await asyncio.gather(*waiting)
    parked = box.waiter()
    box.put_nowait(3)  # nobody waits for room: handed to the consumer
    assert parked.result() == 3
    parked = box.waiter()
    box.put_control_quietly(4)  # queued without waking: it counts against the capacity
    with pytest.raises(MailboxFull):
        box.put_nowait(5)
    assert not parked.done()
    assert box.close() == [4]
    assert parked.done()
    with pytest.raises(MailboxClosed):
        box.put_nowait(6)


async def test_put_control_quietly_queues_without_waking_the_consumer() -> None:
    """A quiet control item leaves the consumer parked; the next item queued wakes it,
    and the quiet one comes out first. A closed mailbox refuses it."""
    box: Mailbox[str] = Mailbox("a", 1)
    parked = box.waiter()
    box.put_control_quietly("rest of a restart")
    await asyncio.sleep(0)
    assert not parked.done()
    box.put_control("request")  # ignores capacity, as any control item
    assert parked.done()
    assert [box.get_nowait(), box.get_nowait()] == ["rest of a restart", "request"]
    box.close()
    with pytest.raises(MailboxClosed):
        box.put_control_quietly("late")
