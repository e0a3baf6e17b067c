"""Cancellation and shutdown: leaving open_tree by any path leaves nothing running.

A cancelled start stops what was started, in reverse order; a cancelled host
waits for the tree to stop, even when cancelled again; a cancelled start_child
never leaves a running child nobody asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from _support import STOPS, Ping, until, worker

from supervise import (
    Actor,
    ActorRef,
    ChildSpec,
    ChildState,
    DynamicSupervisorSpec,
    ExitReason,
    SupervisorSpec,
    open_tree,
)
from supervise._registry import slot_at
from supervise.testing import EventLog

#: on_start of SlowStart waits for this; a test sets it to let the start end.
GATES: dict[str, asyncio.Event] = {}
STARTING: list[str] = []


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    GATES.clear()
    STARTING.clear()
    yield
    GATES.clear()
    STARTING.clear()


class SlowStart(Actor[Ping]):
    """on_start waits for its gate (for ever if nobody sets it)."""

    async def on_start(self) -> None:
        STARTING.append(self.path)
        await GATES.setdefault(self.path, asyncio.Event()).wait()

    async def handle(self, msg: Ping) -> str:
        return "pong"

    async def on_stop(self, reason: ExitReason) -> None:
        STOPS.append((self.path, str(reason)))


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """What the loop's exception handler saw ("Task exception was never retrieved", ...)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: seen.append(context))
    yield seen
    loop.set_exception_handler(previous)


def others() -> set[asyncio.Task[Any]]:
    """Tasks still running besides the test's own."""
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()}


async def test_cancelling_the_host_during_the_start_stops_what_started(
    events: EventLog, loop_errors: list[dict[str, Any]]
) -> None:
    """fast started, slow is in on_start, after never starts: fast and slow stop, in reverse."""
    spec = SupervisorSpec(
        name="root",
        children=[
            worker("fast"),
            ChildSpec(name="slow", actor=SlowStart, shutdown=0.2),
            worker("after"),
        ],
    )
    baseline = others()
    host = asyncio.create_task(open_tree(spec).__aenter__())
    await until(lambda: STARTING == ["root/slow"])
    host.cancel()
    with pytest.raises(asyncio.CancelledError):
        await host
    # The host returns once the tree has stopped: nothing of it is left running.
    assert others() <= baseline
    assert events.sequence("actor_started", "actor_killed", "actor_stopped", "actor_crashed") == [
        ("actor_started", "root/fast"),
        ("actor_killed", "root/slow"),  # its on_start outlived its shutdown (0.2 s)
        ("actor_crashed", "root/slow"),
        ("actor_stopped", "root/fast"),
    ]
    assert STOPS == [("root/fast", "shutdown")]
    assert not events.of(actor="root/after")
    (stopped,) = events.of("supervisor_stopped")
    assert stopped["reason"] == "shutdown"
    assert not loop_errors


async def test_a_cancelled_start_whose_child_then_starts_stops_it_gracefully(
    events: EventLog, loop_errors: list[dict[str, Any]]
) -> None:
    """slow's on_start ends within its shutdown: it stops with on_stop, not a kill."""
    spec = SupervisorSpec(
        name="root", children=[worker("fast"), ChildSpec(name="slow", actor=SlowStart)]
    )
    host = asyncio.create_task(open_tree(spec).__aenter__())
    await until(lambda: STARTING == ["root/slow"])
    host.cancel()
    await asyncio.sleep(0)
    GATES["root/slow"].set()
    with pytest.raises(asyncio.CancelledError):
        await host
    assert STOPS == [("root/slow", "shutdown"), ("root/fast", "shutdown")]
    assert not events.of("actor_killed")
    assert not loop_errors


@pytest.mark.parametrize("times", [1, 3])
async def test_cancelling_the_host_during_shutdown_waits_for_the_tree(
    events: EventLog, times: int
) -> None:
    """Cancelled (once or again and again) while on_stop runs: returns after the tree ended."""
    spec = SupervisorSpec(name="root", children=[worker("a"), worker("slow", stop_seconds=0.3)])
    tree = open_tree(spec)

    async def host() -> None:
        async with tree:
            pass

    task = asyncio.create_task(host())
    await until(lambda: STOPS == [("root/slow", "shutdown")])  # its on_stop has begun
    for _ in range(times):
        task.cancel()
        await asyncio.sleep(0)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not tree.running
    assert events.sequence("actor_stopped", "supervisor_stopped", key="actor") == [
        ("actor_stopped", "root/slow"),
        ("actor_stopped", "root/a"),
        ("supervisor_stopped", None),
    ]


async def test_cancelling_an_anyio_host_during_shutdown_waits_for_the_tree(
    events: EventLog,
) -> None:
    """The same under anyio: the task group's cancellation waits for the orderly stop."""
    spec = SupervisorSpec(name="root", children=[worker("slow", stop_seconds=0.3)])
    tree = open_tree(spec)

    async def host() -> None:
        async with tree:
            pass

    async with anyio.create_task_group() as group:
        group.start_soon(host)
        await until(lambda: STOPS == [("root/slow", "shutdown")])
        group.cancel_scope.cancel()
    assert not tree.running
    assert events.of("actor_stopped", actor="root/slow")


async def test_a_cancelled_start_child_leaves_no_running_child(events: EventLog) -> None:
    """Cancelled while the child's on_start runs: the child is stopped and forgotten."""
    async with open_tree(SupervisorSpec(name="root")) as tree:
        call = asyncio.create_task(tree.root.start_child(ChildSpec(name="s", actor=SlowStart)))
        await until(lambda: STARTING == ["root/s"])
        call.cancel()
        await asyncio.sleep(0)
        GATES["root/s"].set()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert await tree.root.which_children() == []
        ref = slot_at(tree.registry, "root/s")
        assert ref is None or ref.state is ChildState.STOPPED
    assert STOPS == [("root/s", "shutdown")]


async def test_a_start_child_cancelled_before_its_turn_starts_nothing() -> None:
    """The supervisor is busy; the caller gives up first: the request is withdrawn."""
    spec = SupervisorSpec(name="root", children=[])
    async with open_tree(spec) as tree:
        first = asyncio.create_task(tree.root.start_child(ChildSpec(name="s", actor=SlowStart)))
        await until(lambda: STARTING == ["root/s"])
        second = asyncio.create_task(tree.root.start_child(worker("w")))
        await asyncio.sleep(0)  # queued behind the first
        second.cancel()
        GATES["root/s"].set()
        assert isinstance(await first, ActorRef)
        with pytest.raises(asyncio.CancelledError):
            await second
        assert [(c.name, c.state) for c in await tree.root.which_children()] == [
            ("s", ChildState.RUNNING)
        ]


async def test_a_cancelled_dynamic_start_child_leaves_no_running_child() -> None:
    """The same for a dynamic supervisor's instance."""
    spec = DynamicSupervisorSpec(name="pool", child=ChildSpec(name="s", actor=SlowStart))
    async with open_tree(spec) as tree:
        call = asyncio.create_task(tree.root.start_child())
        await until(lambda: STARTING == ["pool/s-1"])
        call.cancel()
        await asyncio.sleep(0)
        GATES["pool/s-1"].set()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert await tree.root.which_children() == []
        assert (await tree.root.count_children()).active == 0
