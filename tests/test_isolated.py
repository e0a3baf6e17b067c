"""Isolated actors: a whole actor in an OS process of its own, killed for real.

Each start of an isolated actor spawns a Python interpreter (about a second on
a loaded 2-core machine), so these tests share starts where they can.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _isolated_actors import (
    Add,
    Counter,
    Env,
    Exit,
    Fail,
    GetTotal,
    Hang,
    Pid,
    Quit,
    Segfault,
    Ticks,
    Total,
    Unencodable,
    children,
    gone,
)
from _support import Crash, Ping, Worker
from pydantic import BaseModel

from supervise import (
    Actor,
    ActorExitedError,
    CallFailedError,
    ChildSpec,
    Execution,
    IsolatedActorError,
    IsolatedProcessDiedError,
    SpecError,
    StartError,
    SupervisorSpec,
    load_tree_text,
    open_tree,
)
from supervise import _isolated as isolated_module
from supervise._isolated import FORKSERVER, MAX_FRAME, FrameTooLarge, frame, frames, split
from supervise.spec import json_schema
from supervise.testing import EventLog

TIMEOUT = 30.0


@pytest.fixture(autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    """No test leaves a child process behind, running or unreaped."""
    before = children()
    yield
    assert children() - before == set()


def _isolated(name: str = "counter", **fields: Any) -> ChildSpec:
    return ChildSpec(name=name, actor=Counter, execution="isolated", **fields)


def _tree(*children: ChildSpec, **fields: Any) -> SupervisorSpec:
    return SupervisorSpec(name="app", children=list(children), **fields)


def _journal(path: Path) -> list[str]:
    """The hooks that ran in the child processes, without their pids."""
    if not path.exists():
        return []
    return [line.split(" ", 1)[1] for line in path.read_text().splitlines()]


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _pid(tree: Any, path: str) -> int:
    pid = tree.actor(path, Counter)._child.process.pid
    assert isinstance(pid, int)
    return pid


async def test_casts_and_calls_cross_to_its_own_process(tmp_path: Path, events: EventLog) -> None:
    """The actor runs in another process; casts keep their order, a call's reply model is
    validated on the tree's side; its timers tick there; a stop runs its on_stop."""
    journal = tmp_path / "journal"
    spec = _tree(_isolated(args={"journal": str(journal), "tick_every": 0.01}))
    async with open_tree(spec) as tree:
        counter = tree.actor("app/counter", Counter)
        pid = await counter.call(Pid(), timeout=TIMEOUT)
        assert pid != os.getpid()
        assert pid == _pid(tree, "app/counter")
        for n in range(1, 11):
            await counter.cast(Add(n=n))
        total = await counter.call(GetTotal(), timeout=TIMEOUT)
        assert total == Total(value=55)
        assert type(total) is Total
        while await counter.call(Ticks(), timeout=TIMEOUT) < 3:
            await asyncio.sleep(0.01)
        statistics = counter.statistics()
        assert statistics.mailbox is not None
    assert _journal(journal) == ["on_start", "on_stop shutdown"]
    assert events.sequence("actor_started", "actor_stopped") == [
        ("actor_started", "app/counter"),
        ("actor_stopped", "app/counter"),
    ]


async def test_killed_from_outside_it_is_restarted_and_its_pending_call_fails_at_once(
    events: EventLog,
) -> None:
    """SIGKILL from outside: the pending call fails with ActorExitedError at once, the crash
    names the signal, and the supervisor starts a new process."""
    async with open_tree(_tree(_isolated())) as tree:
        counter = tree.actor("app/counter", Counter)
        first = await counter.call(Pid(), timeout=TIMEOUT)
        pending = asyncio.ensure_future(counter.call(Hang(), timeout=TIMEOUT))
        await asyncio.sleep(0)  # the call is on its way
        os.kill(first, signal.SIGKILL)
        with pytest.raises(ActorExitedError, match="signal SIGKILL") as caught:
            await pending
        assert not isinstance(caught.value, CallFailedError)
        crashed = await events.wait_for("actor_crashed", actor="app/counter", timeout=TIMEOUT)
        assert crashed["reason_detail"] == "signal SIGKILL"
        assert crashed["exc_type"] == "IsolatedProcessDiedError"
        await events.wait_for("actor_started", actor="app/counter", incarnation=2, timeout=TIMEOUT)
        assert await counter.call(Pid(), timeout=TIMEOUT) not in (first, os.getpid())


