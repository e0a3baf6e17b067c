"""Supervisor conformance with OTP, in the style of OTP's supervisor_SUITE.

Each test counts the start attempts of every child and checks the exact states
``which_children`` reports (../shared/docs/otp-semantics.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from _support import Crash, Ping, until

from supervise import (
    Actor,
    ActorRef,
    ChildError,
    ChildSpec,
    ChildState,
    DynamicSupervisorSpec,
    RestartIntensityExceeded,
    Strategy,
    SupervisorRef,
    SupervisorSpec,
    TaskRef,
    open_tree,
)
from supervise._supervisor import Supervisor
from supervise.testing import EventLog


class StartPlan:
    """Start attempts per child path, and which attempts fail."""

    def __init__(self) -> None:
        self.starts: dict[str, int] = {}
        #: path -> the attempt numbers (1-based) whose on_start raises.
        self.failing: dict[str, set[int]] = {}
        #: path -> attempt numbers from which on_start raises for good.
        self.failing_from: dict[str, int] = {}
        #: path -> an event that on_start waits for before it decides.
        self.gates: dict[str, asyncio.Event] = {}

    def attempt(self, path: str) -> int:
        n = self.starts[path] = self.starts.get(path, 0) + 1
        return n

    def fails(self, path: str, n: int) -> bool:
        return n in self.failing.get(path, ()) or n >= self.failing_from.get(path, n + 1)


PLAN = StartPlan()


@pytest.fixture(autouse=True)
def plan() -> StartPlan:
    global PLAN
    PLAN = StartPlan()
    return PLAN


class Counted(Actor[Ping | Crash]):
    """Counts its start attempts in PLAN; fails the ones PLAN says."""

    async def on_start(self) -> None:
        n = PLAN.attempt(self.path)
        gate = PLAN.gates.get(self.path)
        if gate is not None:
            await gate.wait()
        if PLAN.fails(self.path, n):
            raise RuntimeError(f"{self.path}: start {n} fails")

    async def handle(self, msg: Ping | Crash) -> str:
        if isinstance(msg, Crash):
            raise ValueError(msg.message)
        return "pong"


def counted(name: str, **fields: Any) -> ChildSpec:
    return ChildSpec(name=name, actor=Counted, **fields)


def actor_ref(ref: ActorRef[Any] | SupervisorRef | TaskRef | None) -> ActorRef[Any]:
    assert isinstance(ref, ActorRef)
    return ref


async def states(sup: SupervisorRef) -> list[tuple[str, ChildState]]:
    return [(c.name, c.state) for c in await sup.which_children()]


async def test_max_children_zero_refuses_every_start() -> None:
    """max_children: 0 is valid, as in Elixir; every start_child is refused."""
    spec = DynamicSupervisorSpec(name="pool", max_children=0, child=counted("c"))
    async with open_tree(spec) as tree:
        with pytest.raises(ChildError, match=r"max_children \(0\) reached"):
            await tree.root.start_child()
        assert await states(tree.root) == []
    assert PLAN.starts == {}


def three(strategy: Strategy, **sup: Any) -> SupervisorSpec:
    return SupervisorSpec(
        name="root",
        strategy=strategy,
        children=[counted("a"), counted("b"), counted("c")],
        **sup,
    )


async def queue_requests(*requests: Coroutine[Any, Any, Any]) -> list[asyncio.Task[Any]]:
    """Start each request in its own task and let it reach the supervisor's inbox."""
    tasks = [asyncio.create_task(r) for r in requests]
    await asyncio.sleep(0)  # each task runs up to waiting for its answer
    return tasks


# -- point 2: a failed restart is retried from the failed child (rest_for_one) ---------------


@pytest.mark.parametrize(
    ("strategy", "starts"),
    [
        # OTP {try_again, b}: b and what follows; a keeps its new incarnation.
        (Strategy.REST_FOR_ONE, {"root/a": 2, "root/b": 3, "root/c": 2}),
        # one_for_all retries the whole group: a starts once more.
        (Strategy.ONE_FOR_ALL, {"root/a": 3, "root/b": 3, "root/c": 2}),
    ],
)
async def test_failed_group_restart_is_retried_as_otp(
    events: EventLog, strategy: Strategy, starts: dict[str, int]
) -> None:
    """[a, b, c]; b's second start fails; a crashes: the retry restarts what OTP restarts."""
    PLAN.failing["root/b"] = {2}
    async with open_tree(three(strategy)) as tree:
        await actor_ref(tree.whereis("root/a")).cast(Crash())
        await events.wait_for("actor_started", actor="root/c", count=2)
        assert await states(tree.root) == [
            ("a", ChildState.RUNNING),
            ("b", ChildState.RUNNING),
            ("c", ChildState.RUNNING),
        ]
        assert PLAN.starts == starts
        # The crash and the retry: one unit of intensity each.
        assert tree.root.statistics().restarts_in_window == 2


