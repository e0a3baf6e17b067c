"""Offload: a handler in a thread or a worker process; the loop keeps serving other actors."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _offload_actors import (
    Compute,
    Cruncher,
    Fail,
    Leave,
    Square,
    Squared,
    SwitchIntervalNow,
    ThreadCruncher,
)
from _support import Ping, Worker

from supervise import ActorExitedError, ChildSpec, SupervisorSpec, open_tree
from supervise._offload import SwitchInterval, switch_interval
from supervise.testing import EventLog


def _tree(cruncher: ChildSpec) -> SupervisorSpec:
    return SupervisorSpec(name="app", children=[cruncher, ChildSpec(name="echo", actor=Worker)])


CRUNCHERS = [
    pytest.param(ChildSpec(name="cruncher", actor=Cruncher, execution="thread"), id="thread"),
    pytest.param(ChildSpec(name="cruncher", actor=ThreadCruncher), id="thread-decorator"),
    pytest.param(ChildSpec(name="cruncher", actor=Cruncher, execution="process"), id="process"),
]


@pytest.mark.parametrize("cruncher", CRUNCHERS)
async def test_others_answer_while_an_offloaded_handler_computes(
    cruncher: ChildSpec, events: EventLog
) -> None:
    """While the offloaded handler computes for 1 s, another actor answers 100 calls; the
    watchdog sees no block; the mailbox order of the offloaded actor holds."""
    async with open_tree(_tree(cruncher), watchdog=True) as tree:
        crunch = tree.actor("app/cruncher", Cruncher)
        echo = tree.actor("app/echo", Worker)
        await crunch.call(Square(n=2), timeout=30)  # a worker process is started by then
        computing = asyncio.ensure_future(crunch.call(Compute(seconds=1.0), timeout=30))
        after = asyncio.ensure_future(crunch.call(Square(n=3), timeout=30))
        await asyncio.sleep(0.05)  # it is computing
        for _ in range(100):
            assert await echo.call(Ping()) == "pong"
        assert not computing.done()
        pid = await computing
        assert await after == Squared(n=3, square=9)  # handled after Compute, in order
        assert (pid != os.getpid()) is (cruncher.execution == "process")
    assert not [e for e in events.of("event_loop_blocked") if e["actor"] == "app/cruncher"]


@pytest.mark.parametrize("cruncher", CRUNCHERS)
async def test_a_failure_off_the_loop_is_a_crash(cruncher: ChildSpec, events: EventLog) -> None:
    """An exception in the thread or worker process crashes the actor; the traceback from
    there is in actor_crashed; the supervisor restarts it."""
    async with open_tree(_tree(cruncher)) as tree:
        crunch = tree.actor("app/cruncher", Cruncher)
        await crunch.cast(Fail(text="bad input"))
        crashed = await events.wait_for("actor_crashed", actor="app/cruncher", timeout=30)
        assert "bad input" in crashed["exc_message"]
        if cruncher.execution == "process":
            assert crashed["exc_type"] == "OffloadedHandlerError"
            assert "raise ValueError(text)" in crashed["exc_message"]  # the remote traceback
        else:
            assert crashed["exc_type"] == "ValueError"
        await events.wait_for("actor_started", actor="app/cruncher", incarnation=2)
        assert await crunch.call(Square(n=4), timeout=30) == Squared(n=4, square=16)


@pytest.mark.parametrize("cruncher", CRUNCHERS)
async def test_exit_off_the_loop_stops_as_on_it(cruncher: ChildSpec, events: EventLog) -> None:
    """`Exit` raised by a handler in a thread or a worker process is the stop it is on the
    loop: the call gets ActorExitedError with that reason, and a transient actor stays down."""
    spec = _tree(cruncher.model_copy(update={"restart": "transient"}))
    async with open_tree(spec) as tree:
        crunch = tree.actor("app/cruncher", Cruncher)
        with pytest.raises(ActorExitedError) as info:
            await crunch.call(Leave(detail="done"), timeout=30)
        assert type(info.value) is ActorExitedError
        assert (info.value.reason.kind, info.value.reason.detail) == ("shutdown", "done")
        stopped = await events.wait_for("actor_stopped", actor="app/cruncher", timeout=30)
        assert (stopped["reason"], stopped["reason_detail"]) == ("shutdown", "done")
        [row, _] = await tree.root.which_children()
        assert row.state == "stopped"
    assert not events.of("actor_crashed")


async def test_a_thread_that_outlives_the_shutdown_timeout_is_abandoned(
    events: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopping waits for the thread up to the shutdown timeout, then abandons it."""
    monkeypatch.setattr("supervise._shutdown.KILL_GRACE_SECONDS", 0.05)
    spec = _tree(ChildSpec(name="cruncher", actor=Cruncher, execution="thread", shutdown=0.1))
    async with open_tree(spec) as tree:
        crunch = tree.actor("app/cruncher", Cruncher)
        computing = asyncio.ensure_future(crunch.call(Compute(seconds=1.0)))
        await asyncio.sleep(0.05)
        await tree.root.terminate_child("cruncher")
        assert events.sequence("actor_killed", "actor_abandoned") == [
            ("actor_killed", "app/cruncher"),
            ("actor_abandoned", "app/cruncher"),
        ]
        with pytest.raises(ActorExitedError, match="cruncher"):
            await computing


