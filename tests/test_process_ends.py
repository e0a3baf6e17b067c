"""Processes ending on BaseExceptions from hooks, and with their event loop."""

from __future__ import annotations

import asyncio
import gc
import sys
from typing import Any, ClassVar

import pytest
from _support import STOPS, Crash, Ping, until, worker
from pydantic import BaseModel

from supervise import (
    Actor,
    ActorRef,
    CallFailedError,
    ChildSpec,
    DynamicSupervisorSpec,
    ExitKind,
    ExitReason,
    StartError,
    Strategy,
    SupervisorRef,
    SupervisorSpec,
    TaskSpec,
    open_tree,
)
from supervise.testing import EventLog


class Custom(BaseException):
    """A BaseException subclass that is neither an Exception nor a cancellation."""


class Raise(BaseModel, frozen=True):
    what: str


def _exception(what: str) -> BaseException:
    return {
        "GeneratorExit": GeneratorExit("closing"),
        "Custom": Custom("custom"),
        "KeyboardInterrupt": KeyboardInterrupt(),
        "SystemExit": SystemExit(3),
        "CancelledError": asyncio.CancelledError("not a kill"),
    }[what]


class Raiser(Actor[Raise | Ping]):
    """Raises the named BaseException from handle; records its on_stop."""

    async def handle(self, msg: Raise | Ping) -> str:
        if isinstance(msg, Raise):
            raise _exception(msg.what)
        return "pong"

    async def on_stop(self, reason: ExitReason) -> None:
        STOPS.append((self.path, str(reason)))


class StartRaiser(Actor[Ping]):
    async def on_start(self) -> None:
        raise GeneratorExit("in on_start")

    async def handle(self, msg: Ping) -> str:
        return "pong"


def actor(ref: object) -> ActorRef[Any]:
    assert isinstance(ref, ActorRef)
    return ref


@pytest.mark.parametrize("what", ["GeneratorExit", "Custom", "CancelledError"])
async def test_a_base_exception_from_a_handler_is_a_crash_with_that_exception(
    what: str, events: EventLog
) -> None:
    """GeneratorExit, a custom BaseException or a CancelledError nobody sent is a crash.

    The caller and the log see the exception; nothing is reported as a kill.
    """
    spec = SupervisorSpec(name="root", children=[ChildSpec(name="r", actor=Raiser)])
    async with open_tree(spec) as tree:
        ref = actor(tree.whereis("root/r"))
        task = ref._child.process.task  # type: ignore[union-attr]
        assert task is not None
        with pytest.raises(CallFailedError) as info:
            await ref.call(Raise(what=what))
        assert type(info.value.__cause__).__name__ == what
        assert info.value.reason.kind is ExitKind.CRASH
        await events.wait_for("actor_started", actor="root/r", incarnation=2)
        assert await ref.call(Ping()) == "pong"
        # The task itself ended cleanly: no "Task exception was never retrieved".
        assert task.done()
        assert not task.cancelled()
        assert task.exception() is None
    (crashed,) = events.of("actor_crashed", actor="root/r")
    assert crashed["reason"] == "crash"
    assert crashed["exc_type"] == what
    assert events.of("actor_killed") == []
    assert STOPS[0] == ("root/r", f"crash: {what}: {_exception(what)}")


async def test_a_base_exception_from_a_plain_task_is_a_crash(events: EventLog) -> None:
    """A plain task raising a custom BaseException crashes with it and is restarted."""
    runs: list[int] = []

    async def job() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise Custom("in a task")
        await asyncio.Event().wait()

    spec = SupervisorSpec(name="root", children=[TaskSpec(name="t", task=job)])
    async with open_tree(spec):
        await events.wait_for("actor_started", actor="root/t", incarnation=2)
    (crashed,) = events.of("actor_crashed", actor="root/t")
    assert (crashed["reason"], crashed["exc_type"]) == ("crash", "Custom")


