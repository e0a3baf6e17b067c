"""An example test to copy: docs/testing.md shows this file as it is.

It needs the ``virtual_clock`` marker from the conftest.py recipe in docs/testing.md.
"""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from supervise import Actor, ActorRef, Backoff, ChildSpec, SupervisorSpec, Tree, open_tree
from supervise.testing import capture_events, inject_crash, wait_for_event


class Add(BaseModel, frozen=True):
    n: int


class Total(BaseModel, frozen=True):
    pass


class Tick(BaseModel, frozen=True):
    pass


class Ticks(BaseModel, frozen=True):
    pass


class Counter(Actor[Add | Total | Tick | Ticks]):
    """Adds numbers, and counts the minutes it has been up (a timer)."""

    async def on_start(self) -> None:
        self.total = 0
        self.ticks = 0
        self.send_interval(60, Tick())

    async def handle(self, msg: Add | Total | Tick | Ticks) -> int | None:
        match msg:
            case Add(n=n):
                self.total += n
            case Tick():
                self.ticks += 1
            case Total():
                return self.total
            case Ticks():
                return self.ticks
        return None


SPEC = SupervisorSpec(
    name="app",
    backoff=Backoff(min_seconds=5, max_seconds=60, jitter=0),
    children=[ChildSpec(name="counter", actor=Counter)],
)


def counter_of(tree: Tree) -> ActorRef[Add | Total | Tick | Ticks]:
    return tree.actor("app/counter", Counter)


@pytest.mark.virtual_clock
async def test_the_counter_heals_after_a_crash_with_fresh_state() -> None:
    """A crash is logged, the restart waits for the backoff, the ref reaches the new one."""
    loop = asyncio.get_running_loop()
    with capture_events() as events:
        async with open_tree(SPEC) as tree:
            counter = counter_of(tree)
            await counter.cast(Add(n=2))
            assert await counter.call(Total()) == 2

            await inject_crash(tree, "app/counter")
            crashed_at = loop.time()
            await wait_for_event(events, "actor_started", actor="app/counter", incarnation=2)

            assert loop.time() - crashed_at == 5.0  # the backoff, in virtual seconds
            assert await counter.call(Total()) == 0  # state starts afresh
    assert events.sequence("actor_crashed", "actor_restarted", "actor_started")[1:] == [
        ("actor_crashed", "app/counter"),
        ("actor_restarted", "app/counter"),
        ("actor_started", "app/counter"),
    ]


@pytest.mark.virtual_clock
async def test_an_hour_of_ticks_takes_no_time() -> None:
    """The timer fires 60 times in a virtual hour; the test runs in milliseconds."""
    async with open_tree(SPEC) as tree:
        await asyncio.sleep(3600 + 1)
        assert await counter_of(tree).call(Ticks()) == 60
