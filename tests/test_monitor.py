"""Monitors (one Down per watched incarnation) and links (abnormal ends spread both ways)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _support import Crash, Ping, StopSelf, worker
from pydantic import BaseModel

from supervise import (
    Actor,
    ActorNotRunningError,
    ActorRef,
    ArgumentError,
    CallFailedError,
    ChildSpec,
    Down,
    ExitReason,
    LinkedExit,
    MessageTypeError,
    Monitor,
    SupervisorRef,
    SupervisorSpec,
    TaskRef,
    TaskSpec,
    UsageError,
    open_tree,
)
from supervise.testing import EventLog, inject_crash, wait_for_event

#: (watcher path, Down) for every Down a Watcher handled; cleared per test.
DOWNS: list[tuple[str, Down]] = []
#: (path, reason) seen by Linker.on_stop.
LINK_STOPS: list[tuple[str, ExitReason]] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    DOWNS.clear()
    LINK_STOPS.clear()


class Watch(BaseModel, frozen=True):
    path: str


class Link(BaseModel, frozen=True):
    path: str
    unlink: bool = False


class Watcher(Actor[Watch | Link | Down | Ping | Crash]):
    """Monitors or links on request; records the Downs it gets."""

    async def handle(self, msg: Watch | Link | Down | Ping | Crash) -> Any:
        match msg:
            case Watch(path=path):
                return self.monitor(self.registry.whereis(path))
            case Link(path=path, unlink=unlink):
                target = self.registry.whereis(path)
                if unlink:
                    self.unlink(target)
                else:
                    self.link(target)
            case Down():
                DOWNS.append((self.path, msg))
            case Ping():
                return "pong"
            case Crash(message=message):
                raise ValueError(message)
        return None

    async def on_stop(self, reason: ExitReason) -> None:
        LINK_STOPS.append((self.path, reason))


class Deaf(Actor[Ping | Watch]):
    """Does not declare Down."""

    async def handle(self, msg: Ping | Watch) -> Any:
        if isinstance(msg, Watch):
            return self.monitor(self.registry.whereis(msg.path))
        return None


def tree_of(*children: Any, **sup: Any) -> SupervisorSpec:
    return SupervisorSpec(name="root", children=list(children), **sup)


def watcher(name: str = "watcher", **fields: Any) -> ChildSpec:
    return ChildSpec(name=name, actor=Watcher, **fields)


def ref_at(tree: Any, path: str) -> ActorRef[Any]:
    ref = tree.whereis(path)
    assert isinstance(ref, ActorRef)
    return ref


async def downs(count: int) -> list[Down]:
    async with asyncio.timeout(10):
        while len(DOWNS) < count:
            await asyncio.sleep(0)
    return [down for _, down in DOWNS]


# -- monitors from an actor ----------------------------------------------------------


async def test_a_watching_actor_gets_down_when_the_incarnation_crashes(events: EventLog) -> None:
    """Down(path, reason=crash, detail) arrives in the watcher's mailbox, once."""
    async with open_tree(tree_of(watcher(), worker("w"))) as tree:
        monitor: Monitor = await ref_at(tree, "root/watcher").call(Watch(path="root/w"))
        assert monitor.active
        await ref_at(tree, "root/w").cast(Crash(message="disk on fire"))
        [down] = await downs(1)
        assert down == Down(
            monitor_id=monitor.id, path="root/w", reason="crash", detail="ValueError: disk on fire"
        )
        assert isinstance(down.exception, ValueError)
        assert not down.is_normal
        assert monitor.down is down
        assert not monitor.active
        assert await monitor == down  # awaiting works whoever the watcher is


async def test_a_monitor_follows_one_incarnation_not_the_slot(events: EventLog) -> None:
    """After the restart the old monitor is spent: a second crash brings no second Down."""
    async with open_tree(tree_of(watcher(), worker("w"))) as tree:
        w = ref_at(tree, "root/w")
        await ref_at(tree, "root/watcher").call(Watch(path="root/w"))
        await w.cast(Crash())
        await wait_for_event(events, "actor_started", actor="root/w", incarnation=2)
        await w.cast(Crash())
        await wait_for_event(events, "actor_started", actor="root/w", incarnation=3)
        assert await ref_at(tree, "root/watcher").call(Ping()) == "pong"  # drained its mailbox
        assert len(DOWNS) == 1
        # Monitoring again watches the new incarnation.
        again: Monitor = await ref_at(tree, "root/watcher").call(Watch(path="root/w"))
        w.kill()
        assert [d.monitor_id for d in await downs(2)] == [DOWNS[0][1].monitor_id, again.id]
        assert (DOWNS[1][1].reason, DOWNS[1][1].detail) == ("killed", "ref.kill()")


