"""`Exit`: a stopping child chooses its exit reason, as an OTP ``terminate/2`` calling ``exit/1``.

../shared/docs/otp-semantics.md §5.1 (what a child answers to ``shutdown``), §2.2 (the
restart decision on ``normal``, ``shutdown`` and ``{shutdown, Term}``), §7.2 (terminate).
"""

from __future__ import annotations

import asyncio

import pytest
from _support import Crash, Ping, StopSelf, worker
from pydantic import BaseModel

from supervise import (
    Actor,
    ActorExitedError,
    ArgumentError,
    CallDroppedError,
    ChildSpec,
    ChildState,
    Exit,
    ExitKind,
    ExitReason,
    StartError,
    SupervisorRef,
    SupervisorSpec,
    TaskSpec,
    open_tree,
)
from supervise.testing import EventLog


class Choice:
    """What the next on_stop raises, and the reasons on_stop was given."""

    exit: Exit | None = None
    given: list[str] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    Choice.exit = None
    Choice.given = []


class Chooser(Actor[Ping | Crash | StopSelf]):
    """Its on_stop ends with the reason `Choice.exit` says, if any."""

    async def handle(self, msg: Ping | Crash | StopSelf) -> str:
        if isinstance(msg, Crash):
            raise ValueError(msg.message)
        if isinstance(msg, StopSelf):
            self.stop(msg.detail)
        return "pong"

    async def on_stop(self, reason: ExitReason) -> None:
        Choice.given.append(str(reason))
        if Choice.exit is not None:
            raise Choice.exit


def chooser(name: str, restart: str = "permanent") -> ChildSpec:
    return ChildSpec(name=name, actor=Chooser, restart=restart)


async def rows(sup: SupervisorRef) -> list[tuple[str, ChildState]]:
    return [(c.name, c.state) for c in await sup.which_children()]


def test_exit_builds_normal_or_shutdown_reasons() -> None:
    """Erlang's exit(normal), exit(shutdown), exit({shutdown, Detail}); nothing else."""
    assert Exit().reason == ExitReason(ExitKind.NORMAL)
    assert Exit("shutdown").reason == ExitReason(ExitKind.SHUTDOWN)
    assert Exit("shutdown", "drained").reason == ExitReason(ExitKind.SHUTDOWN, "drained")
    assert str(Exit("shutdown", "drained")) == "shutdown: drained"
    with pytest.raises(ArgumentError, match="a normal end has no detail"):
        Exit("normal", "drained")
    with pytest.raises(ArgumentError, match="'crash'"):
        Exit("crash")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("restart", "after"),
    [("transient", ChildState.STOPPED), ("permanent", ChildState.RUNNING)],
)
async def test_on_stop_turns_a_normal_stop_into_shutdown_with_detail(
    events: EventLog, restart: str, after: ChildState
) -> None:
    """supervisor_SUITE transient_shutdown / permanent_shutdown, the reason chosen in terminate:
    a transient child ending ``{shutdown, drained}`` is not restarted; a permanent one is."""
    Choice.exit = Exit("shutdown", "drained")
    async with open_tree(SupervisorSpec(name="root", children=[chooser("a", restart)])) as tree:
        ref = tree.actor("root/a")
        down = asyncio.create_task(ref.wait_down())
        await asyncio.sleep(0)
        await ref.cast(StopSelf())  # asks for normal
        assert ((await down).reason, (await down).detail) == ("shutdown", "drained")
        stopped = await events.wait_for("actor_stopped", actor="root/a")
        assert (stopped["reason"], stopped["reason_detail"]) == ("shutdown", "drained")
        if after is ChildState.RUNNING:
            await events.wait_for("actor_started", actor="root/a", incarnation=2)
        assert await rows(tree.root) == [("a", after)]
    assert Choice.given[0] == "normal"