async def test_a_death_by_exit_code_signal_or_exception_is_a_crash(events: EventLog) -> None:
    """os._exit(3), a segfault and an exception each crash the incarnation with what ended it;
    the caller of the failing call learns why; each time a new process is started."""
    async with open_tree(_tree(_isolated(), max_restarts=5)) as tree:
        counter = tree.actor("app/counter", Counter)

        with pytest.raises(ActorExitedError, match="exit code 3"):
            await counter.call(Exit(code=3), timeout=TIMEOUT)
        crashed = await events.wait_for("actor_crashed", actor="app/counter", timeout=TIMEOUT)
        assert crashed["reason_detail"] == "exit code 3"

        await events.wait_for("actor_started", actor="app/counter", incarnation=2, timeout=TIMEOUT)
        with pytest.raises(ActorExitedError, match="signal SIGSEGV"):
            await counter.call(Segfault(), timeout=TIMEOUT)

        await events.wait_for("actor_started", actor="app/counter", incarnation=3, timeout=TIMEOUT)
        with pytest.raises(CallFailedError, match="ValueError: bad input") as caught:
            await counter.call(Fail(text="bad input"), timeout=TIMEOUT)
        cause = caught.value.__cause__
        assert isinstance(cause, IsolatedActorError)
        assert (cause.exc_type, cause.exc_message) == ("ValueError", "bad input")
        assert "raise ValueError(text)" in cause.remote_traceback

        await events.wait_for("actor_started", actor="app/counter", incarnation=4, timeout=TIMEOUT)
        assert await counter.call(GetTotal(), timeout=TIMEOUT) == Total(value=0)
    details = [e.get("reason_detail") for e in events.of("actor_crashed")]
    assert details == ["exit code 3", "signal SIGSEGV", None]
    assert [e["exc_type"] for e in events.of("actor_crashed")] == [
        "IsolatedProcessDiedError",
        "IsolatedProcessDiedError",
        "IsolatedActorError",
    ]


async def test_brutal_kill_is_sigkill_without_on_stop(tmp_path: Path, events: EventLog) -> None:
    """brutal_kill ends the process with SIGKILL: reported killed, on_stop never runs."""
    journal = tmp_path / "journal"
    spec = _tree(_isolated(args={"journal": str(journal)}, shutdown="brutal_kill"))
    async with open_tree(spec) as tree:
        counter = tree.actor("app/counter", Counter)
        await counter.call(Pid(), timeout=TIMEOUT)
        await tree.root.terminate_child("counter")
        assert not counter.is_running
    stopped = events.of("actor_crashed", actor="app/counter")
    assert [(e["reason"], e["reason_detail"]) for e in stopped] == [("killed", "brutal_kill")]
    assert _journal(journal) == ["on_start"]


async def test_a_hung_actor_that_ignores_sigterm_is_killed_at_its_shutdown_timeout(
    tmp_path: Path, events: EventLog
) -> None:
    """The graceful stop is not heard (the loop is blocked), SIGTERM is ignored, SIGKILL ends
    it: killed, no on_stop, and its pending call fails."""
    journal = tmp_path / "journal"
    spec = _tree(_isolated(args={"journal": str(journal)}, shutdown=0.2))
    async with open_tree(spec) as tree:
        counter = tree.actor("app/counter", Counter)
        await counter.call(Pid(), timeout=TIMEOUT)
        hanging = asyncio.ensure_future(counter.call(Hang(), timeout=TIMEOUT))
        while "hanging" not in _journal(journal):
            await asyncio.sleep(0.01)
        await tree.root.terminate_child("counter")
        with pytest.raises(ActorExitedError, match="shutdown timeout"):
            await hanging
    assert events.sequence("actor_killed", "actor_crashed") == [
        ("actor_killed", "app/counter"),
        ("actor_crashed", "app/counter"),
    ]
    (killed,) = events.of("actor_crashed", actor="app/counter")
    assert killed["reason"] == "killed"
    assert _journal(journal) == ["on_start", "hanging"]


async def test_monitors_and_links_reach_across(events: EventLog) -> None:
    """A monitor on the isolated actor gets its Down; a linked in-loop actor crashes with it."""
    spec = _tree(_isolated(), ChildSpec(name="worker", actor=Worker), max_restarts=10)
    async with open_tree(spec) as tree:
        counter = tree.actor("app/counter", Counter)
        worker = tree.actor("app/worker", Worker)
        await counter.call(Pid(), timeout=TIMEOUT)
        monitor = counter.monitor()
        worker_process = worker._child.process
        counter_process = counter._child.process
        assert worker_process is not None
        assert counter_process is not None
        from supervise._link import link

        link(worker_process, counter_process)
        await counter.cast(Exit(code=7))
        down = await asyncio.wait_for(monitor.wait(), TIMEOUT)
        assert down.reason == "crash"
        assert "died: exit code 7" in (down.detail or "")
        crashed = await events.wait_for("actor_crashed", actor="app/worker", timeout=TIMEOUT)
        assert crashed["exc_type"] == "LinkedExit"
        await events.wait_for("actor_started", actor="app/counter", incarnation=2, timeout=TIMEOUT)
        assert await worker.call(Ping(), timeout=TIMEOUT) == "pong"
        # The other way: the in-loop actor crashes, the isolated one is stopped with it.
        new_counter = counter._child.process
        new_worker = worker._child.process
        assert new_counter is not None
        assert new_worker is not None
        link(new_worker, new_counter)
        await worker.cast(Crash())
        await events.wait_for("actor_started", actor="app/counter", incarnation=3, timeout=TIMEOUT)
    crashes = [e for e in events.of("actor_crashed") if e["actor"] == "app/counter"]
    assert [e["exc_type"] for e in crashes] == ["IsolatedProcessDiedError", "LinkedExit"]