async def test_monitoring_a_child_that_is_not_running_gives_noproc_at_once() -> None:
    """OTP's noproc: a terminated child yields Down(reason=noproc) straight away."""
    async with open_tree(tree_of(watcher(), worker("w"))) as tree:
        await tree.root.terminate_child("w")
        monitor: Monitor = await ref_at(tree, "root/watcher").call(Watch(path="root/w"))
        assert not monitor.active
        [down] = await downs(1)
        assert (down.reason, down.detail, down.monitor_id) == ("noproc", None, monitor.id)
        assert await ref_at(tree, "root/w").wait_down() == Down(
            monitor_id=monitor.id + 1, path="root/w", reason="noproc"
        )


async def test_the_watcher_must_declare_down(events: EventLog) -> None:
    """Monitoring from an actor whose messages do not include Down fails at monitor time."""
    spec = tree_of(ChildSpec(name="deaf", actor=Deaf), worker("w"))
    async with open_tree(spec) as tree:
        with pytest.raises(CallFailedError) as info:
            await ref_at(tree, "root/deaf").call(Watch(path="root/w"))
        assert isinstance(info.value.__cause__, MessageTypeError)
        assert str(info.value.__cause__) == (
            "actor 'root/deaf' does not accept Down (it accepts Ping | Watch); send one of "
            "those types or declare this one in the actor's Actor[...] parameters"
        )
        # Through a ref as well (once the crashed actor is back).
        await wait_for_event(events, "actor_started", actor="root/deaf", incarnation=2)
        with pytest.raises(MessageTypeError, match=r"^actor 'root/deaf' does not accept Down"):
            ref_at(tree, "root/w").monitor(ref_at(tree, "root/deaf"))


async def test_demonitor_means_no_down(events: EventLog) -> None:
    """demonitor() returns True while active; no Down comes after it."""
    async with open_tree(tree_of(watcher(), worker("w"))) as tree:
        monitor: Monitor = await ref_at(tree, "root/watcher").call(Watch(path="root/w"))
        assert monitor.demonitor() is True
        assert monitor.demonitor() is False
        assert repr(monitor) == f"<Monitor {monitor.id} on root/w demonitored>"
        await ref_at(tree, "root/w").cast(Crash())
        await wait_for_event(events, "actor_started", actor="root/w", incarnation=2)
        assert await ref_at(tree, "root/watcher").call(Ping()) == "pong"
        assert DOWNS == []
        with pytest.raises(UsageError) as info:
            await monitor
        assert str(info.value) == (
            f"monitor {monitor.id} on 'root/w': it was demonitored, so no Down will come; "
            f"await a monitor only while it is active (see Monitor.active), or monitor the "
            f"ref again"
        )


async def test_a_watchers_monitors_end_with_the_watcher(events: EventLog) -> None:
    """A restarted watcher never gets a Down its previous incarnation asked for."""
    async with open_tree(tree_of(watcher(), worker("w"))) as tree:
        monitor: Monitor = await ref_at(tree, "root/watcher").call(Watch(path="root/w"))
        await inject_crash(tree, "root/watcher")
        assert not monitor.active
        await wait_for_event(events, "actor_started", actor="root/watcher", incarnation=2)
        await ref_at(tree, "root/w").cast(Crash())
        await wait_for_event(events, "actor_started", actor="root/w", incarnation=2)
        assert await ref_at(tree, "root/watcher").call(Ping()) == "pong"
        assert DOWNS == []


async def test_monitors_stack_and_each_gets_its_down() -> None:
    """Two monitors on the same incarnation: two Downs, told apart by monitor_id."""
    async with open_tree(tree_of(watcher(), worker("w"))) as tree:
        ref = ref_at(tree, "root/watcher")
        first: Monitor = await ref.call(Watch(path="root/w"))
        second: Monitor = await ref.call(Watch(path="root/w"))
        await ref_at(tree, "root/w").stop()
        assert {d.monitor_id for d in await downs(2)} == {first.id, second.id}
        assert {d.reason for d in await downs(2)} == {"normal"}


# -- monitors from plain code ----------------------------------------------------------


