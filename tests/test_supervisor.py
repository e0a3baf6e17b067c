"""Supervisor semantics, checked against OTP's (../shared/docs/otp-semantics.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _support import STOPS, Crash, Ping, StopSelf, until, worker

from supervise import (
    Actor,
    ActorExitedError,
    ActorRef,
    ChildError,
    ChildNotFoundError,
    ChildSpec,
    ChildState,
    DynamicSupervisorSpec,
    ExitKind,
    NameNotFoundError,
    Restart,
    RestartIntensityExceeded,
    StartError,
    Strategy,
    SupervisorRef,
    SupervisorSpec,
    TaskRef,
    open_tree,
)
from supervise.testing import EventLog, inject_crash, wait_for_event

NAMES = ["c1", "c2", "c3", "c4"]


def four(strategy: Strategy, **sup: object) -> SupervisorSpec:
    return SupervisorSpec(
        name="root",
        strategy=strategy,
        children=[worker(n) for n in NAMES],
        **sup,
    )


def actor_ref(ref: ActorRef[Any] | SupervisorRef | TaskRef | None) -> ActorRef[Any]:
    assert isinstance(ref, ActorRef)
    return ref


async def test_children_start_in_order_and_stop_in_reverse(events: EventLog) -> None:
    """c1..c4 start in list order; leaving the tree stops c4..c1, each with reason shutdown."""
    async with open_tree(four(Strategy.ONE_FOR_ONE)):
        assert events.sequence("actor_started") == [("actor_started", f"root/{n}") for n in NAMES]
    stopped = events.of("actor_stopped")
    assert [e["actor"] for e in stopped] == [f"root/{n}" for n in reversed(NAMES)]
    assert {e["reason"] for e in stopped} == {"shutdown"}
    assert [(f"root/{n}", "shutdown") for n in reversed(NAMES)] == STOPS
    assert events.names()[-1] == "supervisor_stopped"


def expected_after_crash(strategy: Strategy, crashed: int) -> list[tuple[str, object]]:
    """The exact OTP order of events after child ``crashed`` (0-based) of four crashes."""
    paths = [f"root/{n}" for n in NAMES]
    seq: list[tuple[str, object]] = [("actor_crashed", paths[crashed])]
    if strategy is Strategy.ONE_FOR_ONE:
        group = [crashed]
    elif strategy is Strategy.ONE_FOR_ALL:
        group = list(range(4))
    else:
        group = list(range(crashed, 4))
    seq += [("actor_stopped", paths[i]) for i in reversed(group) if i != crashed]
    seq += [("actor_started", paths[i]) for i in group]
    return seq


@pytest.mark.parametrize("strategy", list(Strategy))
@pytest.mark.parametrize("crashed", [0, 1, 3], ids=["first", "middle", "last"])
async def test_strategy_restarts_exactly_its_group_in_order(
    events: EventLog, strategy: Strategy, crashed: int
) -> None:
    """Each strategy stops the right siblings in reverse order, then starts the group in order."""
    async with open_tree(four(strategy)) as tree:
        before = {n: actor_ref(tree.whereis(f"root/{n}")) for n in NAMES}
        mark = len(events.entries)
        await before[NAMES[crashed]].cast(Crash())
        expected = expected_after_crash(strategy, crashed)
        starts = sum(1 for name, _ in expected if name == "actor_started")
        await events.wait_for("actor_started", count=4 + starts)
        got = [
            (str(e["event"]), e["actor"])
            for e in events.entries[mark:]
            if e["event"] in {"actor_crashed", "actor_stopped", "actor_started"}
        ]
        assert got == expected
        # Refs address the slot: the same ref reaches the new incarnation.
        assert await before[NAMES[crashed]].call(Ping()) == "pong"
        restarted = {str(a) for name, a in expected if name == "actor_started"}
        for n in NAMES:
            count = tree.whereis(f"root/{n}")
            assert isinstance(count, ActorRef)
            info = list(events.of("actor_started", actor=f"root/{n}"))[-1]
            assert info["incarnation"] == (2 if f"root/{n}" in restarted else 1)


async def test_restart_intensity_gives_up_on_the_fourth_crash(events: EventLog) -> None:
    """With max_restarts=3, three crashes are restarted and the fourth ends the tree."""
    spec = SupervisorSpec(name="root", children=[worker("a"), worker("b")])
    with pytest.raises(RestartIntensityExceeded) as info:
        async with open_tree(spec) as tree:
            a = actor_ref(tree.whereis("root/a"))
            for n in range(1, 4):
                await a.cast(Crash())
                await events.wait_for("actor_restarted", actor="root/a", count=n)
            await a.cast(Crash())
            await asyncio.sleep(30)  # cancelled when the tree gives up
    assert info.value.supervisor == "root"
    assert info.value.last_child == "root/a"
    assert info.value.max_restarts == 3
    assert "more than 3 restarts within 5 s" in str(info.value)
    tail = events.sequence(
        "actor_crashed", "restart_intensity_exceeded", "actor_stopped", key="actor"
    )[-3:]
    assert tail == [
        ("actor_crashed", "root/a"),
        ("restart_intensity_exceeded", "root/a"),
        ("actor_stopped", "root/b"),
    ]


async def test_intensity_zero_gives_up_on_first_restartable_exit() -> None:
    """max_restarts=0: the first exit that calls for a restart ends the supervisor."""
    spec = SupervisorSpec(name="root", max_restarts=0, children=[worker("a")])
    with pytest.raises(RestartIntensityExceeded):
        async with open_tree(spec) as tree:
            await actor_ref(tree.whereis("root/a")).cast(Crash())
            await tree.wait()


async def test_group_restart_counts_once() -> None:
    """A one_for_all restart of three children is one restart for the intensity."""
    spec = SupervisorSpec(
        name="root",
        strategy=Strategy.ONE_FOR_ALL,
        max_restarts=1,
        children=[worker("a"), worker("b"), worker("c")],
    )
    async with open_tree(spec) as tree:
        await actor_ref(tree.whereis("root/b")).cast(Crash())
        await until(lambda: tree.root.statistics().restarts_in_window == 1)
        await until(lambda: all(actor_ref(tree.whereis(f"root/{n}")).is_running for n in "abc"))
        assert tree.running


async def test_escalation_through_three_levels(events: EventLog) -> None:
    """A leaf crash exhausts leaf_sup, then mid, then root: the error reaches the host."""
    spec = SupervisorSpec(
        name="root",
        max_restarts=0,
        children=[
            worker("sibling"),
            SupervisorSpec(
                name="mid",
                max_restarts=0,
                children=[
                    SupervisorSpec(name="leaf_sup", max_restarts=0, children=[worker("leaf")])
                ],
            ),
        ],
    )
    body_cancelled = False
    with pytest.raises(RestartIntensityExceeded) as info:
        async with open_tree(spec) as tree:
            await actor_ref(tree.whereis("root/mid/leaf_sup/leaf")).cast(Crash())
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                body_cancelled = True
                raise
    assert body_cancelled
    assert info.value.supervisor == "root"
    assert info.value.last_child == "root/mid"
    gave_up = [e["supervisor"] for e in events.of("restart_intensity_exceeded")]
    assert gave_up == ["root/mid/leaf_sup", "root/mid", "root"]
    crashed = [e["actor"] for e in events.of("actor_crashed")]
    assert crashed == ["root/mid/leaf_sup/leaf"]
    # As OTP: a supervisor that gives up ends with shutdown (reached_max_restart_intensity);
    # its permanent parent entry restarts it, which costs the parent's intensity.
    for sup in ("root/mid/leaf_sup", "root/mid"):
        (stopped,) = events.of("actor_stopped", actor=sup)
        assert (stopped["reason"], stopped["reason_detail"], stopped["exc_type"]) == (
            "shutdown",
            "reached_max_restart_intensity",
            "RestartIntensityExceeded",
        )
    # The sibling was stopped by root giving up, in reverse order, with shutdown.
    assert events.of("actor_stopped", actor="root/sibling")[0]["reason"] == "shutdown"


async def test_parent_restarts_a_subtree_that_gave_up(events: EventLog) -> None:
    """mid gives up; root (with room in its intensity) restarts mid with a fresh leaf."""
    spec = SupervisorSpec(
        name="root",
        max_restarts=1,
        children=[SupervisorSpec(name="mid", max_restarts=0, children=[worker("leaf")])],
    )
    async with open_tree(spec) as tree:
        leaf = actor_ref(tree.whereis("root/mid/leaf"))
        await leaf.cast(Crash())
        await events.wait_for("actor_restarted", actor="root/mid")
        await until(lambda: leaf.is_running)
        assert await leaf.call(Ping()) == "pong"
        # The leaf's slot (and so the ref) survived: this is its second incarnation.
        assert events.of("actor_started", actor="root/mid/leaf")[-1]["incarnation"] == 2
        assert events.of("actor_started", actor="root/mid")[-1]["incarnation"] == 2


async def test_transient_subtree_that_gave_up_stays_stopped_as_otp(events: EventLog) -> None:
    """Giving up is a shutdown: a transient child supervisor is not restarted (OTP V:13c);
    its spec is kept, the parent lives on, and restart_child brings it back."""
    spec = SupervisorSpec(
        name="root",
        max_restarts=0,
        children=[
            SupervisorSpec(
                name="mid", restart=Restart.TRANSIENT, max_restarts=0, children=[worker("leaf")]
            ),
            worker("other"),
        ],
    )
    async with open_tree(spec) as tree:
        leaf = actor_ref(tree.whereis("root/mid/leaf"))
        await leaf.cast(Crash())
        await events.wait_for("actor_stopped", actor="root/mid")
        assert [(c.name, c.state) for c in await tree.root.which_children()] == [
            ("mid", ChildState.STOPPED),
            ("other", ChildState.RUNNING),
        ]
        assert leaf.state is ChildState.STOPPED
        assert tree.running  # intensity 0, yet nothing was restarted
        assert await tree.root.restart_child("mid") is tree.whereis("root/mid")
        assert await leaf.call(Ping()) == "pong"
    assert not events.of("actor_restarted")
    (gave_up,) = events.of("restart_intensity_exceeded")
    assert (gave_up["supervisor"], gave_up["actor"]) == ("root/mid", "root/mid/leaf")
    assert gave_up["child_reason"] == "crash: ValueError: boom"


@pytest.mark.parametrize(
    ("trigger", "restarted"),
    [
        ("stop_normal", False),
        ("stop_shutdown_detail", False),
        ("crash", True),
        ("kill", True),
    ],
)
async def test_transient_restarts_only_after_abnormal_exit(
    events: EventLog, trigger: str, restarted: bool
) -> None:
    """Transient: normal and shutdown exits are final; crash and killed are restarted."""
    spec = SupervisorSpec(
        name="root", max_restarts=0, children=[worker("t", restart=Restart.TRANSIENT)]
    )

    async def trigger_exit(ref: ActorRef[object]) -> None:
        if trigger == "stop_normal":
            await ref.call(StopSelf())
        elif trigger == "stop_shutdown_detail":
            await ref.call(StopSelf(detail="done"))
        elif trigger == "crash":
            await ref.cast(Crash())
        else:
            ref.kill()

    if restarted:
        # max_restarts=0: an exit that calls for a restart makes the supervisor give up.
        with pytest.raises(RestartIntensityExceeded):
            async with open_tree(spec) as tree:
                await trigger_exit(actor_ref(tree.whereis("root/t")))
                await tree.wait()
        return
    async with open_tree(spec) as tree:
        await trigger_exit(actor_ref(tree.whereis("root/t")))
        await events.wait_for("actor_stopped", actor="root/t")
        children = await tree.root.which_children()
        assert [(c.name, c.state) for c in children] == [("t", ChildState.STOPPED)]
        assert tree.running
    reason = events.of("actor_stopped", actor="root/t")[0]
    assert reason["reason"] == ("normal" if trigger == "stop_normal" else "shutdown")


async def test_permanent_child_that_stops_normally_is_restarted(events: EventLog) -> None:
    """OTP restarts a permanent child even after a normal exit."""
    spec = SupervisorSpec(name="root", children=[worker("p")])
    async with open_tree(spec) as tree:
        await actor_ref(tree.whereis("root/p")).call(StopSelf())
        await events.wait_for("actor_restarted", actor="root/p")
    assert events.of("actor_stopped", actor="root/p")[0]["reason"] == "normal"


async def test_temporary_child_is_never_restarted_and_uses_no_intensity(events: EventLog) -> None:
    """A crashing temporary child is removed; the supervisor (intensity 0) lives on."""
    spec = SupervisorSpec(
        name="root",
        strategy=Strategy.ONE_FOR_ALL,
        max_restarts=0,
        children=[worker("a"), worker("tmp", restart=Restart.TEMPORARY), worker("c")],
    )
    async with open_tree(spec) as tree:
        await actor_ref(tree.whereis("root/tmp")).cast(Crash())
        await events.wait_for("actor_crashed", actor="root/tmp")
        names = [c.name for c in await tree.root.which_children()]
        assert names == ["a", "c"]
        assert tree.running
        assert not events.of("actor_restarted")


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
async def test_temporary_sibling_is_stopped_not_restarted_and_removed(
    events: EventLog, strategy: Strategy
) -> None:
    """one_for_all/rest_for_one stop a temporary sibling, drop it, restart the others."""
    spec = SupervisorSpec(
        name="root",
        strategy=strategy,
        children=[worker("a"), worker("b"), worker("tmp", restart=Restart.TEMPORARY)],
    )
    async with open_tree(spec) as tree:
        await actor_ref(tree.whereis("root/b")).cast(Crash())
        await events.wait_for("actor_restarted", actor="root/b")
        await until(lambda: actor_ref(tree.whereis("root/b")).is_running)
        names = [c.name for c in await tree.root.which_children()]
        assert names == ["a", "b"]
        assert events.of("actor_stopped", actor="root/tmp")[0]["reason"] == "shutdown"
        assert not events.of("actor_restarted", actor="root/tmp")


async def test_start_failure_stops_started_siblings_and_names_the_child(events: EventLog) -> None:
    """[a, b, c] with b failing: a is started then stopped, c never starts, the error names b."""
    spec = SupervisorSpec(
        name="root", children=[worker("a"), worker("b", fail_start=True), worker("c")]
    )
    with pytest.raises(StartError) as info:
        async with open_tree(spec):
            pytest.fail("the tree must not start")
    assert info.value.actor == "root/b"
    assert isinstance(info.value.cause, RuntimeError)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert str(info.value) == (
        "child 'root/b' failed to start: RuntimeError: root/b refuses to start; "
        "the children started before it were stopped in reverse order"
    )
    assert events.sequence("actor_started", "start_failed", "actor_stopped") == [
        ("actor_started", "root/a"),
        ("start_failed", "root/b"),
        ("actor_stopped", "root/a"),
    ]
    assert not events.of(actor="root/c")


async def test_nested_start_failure_names_the_leaf() -> None:
    """A failure deep in the tree is reported with the leaf's path."""
    spec = SupervisorSpec(
        name="root",
        children=[SupervisorSpec(name="mid", children=[worker("leaf", fail_start=True)])],
    )
    with pytest.raises(StartError) as info:
        async with open_tree(spec):
            pass
    assert info.value.actor == "root/mid/leaf"


