"""The loop watchdog: a blocked event loop is seen, named, counted, and can crash its actor."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from _support import Ping
from pydantic import BaseModel

from supervise import Actor, ActorRef, ChildSpec, DynamicSupervisorSpec, SupervisorSpec, open_tree
from supervise._watchdog import _watchdogs
from supervise.testing import EventLog


class Block(BaseModel, frozen=True):
    seconds: float


class Blocker(Actor[Block | Ping]):
    """Blocks the loop with time.sleep when asked: the mistake the watchdog is there for."""

    async def handle(self, msg: Block | Ping) -> Any:
        if isinstance(msg, Block):
            time.sleep(msg.seconds)  # noqa: ASYNC251  # the blocking the watchdog must see
            return "woke"
        return "pong"


def _tree(**blocker: Any) -> SupervisorSpec:
    return SupervisorSpec(
        name="app",
        max_restarts=5,
        children=[ChildSpec(name="blocker", actor=Blocker, **blocker)],
    )


async def test_a_sleeping_handler_is_named_with_its_message(events: EventLog) -> None:
    """time.sleep(0.5) in a handler: event_loop_blocked names the actor, the message type and
    the stack while the loop is blocked; event_loop_unblocked gives the total."""
    async with open_tree(_tree(), watchdog=True) as tree:
        blocker: ActorRef[Block | Ping] = tree.actor("app/blocker", Blocker)
        assert await blocker.call(Block(seconds=0.5)) == "woke"
        blocked = await events.wait_for("event_loop_blocked", actor="app/blocker")
        unblocked = await events.wait_for("event_loop_unblocked", actor="app/blocker")
        assert blocked["message_type"] == "Block"
        assert blocked["tree"] == "app"
        assert blocked["threshold"] == 0.1
        assert 0.1 <= blocked["blocked_seconds"] < 0.5
        assert "time.sleep(msg.seconds)" in str(blocked["stack"])
        assert unblocked["blocked_seconds"] >= 0.4
        assert unblocked["on_block"] == "warn"
        names = [e["event"] for e in events.entries if e["event"].startswith("event_loop")]
        assert names[:2] == ["event_loop_blocked", "event_loop_unblocked"]
        stats = blocker.statistics()
        assert stats.blocks == 1
        assert stats.longest_block == pytest.approx(unblocked["blocked_seconds"], abs=1e-5)
        # warn: the actor carries on.
        assert await blocker.call(Ping()) == "pong"
        assert not events.of("actor_crashed")


async def test_on_block_crash_restarts_the_actor(events: EventLog) -> None:
    """on_block: crash: the call is answered, then the incarnation crashes (blocked_loop)
    and its supervisor restarts it."""
    async with open_tree(_tree(on_block="crash"), watchdog=True) as tree:
        blocker = tree.actor("app/blocker", Blocker)
        assert await blocker.call(Block(seconds=0.3)) == "woke"
        crashed = await events.wait_for("actor_crashed", actor="app/blocker")
        assert crashed["reason"] == "crash"
        assert crashed["reason_detail"] == "blocked_loop"
        assert crashed["exc_type"] == "LoopBlockedError"
        assert "blocked the event loop for" in crashed["exc_message"]
        await events.wait_for("actor_started", actor="app/blocker", incarnation=2)
        assert await blocker.call(Ping()) == "pong"


async def test_thresholds_per_actor_and_per_tree(events: EventLog) -> None:
    """An actor's own threshold wins over its supervisor's; below it nothing is reported."""
    spec = SupervisorSpec(
        name="app",
        block_threshold=0.05,
        children=[
            ChildSpec(name="tolerant", actor=Blocker, block_threshold=1.0),
            ChildSpec(name="strict", actor=Blocker),
        ],
    )
    async with open_tree(spec, watchdog=True) as tree:
        await tree.actor("app/tolerant", Blocker).call(Block(seconds=0.3))
        await tree.actor("app/strict", Blocker).call(Block(seconds=0.3))
        blocked = await events.wait_for("event_loop_blocked", actor="app/strict")
        assert blocked["threshold"] == 0.05
        await events.wait_for("event_loop_unblocked", actor="app/strict")
        assert not [e for e in events.of("event_loop_blocked") if e["actor"] == "app/tolerant"]
        assert tree.actor("app/tolerant").statistics().blocks == 0


async def test_a_dynamic_child_is_watched_at_its_own_threshold(events: EventLog) -> None:
    """The watchdog looks as often as the smallest threshold in use asks: a child started later
    with a threshold far below the tree's has its block seen; once it is gone, the tree's pace
    comes back."""
    spec = SupervisorSpec(
        name="app", block_threshold=30.0, children=[DynamicSupervisorSpec(name="pool")]
    )
    async with open_tree(spec, watchdog=True) as tree:
        watchdog = _watchdogs[asyncio.get_running_loop()]
        assert watchdog._threshold == 30.0
        pool = tree.supervisor("app/pool")
        ref = await pool.start_child(ChildSpec(name="strict", actor=Blocker, block_threshold=0.05))
        assert isinstance(ref, ActorRef)
        assert await ref.call(Block(seconds=0.5)) == "woke"
        blocked = await events.wait_for("event_loop_blocked", actor=ref.path)
        assert blocked["threshold"] == 0.05
        assert 0.05 <= blocked["blocked_seconds"] < 0.5
        await events.wait_for("event_loop_unblocked", actor=ref.path)
        assert watchdog._threshold == 0.05
        await pool.terminate_child(ref)
        assert watchdog._threshold == 30.0


async def test_the_watchdog_is_off_by_default_and_its_thread_ends(events: EventLog) -> None:
    """Without watchdog=True nothing watches; with it, the thread ends with the tree."""
    async with open_tree(_tree()) as tree:
        await tree.actor("app/blocker", Blocker).call(Block(seconds=0.3))
    assert not events.of("event_loop_blocked")
    async with open_tree(_tree(), watchdog=True):
        assert _watchdog_threads()
    for _ in range(200):
        if not _watchdog_threads():
            break
        await asyncio.sleep(0.01)
    assert not _watchdog_threads()


def _watchdog_threads() -> list[Any]:
    import threading

    return [t for t in threading.enumerate() if t.name == "supervise-loop-watchdog"]


_SLOW_TREE = """
name: root
children:
  - {name: slow, actor: "_tree_actors:SlowStart"}
