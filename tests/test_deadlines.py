"""Call timeouts: one loop timer per timeout value, each call still expiring at its own deadline.

At this level an expired call's future fails with `Expired`; `ActorRef.call`
turns that into `CallTimeoutError` (the last tests, through a tree).
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest
from _support import Ping, Sleep, worker

from supervise import ActorRef, CallTimeoutError, SupervisorSpec, _deadlines, open_tree
from supervise._deadlines import Expired, call_timeouts


async def _expiry_time(future: asyncio.Future[Any]) -> float:
    with pytest.raises((Expired, CallTimeoutError)):
        await future
    return asyncio.get_running_loop().time()


async def test_calls_with_one_timeout_expire_each_at_its_own_deadline() -> None:
    """A later call with the same timeout does not expire with the earlier one."""
    loop = asyncio.get_running_loop()
    timeouts = call_timeouts(loop)
    first: asyncio.Future[Any] = loop.create_future()
    second: asyncio.Future[Any] = loop.create_future()
    bucket = timeouts.add(loop, first, 0.05)
    await asyncio.sleep(0.1)
    assert first.done()
    second_deadline = loop.time() + 0.05
    assert timeouts.add(loop, second, 0.05) is not bucket  # a fresh one
    assert not second.done()
    assert await _expiry_time(second) >= second_deadline
    with pytest.raises(Expired):
        first.result()


async def test_on_asyncios_own_loop_the_timer_is_an_alarm_not_a_loop_timer() -> None:
    """Nothing is added to the loop's timer heap (which its every iteration looks at)."""
    loop = asyncio.get_running_loop()
    scheduled = list(loop._scheduled)  # type: ignore[attr-defined]
    future: asyncio.Future[Any] = loop.create_future()
    deadline = loop.time() + 0.03
    call_timeouts(loop).add(loop, future, 0.03)
    assert loop._scheduled == scheduled  # type: ignore[attr-defined]
    assert await _expiry_time(future) >= deadline


async def test_without_the_alarm_thread_the_timer_is_a_loop_timer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When no alarm can be set (no thread), the bucket arms a loop timer: calls still expire."""

    class NoAlarms:
        def set(self, loop: object, when: float, owner: object) -> bool:
            return False

    monkeypatch.setattr(_deadlines, "ALARMS", NoAlarms())
    loop = asyncio.get_running_loop()
    scheduled = len(loop._scheduled)  # type: ignore[attr-defined]
    future: asyncio.Future[Any] = loop.create_future()
    deadline = loop.time() + 0.02
    call_timeouts(loop).add(loop, future, 0.02)
    assert len(loop._scheduled) == scheduled + 1  # type: ignore[attr-defined]
    assert await _expiry_time(future) >= deadline


async def test_overlapping_calls_share_one_timer_and_expire_in_order() -> None:
    """Calls in flight together with one timeout expire in the order they were made."""
    loop = asyncio.get_running_loop()
    timeouts = call_timeouts(loop)
    futures: list[asyncio.Future[Any]] = []
    deadlines = []
    bucket = None
    for _ in range(3):
        future: asyncio.Future[Any] = loop.create_future()
        deadlines.append(loop.time() + 0.05)
        added = timeouts.add(loop, future, 0.05)
        assert bucket is None or added is bucket
        bucket = added
        futures.append(future)
        await asyncio.sleep(0.02)
    expired = await asyncio.gather(*(_expiry_time(f) for f in futures))
    assert all(t >= d for t, d in zip(expired, deadlines, strict=True))
    assert expired == sorted(expired)
    assert bucket is not None
    assert len(bucket) == 0


async def test_a_finished_call_leaves_nothing_behind() -> None:
    """Discarding a call's entry disarms it; an idle bucket is dropped when its timer fires."""
    loop = asyncio.get_running_loop()
    timeouts = call_timeouts(loop)
    future: asyncio.Future[Any] = loop.create_future()
    bucket = timeouts.add(loop, future, 0.02)
    future.set_result("reply")
    bucket.discard(future, None)
    await asyncio.sleep(0.06)
    assert future.result() == "reply"
    assert 0.02 not in timeouts._buckets


