"""ActorRef: typed sends, call outcomes, dead letters, backpressure."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from _support import Crash, Echo, Ping, Sleep, StopSelf, Worker, until, worker
from pydantic import BaseModel, ConfigDict

from supervise import (
    Actor,
    ActorExitedError,
    ActorNotRunningError,
    ActorRef,
    Backoff,
    CallDroppedError,
    CallFailedError,
    CallingSelfError,
    CallTimeoutError,
    ChildSpec,
    ExitKind,
    ExitReason,
    MailboxFull,
    MessageTypeError,
    Restart,
    RestartIntensityExceeded,
    StartError,
    SupervisorRef,
    SupervisorSpec,
    TaskRef,
    Tree,
    open_tree,
)
from supervise._registry import slot_at
from supervise.testing import EventLog


def one(*children: ChildSpec, **sup: Any) -> SupervisorSpec:
    return SupervisorSpec(name="root", children=list(children), **sup)


def handled(tree: Tree, path: str) -> int:
    """How many messages the current incarnation at ``path`` has taken."""
    process = slot_at(tree.registry, path).process  # type: ignore[union-attr]
    return int(process.actor.handled)  # type: ignore[union-attr]


def actor_ref(ref: ActorRef[Any] | SupervisorRef | TaskRef) -> ActorRef[Any]:
    assert isinstance(ref, ActorRef)
    return ref


async def test_call_returns_the_handler_value() -> None:
    """The handler's return value is the reply."""
    async with open_tree(one(worker("w"))) as tree:
        w = actor_ref(tree.whereis("root/w"))
        assert await w.call(Echo(text="hi")) == "hi"


async def test_wrong_message_type_fails_in_the_sender() -> None:
    """A type the actor does not declare is rejected before it reaches the mailbox."""

    class Stranger(BaseModel, frozen=True):
        pass

    async with open_tree(one(worker("w"))) as tree:
        w = actor_ref(tree.whereis("root/w"))
        for send in (w.cast_nowait, w.cast, w.call):
            with pytest.raises(MessageTypeError) as info:
                result = send(Stranger())
                if asyncio.iscoroutine(result):
                    await result
            assert info.value.actor == "root/w"
        assert str(info.value) == (
            "actor 'root/w' does not accept "
            "test_wrong_message_type_fails_in_the_sender.<locals>.Stranger "
            "(it accepts Ping | Crash | StopSelf | Sleep | Echo); send one of those types "
            "or declare this one in the actor's Actor[...] parameters"
        )
        with pytest.raises(MessageTypeError):
            await w.cast({"text": "dicts are not messages"})
        process = slot_at(tree.registry, "root/w").process  # type: ignore[union-attr]
        assert process.actor.handled == 0  # type: ignore[union-attr]


class Box(BaseModel):
    """A mutable (non-frozen) message model."""

    items: list[int]


class Keeper(Actor[Box]):
    async def handle(self, msg: Box) -> list[int]:
        msg.items.append(99)  # mutating what it received must not reach the sender
        return msg.items


async def test_mutable_messages_are_copied_so_nothing_is_shared() -> None:
    """A non-frozen model is deep-copied at the sender; frozen immutable ones are not."""
    assert Keeper._copy_types == frozenset({Box})
    assert Worker._share_types >= {Ping, Echo}
    async with open_tree(one(ChildSpec(name="k", actor=Keeper))) as tree:
        k = actor_ref(tree.whereis("root/k"))
        box = Box(items=[1])
        assert await k.call(box) == [1, 99]
        assert box.items == [1]