async def test_a_cancelled_future_awaited_by_a_plain_task_is_a_crash(events: EventLog) -> None:
    """A task that awaits a future someone else cancelled crashes; it was not killed."""
    runs: list[int] = []

    async def job() -> None:
        runs.append(1)
        if len(runs) == 1:
            gone = asyncio.get_running_loop().create_future()
            gone.cancel()
            await gone
        await asyncio.Event().wait()

    spec = SupervisorSpec(name="root", children=[TaskSpec(name="t", task=job)])
    async with open_tree(spec):
        await events.wait_for("actor_started", actor="root/t", incarnation=2)
    (crashed,) = events.of("actor_crashed", actor="root/t")
    (stopped,) = events.of("actor_stopped", actor="root/t")
    assert (crashed["reason"], crashed["exc_type"]) == ("crash", "CancelledError")
    assert stopped["reason"] == "shutdown"  # the supervisor's own stop is still a stop


async def test_a_base_exception_from_on_start_is_a_start_failure(events: EventLog) -> None:
    """GeneratorExit from on_start fails the start with it as the cause."""
    spec = SupervisorSpec(name="root", children=[ChildSpec(name="s", actor=StartRaiser)])
    with pytest.raises(StartError) as info:
        async with open_tree(spec):
            pass
    assert type(info.value.cause) is GeneratorExit
    assert events.of("start_failed")[0]["exc_type"] == "GeneratorExit"


def _nested_tree(raiser: ChildSpec | TaskSpec) -> SupervisorSpec:
    return SupervisorSpec(
        name="root",
        children=[
            worker("a"),
            SupervisorSpec(name="sub", children=[worker("b"), raiser, worker("c")]),
            worker("d"),
        ],
    )


async def _call_raise(what: str, where: str, outcomes: list[BaseException]) -> None:
    """Enter the tree, make the handler raise ``what``, stay until the tree ends."""
    raiser = (
        ChildSpec(name="x", actor=Raiser)
        if where == "handler"
        else TaskSpec(name="x", task=_raise_in_task, args=[what])
    )
    async with open_tree(_nested_tree(raiser)) as tree:
        if where == "handler":
            try:
                await actor(tree.whereis("root/sub/x")).call(Raise(what=what))
            except CallFailedError as exc:
                outcomes.append(exc)
        await asyncio.Event().wait()  # cancelled when the tree ends


async def _raise_in_task(what: str) -> None:
    await asyncio.sleep(0)
    raise _exception(what)


@pytest.mark.parametrize("where", ["handler", "task"])
@pytest.mark.parametrize("what", ["KeyboardInterrupt", "SystemExit"])
def test_keyboard_interrupt_or_system_exit_stops_the_tree_in_order_then_propagates(
    what: str, where: str, events: EventLog
) -> None:
    """As asyncio.run for its main task: the tree stops in order, then it is raised.

    Every other child's on_stop runs (reason shutdown), nothing is reported as
    killed, and ``asyncio.run`` ends with the exception itself.
    """
    outcomes: list[BaseException] = []
    with pytest.raises(KeyboardInterrupt if what == "KeyboardInterrupt" else SystemExit):
        asyncio.run(_call_raise(what, where, outcomes))
    if where == "handler":
        (error,) = outcomes
        assert type(error.__cause__).__name__ == what
    assert [e["actor"] for e in events.of("actor_crashed")] == ["root/sub/x", "root/sub"]
    assert {e["exc_type"] for e in events.of("actor_crashed")} == {what}
    assert events.of("actor_killed") == []
    assert events.of("actor_restarted") == []
    stopped = [(e["actor"], e["reason"]) for e in events.of("actor_stopped")]
    # The offender's supervisor stops its other children in reverse order, then
    # ends with the exception; its parent does the same, up to the root.
    assert stopped == [
        ("root/sub/c", "shutdown"),
        ("root/sub/b", "shutdown"),
        ("root/d", "shutdown"),
        ("root/a", "shutdown"),
    ]
    others = [s for s in STOPS if s[0] != "root/sub/x"]
    assert others == [
        ("root/sub/c", "shutdown"),
        ("root/sub/b", "shutdown"),
        ("root/d", "shutdown"),
        ("root/a", "shutdown"),
    ]
    (root,) = events.of("supervisor_stopped", supervisor="root")
    assert (root["reason"], root["exc_type"]) == ("crash", what)


