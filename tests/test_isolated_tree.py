"""An isolated actor reaches the tree's other actors: its casts and calls cross to the
tree's process, are delivered by the real refs there, and the replies and errors come back.

Each start of an isolated actor spawns a Python interpreter, so these tests share starts.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from _isolated_actors import (
    Ask,
    Downs,
    Fan,
    Hold,
    Keeper,
    Nap,
    Outcome,
    Pid,
    Relay,
    Tell,
    TellNow,
    Watch,
    children,
)
from _support import Worker

from supervise import ActorExitedError, ChildSpec, SupervisorSpec, open_tree
from supervise import _isolated as isolated_module
from supervise._process import ActorProcess
from supervise.testing import EventLog

TIMEOUT = 30.0


@pytest.fixture(autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    """No test leaves a child process behind, running or unreaped."""
    before = children()
    yield
    assert children() - before == set()


def _tree(**keeper: Any) -> SupervisorSpec:
    return SupervisorSpec(
        name="app",
        children=[
            ChildSpec(name="keeper", actor=Keeper, registered_name="keeper", **keeper),
            ChildSpec(name="worker", actor=Worker),
            ChildSpec(name="relay", actor=Relay, execution="isolated"),
        ],
        max_restarts=10,
    )


def _keeper(tree: Any) -> Keeper:
    process = tree.actor("app/keeper", Keeper)._child.process
    assert isinstance(process.actor, Keeper)
    return process.actor


async def _ask(tree: Any, **fields: Any) -> Outcome:
    outcome = await tree.actor("app/relay", Relay).call(Ask(**fields), timeout=TIMEOUT)
    assert isinstance(outcome, Outcome)
    return outcome


async def test_calls_and_casts_cross_both_ways() -> None:
    """The tree calls the isolated actor, whose handler calls the tree's actor (by path, by
    registered name, typed, by whereis): the reply model is validated in the child. Its
    casts arrive in order, before its next call."""
    async with open_tree(_tree()) as tree:
        for n, fields in (
            (2, {"to": "app/keeper"}),
            (3, {"to": "keeper", "typed": True}),
            (4, {"to": "keeper", "whereis": True}),
        ):
            outcome = await _ask(tree, n=n, **fields)
            assert outcome == Outcome(reply={"value": 2 * n}, reply_type="Doubled")
        await tree.actor("app/relay", Relay).cast(Tell(to="app/keeper", count=50))
        notes = await _ask(tree, to="keeper", sent="notes")
        assert notes == Outcome(reply=list(range(1, 51)), reply_type="list")
        assert _keeper(tree).notes == list(range(1, 51))
        # Its own path stays in its own process: calling itself is refused there.
        itself = await _ask(tree, to="app/relay", sent="self")
        assert itself.error == "CallingSelfError"


async def test_errors_cross_back_as_the_same_types(events: EventLog) -> None:
    """A lookup that finds nothing or another kind, and a handler that raises, come back as
    the same error types, saying they were raised in the tree's process; a message the
    callee does not declare is refused in the sender, before it crosses."""
    async with open_tree(_tree()) as tree:
        where = "raised in the tree's process, for isolated actor 'app/relay'"

        missing = await _ask(tree, to="app/nobody")
        assert missing.error == "NameNotFoundError"
        assert "'app/nobody'" in missing.text
        assert where in missing.text

        supervisor = await _ask(tree, to="app")
        assert supervisor.error == "ChildKindError"
        assert "'app' is a supervisor, not an actor" in supervisor.text

        other_class = await _ask(tree, to="app/worker", typed=True)
        assert other_class.error == "ChildKindError"
        assert "an actor of class Worker, not an actor of class Keeper" in other_class.text

        undeclared = await _ask(tree, to="app/keeper", sent="ping")
        assert undeclared.error == "MessageTypeError"
        assert "actor 'app/keeper' does not accept Pid" in undeclared.text
        assert "tree's process" not in undeclared.text  # refused in the sender

        failed = await _ask(tree, to="app/keeper", sent="boom")
        assert failed.error == "CallFailedError"
        assert "ValueError: boom in the keeper" in failed.text
        assert where in failed.text
        crashed = await events.wait_for("actor_crashed", actor="app/keeper", timeout=TIMEOUT)
        assert crashed["exc_type"] == "ValueError"
        await events.wait_for("actor_started", actor="app/keeper", incarnation=2, timeout=TIMEOUT)
        assert (await _ask(tree, to="app/keeper", n=1)).reply == {"value": 2}
    assert not events.of("actor_crashed", actor="app/relay")


async def test_a_timeout_and_a_callee_killed_mid_call() -> None:
    """A call from inside times out there, the callee's late reply is dropped; a callee
    killed while it handles the call fails it with ActorExitedError."""
    async with open_tree(_tree()) as tree:
        keeper = _keeper(tree)
        timed_out = await _ask(tree, to="app/keeper", sent="hold", timeout=0.2)
        assert timed_out.error == "CallTimeoutError"
        assert "call to actor 'app/keeper' with Hold got no reply within 0.2 s" in timed_out.text
        keeper.release.set()
        assert (await _ask(tree, to="app/keeper", n=4)).reply == {"value": 8}

        keeper.holding.clear()
        keeper.release.clear()
        pending = asyncio.ensure_future(_ask(tree, to="app/keeper", sent="hold"))
        await asyncio.wait_for(keeper.holding.wait(), TIMEOUT)
        tree.actor("app/keeper", Keeper).kill()
        exited = await pending
        assert exited.error == "ActorExitedError"
        assert "actor 'app/keeper' stopped before replying (killed: ref.kill())" in exited.text


async def test_the_isolated_actor_killed_mid_call_leaves_nothing(events: EventLog) -> None:
    """SIGKILL to the isolated actor while its call waits in the tree: the call is dropped
    there (its future cancelled, the callee's reply goes nowhere), no process is left, and
    the restarted actor calls again."""
    async with open_tree(_tree()) as tree:
        relay = tree.actor("app/relay", Relay)
        keeper = _keeper(tree)
        pid = await relay.call(Pid(), timeout=TIMEOUT)
        pending = asyncio.ensure_future(_ask(tree, to="app/keeper", sent="hold", timeout=None))
        await asyncio.wait_for(keeper.holding.wait(), TIMEOUT)
        process = tree.actor("app/keeper", Keeper)._child.process
        assert isinstance(process, ActorProcess)
        call = process._current
        assert call is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(ActorExitedError, match="signal SIGKILL"):
            await pending
        assert call.future.cancelled()
        await events.wait_for("actor_started", actor="app/relay", incarnation=2, timeout=TIMEOUT)
        keeper.release.set()
        assert (await _ask(tree, to="app/keeper", n=5)).reply == {"value": 10}


async def test_a_full_mailbox_holds_the_sender_and_keeps_the_order() -> None:
    """Casts from inside to a callee whose mailbox (2) is full wait for room, through the
    tree's side and the channel; none is lost or reordered. A retried call waits for the
    callee to run again, within its timeout."""
    async with open_tree(_tree(mailbox={"capacity": 2})) as tree:
        await tree.actor("app/keeper", Keeper).cast(Nap(seconds=0.2))
        await tree.actor("app/relay", Relay).cast(Tell(to="keeper", count=200))
        notes = await _ask(tree, to="keeper", sent="notes")
        assert notes.reply == list(range(1, 201))

        await tree.root.terminate_child("keeper")
        gone = await _ask(tree, to="keeper", n=1, retry=True, timeout=0.2)
        assert gone.error == "ActorNotRunningError"
        assert "did not run again within 0.2 s" in gone.text
        retried = asyncio.ensure_future(_ask(tree, to="keeper", n=6, retry=True))
        await tree.root.restart_child("keeper")
        assert (await retried).reply == {"value": 12}


async def test_monitors_from_inside_get_their_down(events: EventLog) -> None:
    """A monitor made inside on the tree's actor delivers its Down to the isolated actor's
    mailbox (with the monitor's id, the reason and its detail); a demonitored one sends
    none; a name with nothing there gives a noproc Down. What a ref reads of its slot (its
    statistics) is refused."""
    async with open_tree(_tree()) as tree:
        relay = tree.actor("app/relay", Relay)

        async def watch(to: str, how: str) -> Outcome:
            outcome = await relay.call(Watch(to=to, how=how), timeout=TIMEOUT)
            assert isinstance(outcome, Outcome)
            return outcome

        async def downs(count: int) -> list[dict[str, Any]]:
            async with asyncio.timeout(TIMEOUT):
                while len(found := await relay.call(Downs(), timeout=TIMEOUT)) < count:
                    await asyncio.sleep(0.01)
            return found

        first = (await watch("app/worker", "monitor")).reply
        assert (await watch("app/worker", "demonitor")).reply is True
        second = (await watch("app/keeper", "monitor")).reply
        await _ask(tree, to="app/keeper", sent="boom")
        (crash,) = await downs(1)
        assert crash == {
            "monitor_id": second,
            "path": "app/keeper",
            "reason": "crash",
            "detail": "ValueError: boom in the keeper",
        }
        assert first != second
        await tree.root.terminate_child("worker")  # demonitored: no Down
        third = (await watch("app/nobody", "monitor")).reply
        assert (await downs(2))[1] == {
            "monitor_id": third,
            "path": "app/nobody",
            "reason": "noproc",
            "detail": None,
        }
        refused = await watch("app/keeper", "statistics")
        assert refused.error == "UsageError"
        assert refused.text.startswith("isolated actor 'app/relay': statistics of 'app/keeper'")
        assert len(await downs(2)) == 2


async def test_stop_and_kill_from_inside(events: EventLog) -> None:
    """ref.stop() from inside stops the tree's actor in order and returns once it has
    ended (its supervisor restarts it); ref.kill() kills it."""
    async with open_tree(_tree()) as tree:
        relay = tree.actor("app/relay", Relay)
        assert await relay.call(Watch(to="keeper", how="stop"), timeout=TIMEOUT) == Outcome()
        assert events.of("actor_stopped", actor="app/keeper")[0]["reason"] == "normal"
        await events.wait_for("actor_started", actor="app/keeper", incarnation=2, timeout=TIMEOUT)
        await relay.call(Watch(to="keeper", how="kill"), timeout=TIMEOUT)
        killed = await events.wait_for("actor_crashed", actor="app/keeper", timeout=TIMEOUT)
        assert (killed["reason"], killed["reason_detail"]) == ("killed", "ref.kill()")
        await events.wait_for("actor_started", actor="app/keeper", incarnation=3, timeout=TIMEOUT)


async def test_links_from_inside_tie_both_ends(events: EventLog) -> None:
    """A link made inside ties the tree's actor and the isolated one, both ways: the
    tree's actor crashing crashes the isolated one with LinkedExit, and the isolated
    actor's process dying crashes the tree's actor. Unlinked, nothing spreads."""
    async with open_tree(_tree()) as tree:
        relay = tree.actor("app/relay", Relay)
        await relay.call(Watch(to="app/keeper", how="link"), timeout=TIMEOUT)
        await _ask(tree, to="app/keeper", sent="boom")
        crashed = await events.wait_for("actor_crashed", actor="app/relay", timeout=TIMEOUT)
        assert crashed["exc_type"] == "LinkedExit"
        await events.wait_for("actor_started", actor="app/relay", incarnation=2, timeout=TIMEOUT)
        await events.wait_for("actor_started", actor="app/keeper", incarnation=2, timeout=TIMEOUT)

        await relay.call(Watch(to="app/keeper", how="link"), timeout=TIMEOUT)
        await relay.cast(Watch(to="app/keeper", how="exit"))
        crashed = await events.wait_for(
            "actor_crashed", actor="app/keeper", incarnation=2, timeout=TIMEOUT
        )
        assert crashed["exc_type"] == "LinkedExit"
        await events.wait_for("actor_started", actor="app/relay", incarnation=3, timeout=TIMEOUT)
        await events.wait_for("actor_started", actor="app/keeper", incarnation=3, timeout=TIMEOUT)

        await relay.call(Watch(to="app/keeper", how="link"), timeout=TIMEOUT)
        await relay.call(Watch(to="app/keeper", how="unlink"), timeout=TIMEOUT)
        await _ask(tree, to="app/keeper", sent="boom")
        await events.wait_for("actor_started", actor="app/keeper", incarnation=4, timeout=TIMEOUT)
        assert await relay.call(Pid(), timeout=TIMEOUT) > 0
    relay_crashes = [e["exc_type"] for e in events.of("actor_crashed", actor="app/relay")]
    assert relay_crashes == ["LinkedExit", "IsolatedProcessDiedError"]


async def test_a_full_mailbox_that_fails_refuses_at_once() -> None:
    """With ``overflow: fail`` on the callee, a cast from inside that finds its mailbox full
    is dead-lettered in the tree, and a call gets MailboxFull back."""
    async with open_tree(_tree(mailbox={"capacity": 1, "overflow": "fail"})) as tree:
        keeper = _keeper(tree)
        await tree.actor("app/keeper", Keeper).cast(Hold())
        await asyncio.wait_for(keeper.holding.wait(), TIMEOUT)
        await tree.actor("app/relay", Relay).cast(Tell(to="keeper", count=3))
        full = await _ask(tree, to="keeper", n=1)
        assert full.error == "MailboxFull"
        assert "mailbox of actor 'app/keeper' is full (1 messages)" in full.text
        letters = [(letter.actor, letter.cause) for letter in tree.dead_letters.recent]
        assert letters == [("app/keeper", "mailbox_full")] * 2
        keeper.release.set()
        assert (await _ask(tree, to="keeper", sent="notes")).reply == [1]


async def test_many_calls_at_once_are_each_answered_within_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """200 calls from inside at once, with at most 4 in flight on the tree's side (it stops
    reading until one is answered): each gets its own reply. Casts without waiting keep
    their order too."""
    monkeypatch.setattr(isolated_module, "MAX_TREE_CALLS", 4)
    async with open_tree(_tree()) as tree:
        relay = tree.actor("app/relay", Relay)
        values = await relay.call(Fan(to="app/keeper", count=200), timeout=TIMEOUT)
        assert values == [2 * n for n in range(1, 201)]
        await relay.cast(TellNow(to="keeper", count=20))
        notes = await _ask(tree, to="keeper", sent="notes")
        assert notes.reply == list(range(1, 21))
