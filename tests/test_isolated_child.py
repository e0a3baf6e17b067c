"""The child's side of an isolated actor: it validates what it gets and dies with its parent."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _isolated_actors import Add, Counter, GetTotal, Nap, Pid, Scale, Total, children, gone

from supervise import ChildSpec, IsolationError, SupervisorSpec, open_tree
from supervise.testing import EventLog

TIMEOUT = 30.0


@pytest.fixture(autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    """No test leaves a child process behind, running or unreaped."""
    before = children()
    yield
    assert children() - before == set()


async def test_a_message_that_does_not_validate_there_is_refused(events: EventLog) -> None:
    """The child validates each message: an infinite float crosses as null and is refused,
    the call fails with IsolationError, a cast is dead-lettered; the actor runs on."""
    spec = SupervisorSpec(
        name="app", children=[ChildSpec(name="counter", actor=Counter, execution="isolated")]
    )
    async with open_tree(spec) as tree:
        counter = tree.actor("app/counter", Counter)
        await counter.cast(Add(n=2))
        assert await counter.call(Scale(factor=1.5), timeout=TIMEOUT) == 3.0
        with pytest.raises(IsolationError, match=r"message .*:Scale cannot cross") as caught:
            await counter.call(Scale(factor=float("inf")), timeout=TIMEOUT)
        assert "factor" in caught.value.problem
        await counter.cast(Scale(factor=float("inf")))
        await counter.call(Pid(), timeout=TIMEOUT)  # the cast was refused before this reply
        (letter,) = tree.dead_letters.recent
        assert (letter.actor, letter.cause) == ("app/counter", "rejected")
        assert not events.of("actor_crashed")


_ORPHAN_SCRIPT = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from _isolated_actors import Counter, Pid
from supervise import ChildSpec, SupervisorSpec, open_tree

async def main():
    spec = SupervisorSpec(name="app", children=[
        ChildSpec(name="counter", actor=Counter, execution="isolated")])
    async with open_tree(spec) as tree:
        pid = await tree.actor("app/counter", Counter).call(Pid(), timeout=60)
        print("child", pid, flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_a_full_mailbox_holds_the_channel_and_keeps_the_order() -> None:
    """With a mailbox of 2 on both sides and a slow first message, casts wait for room
    (the child stops reading, the tree's side stops writing); none is lost or reordered."""
    spec = SupervisorSpec(
        name="app",
        children=[
            ChildSpec(name="counter", actor=Counter, execution="isolated", mailbox={"capacity": 2})
        ],
    )
    async with open_tree(spec) as tree:
        counter = tree.actor("app/counter", Counter)
        await counter.cast(Nap(seconds=0.2))
        for n in range(1, 101):
            await counter.cast(Add(n=n))
        assert await counter.call(GetTotal(), timeout=TIMEOUT) == Total(value=5050)


async def test_the_child_dies_with_its_parent_process() -> None:
    """SIGKILL to the tree's own process: its isolated child exits too (parent-death signal)."""
    script = _ORPHAN_SCRIPT.format(tests=str(Path(__file__).parent))
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=subprocess.PIPE
    )
    try:
        assert parent.stdout is not None
        async with asyncio.timeout(TIMEOUT):
            line = b""
            while not line.startswith(b"child "):  # past the log lines
                line = await parent.stdout.readline()
        child = int(line.split()[1])
        assert not gone(child)
    finally:
        parent.kill()
        await parent.wait()
    async with asyncio.timeout(TIMEOUT):
        while not gone(child):
            await asyncio.sleep(0.01)