async def test_wait_down_from_any_task() -> None:
    """`await ref.wait_down()` returns when the incarnation running now ends."""
    async with open_tree(tree_of(worker("w"))) as tree:
        w = ref_at(tree, "root/w")
        waiting = asyncio.ensure_future(w.wait_down())
        await asyncio.sleep(0)
        assert not waiting.done()
        await w.call(StopSelf(detail="maintenance"))
        down = await waiting
        assert (down.path, down.reason, down.detail, down.is_normal) == (
            "root/w",
            "shutdown",
            "maintenance",
            True,
        )


async def test_monitor_as_a_context_manager_demonitors_on_leaving() -> None:
    """`with ref.monitor() as m` / `async with`: await the Down inside; leaving demonitors."""
    async with open_tree(tree_of(worker("w"))) as tree:
        w = ref_at(tree, "root/w")
        with w.monitor() as monitor:
            w.kill()
            down = await monitor
        assert down.reason == "killed"
        async with w.monitor() as other:
            assert other.active
        assert not other.active  # left without a Down: demonitored


async def test_a_callback_monitor_is_called_soon_after_the_end(events: EventLog) -> None:
    """ref.monitor(callback): the callback gets the Down on a later loop pass."""
    got: list[Down] = []
    async with open_tree(tree_of(worker("w"))) as tree:
        monitor = ref_at(tree, "root/w").monitor(got.append)
        await ref_at(tree, "root/w").cast(Crash())
        await wait_for_event(events, "actor_crashed", actor="root/w")
        await asyncio.sleep(0)
        assert [d.monitor_id for d in got] == [monitor.id]


async def test_monitor_refuses_other_watchers() -> None:
    """Only an ActorRef, a callable or nothing can watch."""
    async with open_tree(tree_of(worker("w"))) as tree:
        with pytest.raises(
            ArgumentError,
            match=r"^monitor\(\) watcher: takes an ActorRef, a callable or nothing, got int$",
        ):
            ref_at(tree, "root/w").monitor(3)  # type: ignore[arg-type]


async def test_monitor_a_supervisor_that_gives_up(events: EventLog) -> None:
    """A supervisor ref can be monitored; giving up is a shutdown, as in OTP."""
    spec = SupervisorSpec(
        name="root",
        children=[
            SupervisorSpec(name="sub", max_restarts=0, restart="temporary", children=[worker("w")])
        ],
    )
    async with open_tree(spec) as tree:
        sub = tree.whereis("root/sub")
        assert isinstance(sub, SupervisorRef)
        with sub.monitor() as monitor:
            await ref_at(tree, "root/sub/w").cast(Crash())
            down = await monitor
        assert (down.path, down.reason, down.detail) == (
            "root/sub",
            "shutdown",
            "reached_max_restart_intensity",
        )


async def fails_soon() -> None:
    await asyncio.sleep(0)
    raise ConnectionError("lost")


async def test_monitor_a_plain_task() -> None:
    """Task refs are monitored like actor refs."""
    spec = tree_of(TaskSpec(name="t", task=fails_soon, restart="temporary"))
    async with open_tree(spec) as tree:
        task = tree.whereis("root/t")
        assert isinstance(task, TaskRef)
        down = await task.wait_down()
        assert (down.reason, down.detail) == ("crash", "ConnectionError: lost")


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


async def test_an_ended_incarnation_can_set_no_timer_monitor_or_link(events: EventLog) -> None:
    """Code the old incarnation left running (a stray task) gets ActorNotRunningError."""
    instances: list[Watcher] = []

    class Leaky(Watcher):
        async def on_start(self) -> None:
            instances.append(self)

    spec = tree_of(ChildSpec(name="leaky", actor=Leaky), worker("w"))
    async with open_tree(spec) as tree:
        await inject_crash(tree, "root/leaky")
        await wait_for_event(events, "actor_started", actor="root/leaky", incarnation=2)
        old = instances[0]
        w = tree.whereis("root/w")
        with pytest.raises(ActorNotRunningError, match=r"^actor 'root/leaky' is not running"):
            old.send_after(1, Ping())
        with pytest.raises(ActorNotRunningError, match=r"^actor 'root/leaky' is not running"):
            old.monitor(w)
        old.link(w)  # nothing to link: the incarnation is over
        await ref_at(tree, "root/w").cast(Crash())
        await wait_for_event(events, "actor_started", actor="root/w", incarnation=2)
        assert not events.of("actor_crashed", actor="root/leaky", exc_type="LinkedExit")