"""


@pytest.mark.parametrize(
    ("options", "reported"),
    [((), True), (("--no-watchdog",), False), (("--block-threshold", "5"), False)],
)
def test_supervise_run_watches_by_default(
    tmp_path: Path, options: tuple[str, ...], reported: bool
) -> None:
    """`supervise run` reports a blocking on_start unless --no-watchdog or a higher threshold."""
    tree = tmp_path / "tree.yaml"
    tree.write_text(_SLOW_TREE)
    result = subprocess.run(
        [sys.executable, "-m", "supervise", "run", str(tree), "--for", "0.1", *options],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    blocked = [line for line in lines if line["event"] == "event_loop_blocked"]
    if reported:
        assert blocked, lines
        assert blocked[0]["actor"] == "root/slow"
        assert "message_type" not in blocked[0]  # on_start: no message in hand
        assert "time.sleep(0.3)" in str(blocked[0]["stack"])
    else:
        assert [line for line in blocked if line["actor"] == "root/slow"] == []


#: Entering a tree in a fresh interpreter, noting the modules imported while the watchdog watches.
ENTRY = """
import asyncio
import sys

import structlog
from pydantic import BaseModel

import supervise._tree
from supervise import Actor, ChildSpec, SupervisorSpec, open_tree

structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # quiet


class Ping(BaseModel, frozen=True):
    pass


class Echo(Actor[Ping]):
    async def handle(self, msg: Ping) -> None:
        pass


before = set()
attach = supervise._tree.attach


def noting_attach(*args, **kwargs):
    before.update(sys.modules)
    return attach(*args, **kwargs)


supervise._tree.attach = noting_attach


async def main() -> None:
    spec = SupervisorSpec(name="app", children=[ChildSpec(name="echo", actor=Echo)])
    async with open_tree(spec, watchdog=True):
        print(sorted(set(sys.modules) - before))


asyncio.run(main())
"""


def test_entering_a_tree_imports_nothing_once_the_watchdog_watches(tmp_path: Path) -> None:
    """What the tree's start imports, it imports before the watchdog starts: anyio's asyncio
    backend, imported on the loop at its first cancel scope (100 ms or more on a loaded
    machine), was reported as `event_loop_blocked` at the start of `supervise run`."""
    script = tmp_path / "entry.py"
    script.write_text(ENTRY)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, "[]\n"), result.stderr