async def test_exit_from_its_handler_stops_it_as_in_the_tree(events: EventLog) -> None:
    """`Exit` raised by an isolated actor's handler is a stop with that reason, not a
    failure: the call gets ActorExitedError, and a transient actor is not restarted."""
    async with open_tree(_tree(_isolated(restart="transient"))) as tree:
        counter = tree.actor("app/counter", Counter)
        with pytest.raises(ActorExitedError) as info:
            await counter.call(Quit(detail="done"), timeout=TIMEOUT)
        assert type(info.value) is ActorExitedError
        assert (info.value.reason.kind, info.value.reason.detail) == ("shutdown", "done")
        stopped = await events.wait_for("actor_stopped", actor="app/counter", timeout=TIMEOUT)
        assert (stopped["reason"], stopped["reason_detail"]) == ("shutdown", "done")
        [row] = await tree.root.which_children()
        assert row.state == "stopped"
    assert not events.of("actor_crashed")


async def test_a_failure_in_on_start_is_a_start_failure() -> None:
    """on_start raising in the child fails the tree's start with the remote error."""
    spec = _tree(_isolated(args={"fail_start": True}))
    with pytest.raises(StartError, match="cannot start here") as caught:
        async with open_tree(spec):
            pass
    assert isinstance(caught.value.cause, IsolatedActorError)
    assert caught.value.cause.exc_type == "RuntimeError"


async def test_a_reply_that_cannot_cross_crashes_the_actor(events: EventLog) -> None:
    """A reply that is neither a model nor JSON data is the handler's failure."""
    async with open_tree(_tree(_isolated())) as tree:
        counter = tree.actor("app/counter", Counter)
        with pytest.raises(CallFailedError, match="must be a pydantic model or JSON data"):
            await counter.call(Unencodable(), timeout=TIMEOUT)
        await events.wait_for("actor_crashed", actor="app/counter", timeout=TIMEOUT)


async def test_cancelling_the_tree_mid_start_leaves_no_process() -> None:
    """A tree cancelled while its isolated children start kills and reaps them."""
    before = children()
    spec = _tree(_isolated("a"), _isolated("b"))

    async def run() -> None:
        async with open_tree(spec):
            await asyncio.sleep(TIMEOUT)

    task = asyncio.ensure_future(run())
    while not children() - before:  # a child process has been spawned
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert children() - before == set()


def test_an_isolated_actor_must_be_importable_by_path() -> None:
    """A class defined inside a function cannot be found in the child: refused in the spec."""

    class Local(BaseModel, frozen=True):
        pass

    class Inner(Actor[Local]):
        async def handle(self, msg: Local) -> None:
            pass

    with pytest.raises(SpecError, match=r"the actor class .*Inner cannot be imported"):
        ChildSpec(name="inner", actor=Inner, execution="isolated")


def test_a_tree_file_declares_an_isolated_actor() -> None:
    """`execution: isolated` in YAML gives the spec, and the schema lists it."""
    spec = load_tree_text(
        "name: app\n"
        "children:\n"
        "  - name: counter\n"
        "    actor: _isolated_actors:Counter\n"
        "    execution: isolated\n"
        "    shutdown: brutal_kill\n",
    )
    (child,) = spec.children
    assert isinstance(child, ChildSpec)
    assert (child.actor, child.execution) == (Counter, Execution.ISOLATED)
    schema = json.dumps(json_schema())
    assert '"isolated"' in schema


def test_the_died_error_names_the_exit_code_or_signal() -> None:
    """IsolatedProcessDiedError keeps what ended the process as attributes and in its detail."""
    by_code = IsolatedProcessDiedError("app/a", 12, 3, None)
    by_signal = IsolatedProcessDiedError("app/a", 12, None, "SIGKILL")
    assert (by_code.detail, by_signal.detail) == ("exit code 3", "signal SIGKILL")
    assert str(by_signal) == (
        "the process of isolated actor 'app/a' (pid 12) died: signal SIGKILL; "
        "its supervisor restarts it per its restart type"
    )


