"""The stop protocol: graceful stop, cancellation at the timeout, then abandonment.

Run over processes whose end is reported from outside (as for a child in another thread,
process or node), so each step is seen on its own, on virtual time.
"""

from __future__ import annotations

import asyncio

import pytest
from _support import worker

from supervise import ExitKind, ExitReason
from supervise._child import Child
from supervise._dead_letters import DeadLetters
from supervise._process import Process
from supervise._reason import SHUTDOWN, killed
from supervise._registry import Registry
from supervise._shutdown import KILL_GRACE_SECONDS, shutdown_seconds, stop_processes
from supervise.spec import SupervisorSpec, TaskSpec
from supervise.testing import EventLog


class Remote(Process):
    """Ends on a stop request, on a kill, or never, as told; records what it was asked."""

    __slots__ = ("asked", "honours_kill", "honours_stop")

    def __init__(self, name: str, *, honours_stop: bool, honours_kill: bool = True) -> None:
        spec = worker(name)
        super().__init__(Child(spec, f"root/{name}", None, Registry(), DeadLetters()), ready=True)
        self.honours_stop = honours_stop
        self.honours_kill = honours_kill
        self.asked: list[str] = []

    def start(self) -> None:
        pass

    def request_stop(self, reason: ExitReason) -> None:
        self.asked.append(f"stop {reason}")
        if self.honours_stop:
            self._finish(reason)

    def kill(self, detail: str) -> None:
        self.asked.append(f"kill {detail}")
        if self.honours_kill:
            self._finish(killed(detail))

    async def wait(self, timeout: float | None) -> bool:
        return self.reason is not None


def pairs(*processes: Remote) -> list[tuple[Child, Process]]:
    return [(p.child, p) for p in processes]


@pytest.mark.virtual_clock
async def test_a_group_stops_gracefully_then_is_killed_then_abandoned(events: EventLog) -> None:
    """Each process gets only the step it needs; the whole group ends in bounded time."""
    polite = Remote("polite", honours_stop=True)
    slow = Remote("slow", honours_stop=False)
    stuck = Remote("stuck", honours_stop=False, honours_kill=False)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await stop_processes(pairs(polite, slow, stuck), 5.0, SHUTDOWN, "root")
    assert loop.time() - began == pytest.approx(5.0 + KILL_GRACE_SECONDS)
    assert polite.asked == ["stop shutdown"]
    timeout = "kill shutdown timeout (5.0 s) ran out"
    assert slow.asked == ["stop shutdown", timeout]
    assert stuck.asked == ["stop shutdown", timeout]
    assert polite.reason is SHUTDOWN
    assert slow.reason == killed("shutdown timeout (5.0 s) ran out")
    assert stuck.reason == killed("abandoned")
    assert events.sequence("actor_killed", "actor_abandoned", "actor_stopped", "actor_crashed") == [
        ("actor_killed", "root/slow"),
        ("actor_killed", "root/stuck"),
        ("actor_abandoned", "root/stuck"),
        ("actor_stopped", "root/polite"),
        ("actor_crashed", "root/slow"),
        ("actor_crashed", "root/stuck"),
    ]


@pytest.mark.virtual_clock
async def test_brutal_kill_asks_for_no_graceful_stop(events: EventLog) -> None:
    """brutal_kill kills at once: no stop request, reason killed with that detail."""
    process = Remote("w", honours_stop=True)
    await stop_processes(pairs(process), "brutal_kill", SHUTDOWN, "root")
    assert process.asked == ["kill brutal_kill"]
    assert process.reason is not None
    assert process.reason.kind is ExitKind.KILLED
    assert [e["shutdown"] for e in events.of("actor_killed")] == ["brutal_kill"]


@pytest.mark.virtual_clock
async def test_processes_being_stopped_do_not_report_to_their_parent() -> None:
    """A stopped process is `terminating`: its end is expected, so on_exit is not called."""
    process = Remote("w", honours_stop=True)
    told: list[Process] = []
    process.on_exit = told.append
    await stop_processes(pairs(process), 1.0, SHUTDOWN, "root")
    assert process.terminating
    assert told == []


async def idle() -> None:
    pass


def test_shutdown_seconds_of_each_mode() -> None:
    """Seconds as given; brutal_kill is no time at all; infinity has no bound."""
    assert shutdown_seconds(worker("w", shutdown=2.5)) == 2.5
    assert shutdown_seconds(worker("w", shutdown="brutal_kill")) == 0
    assert shutdown_seconds(TaskSpec(name="t", task=idle, shutdown="infinity")) is None
    assert shutdown_seconds(SupervisorSpec(name="s")) is None
