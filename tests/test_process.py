"""Processes: one incarnation of a child, ending exactly once."""

from __future__ import annotations

import asyncio

from _support import Plain

from supervise import ChildSpec, ExitKind
from supervise._child import Child
from supervise._dead_letters import DeadLetters
from supervise._mailbox import Mailbox
from supervise._process import ActorProcess, Process
from supervise._registry import Registry


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