class Holder(BaseModel):
    """A mutable message whose values may not be copyable."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    name: str
    payload: Any = None
    inner: Box | Holder | None = None


class Keep(Actor[Holder]):
    async def handle(self, msg: Holder) -> str:
        return msg.name


async def test_a_message_that_cannot_be_copied_names_the_field() -> None:
    """A value that cannot be deep-copied raises MessageTypeError naming where it is."""
    async with open_tree(one(ChildSpec(name="k", actor=Keep))) as tree:
        k = actor_ref(tree.whereis("root/k"))
        lock = threading.Lock()
        cases = [
            (Holder(name="a", payload=lock), "payload"),
            (
                Holder(name="b", inner=Holder(name="c", payload={"x": [1, lock]})),
                "inner.payload['x'][1]",
            ),
        ]
        for message, field in cases:
            for send in (k.cast_nowait, k.cast, k.call):
                with pytest.raises(MessageTypeError) as info:
                    result = send(message)
                    if asyncio.iscoroutine(result):
                        await result
                assert info.value.field == field
                assert info.value.message is message
                assert isinstance(info.value.__cause__, TypeError)
        assert str(info.value) == (
            "cannot send Holder to actor 'root/k': field \"inner.payload['x'][1]\" of Holder "
            "cannot be deep-copied (TypeError: cannot pickle '_thread.lock' object); messages "
            "are copied so that sender and actor share nothing: send plain data (not locks, "
            "sockets, files or tasks)"
        )
        assert await k.call(Holder(name="fine", payload={"x": [1]})) == "fine"


async def test_call_timeout_and_late_reply_is_discarded() -> None:
    """A slow handler makes the caller time out; the actor carries on and stays alive."""
    async with open_tree(one(worker("w"))) as tree:
        w = actor_ref(tree.whereis("root/w"))
        with pytest.raises(CallTimeoutError) as info:
            await w.call(Sleep(seconds=0.2), timeout=0.01)
        assert isinstance(info.value, TimeoutError)
        assert str(info.value).startswith(
            "call to actor 'root/w' with Sleep got no reply within 0.01 s"
        )
        assert await w.call(Ping()) == "pong"  # it finished the Sleep first


async def test_calls_pending_at_a_crash_each_get_an_outcome(events: EventLog) -> None:
    """The crashing call gets CallFailedError; the ones queued behind it CallDroppedError."""
    async with open_tree(one(worker("w"))) as tree:
        w = actor_ref(tree.whereis("root/w"))
        crashing = asyncio.ensure_future(w.call(Crash(message="bad input")))
        queued = [asyncio.ensure_future(w.call(Ping())) for _ in range(3)]
        await asyncio.sleep(0)  # the calls are queued; the actor has not run yet
        await w.cast(Echo(text="lost"))
        results = await asyncio.gather(crashing, *queued, return_exceptions=True)
        first, *rest = results
        assert isinstance(first, CallFailedError)
        assert isinstance(first.__cause__, ValueError)
        assert first.reason.kind is ExitKind.CRASH
        assert str(first) == (
            "call to actor 'root/w' failed: its handler raised ValueError: bad input; "
            "the actor crashed and its supervisor decides whether to restart it"
        )
        for error in rest:
            assert type(error) is CallDroppedError
            assert error.reason.kind is ExitKind.CRASH
            assert str(error) == (
                "actor 'root/w' ended (crash: ValueError: bad input) before it took this call "
                "from its mailbox, so nothing of it ran; send it again once the actor runs "
                "(a call with retry_while_restarting=True does that)"
            )
        dead = events.of("message_dead_lettered", actor="root/w")
        assert [e["message_type"] for e in dead] == ["Ping", "Ping", "Ping", "Echo"]
        assert tree.dead_letters.count == 4
        await events.wait_for("actor_restarted", actor="root/w")


async def test_call_to_a_stopped_actor_and_cast_to_it(events: EventLog) -> None:
    """Nothing behind the ref: call raises ActorNotRunningError, cast is dead-lettered."""
    async with open_tree(one(worker("t", restart=Restart.TEMPORARY))) as tree:
        t = actor_ref(tree.whereis("root/t"))
        await t.call(StopSelf())
        await until(lambda: not t.is_running)
        with pytest.raises(ActorNotRunningError, match="'root/t' is not running"):
            await t.call(Ping())
        await t.cast(Ping())
        t.cast_nowait(Ping())
        assert tree.dead_letters.count == 2
        assert [d.cause for d in tree.dead_letters.recent] == ["not_running", "not_running"]
        assert len(events.of("message_dead_lettered", cause="not_running")) == 2


async def test_calling_self_fails_at_once() -> None:
    """An actor that calls itself gets CallingSelfError instead of a deadlock."""

    class Narcissus(Actor[Ping]):
        async def handle(self, msg: Ping) -> str:
            try:
                await self.ref.call(Ping())
            except CallingSelfError as exc:
                return str(exc)
            return "no error"

    async with open_tree(one(ChildSpec(name="n", actor=Narcissus))) as tree:
        reply = await actor_ref(tree.whereis("root/n")).call(Ping())
        assert reply.startswith("actor 'root/n' called itself")


async def test_full_mailbox_fails_at_once_with_overflow_fail() -> None:
    """overflow=fail: a send to a full mailbox raises MailboxFull and loses nothing queued."""
    spec = one(worker("w", mailbox={"capacity": 2, "overflow": "fail"}))
    async with open_tree(spec) as tree:
        w = actor_ref(tree.whereis("root/w"))
        busy = asyncio.ensure_future(w.call(Sleep(seconds=0.05)))
        await until(lambda: handled(tree, "root/w") == 1)  # busy with the Sleep
        await w.cast(Echo(text="1"))
        w.cast_nowait(Echo(text="2"))
        with pytest.raises(MailboxFull, match=r"mailbox of actor 'root/w' is full \(2 messages\)"):
            await w.cast(Echo(text="3"))
        with pytest.raises(MailboxFull):
            await w.call(Ping())
        assert await busy == "slept"
        assert await w.call(Ping()) == "pong"


async def test_full_mailbox_makes_senders_wait_in_order() -> None:
    """overflow=wait (default): senders wait for room; messages keep their order."""

    class Recorder(Actor[Echo | Sleep | Ping]):
        async def on_start(self) -> None:
            self.seen: list[str] = []

        async def handle(self, msg: Echo | Sleep | Ping) -> Any:
            if isinstance(msg, Sleep):
                await asyncio.sleep(msg.seconds)
            elif isinstance(msg, Echo):
                self.seen.append(msg.text)
            else:
                return list(self.seen)
            return None

    spec = one(ChildSpec(name="r", actor=Recorder, mailbox={"capacity": 1}))
    async with open_tree(spec) as tree:
        r = actor_ref(tree.whereis("root/r"))
        await r.cast(Sleep(seconds=0.05))
        await asyncio.sleep(0)
        senders = [asyncio.ensure_future(r.cast(Echo(text=str(i)))) for i in range(5)]
        await asyncio.sleep(0)
        assert sum(s.done() for s in senders) == 1  # one fits; the rest wait
        await asyncio.gather(*senders)
        assert await r.call(Ping()) == ["0", "1", "2", "3", "4"]


async def test_call_waiting_for_room_times_out() -> None:
    """A call blocked on a full mailbox still ends with CallTimeoutError."""
    spec = one(worker("w", mailbox={"capacity": 1}))
    async with open_tree(spec) as tree:
        w = actor_ref(tree.whereis("root/w"))
        await w.cast(Sleep(seconds=0.3))
        await until(lambda: handled(tree, "root/w") == 1)
        await w.cast(Ping())
        with pytest.raises(CallTimeoutError):
            await w.call(Ping(), timeout=0.02)


async def test_stop_runs_on_stop_and_a_permanent_child_comes_back(events: EventLog) -> None:
    """ref.stop() ends the actor normally after queued messages; permanent means restart."""
    async with open_tree(one(worker("w"))) as tree:
        w = actor_ref(tree.whereis("root/w"))
        await w.cast(Echo(text="before"))
        await w.stop()
        assert events.of("actor_stopped", actor="root/w")[0]["reason"] == "normal"
        await events.wait_for("actor_restarted", actor="root/w")
        assert not tree.dead_letters.count


async def test_kill_skips_on_stop_and_counts_as_abnormal(events: EventLog) -> None:
    """ref.kill() cancels at once; the reason is killed and the child is restarted."""
    from _support import STOPS

    async with open_tree(one(worker("w"))) as tree:
        w = actor_ref(tree.whereis("root/w"))
        pending = asyncio.ensure_future(w.call(Sleep(seconds=30)))
        await asyncio.sleep(0.01)
        w.kill()
        with pytest.raises(ActorExitedError) as info:
            await pending
        assert type(info.value) is ActorExitedError  # it was being handled: not "dropped"
        assert info.value.reason.kind is ExitKind.KILLED
        await events.wait_for("actor_restarted", actor="root/w")
        crash = events.of("actor_crashed", actor="root/w")[0]
        assert crash["reason"] == "killed"
        assert ("root/w", "killed: ref.kill()") not in STOPS


async def test_registered_names_and_paths() -> None:
    """whereis finds children by tree path and by registered name."""
    from supervise import NameNotFoundError, NameTakenError, StartError

    spec = one(worker("w", registered_name="primary"))
    async with open_tree(spec) as tree:
        assert tree.whereis("primary") is tree.whereis("root/w")
        assert tree.registry.names() == ["primary"]
        with pytest.raises(NameNotFoundError, match="no actor is registered as 'nope'"):
            tree.whereis("nope")
        with pytest.raises(NameTakenError, match="name 'primary' is held by actor 'root/w'"):
            await tree.root.start_child(worker("other", registered_name="primary"))
    clash = one(worker("a", registered_name="x"), worker("b", registered_name="x"))
    with pytest.raises(StartError) as info:
        async with open_tree(clash):
            pass
    assert isinstance(info.value.cause, NameTakenError)


async def test_mailbox_statistics() -> None:
    """statistics() reports size, capacity and waiting senders."""
    spec = one(worker("w", mailbox={"capacity": 3}))
    async with open_tree(spec) as tree:
        w = actor_ref(tree.whereis("root/w"))
        await w.cast(Sleep(seconds=0.05))
        await until(lambda: handled(tree, "root/w") == 1)
        await w.cast(Ping())
        process = slot_at(tree.registry, "root/w").process  # type: ignore[union-attr]
        stats = process.mailbox.statistics()  # type: ignore[union-attr]
        assert (stats.size, stats.capacity, stats.waiting_senders, stats.closed) == (1, 3, 0, False)


async def test_calling_self_from_on_start_fails_the_start_at_once() -> None:
    """A call to itself from on_start raises CallingSelfError there: a start failure, no hang."""

    class Eager(Actor[Ping]):
        async def on_start(self) -> None:
            await self.ref.call(Ping())

        async def handle(self, msg: Ping) -> str:
            return "pong"

    with pytest.raises(StartError) as info:
        async with open_tree(one(ChildSpec(name="eager", actor=Eager))):
            pass
    assert isinstance(info.value.cause, CallingSelfError)
    assert str(info.value.cause) == (
        "actor 'root/eager' called itself, which would wait for ever; "
        "handle the message directly or use `cast`"
    )


STOPPING: list[str] = []
STOP_GATES: list[asyncio.Event] = []


class SlowToStop(Actor[Ping]):
    """Its on_stop waits until the test opens the gate."""

    async def handle(self, msg: Ping) -> str:
        return "pong"

    async def on_stop(self, reason: ExitReason) -> None:
        STOPPING.append(self.path)
        await STOP_GATES[0].wait()


async def test_a_cancelled_supervisor_stop_still_waits_for_the_subtree(events: EventLog) -> None:
    """As Tree.stop: cancelling the caller does not cut the wait short; it ends with the stop."""
    STOPPING.clear()
    STOP_GATES[:] = [asyncio.Event()]
    inner = SupervisorSpec(
        name="inner", restart="temporary", children=[ChildSpec(name="slow", actor=SlowToStop)]
    )
    async with open_tree(SupervisorSpec(name="root", children=[inner])) as tree:
        sup = tree.whereis("root/inner")
        assert isinstance(sup, SupervisorRef)
        stopping = asyncio.ensure_future(sup.stop())
        await until(lambda: STOPPING == ["root/inner/slow"])
        stopping.cancel()
        for _ in range(20):  # loop passes: a stop that gave way to the cancel would end here
            await asyncio.sleep(0)
        assert not stopping.done()
        STOP_GATES[0].set()
        with pytest.raises(asyncio.CancelledError):
            await stopping
        assert not sup.is_running
        assert events.of("supervisor_stopped", supervisor="root/inner")


# -- calls across a restart -------------------------------------------------------------


def slow_restarts(*children: ChildSpec) -> SupervisorSpec:
    """A supervisor whose restarts wait 1 s (virtual time): the gap after a crash is wide."""
    return one(*children, backoff=Backoff(min_seconds=1, max_seconds=1, jitter=0))


@pytest.mark.virtual_clock
async def test_wait_running_waits_for_the_restart(events: EventLog) -> None:
    """Right after a crash nothing runs; wait_running returns once the restart is done."""
    async with open_tree(slow_restarts(worker("w"))) as tree:
        w = actor_ref(tree.whereis("root/w"))
        await w.wait_running()  # running already: returns at once
        with pytest.raises(CallFailedError):
            await w.call(Crash())
        with pytest.raises(ActorNotRunningError):
            await w.call(Ping())  # the plain call fails fast, as OTP's noproc
        loop = asyncio.get_running_loop()
        crashed_at = loop.time()
        await w.wait_running(timeout=5)
        assert w.is_running
        assert loop.time() - crashed_at >= 1.0  # the backoff, in virtual time
        assert events.names()[-2:] == ["actor_restarted", "actor_started"]
        assert await w.call(Ping()) == "pong"


STARTING: list[str] = []
START_GATES: list[asyncio.Event] = []


class SlowToStart(Actor[Ping]):
    """Its on_start waits until the test opens the gate, if the test set one."""

    async def on_start(self) -> None:
        STARTING.append(self.path)
        if START_GATES:
            await START_GATES[0].wait()

    async def handle(self, msg: Ping) -> str:
        return "pong"


async def test_an_actor_runs_once_its_on_start_has_returned() -> None:
    """wait_running after a restart waits for the new incarnation's on_start, as start_link."""
    STARTING.clear()
    START_GATES.clear()
    async with open_tree(one(ChildSpec(name="slow", actor=SlowToStart))) as tree:
        slow = actor_ref(tree.whereis("root/slow"))
        START_GATES.append(asyncio.Event())
        slow.kill()
        await slow.wait_down()
        waiting = asyncio.ensure_future(slow.wait_running())
        await until(lambda: STARTING == ["root/slow", "root/slow"])
        assert (slow.state.value, slow.is_running) == ("running", False)
        for _ in range(20):  # loop passes: a wait that ignored on_start would end here
            await asyncio.sleep(0)
        assert not waiting.done()
        START_GATES[0].set()
        await waiting
        assert slow.is_running