async def test_shorter_timeout_made_later_expires_first() -> None:
    """Each timeout value has its own bucket: a 0.05 s call made after a 0.5 s one ends first."""
    spec = SupervisorSpec(name="root", children=[worker("w")])
    async with open_tree(spec) as tree:
        w = tree.whereis("root/w")
        assert isinstance(w, ActorRef)
        slow = asyncio.ensure_future(w.call(Sleep(seconds=0.3), timeout=0.5))
        await asyncio.sleep(0)
        quick = asyncio.ensure_future(w.call(Ping(), timeout=0.05))
        with pytest.raises(CallTimeoutError):
            await quick
        assert not slow.done()
        assert await slow == "slept"
        assert await w.call(Ping()) == "pong"


def test_a_loop_closed_with_timed_calls_in_flight_can_be_collected() -> None:
    """The futures of calls in flight do not keep a closed loop (and its tree) alive.

    Their timeouts are kept per loop; a loop closed under them is forgotten as
    soon as another loop makes a call.
    """
    spec = SupervisorSpec(name="root", children=[worker("w")])

    async def start_and_call() -> None:
        tree = open_tree(spec)
        await tree.start()
        ref = tree.whereis("root/w")
        assert isinstance(ref, ActorRef)
        calls = [asyncio.ensure_future(ref.call(Sleep(seconds=60), timeout=30)) for _ in range(3)]
        await asyncio.sleep(0)
        assert not any(c.done() for c in calls)

    async def call_on_another_loop() -> None:
        async with open_tree(spec) as tree:
            ref = tree.whereis("root/w")
            assert isinstance(ref, ActorRef)
            assert await ref.call(Ping(), timeout=30) == "pong"

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(start_and_call())
    finally:
        loop.close()
    closed = weakref.ref(loop)
    del loop
    asyncio.run(call_on_another_loop())
    gc.collect()
    gc.collect()  # the first pass runs the destroyed tasks' finalizers
    assert closed() is None


@pytest.mark.virtual_clock
async def test_a_timed_call_fails_exactly_at_its_deadline_on_the_loops_clock() -> None:
    """The deadline is read from the loop's own clock (here a virtual one), to the tick.

    Calls with one timeout to two actors share one bucket; each fails at its own
    deadline, not at the other's.
    """
    spec = SupervisorSpec(name="root", children=[worker("a"), worker("b")])
    async with open_tree(spec) as tree:
        a, b = tree.whereis("root/a"), tree.whereis("root/b")
        assert isinstance(a, ActorRef)
        assert isinstance(b, ActorRef)
        loop = asyncio.get_running_loop()
        first_deadline = loop.time() + 3.0
        first = asyncio.ensure_future(a.call(Sleep(seconds=60), timeout=3.0))
        await asyncio.sleep(1.0)
        second_deadline = loop.time() + 3.0
        second = asyncio.ensure_future(b.call(Sleep(seconds=60), timeout=3.0))
        assert await _expiry_time(first) == first_deadline
        assert not second.done()
        assert await _expiry_time(second) == second_deadline


@pytest.mark.virtual_clock
async def test_a_slot_keeps_timing_out_its_calls_after_its_bucket_is_dropped() -> None:
    """A bucket that fired with nothing in flight leaves the loop's table, not the slot's hands.

    The slot's next call with that timeout still fails at its deadline.
    """
    spec = SupervisorSpec(name="root", children=[worker("w")])
    async with open_tree(spec) as tree:
        w = tree.whereis("root/w")
        assert isinstance(w, ActorRef)
        loop = asyncio.get_running_loop()
        assert await w.call(Ping(), timeout=0.5) == "pong"
        await asyncio.sleep(1.0)  # its timer fires with nothing in flight: dropped
        assert 0.5 not in call_timeouts(loop)._buckets
        deadline = loop.time() + 0.5
        late = asyncio.ensure_future(w.call(Sleep(seconds=60), timeout=0.5))
        assert await _expiry_time(late) == deadline
