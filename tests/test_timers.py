"""Actor timers: send_after / send_interval on the virtual clock (no real waiting)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from supervise import (
    Actor,
    ActorRef,
    ArgumentError,
    ChildSpec,
    MessageTypeError,
    SupervisorSpec,
    TimerHandle,
    open_tree,
)
from supervise.testing import EventLog, VirtualClockLoop, inject_crash, wait_for_event

pytestmark = pytest.mark.virtual_clock

#: (incarnation, message, virtual time) per handled timer message; cleared per test.
SEEN: list[tuple[int, str, float]] = []


@pytest.fixture(autouse=True)
def _clear_seen() -> None:
    SEEN.clear()


class Tick(BaseModel, frozen=True):
    label: str = "tick"


class Bag(BaseModel):
    """A mutable message: each delivery must be a fresh copy."""

    items: list[int] = []


class After(BaseModel, frozen=True):
    delay: float
    label: str = "after"


class Every(BaseModel, frozen=True):
    interval: float
    fixed_rate: bool = False
    label: str = "tick"


class EveryBag(BaseModel, frozen=True):
    interval: float


class Stall(BaseModel, frozen=True):
    """Hold the loop for ``seconds`` of virtual time, as a blocking handler would."""

    seconds: float


class Block(BaseModel, frozen=True):
    """Await for ``seconds`` inside the handler (the mailbox fills meanwhile)."""

    seconds: float


class Unaccepted(BaseModel, frozen=True):
    pass


class Clock(Actor[Tick | Bag | After | Every | EveryBag | Stall | Block]):
    """Sets timers on request and records every timer message it handles."""

    incarnations = 0

    async def on_start(self) -> None:
        Clock.incarnations += 1
        self.incarnation = Clock.incarnations

    async def handle(self, msg: Tick | Bag | After | Every | EveryBag | Stall | Block) -> Any:
        loop = asyncio.get_running_loop()
        match msg:
            case After(delay=delay, label=label):
                return self.send_after(delay, Tick(label=label))
            case Every(interval=interval, fixed_rate=fixed_rate, label=label):
                return self.send_interval(interval, Tick(label=label), fixed_rate=fixed_rate)
            case EveryBag(interval=interval):
                return self.send_interval(interval, Bag())
            case Tick(label=label):
                SEEN.append((self.incarnation, label, loop.time()))
            case Bag(items=items):
                SEEN.append((self.incarnation, f"bag{items}", loop.time()))
                items.append(1)  # mutating our copy must not change the next delivery
            case Stall(seconds=seconds):
                clock = loop
                assert isinstance(clock, VirtualClockLoop)
                clock.advance(seconds)
            case Block(seconds=seconds):
                await asyncio.sleep(seconds)
        return None


def clock_tree(**child: Any) -> SupervisorSpec:
    Clock.incarnations = 0
    return SupervisorSpec(name="root", children=[ChildSpec(name="clock", actor=Clock, **child)])


def clock_ref(tree: Any) -> ActorRef[Any]:
    ref = tree.whereis("root/clock")
    assert isinstance(ref, ActorRef)
    return ref


async def sleep_until(when: float) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(when - loop.time())


async def test_send_after_delivers_once_after_the_delay() -> None:
    """The message arrives through the mailbox exactly `delay` virtual seconds later."""
    async with open_tree(clock_tree()) as tree:
        handle: TimerHandle = await clock_ref(tree).call(After(delay=2.5))
        assert (handle.active, handle.when, handle.interval) == (True, 2.5, None)
        await sleep_until(10)
        assert SEEN == [(1, "after", 2.5)]
        assert not handle.active
        assert handle.when is None
        assert handle.cancel() is False  # fired already


async def test_cancel_before_it_fires_sends_nothing() -> None:
    """cancel() returns True once and the message never comes."""
    async with open_tree(clock_tree()) as tree:
        handle: TimerHandle = await clock_ref(tree).call(After(delay=1))
        assert handle.cancel() is True
        assert handle.cancel() is False
        await sleep_until(5)
        assert SEEN == []


async def test_send_interval_repeats_until_cancelled() -> None:
    """Every `interval` seconds, first after one interval; cancel() stops it."""
    async with open_tree(clock_tree()) as tree:
        handle: TimerHandle = await clock_ref(tree).call(Every(interval=1.5))
        assert repr(handle) == "<TimerHandle Tick every 1.5s due at 1.5>"
        await sleep_until(5)
        assert handle.when == 6.0
        assert handle.cancel() is True
        await sleep_until(20)
    assert SEEN == [(1, "tick", 1.5), (1, "tick", 3.0), (1, "tick", 4.5)]


@pytest.mark.parametrize(
    ("fixed_rate", "expected"),
    [
        # Fixed delay: the late tick pushes every later one back.
        (False, [1.0, 3.5, 4.5, 5.5]),
        # Fixed rate: the missed tick is sent at once, then the schedule holds.
        (True, [1.0, 3.5, 3.5, 4.0, 5.0]),
    ],
    ids=["fixed_delay", "fixed_rate"],
)
async def test_a_stalled_loop_delays_or_catches_up(fixed_rate: bool, expected: list[float]) -> None:
    """After a 2.5 s stall at t=1: fixed delay drifts, fixed rate catches up."""
    async with open_tree(clock_tree()) as tree:
        ref = clock_ref(tree)
        handle: TimerHandle = await ref.call(Every(interval=1, fixed_rate=fixed_rate))
        await sleep_until(1)
        await ref.cast(Stall(seconds=2.5))  # handled right after the first tick
        await sleep_until(expected[-1] + 0.1)
        handle.cancel()
    assert [t for _, _, t in SEEN] == expected


async def test_timers_die_with_their_incarnation(events: EventLog) -> None:
    """A crash cancels the incarnation's timers: the restarted actor starts with none."""
    async with open_tree(clock_tree()) as tree:
        ref = clock_ref(tree)
        old: TimerHandle = await ref.call(Every(interval=1, label="old"))
        await sleep_until(2.5)
        await inject_crash(tree, "root/clock")
        assert not old.active
        await wait_for_event(events, "actor_started", actor="root/clock", incarnation=2)
        new: TimerHandle = await ref.call(Every(interval=1, label="new"))
        await sleep_until(5)
        new.cancel()
    assert SEEN == [
        (1, "old", 1.0),
        (1, "old", 2.0),
        (2, "new", 3.5),
        (2, "new", 4.5),
    ]
    assert tree.dead_letters.count == 0


