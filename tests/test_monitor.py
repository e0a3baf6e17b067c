"""Monitors: one Down per watched incarnation, to an actor, a callback or a waiting task."""

from __future__ import annotations

import asyncio

import pytest
from _support import Crash, Ping, StopSelf, worker
from _watchers import (
    DOWNS,
    Deaf,
    Watch,
    Watcher,
    clear_records,
    downs,
    ref_at,
    tree_of,
    watcher,
)

from supervise import (
    ActorNotRunningError,
    ArgumentError,
    CallFailedError,
    ChildSpec,
    Down,
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


@pytest.fixture(autouse=True)
def _clear() -> None:
    clear_records()


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