async def test_a_supervisor_runs_once_its_children_have_started(events: EventLog) -> None:
    """A restarted supervisor runs (wait_running, is_running) only once all its children have
    started, in order, as OTP's supervisor start returns after every child's init."""
    STARTING.clear()
    START_GATES.clear()
    inner = SupervisorSpec(
        name="inner", children=[worker("first"), ChildSpec(name="slow", actor=SlowToStart)]
    )
    async with open_tree(SupervisorSpec(name="root", children=[inner])) as tree:
        sup = tree.whereis("root/inner")
        assert isinstance(sup, SupervisorRef)
        START_GATES.append(asyncio.Event())
        sup.kill()
        await sup.wait_down()
        waiting = asyncio.ensure_future(sup.wait_running())
        await until(lambda: STARTING == ["root/inner/slow", "root/inner/slow"])
        assert (sup.state.value, sup.is_running) == ("running", False)
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiting.done()
        START_GATES[0].set()
        await waiting
        assert events.sequence("actor_started", "supervisor_started", key="actor")[-4:] == [
            ("actor_started", "root/inner/first"),
            ("actor_started", "root/inner/slow"),
            ("supervisor_started", None),  # root/inner's own
            ("actor_started", "root/inner"),  # its parent records the start
        ]
        assert sup.is_running