async def test_timers_are_cancelled_when_the_actor_stops() -> None:
    """Stopping the actor (here: the tree) leaves no timer behind."""
    async with open_tree(clock_tree()) as tree:
        ref = clock_ref(tree)
        handles = [await ref.call(Every(interval=1)), await ref.call(After(delay=100))]
        assert all(h.active for h in handles)
    assert not any(h.active for h in handles)
    assert asyncio.get_running_loop().time() < 1  # nothing was left to jump to


async def test_the_message_type_is_checked_when_the_timer_is_set() -> None:
    """A message the actor does not accept fails at send_after, not when it would fire."""

    class Picky(Actor[Tick]):
        async def on_start(self) -> None:
            with pytest.raises(MessageTypeError, match=r"^actor 'root/picky' does not accept"):
                self.send_after(1, Unaccepted())  # type: ignore[arg-type]
            self.ok = self.send_after(1, Tick())

        async def handle(self, msg: Tick) -> None:
            SEEN.append((0, msg.label, asyncio.get_running_loop().time()))

    spec = SupervisorSpec(name="root", children=[ChildSpec(name="picky", actor=Picky)])
    async with open_tree(spec):
        await sleep_until(2)
    assert SEEN == [(0, "tick", 1.0)]


@pytest.mark.parametrize(
    ("method", "value", "message"),
    [
        ("send_after", -1.0, "send_after delay: must be a finite number of seconds >= 0, got -1.0"),
        ("send_after", float("inf"), "send_after delay: must be a finite number of seconds >= 0"),
        ("send_interval", 0.0, "send_interval interval: must be a finite number of seconds > 0"),
    ],
)
async def test_bad_delays_are_refused(method: str, value: float, message: str) -> None:
    """Negative, infinite or (for intervals) zero seconds raise ArgumentError at once."""
    errors: list[str] = []

    class Bad(Actor[Tick]):
        async def on_start(self) -> None:
            try:
                getattr(self, method)(value, Tick())
            except ArgumentError as exc:
                errors.append(str(exc))

        async def handle(self, msg: Tick) -> None:
            pass

    spec = SupervisorSpec(name="root", children=[ChildSpec(name="bad", actor=Bad)])
    async with open_tree(spec):
        pass
    assert len(errors) == 1
    assert errors[0].startswith(message)


async def test_a_mutable_message_is_copied_for_each_delivery() -> None:
    """The handler mutates its Bag; the next delivery is a fresh, empty one."""
    async with open_tree(clock_tree()) as tree:
        handle: TimerHandle = await clock_ref(tree).call(EveryBag(interval=1))
        await sleep_until(3.5)
        handle.cancel()
    assert [label for _, label, _ in SEEN] == ["bag[]", "bag[]", "bag[]"]


async def test_a_full_mailbox_dead_letters_timer_messages(events: EventLog) -> None:
    """With capacity 1 and a busy actor, extra ticks are dead-lettered, never queued."""
    async with open_tree(clock_tree(mailbox={"capacity": 1})) as tree:
        ref = clock_ref(tree)
        handle: TimerHandle = await ref.call(Every(interval=1))
        await ref.cast(Block(seconds=10))  # busy from t=0 to t=10
        await sleep_until(5.5)
        handle.cancel()
        # t=1: queued (the mailbox had room); t=2..5: full, dead-lettered.
        dropped = events.of("message_dead_lettered", actor="root/clock")
        assert [e["cause"] for e in dropped] == ["mailbox_full"] * 4
        assert {e["message_type"] for e in dropped} == {"Tick"}
        await sleep_until(11)
    assert SEEN == [(1, "tick", 10.0)]