class ExitOnRestart(Actor[Raise | Ping]):
    """Starts once; every later on_start raises SystemExit(4)."""

    starts: ClassVar[int] = 0

    async def on_start(self) -> None:
        ExitOnRestart.starts += 1
        if ExitOnRestart.starts > 1:
            raise SystemExit(4)

    async def handle(self, msg: Raise | Ping) -> str:
        if isinstance(msg, Raise):
            raise _exception(msg.what)
        return "pong"


@pytest.mark.parametrize("how", ["restart", "start_child"])
def test_system_exit_from_on_start_after_the_tree_started_ends_the_tree(
    how: str, events: EventLog
) -> None:
    """SystemExit from on_start in a restart or a start_child ends the tree in order with it."""
    ExitOnRestart.starts = 0
    outcomes: list[BaseException] = []

    async def scenario() -> None:
        x = ChildSpec(name="x", actor=ExitOnRestart)
        if how == "restart":
            spec = SupervisorSpec(name="root", children=[worker("a"), x])
        else:
            ExitOnRestart.starts = 1
            spec = SupervisorSpec(
                name="root",
                children=[worker("a"), DynamicSupervisorSpec(name="pool", child=x)],
            )
        async with open_tree(spec) as tree:
            if how == "restart":
                actor(tree.whereis("root/x")).cast_nowait(Raise(what="Custom"))
            else:
                pool = tree.whereis("root/pool")
                assert isinstance(pool, SupervisorRef)
                try:
                    await pool.start_child()
                except StartError as exc:
                    outcomes.append(exc)
            await asyncio.Event().wait()  # cancelled when the tree ends

    with pytest.raises(SystemExit) as info:
        asyncio.run(scenario())
    assert info.value.code == 4
    (failed,) = events.of("start_failed")
    assert failed["exc_type"] == "SystemExit"
    assert ("root/a", "shutdown") in STOPS
    assert events.of("actor_killed") == []
    (root,) = events.of("supervisor_stopped", supervisor="root")
    assert (root["reason"], root["exc_type"]) == ("crash", "SystemExit")
    if how == "start_child":
        (error,) = outcomes
        assert isinstance(error.__cause__, SystemExit)


class InterruptOnStart(Actor[Ping]):
    async def on_start(self) -> None:
        raise KeyboardInterrupt

    async def handle(self, msg: Ping) -> str:
        return "pong"


def test_keyboard_interrupt_from_on_start_while_the_tree_starts_is_raised(
    events: EventLog,
) -> None:
    """The start is rolled back in order, then open_tree raises the KeyboardInterrupt itself."""
    entered: list[bool] = []

    async def scenario() -> None:
        spec = SupervisorSpec(
            name="root",
            children=[worker("a"), ChildSpec(name="x", actor=InterruptOnStart), worker("b")],
        )
        async with open_tree(spec):
            entered.append(True)

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(scenario())
    assert entered == []
    assert STOPS == [("root/a", "shutdown")]
    assert events.of("start_failed")[0]["exc_type"] == "KeyboardInterrupt"
    assert events.of("actor_started", actor="root/b") == []


class Slow(Actor[Ping]):
    async def handle(self, msg: Ping) -> str:
        await asyncio.Event().wait()
        return "never"


class StuckOnStop(Actor[Raise]):
    """Crashes on Raise, then hangs in on_stop."""

    stopping: ClassVar[bool] = False

    async def handle(self, msg: Raise) -> None:
        raise _exception(msg.what)

    async def on_stop(self, reason: ExitReason) -> None:
        StuckOnStop.stopping = True
        await asyncio.Event().wait()


