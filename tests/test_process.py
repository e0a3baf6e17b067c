"""Processes: one incarnation of a child, ending exactly once."""

from __future__ import annotations

import asyncio

from _support import Plain

from supervise import ChildSpec, ExitKind, TaskSpec
from supervise._child import Child
from supervise._dead_letters import DeadLetters
from supervise._mailbox import Mailbox
from supervise._process import ActorProcess, Process
from supervise._reason import SHUTDOWN
from supervise._registry import Registry
from supervise._task import TaskProcess


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
