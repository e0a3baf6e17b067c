"""Processes: one incarnation of a child, ending exactly once."""

from __future__ import annotations

import asyncio
import gc
import traceback
import weakref

from _support import Crash, Plain, worker

from supervise import Actor, ActorRef, ChildSpec, ExitKind, SupervisorSpec, TaskSpec, open_tree
from supervise._child import Child
from supervise._dead_letters import DeadLetters
from supervise._mailbox import Mailbox
from supervise._process import ActorProcess, Process
from supervise._reason import SHUTDOWN
from supervise._registry import Registry
from supervise._task import TaskProcess
from supervise.testing import EventLog


def make_process() -> ActorProcess:
    spec = ChildSpec(name="p", actor=Plain)
    child = Child(spec, "root/p", None, Registry(), DeadLetters())
    return ActorProcess(child, Plain(), Mailbox("root/p", 10), 5.0)


async def test_kill_before_the_first_step_still_finishes_as_killed() -> None:
    """A task cancelled before it ever ran still reports its end, once, as killed."""
    process = make_process()
    ended: list[Process] = []
    process.on_exit = ended.append
    process.start()
    process.kill("test")
    assert process.task is not None
    await asyncio.wait([process.task])
    assert ended == [process]
    assert process.reason is not None
    assert process.reason.kind is ExitKind.KILLED
    assert process.mailbox.closed


async def test_abandon_then_late_end_reports_once() -> None:
    """Abandoning finishes the process; its task ending later changes nothing."""
    process = make_process()
    ended: list[Process] = []
    process.on_exit = ended.append
    process.start()
    await asyncio.sleep(0)
    process.abandon()
    process.kill("late")
    assert process.task is not None
    await asyncio.wait([process.task])
    assert ended == [process]
    assert process.reason is not None
    assert process.reason.detail == "abandoned"


async def test_a_task_stopped_before_its_first_step_ends_with_the_stop_reason() -> None:
    """A plain task cancelled by request_stop before it ran reports that stop, once."""

    async def forever() -> None:
        await asyncio.Event().wait()

    spec = TaskSpec(name="t", task=forever)
    child = Child(spec, "root/t", None, Registry(), DeadLetters())
    process = TaskProcess(child, spec)
    ended: list[Process] = []
    process.on_exit = ended.append
    process.start()
    process.request_stop(SHUTDOWN)
    assert process.task is not None
    await asyncio.wait([process.task])
    assert ended == [process]
    assert process.reason is SHUTDOWN


async def test_a_kill_after_the_first_step_adds_no_done_callback() -> None:
    """Once the task has run, its own ``finally`` reports the end: no extra callback."""
    process = make_process()
    ended: list[Process] = []
    process.on_exit = ended.append
    process.start()
    await asyncio.sleep(0)
    process.kill("test")
    assert process.task is not None
    await asyncio.wait([process.task])
    assert ended == [process]
    assert process.reason is not None
    assert process.reason.kind is ExitKind.KILLED


async def test_a_crashed_incarnation_is_freed_without_the_cyclic_gc(events: EventLog) -> None:
    """After a crash and restart, the old actor is gone by reference counting alone.

    Otherwise every crash leaves a cycle (traceback -> frames -> process -> reason
    -> exception, and actor <-> process) that pauses a later restart in a GC pass.
    The crash is still logged with its exception (for the traceback).
    """
    spec = SupervisorSpec(name="root", children=[worker("w")])
    gc.disable()
    try:
        async with open_tree(spec) as tree:
            old = tree.registry._slot("root/w").process.actor  # type: ignore[union-attr]
            gone = weakref.ref(old)
            del old
            w = tree.whereis("root/w")
            assert isinstance(w, ActorRef)
            await w.cast(Crash())
            await events.wait_for("actor_started", actor="root/w", incarnation=2)
            crashed = events.of("actor_crashed", actor="root/w")[0]
            assert isinstance(crashed["exc_info"], ValueError)
            del crashed
            events.entries.clear()  # the log itself holds the exception
            assert gone() is None
    finally:
        gc.enable()


class Keeper(Actor[Crash]):
    """Crashes with a local variable in the handler's frame."""

    async def handle(self, msg: Crash) -> None:
        order_id = f"order-{msg.message}"  # what a post-mortem debugger wants to see
        raise ValueError(order_id)


async def test_a_crash_keeps_the_users_frame_locals_and_is_still_freed_by_refcount(
    events: EventLog,
) -> None:
    """The user's frames keep their locals (self, msg, order_id); the runtime drops its own
    references, so the ended incarnation is still freed without the cyclic GC."""
    spec = SupervisorSpec(name="root", children=[ChildSpec(name="k", actor=Keeper)])
    gc.disable()
    try:
        async with open_tree(spec) as tree:
            old = tree.registry._slot("root/k").process.actor  # type: ignore[union-attr]
            gone = weakref.ref(old)
            del old
            k = tree.whereis("root/k")
            assert isinstance(k, ActorRef)
            await k.cast(Crash(message="42"))
            await events.wait_for("actor_started", actor="root/k", incarnation=2)
            crashed = events.of("actor_crashed", actor="root/k")[0]
            exc = crashed["exc_info"]
            assert isinstance(exc, ValueError)
            frames = {f.f_code.co_name: f.f_locals for f, _ in traceback.walk_tb(exc.__traceback__)}
            assert frames["handle"]["order_id"] == "order-42"
            assert frames["handle"]["msg"] == Crash(message="42")
            assert frames["handle"]["self"] is gone()
            del crashed, exc, frames
            events.entries.clear()  # the log itself holds the exception
            assert gone() is None
    finally:
        gc.enable()