# -- point 3: a pending retry shows only the failed child as restarting ----------------------


@pytest.mark.parametrize("strategy", [Strategy.REST_FOR_ONE, Strategy.ONE_FOR_ALL])
async def test_children_after_a_failed_start_are_stopped_not_restarting(
    strategy: Strategy,
) -> None:
    """While b's restart is pending, c (never started) is stopped; a keeps running."""
    async with open_tree(three(strategy)) as tree:
        gate = PLAN.gates["root/b"] = asyncio.Event()
        PLAN.failing["root/b"] = {2}
        await actor_ref(tree.whereis("root/b")).cast(Crash())
        await until(lambda: PLAN.starts["root/b"] == 2)  # the supervisor waits in b's start
        (rows,) = await queue_requests(states(tree.root))  # answered before the retry
        gate.set()
        assert await rows == [
            ("a", ChildState.RUNNING),
            ("b", ChildState.RESTARTING),
            ("c", ChildState.STOPPED),
        ]
        await until(lambda: actor_ref(tree.whereis("root/c")).is_running)
        assert PLAN.starts["root/b"] == 3


@pytest.mark.parametrize("strategy", [Strategy.REST_FOR_ONE, Strategy.ONE_FOR_ALL])
async def test_terminating_the_failing_child_cancels_the_pending_retry(
    events: EventLog, strategy: Strategy
) -> None:
    """terminate_child on b while its restart is pending: b and c stay stopped (OTP)."""
    async with open_tree(three(strategy)) as tree:
        gate = PLAN.gates["root/b"] = asyncio.Event()
        PLAN.failing["root/b"] = {2}
        await actor_ref(tree.whereis("root/b")).cast(Crash())
        await until(lambda: PLAN.starts["root/b"] == 2)
        terminate, rows = await queue_requests(tree.root.terminate_child("b"), states(tree.root))
        gate.set()
        await terminate
        expected = [("a", ChildState.RUNNING), ("b", ChildState.STOPPED), ("c", ChildState.STOPPED)]
        assert await rows == expected
        # The retry, queued behind those requests, has nothing to do now.
        await until(lambda: len(events.of("start_failed")) == 1)
        assert await states(tree.root) == expected
        assert await states(tree.root) == expected
        assert PLAN.starts == {
            "root/a": 2 if strategy is Strategy.ONE_FOR_ALL else 1,
            "root/b": 2,
            "root/c": 1,
        }
        assert tree.running


async def test_a_one_for_one_restart_ends_when_on_start_does_request_or_not(
    events: EventLog,
) -> None:
    """A restart's end (actor_restarted, actor_started) waits for on_start, however it is woken.

    The restart begins in the exiting child's task (`Supervisor._restart_in_place`)
    and leaves its end to the supervisor without waking it. With nothing else
    queued, b's readiness wakes it. A request sent meanwhile wakes it too, and
    is answered only after the restart (OTP: a supervisor restarting a child
    answers nothing else), showing b running.
    """
    async with open_tree(three(Strategy.ONE_FOR_ONE)) as tree:
        b = actor_ref(tree.whereis("root/b"))
        gate = PLAN.gates["root/b"] = asyncio.Event()
        await b.cast(Crash())
        await until(lambda: PLAN.starts["root/b"] == 2)  # b's on_start waits at the gate
        for _ in range(10):
            await asyncio.sleep(0)
        assert not events.of("actor_restarted")
        gate.set()
        await until(lambda: len(events.of("actor_started", actor="root/b")) == 2)
        assert events.sequence("actor_crashed", "actor_restarted", "actor_started")[-3:] == [
            ("actor_crashed", "root/b"),
            ("actor_restarted", "root/b"),
            ("actor_started", "root/b"),
        ]

        gate.clear()
        await b.cast(Crash())
        await until(lambda: PLAN.starts["root/b"] == 3)
        (rows,) = await queue_requests(states(tree.root))
        for _ in range(10):
            await asyncio.sleep(0)
        assert not rows.done()  # the supervisor is still restarting b
        gate.set()
        assert await rows == [(n, ChildState.RUNNING) for n in "abc"]
        assert len(events.of("actor_restarted", actor="root/b")) == 2
        assert await b.call(Ping()) == "pong"