async def test_the_root_runs_once_the_tree_has_started() -> None:
    """wait_running on the root while the tree starts returns once its children have started."""
    STARTING.clear()
    START_GATES[:] = [asyncio.Event()]
    tree = open_tree(one(ChildSpec(name="slow", actor=SlowToStart)))
    starting = asyncio.ensure_future(tree.start())
    try:
        await until(lambda: STARTING == ["root/slow"])
        waiting = asyncio.ensure_future(tree.root.wait_running())
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiting.done()
        START_GATES[0].set()
        await starting
        await waiting
        assert tree.root.is_running
    finally:
        START_GATES[0].set()
        await starting
        await tree.stop()


@pytest.mark.virtual_clock
async def test_wait_running_gives_up_after_its_timeout() -> None:
    """A child that does not come back in time: ActorNotRunningError saying how long it waited."""
    async with open_tree(one(worker("w"))) as tree:
        w = actor_ref(tree.whereis("root/w"))
        await tree.root.terminate_child("w")
        with pytest.raises(ActorNotRunningError) as info:
            await w.wait_running(timeout=0.5)
        assert info.value.waited == 0.5
        assert str(info.value) == (
            "actor 'root/w' did not run again within 0.5 s (it was stopped for good, or its "
            "restart is still pending: backoff, a failing on_start); check its supervisor's "
            "which_children() or allow more time"
        )
        await tree.root.restart_child("w")
        await w.wait_running(timeout=0.5)


