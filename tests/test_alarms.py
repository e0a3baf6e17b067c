"""Alarms: rung on their loop's thread, never early, never keeping a loop alive."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
import weakref

import pytest

from supervise._alarms import ALARMS, AlarmClock, clock_of


class _Owner:
    """Records when (and on which thread) it rang."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.rung: asyncio.Future[tuple[float, int]] = loop.create_future()

    def ring(self) -> None:
        self.rung.set_result((time.monotonic(), threading.get_ident()))


async def test_an_alarm_rings_on_its_loops_thread_no_earlier_than_its_deadline() -> None:
    """Many distinct deadlines, set out of order: each rings at or after its own, in order."""
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    owners = {}
    for i in reversed(range(50)):
        owner = owners[i] = _Owner(loop)
        ALARMS.set(loop, start + 0.002 * i, owner)
    rung = await asyncio.wait_for(asyncio.gather(*(o.rung for o in owners.values())), 10)
    by_deadline = [owners[i].rung.result() for i in range(50)]
    assert all(at >= start + 0.002 * i for i, (at, _) in enumerate(by_deadline))
    assert [at for at, _ in by_deadline] == sorted(at for at, _ in by_deadline)
    assert {thread for _, thread in rung} == {threading.get_ident()}


def test_alarms_of_several_loops_each_ring_on_their_own() -> None:
    """Two loops in two threads: each alarm rings on the loop it was set for."""
    results: dict[str, int] = {}

    def run(name: str) -> None:
        async def main() -> None:
            owner = _Owner(asyncio.get_running_loop())
            ALARMS.set(asyncio.get_running_loop(), time.monotonic() + 0.01, owner)
            _, thread = await asyncio.wait_for(owner.rung, 10)
            results[name] = thread

        asyncio.run(main())
        assert results[name] == threading.get_ident()

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert set(results) == {"a", "b"}
    assert results["a"] != results["b"]


def test_a_closed_loop_is_not_kept_alive_and_later_alarms_still_ring() -> None:
    """An alarm holds its loop and owner weakly; one whose loop closed rings nowhere."""
    loop = asyncio.new_event_loop()
    owner = _Owner(loop)
    ALARMS.set(loop, time.monotonic() + 0.01, owner)
    loop.close()
    closed = weakref.ref(loop)
    del loop, owner
    gc.collect()
    assert closed() is None

    async def later() -> None:
        owner = _Owner(asyncio.get_running_loop())
        ALARMS.set(asyncio.get_running_loop(), time.monotonic() + 0.02, owner)
        await asyncio.wait_for(owner.rung, 10)

    asyncio.run(later())  # the thread rang past the closed loop's alarm and goes on


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX")
def test_a_forked_child_gets_alarms_of_its_own() -> None:
    """After a fork (the parent's alarm thread running), the child's alarms still ring."""

    async def ring_once() -> None:
        owner = _Owner(asyncio.get_running_loop())
        ALARMS.set(asyncio.get_running_loop(), time.monotonic() + 0.01, owner)
        await asyncio.wait_for(owner.rung, 5)

    asyncio.run(ring_once())  # the parent's thread exists
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if its alarm rang
        code = 1
        try:
            asyncio.run(ring_once())
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 15
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child's alarm never rang")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0


def test_only_loops_on_the_monotonic_clock_get_alarms() -> None:
    """asyncio's own loop reads ``time.monotonic``; a loop with a clock of its own keeps it."""

    class OwnClock(asyncio.SelectorEventLoop):
        def time(self) -> float:
            return 0.0

    plain, own = asyncio.new_event_loop(), OwnClock()
    try:
        assert clock_of(plain) is time.monotonic
        assert clock_of(own) is None
    finally:
        plain.close()
        own.close()


async def test_without_a_thread_set_sets_nothing_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An interpreter that cannot start the thread: `set` returns False (callers arm a loop
    timer instead)."""

    def cannot_start(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    clock = AlarmClock()
    monkeypatch.setattr(threading.Thread, "start", cannot_start)
    loop = asyncio.get_running_loop()
    assert clock.set(loop, time.monotonic(), _Owner(loop)) is False
    assert clock._alarms == []