async def test_failed_restart_is_retried_and_costs_intensity(events: EventLog) -> None:
    """A child whose restart keeps failing is retried until the intensity runs out."""
    spec = SupervisorSpec(name="root", max_restarts=2, children=[worker("a")])
    with pytest.raises(RestartIntensityExceeded):
        async with open_tree(spec) as tree:
            a = actor_ref(tree.whereis("root/a"))
            # From now on every start of 'a' fails.
            import _support

            original = _support.Worker.on_start

            async def refuse(self: _support.Worker) -> None:
                raise RuntimeError("no")

            _support.Worker.on_start = refuse  # type: ignore[method-assign]
            try:
                await a.cast(Crash())
                await tree.wait()
            finally:
                _support.Worker.on_start = original  # type: ignore[method-assign]
    assert events.names().count("start_failed") == 2


async def test_shutdown_timeout_expiry_kills_the_child(events: EventLog) -> None:
    """A child slower than its shutdown time is cancelled: actor_killed, reason killed."""
    spec = SupervisorSpec(name="root", children=[worker("slow", stop_seconds=30, shutdown=0.05)])
    async with open_tree(spec):
        pass
    killed = events.of("actor_killed", actor="root/slow")
    assert len(killed) == 1
    assert killed[0]["shutdown"] == 0.05
    assert events.of("actor_crashed", actor="root/slow")[0]["reason"] == "killed"
    assert STOPS == [("root/slow", "shutdown")]  # on_stop began; it was cut short