@pytest.mark.skipif(not FORKSERVER, reason="no fork server on this platform")
async def test_incarnations_are_forked_from_a_fork_server_of_their_supervisor(
    monkeypatch: pytest.MonkeyPatch, events: EventLog
) -> None:
    """A restart is forked from the supervisor's pre-imported fork server (a child of the
    tree's process) with the tree's environment of that moment; the fork server killed from
    outside takes its children along, which are restarted from a new one; it ends with its
    supervisor."""
    async with open_tree(_tree(_isolated(), max_restarts=5)) as tree:
        counter = tree.actor("app/counter", Counter)
        first = await counter.call(Pid(), timeout=TIMEOUT)
        server = _parent_of(first)
        assert server != os.getpid()
        assert _parent_of(server) == os.getpid()
        monkeypatch.setenv("SUPERVISE_TEST_ISOLATED", "set after the fork server started")
        os.kill(first, signal.SIGKILL)
        await events.wait_for("actor_started", actor="app/counter", incarnation=2, timeout=TIMEOUT)
        second = await counter.call(Pid(), timeout=TIMEOUT)
        assert _parent_of(second) == server
        value = await counter.call(Env(name="SUPERVISE_TEST_ISOLATED"), timeout=TIMEOUT)
        assert value == "set after the fork server started"

        os.kill(server, signal.SIGKILL)
        await events.wait_for("actor_started", actor="app/counter", incarnation=3, timeout=TIMEOUT)
        third = await counter.call(Pid(), timeout=TIMEOUT)
        assert _parent_of(third) not in (server, os.getpid())
        async with asyncio.timeout(TIMEOUT):  # its parent-death signal
            while not gone(second):
                await asyncio.sleep(0.01)
    assert gone(server)
    details = [e["reason_detail"] for e in events.of("actor_crashed", actor="app/counter")]
    assert details == ["signal SIGKILL", "signal SIGKILL"]


async def test_without_a_fork_server_each_incarnation_is_spawned(
    monkeypatch: pytest.MonkeyPatch, events: EventLog
) -> None:
    """Where there is no fork server, each incarnation is a new interpreter, a child of the
    tree's process that it reaps itself: exit codes and signals are reported the same."""
    monkeypatch.setattr(isolated_module, "FORKSERVER", False)
    async with open_tree(_tree(_isolated(), max_restarts=5)) as tree:
        counter = tree.actor("app/counter", Counter)
        assert _parent_of(await counter.call(Pid(), timeout=TIMEOUT)) == os.getpid()
        with pytest.raises(ActorExitedError, match="exit code 3"):
            await counter.call(Exit(code=3), timeout=TIMEOUT)
        await events.wait_for("actor_started", actor="app/counter", incarnation=2, timeout=TIMEOUT)
        second = await counter.call(Pid(), timeout=TIMEOUT)
        assert _parent_of(second) == os.getpid()
        os.kill(second, signal.SIGKILL)
        await events.wait_for("actor_started", actor="app/counter", incarnation=3, timeout=TIMEOUT)
        assert await counter.call(GetTotal(), timeout=TIMEOUT) == Total(value=0)
    details = [e["reason_detail"] for e in events.of("actor_crashed", actor="app/counter")]
    assert details == ["exit code 3", "signal SIGKILL"]


async def test_isolated_siblings_each_get_their_own_process_and_channels() -> None:
    """Three isolated children of one supervisor, started from one fork server: each ref
    reaches its own process, and each keeps its own state."""
    spec = _tree(_isolated("a"), _isolated("b"), _isolated("c"))
    async with open_tree(spec) as tree:
        refs = [tree.actor(f"app/{name}", Counter) for name in "abc"]
        for n, ref in enumerate(refs, start=1):
            await ref.cast(Add(n=n))
        pids = [await ref.call(Pid(), timeout=TIMEOUT) for ref in refs]
        assert pids == [_pid(tree, f"app/{name}") for name in "abc"]
        assert len(set(pids)) == 3
        if FORKSERVER:
            assert len({_parent_of(pid) for pid in pids}) == 1
        totals = [await ref.call(GetTotal(), timeout=TIMEOUT) for ref in refs]
        assert totals == [Total(value=1), Total(value=2), Total(value=3)]


def test_frames_are_read_whole_and_an_oversized_one_ends_the_channel() -> None:
    """The channel's reader takes whole frames only, each with the offset after it, and
    refuses a length over MAX_FRAME (the other side does not speak the channel)."""
    first, second = frame({"op": "a"}), frame({"op": "b"}, b"payload")
    buffer = bytearray(first + second + second[:5])  # the third frame has not all arrived
    taken = list(frames(buffer))
    assert [split(body) for body, _ in taken] == [({"op": "a"}, b""), ({"op": "b"}, b"payload")]
    assert [end for _, end in taken] == [len(first), len(first) + len(second)]
    assert list(frames(bytearray(first[:3]))) == []
    with pytest.raises(FrameTooLarge):
        list(frames(bytearray((MAX_FRAME + 1).to_bytes(4, "big"))))