# -- point 1: a fault inside the supervisor is a crash, never a clean stop -------------------


async def test_terminate_and_delete_during_a_failed_one_for_all_retry(events: EventLog) -> None:
    """The KeyError case: b is terminated and deleted while its retry is pending."""
    async with open_tree(three(Strategy.ONE_FOR_ALL, max_restarts=1)) as tree:
        gate = PLAN.gates["root/b"] = asyncio.Event()
        PLAN.failing["root/b"] = {2}
        await actor_ref(tree.whereis("root/b")).cast(Crash())
        await until(lambda: PLAN.starts["root/b"] == 2)
        terminate, delete = await queue_requests(
            tree.root.terminate_child("b"), tree.root.delete_child("b")
        )
        gate.set()
        await terminate
        await delete
        # The retry finds b gone: nothing restarts, nothing is counted, nobody gives up.
        assert await states(tree.root) == [("a", ChildState.RUNNING), ("c", ChildState.STOPPED)]
        assert tree.root.statistics().restarts_in_window == 1
        assert tree.running
    assert not events.of("restart_intensity_exceeded")
    stopped = events.of("supervisor_stopped")
    assert [(e["supervisor"], e["reason"]) for e in stopped] == [("root", "shutdown")]


class InjectedFault(Exception):
    pass


@pytest.fixture
def fault_in_restarts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The next child exit that each supervisor listed here handles raises InjectedFault.

    Injected where every exit is handled, in the supervisor's task or begun in
    the exiting child's (`Supervisor._restart_in_place`): the fault is the
    supervisor's either way.
    """
    faulty: list[str] = []
    note_exit = Supervisor._note_exit

    def fault(self: Supervisor, child: Any, reason: Any) -> None:
        if self.path in faulty:
            faulty.remove(self.path)
            raise InjectedFault(f"injected into {self.path}")
        note_exit(self, child, reason)

    monkeypatch.setattr(Supervisor, "_note_exit", fault)
    return faulty


async def test_a_fault_in_the_root_stops_the_children_in_order_and_is_raised(
    events: EventLog, fault_in_restarts: list[str]
) -> None:
    """The fault ends the root as a crash; b and c stop in reverse order; open_tree raises it."""
    fault_in_restarts.append("root")
    body_cancelled = False
    with pytest.raises(InjectedFault, match="injected into root"):
        async with open_tree(three(Strategy.ONE_FOR_ONE)) as tree:
            await actor_ref(tree.whereis("root/a")).cast(Crash())
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                body_cancelled = True
                raise
    assert body_cancelled
    assert events.sequence("actor_stopped") == [
        ("actor_stopped", "root/c"),
        ("actor_stopped", "root/b"),
    ]
    (stopped,) = events.of("supervisor_stopped")
    assert (stopped["reason"], stopped["exc_type"]) == ("crash", "InjectedFault")
    assert all(not actor_ref(tree.whereis(f"root/{n}")).is_running for n in "abc")


async def test_a_fault_in_a_child_supervisor_escalates_like_a_crash(
    events: EventLog, fault_in_restarts: list[str]
) -> None:
    """mid's fault is a crash of mid: root restarts it (a fresh leaf) and counts it."""
    fault_in_restarts.append("root/mid")
    spec = SupervisorSpec(
        name="root",
        children=[SupervisorSpec(name="mid", children=[counted("leaf"), counted("other")])],
    )
    async with open_tree(spec) as tree:
        await actor_ref(tree.whereis("root/mid/leaf")).cast(Crash())
        await events.wait_for("actor_restarted", actor="root/mid")
        await until(lambda: actor_ref(tree.whereis("root/mid/other")).is_running)
        (crashed,) = events.of("actor_crashed", actor="root/mid")
        assert (crashed["reason"], crashed["exc_type"]) == ("crash", "InjectedFault")
        assert events.of("actor_stopped", actor="root/mid/other")[0]["reason"] == "shutdown"
        assert PLAN.starts == {"root/mid/leaf": 2, "root/mid/other": 2}
        assert tree.root.statistics().restarts_in_window == 1


# -- point 4 is in test_supervisor.py (a transient child supervisor that gave up) ------------
# -- point 5: no stale states ----------------------------------------------------------------