@pytest.mark.virtual_clock
async def test_waiting_for_a_restart_fails_fast_once_the_root_gives_up() -> None:
    """The root gives up while callers wait for a child's restart: they fail at once."""
    spec = slow_restarts(worker("w"), worker("bad")).model_copy(update={"max_restarts": 1})
    loop = asyncio.get_running_loop()
    with pytest.raises(RestartIntensityExceeded):
        async with open_tree(spec) as tree:
            w = actor_ref(tree.whereis("root/w"))
            with pytest.raises(CallFailedError):
                await w.call(Crash())  # its restart waits 1 s: the backoff
            start = loop.time()
            waiting = asyncio.ensure_future(w.wait_running(timeout=60))
            calling = asyncio.ensure_future(w.call(Ping(), timeout=60, retry_while_restarting=True))
            await asyncio.sleep(0)  # both wait for the restart
            await actor_ref(tree.whereis("root/bad")).cast(Crash())  # the second restart: too many
            await tree.wait()
    errors = await asyncio.gather(waiting, calling, return_exceptions=True)
    assert loop.time() - start < 1.0  # neither waited for the backoff, nor for 60 s
    for error in errors:
        assert isinstance(error, ActorNotRunningError)
        assert (error.stopped, error.waited) == ("root", None)
        assert str(error) == (
            "actor 'root/w' will not run again: 'root' has stopped for good (a "
            "supervisor gave up, or the tree was stopped), so nothing restarts it; "
            "see its supervisor_stopped event"
        )
    with pytest.raises(ActorNotRunningError) as info:
        await w.wait_running(timeout=60)  # after the end: at once
    assert info.value.stopped == "root"