async def test_handler_that_swallows_cancellation_is_abandoned(
    events: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child that ignores cancellation is reported and abandoned; shutdown still ends."""
    monkeypatch.setattr("supervise._shutdown.KILL_GRACE_SECONDS", 0.05)
    spec = SupervisorSpec(
        name="root",
        children=[worker("stubborn", stop_seconds=0.5, swallow_cancel=True, shutdown=0.05)],
    )
    async with open_tree(spec):
        pass
    assert events.sequence("actor_killed", "actor_abandoned", "actor_crashed") == [
        ("actor_killed", "root/stubborn"),
        ("actor_abandoned", "root/stubborn"),
        ("actor_crashed", "root/stubborn"),
    ]
    # Let the misbehaving task finish by itself before the loop closes.
    stubborn = [t for t in asyncio.all_tasks() if t.get_name() == "root/stubborn"]
    await until(lambda: all(t.done() for t in stubborn))


async def test_handler_swallowing_cancellation_does_not_hang_shutdown(
    events: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler stuck in a loop that eats CancelledError is abandoned; its caller is told."""
    monkeypatch.setattr("supervise._shutdown.KILL_GRACE_SECONDS", 0.05)
    from _support import Sleep

    spec = SupervisorSpec(name="root", children=[worker("h", swallow_cancel=True, shutdown=0.05)])
    async with open_tree(spec) as tree:
        h = actor_ref(tree.whereis("root/h"))
        pending = asyncio.ensure_future(h.call(Sleep(seconds=0.5), timeout=None))
        await asyncio.sleep(0.01)
    with pytest.raises(ActorExitedError) as info:
        await pending
    assert info.value.reason.kind is ExitKind.KILLED
    assert [name for name, _ in events.sequence("actor_killed", "actor_abandoned")] == [
        "actor_killed",
        "actor_abandoned",
    ]
    stubborn = [t for t in asyncio.all_tasks() if t.get_name() == "root/h"]
    await until(lambda: all(t.done() for t in stubborn))


async def test_brutal_kill_skips_on_stop(events: EventLog) -> None:
    """brutal_kill cancels at once: on_stop never runs, the reason is killed."""
    spec = SupervisorSpec(name="root", children=[worker("b", shutdown="brutal_kill")])
    async with open_tree(spec):
        pass
    assert STOPS == []
    assert events.of("actor_killed", actor="root/b")[0]["shutdown"] == "brutal_kill"
    assert events.of("actor_crashed", actor="root/b")[0]["reason"] == "killed"


async def test_infinity_waits_for_a_slow_on_stop(events: EventLog) -> None:
    """shutdown="infinity" waits for on_stop however long it takes, without a kill."""
    spec = SupervisorSpec(
        name="root", children=[worker("w", stop_seconds=0.2, shutdown="infinity")]
    )
    async with open_tree(spec):
        pass
    assert not events.of("actor_killed")
    assert events.of("actor_stopped", actor="root/w")[0]["reason"] == "shutdown"


async def test_dynamic_children_api(events: EventLog) -> None:
    """start/terminate/restart/delete_child, which_children and count_children, as OTP."""
    spec = SupervisorSpec(name="root", max_restarts=0, children=[worker("a")])
    async with open_tree(spec) as tree:
        root = tree.root
        b = actor_ref(await root.start_child(worker("b")))
        assert await b.call(Ping()) == "pong"
        with pytest.raises(ChildError, match="already started"):
            await root.start_child(worker("b"))
        sub = await root.start_child(SupervisorSpec(name="sub", children=[worker("x")]))
        assert isinstance(sub, SupervisorRef)
        counts = await root.count_children()
        assert (counts.specs, counts.active, counts.supervisors, counts.workers) == (3, 3, 1, 2)

        await root.terminate_child("b")  # not a crash: intensity 0 and still alive
        assert not b.is_running
        assert tree.running
        with pytest.raises(ChildError, match="already present"):
            await root.start_child(worker("b"))
        with pytest.raises(ChildError, match="running"):
            await root.delete_child("a")
        rows = await root.which_children()
        assert [(r.name, r.state, r.kind) for r in rows] == [
            ("a", ChildState.RUNNING, "worker"),
            ("b", ChildState.STOPPED, "worker"),
            ("sub", ChildState.RUNNING, "supervisor"),
        ]
        assert await root.restart_child("b") is b
        assert await b.call(Ping()) == "pong"
        with pytest.raises(ChildError, match="running"):
            await root.restart_child("b")
        await root.terminate_child(b)
        await root.delete_child("b")
        with pytest.raises(ChildNotFoundError):
            await root.restart_child("b")
        assert [r.name for r in await root.which_children()] == ["a", "sub"]
        assert not events.of("actor_restarted")


async def test_start_child_failure_keeps_no_spec() -> None:
    """A failed start_child raises StartError and leaves nothing behind."""
    async with open_tree(SupervisorSpec(name="root")) as tree:
        with pytest.raises(StartError):
            await tree.root.start_child(worker("bad", fail_start=True))
        assert await tree.root.which_children() == []


async def test_dynamic_supervisor_instances(events: EventLog) -> None:
    """A DynamicSupervisor starts instances of one template, restarts them, caps them."""
    spec = SupervisorSpec(
        name="root",
        children=[
            DynamicSupervisorSpec(
                name="pool",
                max_children=2,
                child=ChildSpec(name="conn", actor="_support:Worker", restart=Restart.TRANSIENT),
            )
        ],
    )
    async with open_tree(spec) as tree:
        pool = tree.whereis("root/pool")
        assert isinstance(pool, SupervisorRef)
        one = actor_ref(await pool.start_child())
        two = actor_ref(await pool.start_child({"stop_seconds": 0.0}))
        assert (one.path, two.path) == ("root/pool/conn-1", "root/pool/conn-2")
        with pytest.raises(ChildError, match=r"max_children \(2\) reached"):
            await pool.start_child()
        await one.cast(Crash())
        await events.wait_for("actor_restarted", actor="root/pool/conn-1")
        await until(lambda: one.is_running)
        assert await two.call(Ping()) == "pong"  # the other instance never noticed
        await two.call(StopSelf())  # transient, normal: gone for good
        await until(lambda: not two.is_running)
        three = actor_ref(await pool.start_child())
        assert three.path == "root/pool/conn-3"
    stopped = {e["actor"] for e in events.of("actor_stopped", reason="shutdown")}
    assert {"root/pool/conn-1", "root/pool/conn-3"} <= stopped


@pytest.mark.virtual_clock
async def test_backoff_delays_restarts(events: EventLog) -> None:
    """With a backoff, the restart waits; the child shows as restarting meanwhile."""
    spec = SupervisorSpec(
        name="root",
        backoff={"min_seconds": 0.2, "max_seconds": 1.0, "jitter": 0.0},
        children=[worker("a")],
    )
    async with open_tree(spec) as tree:
        a = actor_ref(tree.whereis("root/a"))
        await a.cast(Crash())
        await events.wait_for("actor_crashed", actor="root/a")
        rows = await tree.root.which_children()
        assert rows[0].state is ChildState.RESTARTING
        await events.wait_for("actor_restarted", actor="root/a")
        assert rows[0].ref is a


@pytest.mark.virtual_clock
async def test_the_intensity_window_slides_after_max_seconds(events: EventLog) -> None:
    """2 restarts in 10 s: crashes at t=0, 4 and 10.5 are fine, since the one at t=0 has
    left the window by then; one more at t=11 is a third within 10 s, and it gives up."""
    spec = SupervisorSpec(name="root", max_restarts=2, max_seconds=10, children=[worker("a")])
    loop = asyncio.get_running_loop()
    with pytest.raises(RestartIntensityExceeded):
        async with open_tree(spec) as tree:
            for n, at in enumerate((0.0, 4.0, 10.5), start=1):
                await asyncio.sleep(at - loop.time())
                await inject_crash(tree, "root/a")
                await wait_for_event(events, "actor_restarted", actor="root/a", count=n)
            assert tree.root.statistics().restarts_in_window == 2  # t=4 and t=10.5
            await asyncio.sleep(11.0 - loop.time())
            await inject_crash(tree, "root/a")
            await tree.wait()
    assert loop.time() == 11.0
    assert len(events.of("actor_restarted", actor="root/a")) == 3
    assert len(events.of("restart_intensity_exceeded")) == 1


@pytest.mark.virtual_clock
async def test_backoff_delays_grow_to_the_cap_and_reset_after_a_quiet_run(
    events: EventLog,
) -> None:
    """1 s, x2, capped at 4 s: restarts wait 1, 2, 4, 4; after 30 s of running, 1 again."""
    spec = SupervisorSpec(
        name="root",
        max_restarts=10,
        max_seconds=100,
        backoff={"min_seconds": 1, "max_seconds": 4, "jitter": 0, "reset_after": 30},
        children=[worker("a")],
    )
    loop = asyncio.get_running_loop()
    delays: list[float] = []
    async with open_tree(spec) as tree:
        for n in range(1, 6):
            if n == 5:
                await asyncio.sleep(30)  # a quiet run: the failure count starts again
            await inject_crash(tree, "root/a")
            crashed_at = loop.time()
            await wait_for_event(events, "actor_restarted", actor="root/a", count=n)
            delays.append(loop.time() - crashed_at)
    assert delays == [1.0, 2.0, 4.0, 4.0, 1.0]


class Picky(Actor[Ping]):
    """An actor whose constructor raises: a start failure like any other."""

    def __init__(self) -> None:
        raise TypeError("Picky() needs arguments it will never get")

    async def handle(self, msg: Ping) -> None:
        return None


async def test_an_actor_constructor_that_raises_is_a_start_failure(events: EventLog) -> None:
    """The actor class's __init__ raising fails the start cleanly and keeps nothing."""
    spec = SupervisorSpec(name="root", children=[ChildSpec(name="ok", actor="_support:Plain")])
    async with open_tree(spec) as tree:
        with pytest.raises(StartError) as info:
            await tree.root.start_child(ChildSpec(name="picky", actor=Picky))
        assert isinstance(info.value.cause, TypeError)
        assert [c.name for c in await tree.root.which_children()] == ["ok"]
        with pytest.raises(NameNotFoundError):
            tree.whereis("root/picky")
        pool = await tree.root.start_child(
            DynamicSupervisorSpec(name="pool", child=ChildSpec(name="p", actor=Picky))
        )
        assert isinstance(pool, SupervisorRef)
        with pytest.raises(StartError):
            await pool.start_child()
        assert await pool.which_children() == []
    assert [e["actor"] for e in events.of("start_failed")] == ["root/picky", "root/pool/p-1"]