def test_closing_the_loop_with_calls_in_flight_is_quiet(
    monkeypatch: pytest.MonkeyPatch, events: EventLog
) -> None:
    """A loop closed under a running tree: the coroutines close without raising.

    Nothing tries to schedule on the closed loop, so there is no "Exception
    ignored ... Event loop is closed" as the tasks are collected.
    """
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    async def start_and_call() -> None:
        spec = SupervisorSpec(
            name="root",
            children=[
                ChildSpec(name="slow", actor=Slow),
                SupervisorSpec(name="sub", children=[ChildSpec(name="slow", actor=Slow)]),
                TaskSpec(name="t", task=asyncio.sleep, args=[60]),
                ChildSpec(name="stuck", actor=StuckOnStop, shutdown=60),
            ],
        )
        tree = open_tree(spec)
        await tree.__aenter__()
        calls = []  # in flight when the loop closes
        for path in ("root/slow", "root/sub/slow"):
            for _ in range(3):
                calls.append(
                    asyncio.ensure_future(actor(tree.whereis(path)).call(Ping(), timeout=None))
                )
                actor(tree.whereis(path)).cast_nowait(Ping())
        mailboxes = [
            actor(tree.whereis(p))._child.process.mailbox  # type: ignore[union-attr]
            for p in ("root/slow", "root/sub/slow")
        ]
        # One call in each handler, the other five queued.
        await until(lambda: all(len(m) == 5 for m in mailboxes))
        StuckOnStop.stopping = False
        actor(tree.whereis("root/stuck")).cast_nowait(Raise(what="Custom"))
        await until(lambda: StuckOnStop.stopping)  # crashed, in on_stop when the loop closes

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(start_and_call())
    finally:
        loop.close()
    del loop
    gc.collect()
    assert [str(u.exc_value) for u in unraisable] == []
    assert events.of("supervisor_stopped") == []  # nothing ran after the loop closed


class ExitOnStop(Actor[Raise | Ping]):
    """Crashes on Raise; its on_stop raises SystemExit(5) on a graceful stop."""

    async def handle(self, msg: Raise | Ping) -> str:
        if isinstance(msg, Raise):
            raise _exception(msg.what)
        return "pong"

    async def on_stop(self, reason: ExitReason) -> None:
        STOPS.append((self.path, str(reason)))
        if reason.is_normal:
            raise SystemExit(5)


@pytest.mark.parametrize("when", ["tree_stop", "group_restart"])
def test_system_exit_from_on_stop_while_its_supervisor_stops_it_is_raised_after_the_stop(
    when: str, events: EventLog
) -> None:
    """SystemExit from on_stop during a shutdown or a group restart still ends the program.

    The supervisor finishes stopping in order, then ends with it, up to the root.
    """

    async def scenario() -> None:
        spec = SupervisorSpec(
            name="root",
            children=[
                worker("a"),
                SupervisorSpec(
                    name="sub",
                    strategy=Strategy.ONE_FOR_ALL,
                    children=[ChildSpec(name="x", actor=ExitOnStop), worker("y"), worker("z")],
                ),
            ],
        )
        async with open_tree(spec) as tree:
            if when == "group_restart":
                actor(tree.whereis("root/sub/z")).cast_nowait(Crash())
                await asyncio.Event().wait()  # cancelled when the tree ends

    with pytest.raises(SystemExit) as info:
        asyncio.run(scenario())
    assert info.value.code == 5
    stopped = [("root/sub/z", "shutdown"), ("root/sub/y", "shutdown"), ("root/sub/x", "shutdown")]
    if when == "group_restart":  # z crashed; its siblings were stopped and not restarted
        stopped = [("root/sub/z", "crash: ValueError: boom"), *stopped[1:]]
    assert [*stopped, ("root/a", "shutdown")] == STOPS
    assert events.of("actor_killed") == []
    assert events.of("actor_restarted") == []
    (root,) = events.of("supervisor_stopped", supervisor="root")
    assert (root["reason"], root["exc_type"]) == ("crash", "SystemExit")