@pytest.mark.virtual_clock
async def test_a_call_can_ride_through_a_restart() -> None:
    """retry_while_restarting: a call made in the gap is sent again once the actor runs."""
    async with open_tree(slow_restarts(worker("w"))) as tree:
        w = actor_ref(tree.whereis("root/w"))
        with pytest.raises(CallFailedError):
            await w.call(Crash())
        assert await w.call(Echo(text="again"), retry_while_restarting=True) == "again"
        assert handled(tree, "root/w") == 1  # sent once to the new incarnation


async def test_calls_queued_at_a_crash_are_sent_again_but_never_the_failed_one(
    events: EventLog,
) -> None:
    """Calls dropped from the crashed mailbox are retried; the crashing call is not."""
    async with open_tree(one(worker("w"))) as tree:
        w = actor_ref(tree.whereis("root/w"))
        crashing = asyncio.ensure_future(w.call(Crash(), retry_while_restarting=True))
        queued = [
            asyncio.ensure_future(w.call(Echo(text=str(i)), retry_while_restarting=True))
            for i in range(3)
        ]
        with pytest.raises(CallFailedError):
            await crashing  # its handler ran: never sent again
        assert await asyncio.gather(*queued) == ["0", "1", "2"]
        assert handled(tree, "root/w") == 3  # the new incarnation saw no second Crash
        assert len(events.of("actor_crashed", actor="root/w")) == 1


@pytest.mark.virtual_clock
async def test_riding_a_restart_is_bounded_by_the_call_timeout() -> None:
    """A restart later than the call's timeout: ActorNotRunningError, after that timeout."""
    async with open_tree(slow_restarts(worker("w"))) as tree:
        w = actor_ref(tree.whereis("root/w"))
        with pytest.raises(CallFailedError):
            await w.call(Crash())
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(ActorNotRunningError) as info:
            await w.call(Ping(), timeout=0.25, retry_while_restarting=True)
        assert info.value.waited == 0.25
        assert 0.25 <= loop.time() - start < 1.0
        await w.wait_running(timeout=5)
        assert handled(tree, "root/w") == 0  # the Ping was never sent


@pytest.mark.virtual_clock
async def test_a_timeout_after_riding_a_restart_names_the_whole_timeout() -> None:
    """The call's own timeout covers the wait and the reply; the error reports all of it."""
    async with open_tree(slow_restarts(worker("w"))) as tree:
        w = actor_ref(tree.whereis("root/w"))
        with pytest.raises(CallFailedError):
            await w.call(Crash())
        with pytest.raises(CallTimeoutError) as info:
            await w.call(Sleep(seconds=10), timeout=3, retry_while_restarting=True)
        assert info.value.timeout == 3
