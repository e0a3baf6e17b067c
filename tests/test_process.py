"""Processes: one incarnation of a child, ending exactly once."""

from __future__ import annotations

import asyncio
import gc
import traceback
import weakref

from _support import Crash, Plain, until, worker

from supervise import (
    Actor,
    ActorRef,
    ChildSpec,
    ExitKind,
    ExitReason,
    SupervisorSpec,
    TaskSpec,
    open_tree,
)
from supervise._child import Child
from supervise._dead_letters import DeadLetters
from supervise._mailbox import Mailbox
from supervise._monitor import start_monitor
from supervise._process import ActorProcess, Process
from supervise._reason import SHUTDOWN, crash, killed
from supervise._registry import Registry, slot_at
from supervise._supervisor import Supervisor
from supervise._task import TaskProcess
from supervise.testing import EventLog


def make_process() -> ActorProcess:
    spec = ChildSpec(name="p", actor=Plain)
    child = Child(spec, "root/p", None, Registry(), DeadLetters())
    return ActorProcess(child, Plain(), Mailbox("root/p", 10), 5.0)


def test_an_actor_process_starts_with_the_fields_process_init_sets() -> None:
    """`ActorProcess.__init__` sets `Process`'s fields itself (inline, for restarts):
    each one as `Process.__init__` does, ``ready`` as "no on_start"."""

    class Starting(Plain):
        async def on_start(self) -> None:
            pass

    fields = Process.__slots__
    for actor, ready in ((Plain(), True), (Starting(), False)):
        spec = ChildSpec(name="p", actor=type(actor))
        child = Child(spec, "root/p", None, Registry(), DeadLetters())
        process = ActorProcess(child, actor, Mailbox("root/p", 10), 5.0)
        reference = object.__new__(ActorProcess)
        Process.__init__(reference, child, ready=ready)
        assert {f: getattr(process, f) for f in fields} == {
            f: getattr(reference, f) for f in fields
        }


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
            old = slot_at(tree.registry, "root/w").process.actor  # type: ignore[union-attr]
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
            old = slot_at(tree.registry, "root/k").process.actor  # type: ignore[union-attr]
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


class Elsewhere(Process):
    """A process whose code runs somewhere else: it ends when it is told that it did.

    The smallest `Process` that is not a `LoopProcess`, standing in for a child
    in a thread, an OS process or on another node.
    """

    __slots__ = ("stop_requests",)

    def __init__(self, child: Child) -> None:
        super().__init__(child, ready=True)
        self.stop_requests: list[ExitReason] = []

    def start(self) -> None:
        pass

    def request_stop(self, reason: ExitReason) -> None:
        self.stop_requests.append(reason)
        self._finish(reason)  # the remote side acknowledges at once

    def kill(self, detail: str) -> None:
        self._finish(killed(detail))

    async def wait(self, timeout: float | None) -> bool:
        return self.reason is not None

    def ended_there(self, reason: ExitReason) -> None:
        self._finish(reason)


async def test_a_supervisor_and_monitors_need_only_the_process_interface() -> None:
    """A child that runs elsewhere is monitored, restarted and stopped like an in-loop one."""
    spec = SupervisorSpec(name="root", children=[worker("a"), worker("b")])
    root = Child(spec, "root", None, Registry(), DeadLetters())
    made: list[Elsewhere] = []

    def launch_elsewhere(child: Child) -> Process:
        made.append(Elsewhere(child))
        return made[-1]

    supervisor = Supervisor(root, launch_elsewhere)
    supervisor.start()
    await supervisor.started
    assert [p.path for p in made] == ["root/a", "root/b"]
    first = made[0]
    monitor = start_monitor(first.child)
    first.ended_there(crash(ValueError("lost")))
    down = await asyncio.wait_for(monitor.wait(), 10)
    assert (down.path, down.reason, down.detail) == ("root/a", "crash", "ValueError: lost")
    await until(lambda: len(made) == 3)  # one_for_one: only a is started again
    assert made[2].path == "root/a"
    assert made[2].child is first.child
    assert first.child.process is made[2]
    supervisor.request_stop(SHUTDOWN)
    assert await supervisor.wait(10)
    assert [p.stop_requests for p in made] == [[], [SHUTDOWN], [SHUTDOWN]]
    assert supervisor.reason is SHUTDOWN