async def test_on_stop_answers_a_shutdown_with_normal(events: EventLog) -> None:
    """otp-semantics §5.1 [V:43]: a child may answer the supervisor's ``shutdown`` by exiting
    ``normal``; the shutdown goes ahead and reports the reason it actually ended with."""
    Choice.exit = Exit()
    async with open_tree(SupervisorSpec(name="root", children=[chooser("a")])):
        pass
    [stopped] = events.of("actor_stopped", actor="root/a")
    assert stopped["reason"] == "normal"
    assert "reason_detail" not in stopped
    assert Choice.given == ["shutdown"]
    assert not events.of("on_stop_failed")


async def test_exit_after_a_crash_does_not_hide_it(events: EventLog) -> None:
    """A crash is not turned into a normal end: on_stop runs best effort and the crash stands,
    so a transient child is restarted (supervisor_SUITE transient_abnormal)."""
    Choice.exit = Exit()
    spec = SupervisorSpec(name="root", children=[chooser("a", "transient")])
    async with open_tree(spec) as tree:
        await tree.actor("root/a").cast(Crash())
        crashed = await events.wait_for("actor_crashed", actor="root/a")
        assert (crashed["reason"], crashed["exc_type"]) == ("crash", "ValueError")
        await events.wait_for("actor_started", actor="root/a", incarnation=2)
    assert not events.of("on_stop_failed")
    assert Choice.given[0] == "crash: ValueError: boom"


# -- plain tasks -----------------------------------------------------------------------


async def drain_on_stop(started: asyncio.Event) -> None:
    started.set()
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        raise Exit("shutdown", "drained") from None


async def test_a_task_that_catches_its_cancellation_chooses_its_reason(events: EventLog) -> None:
    """A task stopped by terminate_child ends with the reason it raises in place of the
    cancellation; a monitor sees it."""
    started = asyncio.Event()
    task = TaskSpec(name="t", task=drain_on_stop, args=[started])
    async with open_tree(SupervisorSpec(name="root", children=[task])) as tree:
        await started.wait()
        down = asyncio.create_task(tree.whereis("root/t").wait_down())
        await asyncio.sleep(0)
        await tree.root.terminate_child("t")
        assert ((await down).reason, (await down).detail) == ("shutdown", "drained")
    [stopped] = events.of("actor_stopped", actor="root/t")
    assert (stopped["reason"], stopped["reason_detail"]) == ("shutdown", "drained")


async def finish_once(runs: list[int]) -> None:
    runs.append(len(runs) + 1)
    if len(runs) == 1:
        raise Exit("shutdown", "done")
    await asyncio.Event().wait()


@pytest.mark.parametrize(
    ("restart", "after"),
    [("transient", ChildState.STOPPED), ("permanent", ChildState.RUNNING)],
)
async def test_a_task_that_exits_shutdown_by_itself(
    events: EventLog, restart: str, after: ChildState
) -> None:
    """supervisor_SUITE transient_shutdown / permanent_shutdown with ``{shutdown, done}``:
    a transient task is not restarted, a permanent one is."""
    runs: list[int] = []
    task = TaskSpec(name="t", task=finish_once, args=[runs], restart=restart)
    async with open_tree(SupervisorSpec(name="root", children=[task])) as tree:
        stopped = await events.wait_for("actor_stopped", actor="root/t")
        assert (stopped["reason"], stopped["reason_detail"]) == ("shutdown", "done")
        if after is ChildState.RUNNING:
            await events.wait_for("actor_started", actor="root/t", incarnation=2)
        assert await rows(tree.root) == [("t", after)]
    assert runs == ([1, 2] if after is ChildState.RUNNING else [1])


# -- from handle and on_start ----------------------------------------------------------


class ExitNow(BaseModel, frozen=True):
    detail: str | None = None


class Leaver(Actor[Ping | ExitNow]):
    """Raises `Exit` from handle when told to; its on_stop records the reason it is given."""

    async def on_start(self) -> None:
        if Choice.exit is not None:
            raise Choice.exit

    async def handle(self, msg: Ping | ExitNow) -> str:
        if isinstance(msg, ExitNow):
            raise Exit() if msg.detail is None else Exit("shutdown", msg.detail)
        return "pong"

    async def on_stop(self, reason: ExitReason) -> None:
        Choice.given.append(str(reason))


