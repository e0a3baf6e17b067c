"""Links: two incarnations share their fate when one of them ends abnormally."""

from __future__ import annotations

import asyncio

import pytest
from _support import Crash, Ping, StopSelf, worker
from _watchers import (
    LINK_STOPS,
    Link,
    clear_records,
    ref_at,
    tree_of,
    watcher,
)

from supervise import (
    ActorNotRunningError,
    CallFailedError,
    LinkedExit,
    TaskSpec,
    open_tree,
)
from supervise.testing import EventLog, wait_for_event


@pytest.fixture(autouse=True)
def _clear() -> None:
    clear_records()


# -- links -----------------------------------------------------------------------------


async def test_a_linked_crash_crashes_the_other_with_linked_exit(events: EventLog) -> None:
    """B crashes; A, linked to it, crashes with LinkedExit; both are restarted, unlinked."""
    async with open_tree(tree_of(watcher("a"), watcher("b"))) as tree:
        await ref_at(tree, "root/a").call(Link(path="root/b"))
        await ref_at(tree, "root/b").cast(Crash(message="boom"))
        await wait_for_event(events, "actor_started", actor="root/a", incarnation=2)
        await wait_for_event(events, "actor_started", actor="root/b", incarnation=2)
        crashes = events.of("actor_crashed")
        assert [(e["actor"], e["exc_type"]) for e in crashes] == [
            ("root/b", "ValueError"),
            ("root/a", "LinkedExit"),
        ]
        assert crashes[1]["exc_message"] == (
            "linked 'root/b' ended abnormally (crash: ValueError: boom), so this incarnation "
            "ends with it; monitor it instead of linking to be told without crashing"
        )
        # on_stop of A saw the LinkedExit crash, caused by B's exception.
        [reason] = [r for p, r in LINK_STOPS if p == "root/a"]
        assert reason.kind == "crash"
        assert isinstance(reason.exception, LinkedExit)
        assert reason.exception.actor == "root/b"
        assert isinstance(reason.exception.__cause__, ValueError)
        # A call that ends with that crash names the partner, not a handler that raised.
        assert str(CallFailedError("root/a", reason)) == (
            "call to actor 'root/a' failed: the actor was stopped while handling it because "
            "linked actor 'root/b' ended abnormally (crash: ValueError: boom); the actor "
            "crashed and its supervisor decides whether to restart it"
        )
        # The restart did not re-create the link.
        await ref_at(tree, "root/b").cast(Crash())
        await wait_for_event(events, "actor_started", actor="root/b", incarnation=3)
        assert await ref_at(tree, "root/a").call(Ping()) == "pong"
        assert len(events.of("actor_started", actor="root/a")) == 2


async def test_links_are_two_way(events: EventLog) -> None:
    """A links to B; A crashing takes B down too."""
    async with open_tree(tree_of(watcher("a"), watcher("b"))) as tree:
        await ref_at(tree, "root/a").call(Link(path="root/b"))
        await ref_at(tree, "root/a").cast(Crash())
        await wait_for_event(events, "actor_crashed", actor="root/b")
        assert events.of("actor_crashed", actor="root/b")[0]["exc_type"] == "LinkedExit"


async def test_normal_ends_do_not_spread(events: EventLog) -> None:
    """B stops itself (normal) and is terminated by its supervisor: A never notices."""
    spec = tree_of(watcher("a"), worker("b", restart="transient"), worker("c"))
    async with open_tree(spec) as tree:
        await ref_at(tree, "root/a").call(Link(path="root/b"))
        await ref_at(tree, "root/a").call(Link(path="root/c"))
        await ref_at(tree, "root/b").call(StopSelf())
        await wait_for_event(events, "actor_stopped", actor="root/b", reason="normal")
        await tree.root.terminate_child("c")
        assert await ref_at(tree, "root/a").call(Ping()) == "pong"
        assert not events.of("actor_crashed")


async def test_a_kill_by_the_supervisor_does_not_spread(events: EventLog) -> None:
    """brutal_kill during terminate_child is the supervisor's doing, not a failure of B."""
    spec = tree_of(watcher("a"), worker("b", shutdown="brutal_kill"))
    async with open_tree(spec) as tree:
        await ref_at(tree, "root/a").call(Link(path="root/b"))
        await tree.root.terminate_child("b")
        assert events.of("actor_crashed", actor="root/b")[0]["reason"] == "killed"
        assert await ref_at(tree, "root/a").call(Ping()) == "pong"
        assert not events.of("actor_crashed", actor="root/a")


async def test_unlink_removes_the_link(events: EventLog) -> None:
    """After unlink, B's crash leaves A alone."""
    async with open_tree(tree_of(watcher("a"), worker("b"))) as tree:
        a = ref_at(tree, "root/a")
        await a.call(Link(path="root/b"))
        await a.call(Link(path="root/b", unlink=True))
        await ref_at(tree, "root/b").cast(Crash())
        await wait_for_event(events, "actor_started", actor="root/b", incarnation=2)
        assert await a.call(Ping()) == "pong"
        assert not events.of("actor_crashed", actor="root/a")


async def test_linking_to_a_stopped_child_fails_at_once() -> None:
    """OTP's noproc: link raises ActorNotRunningError in the caller."""
    async with open_tree(tree_of(watcher("a"), worker("b"))) as tree:
        await tree.root.terminate_child("b")
        with pytest.raises(CallFailedError) as info:
            await ref_at(tree, "root/a").call(Link(path="root/b"))
        assert isinstance(info.value.__cause__, ActorNotRunningError)


async def test_an_actor_linked_to_a_task_crashes_with_it(events: EventLog) -> None:
    """Links work with plain tasks: the task fails, the linked actor crashes."""
    gate = asyncio.Event()

    async def waits_then_fails() -> None:
        await gate.wait()
        raise ConnectionError("upstream gone")

    spec = tree_of(watcher("a"), TaskSpec(name="feed", task=waits_then_fails))
    async with open_tree(spec) as tree:
        await ref_at(tree, "root/a").call(Link(path="root/feed"))
        gate.set()
        crashed = await wait_for_event(events, "actor_crashed", actor="root/a")
        assert crashed["exc_message"].startswith(
            "linked 'root/feed' ended abnormally (crash: ConnectionError: upstream gone)"
        )


async def test_linking_twice_or_to_itself_adds_nothing(events: EventLog) -> None:
    """A link is a set, not a count: B crashing once crashes A once; A links to itself too."""
    async with open_tree(tree_of(watcher("a"), watcher("b"))) as tree:
        a = ref_at(tree, "root/a")
        await a.call(Link(path="root/b"))
        await a.call(Link(path="root/b"))
        await a.call(Link(path="root/a"))
        await ref_at(tree, "root/b").cast(Crash())
        await wait_for_event(events, "actor_started", actor="root/a", incarnation=2)
        await wait_for_event(events, "actor_started", actor="root/b", incarnation=2)
        assert await a.call(Ping()) == "pong"
        assert [e["actor"] for e in events.of("actor_crashed")] == ["root/b", "root/a"]
        assert [p for p, _ in LINK_STOPS] == ["root/b", "root/a"]  # each ended once