async def test_a_worker_process_is_killed_with_its_incarnation(events: EventLog) -> None:
    """A kill ends the worker process at once (SIGKILL); the next incarnation gets a new one."""
    spec = _tree(ChildSpec(name="cruncher", actor=Cruncher, execution="process"))
    async with open_tree(spec) as tree:
        crunch = tree.actor("app/cruncher", Cruncher)
        await crunch.call(Square(n=1), timeout=30)
        computing = asyncio.ensure_future(crunch.call(Compute(seconds=30), timeout=60))
        await asyncio.sleep(0.1)
        crunch.kill()
        with pytest.raises(ActorExitedError, match="cruncher"):
            await computing
        await events.wait_for("actor_started", actor="app/cruncher", incarnation=2)
        first: Any = await crunch.call(Compute(seconds=0), timeout=30)
        assert first != os.getpid()
    assert _children() == []


@pytest.fixture
def interpreter_switch_interval() -> Iterator[float]:
    """The interpreter's switch interval, set back after the test whatever it did."""
    before = sys.getswitchinterval()
    yield before
    sys.setswitchinterval(before)


@pytest.mark.parametrize(
    ("cruncher", "during"),
    [
        pytest.param(ChildSpec(name="c", actor=Cruncher, execution="thread"), 0.001, id="thread"),
        pytest.param(ChildSpec(name="c", actor=ThreadCruncher), 0.001, id="thread-decorator"),
        pytest.param(
            ChildSpec(name="c", actor=Cruncher, execution="thread", switch_interval=0.002),
            0.002,
            id="its-own",
        ),
        pytest.param(
            ChildSpec(name="c", actor=Cruncher, execution="thread", switch_interval=None),
            None,
            id="left-alone",
        ),
    ],
)
async def test_a_thread_handler_runs_with_the_childs_switch_interval(
    cruncher: ChildSpec, during: float | None, interpreter_switch_interval: float
) -> None:
    """While a handler runs in a thread the switch interval is the child's (so the loop gets
    the GIL back from pure-Python work within about that long); afterwards it is what the
    application had."""
    # A thread abandoned by an earlier test holds it until its handler ends (1 s at most).
    for _ in range(1000):
        if not switch_interval:
            break
        await asyncio.sleep(0.01)
    assert not switch_interval, "a thread-offloaded handler still runs"
    sys.setswitchinterval(0.004)
    async with open_tree(_tree(cruncher)) as tree:
        crunch = tree.actor("app/c", Cruncher)
        seen = await crunch.call(SwitchIntervalNow(), timeout=30)
        assert seen == pytest.approx(0.004 if during is None else during)
        assert sys.getswitchinterval() == pytest.approx(0.004)


def test_switch_interval_holds_count_together(interpreter_switch_interval: float) -> None:
    """Overlapping holds: the smallest wins; it goes back only when the last is released,
    never above the application's own value."""
    sys.setswitchinterval(0.005)
    switching = SwitchInterval()
    switching.hold(0.002)
    switching.hold(0.001)
    assert sys.getswitchinterval() == pytest.approx(0.001)
    switching.release(0.001)
    assert sys.getswitchinterval() == pytest.approx(0.002)
    switching.hold(0.01)  # larger than the application's: no higher than 0.005
    switching.release(0.002)
    assert sys.getswitchinterval() == pytest.approx(0.005)
    switching.release(0.01)
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_switch_interval_keeps_what_the_application_sets_meanwhile(
    interpreter_switch_interval: float,
) -> None:
    """An application that sets the interval while a hold is on keeps its value: it is the
    base from then on, and the release does not overwrite it."""
    sys.setswitchinterval(0.005)
    switching = SwitchInterval()
    switching.hold(0.001)
    sys.setswitchinterval(0.0005)
    switching.hold(0.001)  # its own 0.5 ms is below 1 ms: kept
    assert sys.getswitchinterval() == pytest.approx(0.0005)
    switching.release(0.001)
    switching.release(0.001)
    assert sys.getswitchinterval() == pytest.approx(0.0005)


def test_switch_interval_applies_to_threads_only() -> None:
    """switch_interval with execution process or isolated is a spec error naming the field."""
    with pytest.raises(
        ValueError, match="switch_interval only applies to a handler run in a thread"
    ):
        ChildSpec(name="c", actor=Cruncher, execution="process", switch_interval=0.001)
    assert ChildSpec(name="c", actor=Cruncher, execution="process").switch_interval == 0.001


def _children() -> list[int]:
    """Live child processes of this one (zombies excluded)."""
    import multiprocessing

    return [p.pid for p in multiprocessing.active_children() if p.pid is not None]


def test_the_offload_example_names_the_block_then_answers_throughout() -> None:
    """examples/offload.py: on the loop the block is named and the echo waits; in a thread
    the echo answers during the work."""
    example = Path(__file__).parent.parent / "examples" / "offload.py"
    result = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "event_loop_blocked" in result.stderr  # the logs
    assert "actor=app/hasher" in result.stderr
    assert "message_type=Digest" in result.stderr
    counts = [int(n) for n in re.findall(r"answered (\d+) call", result.stdout)]
    assert len(counts) == 2
    assert counts[0] <= 1 < counts[1]