async def test_exit_from_handle_stops_a_transient_child_for_good(events: EventLog) -> None:
    """OTP's ``{stop, {shutdown, done}, State}`` from handle_call: a stop, not a crash. on_stop
    gets the reason, the call gets no reply (ActorExitedError), a call queued behind it is
    dropped, and the transient child is not restarted, so the restart intensity (0 here) is
    not charged."""
    spec = SupervisorSpec(
        name="root",
        max_restarts=0,
        children=[ChildSpec(name="a", actor=Leaver, restart="transient"), worker("b")],
    )
    async with open_tree(spec) as tree:
        ref = tree.actor("root/a", Leaver)
        down = asyncio.create_task(ref.wait_down())
        await asyncio.sleep(0)  # the monitor is set
        leaving = asyncio.create_task(ref.call(ExitNow(detail="done")))
        queued = asyncio.create_task(ref.call(Ping()))
        with pytest.raises(ActorExitedError) as info:
            await leaving
        assert type(info.value) is ActorExitedError  # not CallFailedError: nothing crashed
        assert info.value.reason == ExitReason(ExitKind.SHUTDOWN, "done")
        assert str(info.value) == "actor 'root/a' stopped before replying (shutdown: done)"
        with pytest.raises(CallDroppedError):
            await queued
        assert ((await down).reason, (await down).detail) == ("shutdown", "done")
        stopped = await events.wait_for("actor_stopped", actor="root/a")
        assert (stopped["reason"], stopped["reason_detail"]) == ("shutdown", "done")
        assert await rows(tree.root) == [("a", ChildState.STOPPED), ("b", ChildState.RUNNING)]
        assert tree.root.statistics().restarts_in_window == 0
    assert Choice.given == ["shutdown: done"]
    assert not events.of("actor_crashed")
    assert events.sequence("actor_stopped", "actor_started")[:3] == [
        ("actor_started", "root/a"),
        ("actor_started", "root/b"),
        ("actor_stopped", "root/a"),
    ]


@pytest.mark.parametrize(
    ("restart", "after"),
    [("transient", ChildState.STOPPED), ("permanent", ChildState.RUNNING)],
)
async def test_exit_normal_from_a_cast_handler(
    events: EventLog, restart: str, after: ChildState
) -> None:
    """supervisor_SUITE transient_normal / permanent_normal, the end chosen in handle_cast
    (``{stop, normal, State}``): a transient child stays stopped, a permanent one is restarted."""
    spec = SupervisorSpec(
        name="root", children=[ChildSpec(name="a", actor=Leaver, restart=restart)]
    )
    async with open_tree(spec) as tree:
        ref = tree.actor("root/a", Leaver)
        await ref.cast(ExitNow())
        stopped = await events.wait_for("actor_stopped", actor="root/a")
        assert stopped["reason"] == "normal"
        if after is ChildState.RUNNING:
            await events.wait_for("actor_started", actor="root/a", incarnation=2)
            assert await ref.call(Ping()) == "pong"
        assert await rows(tree.root) == [("a", after)]
    assert Choice.given[0] == "normal"
    assert not events.of("actor_crashed")


async def test_exit_from_on_start_fails_the_start(events: EventLog) -> None:
    """As OTP's ``init`` returning ``{stop, Reason}``: whatever the reason, the start fails
    (`StartError`, the `Exit` as its cause); `Ignore` is the way to decline to run."""
    Choice.exit = Exit("shutdown", "not today")
    spec = SupervisorSpec(name="root", children=[ChildSpec(name="a", actor=Leaver)])
    with pytest.raises(StartError) as info:
        async with open_tree(spec):
            pass
    assert info.value.actor == "root/a"
    assert info.value.cause is Choice.exit
    assert Choice.given == []  # it never ran: no on_stop
    [failed] = events.of("start_failed", actor="root/a")
    assert (failed["exc_type"], failed["exc_message"]) == ("Exit", "shutdown: not today")