async def test_giving_up_while_a_restart_is_pending_leaves_every_ref_stopped(
    events: EventLog,
) -> None:
    """a's restart keeps failing until root gives up; afterwards every ref reports stopped."""
    spec = SupervisorSpec(name="root", max_restarts=2, children=[counted("a"), counted("b")])
    PLAN.failing_from["root/a"] = 2
    with pytest.raises(RestartIntensityExceeded) as info:
        async with open_tree(spec) as tree:
            refs = [tree.whereis(p) for p in ("root/a", "root/b")]
            await actor_ref(refs[0]).cast(Crash())
            await tree.wait()
    assert info.value.last_child == "root/a"
    assert PLAN.starts == {"root/a": 3, "root/b": 1}
    assert [r.state for r in [tree.root, *refs]] == [ChildState.STOPPED] * 3
    (gave_up,) = events.of("restart_intensity_exceeded")
    assert gave_up["child_reason"] == "crash: RuntimeError: root/a: start 3 fails"


# -- structured dynamic-child answers ----------------------------------------------------


async def test_child_errors_carry_otps_codes() -> None:
    """supervisor_SUITE child_adm: each refusal is OTP's error term, as `ChildError.code`.

    ``{error, {already_started, Pid}}`` carries the running child's ref;
    ``already_present``, ``running``, ``restarting`` and ``not_found`` carry none.
    """
    spec = SupervisorSpec(name="root", children=[counted("a")])
    async with open_tree(spec) as tree:
        root = tree.root
        a = actor_ref(tree.whereis("root/a"))
        with pytest.raises(ChildError) as started:
            await root.start_child(counted("a"))
        assert (started.value.code, started.value.ref) == ("already_started", a)
        with pytest.raises(ChildError) as running:
            await root.restart_child("a")
        assert (running.value.code, running.value.ref) == ("running", None)
        with pytest.raises(ChildError) as running_delete:
            await root.delete_child("a")
        assert running_delete.value.code == "running"

        await root.terminate_child("a")
        with pytest.raises(ChildError) as present:
            await root.start_child(counted("a"))
        assert (present.value.code, present.value.ref) == ("already_present", None)

        await root.delete_child("a")
        for request in (root.restart_child, root.delete_child, root.terminate_child):
            with pytest.raises(ChildError) as missing:
                await request("a")
            assert (missing.value.code, missing.value.child) == ("not_found", "a")
        assert await states(root) == []
    assert PLAN.starts == {"root/a": 1}


async def test_restart_child_of_a_child_whose_restart_is_pending_is_restarting() -> None:
    """supervisor_SUITE restart_child (try_again): ``{error, restarting}`` while a retry is due."""
    gate = PLAN.gates["root/a"] = asyncio.Event()
    gate.set()
    PLAN.failing["root/a"] = {2}
    spec = SupervisorSpec(name="root", max_restarts=5, children=[counted("a")])
    async with open_tree(spec) as tree:
        root = tree.root
        a = actor_ref(tree.whereis("root/a"))
        gate.clear()  # the restart's on_start waits here: then it fails, a retry is queued
        await a.cast(Crash(message="boom"))
        await until(lambda: PLAN.starts.get("root/a") == 2)
        requests = await queue_requests(root.restart_child("a"), root.delete_child("a"))
        gate.set()
        answers = await asyncio.gather(*requests, return_exceptions=True)
        assert [getattr(e, "code", e) for e in answers] == ["restarting", "restarting"]
        await a.wait_running()
        assert await states(root) == [("a", ChildState.RUNNING)]
    assert PLAN.starts == {"root/a": 3}


async def test_max_children_is_its_own_code() -> None:
    """Elixir DynamicSupervisorTest "with max_children": ``{:error, :max_children}``."""
    spec = DynamicSupervisorSpec(name="pool", max_children=1, child=counted("c"))
    async with open_tree(spec) as tree:
        await tree.root.start_child()
        with pytest.raises(ChildError) as full:
            await tree.root.start_child()
        assert (full.value.code, full.value.ref) == ("max_children", None)


# -- killing a supervisor from outside ---------------------------------------------------


class StopCounted(Counted):
    """Counted, and records each on_stop (a kill must skip it)."""

    stops: list[str] = []

    async def on_stop(self, reason: object) -> None:
        StopCounted.stops.append(self.path)


@pytest.mark.parametrize(
    ("restart", "after"),
    [
        ("permanent", ChildState.RUNNING),  # killed is abnormal: restarted
        ("transient", ChildState.RUNNING),
        ("temporary", None),  # never restarted: dropped
    ],
)
async def test_supervisor_ref_kill_is_a_brutal_kill(
    events: EventLog, restart: str, after: ChildState | None
) -> None:
    """supervisor_SUITE sup_stop_brutal_kill, from outside: ``exit(Sup, kill)``.

    The supervisor's children are killed at once (no on_stop), it ends ``killed``
    and its parent applies its restart type, as for a brutal_kill by the parent.
    """
    StopCounted.stops = []
    sub = SupervisorSpec(
        name="sub",
        restart=restart,
        children=[ChildSpec(name="x", actor=StopCounted), ChildSpec(name="y", actor=StopCounted)],
    )
    async with open_tree(SupervisorSpec(name="root", children=[counted("a"), sub])) as tree:
        ref = tree.whereis("root/sub")
        assert isinstance(ref, SupervisorRef)
        ref.kill()
        ended = await events.wait_for("actor_crashed", actor="root/sub")
        assert (ended["reason"], ended["reason_detail"]) == ("killed", "ref.kill()")
        if after is ChildState.RUNNING:
            await until(lambda: PLAN.starts.get("root/sub/y") == 2)
            await ref.wait_running()
            assert await states(ref) == [("x", ChildState.RUNNING), ("y", ChildState.RUNNING)]
        assert await states(tree.root) == [("a", ChildState.RUNNING)] + (
            [("sub", after)] if after is not None else []
        )
        assert StopCounted.stops == []
        killed_children = events.of("actor_crashed", supervisor="root/sub", reason="killed")
        assert [(e["actor"], e["reason_detail"]) for e in killed_children] == [
            ("root/sub/y", "brutal_kill"),
            ("root/sub/x", "brutal_kill"),
        ]
    starts = 2 if after is not None else 1
    assert PLAN.starts == {"root/a": 1, "root/sub/x": starts, "root/sub/y": starts}


async def test_supervisor_ref_kill_of_a_stopped_supervisor_does_nothing() -> None:
    """Nothing runs behind the ref: kill() is a no-op, as ActorRef.kill()."""
    sub = SupervisorSpec(name="sub", restart="transient", children=[counted("x")])
    async with open_tree(SupervisorSpec(name="root", children=[sub])) as tree:
        await tree.root.terminate_child("sub")
        ref = tree.whereis("root/sub")
        assert isinstance(ref, SupervisorRef)
        ref.kill()
        assert await states(tree.root) == [("sub", ChildState.STOPPED)]
    assert PLAN.starts == {"root/sub/x": 1}


# -- lookups -----------------------------------------------------------------------------


async def test_get_childspec_and_which_child() -> None:
    """supervisor_SUITE child_adm (get_childspec): by name or ref; not_found when unknown.

    A ref reads back its child's restart and shutdown.
    """
    a_spec = counted("a", restart="transient", shutdown="brutal_kill")
    spec = SupervisorSpec(name="root", children=[a_spec, counted("b", shutdown=2.5)])
    async with open_tree(spec) as tree:
        root = tree.root
        a = actor_ref(tree.whereis("root/a"))
        assert await root.get_childspec("a") is a_spec
        assert await root.get_childspec(a) is a_spec
        assert (a.restart, a.shutdown) == ("transient", "brutal_kill")
        b = tree.whereis("root/b")
        assert (b.restart, b.shutdown) == ("permanent", 2.5)
        assert (root.restart, root.shutdown) == ("permanent", "infinity")

        await root.terminate_child("a")
        row = await root.which_child(a)
        assert (row.name, row.ref, row.state, row.incarnation) == ("a", a, ChildState.STOPPED, 1)
        assert (await root.which_child("b")).state is ChildState.RUNNING
        await root.delete_child("a")
        for lookup in (root.get_childspec, root.which_child):
            with pytest.raises(ChildError) as missing:
                await lookup("a")
            assert missing.value.code == "not_found"
    assert PLAN.starts == {"root/a": 1, "root/b": 1}


async def test_get_childspec_of_a_dynamic_child_has_its_name_and_args() -> None:
    """Elixir DynamicSupervisorTest: each child runs with its own spec, named from the template."""
    spec = DynamicSupervisorSpec(name="pool", child=counted("c", restart="transient"))
    async with open_tree(spec) as tree:
        ref = actor_ref(await tree.root.start_child({}))
        child_spec = await tree.root.get_childspec(ref)
        assert (child_spec.name, child_spec.restart) == ("c-1", "transient")
        assert ref.restart == "transient"
        assert (await tree.root.which_child("c-1")).state is ChildState.RUNNING
