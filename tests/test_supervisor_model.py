"""Model-based test: a supervisor against a small reference model of OTP's semantics.

Hypothesis drives random trees (strategy, intensity, children with random
restart types) through random steps: crashes, kills, normal exits, start
failures, and the dynamic child operations. After each step the supervisor has
handled everything (no restart pending), and the runtime must agree with the
model (../shared/docs/otp-semantics.md, §2-§3) on:

- which children exist, in order, and which run (``which_children``);
- every start attempt, in the same order (so the same restarts, in the same order);
- the restarts counted for the intensity, and giving up exactly when it is exceeded.

The intensity window is far longer than any run, so every restart counts.
``SUPERVISE_MODEL_EXAMPLES`` sets the number of runs (CI: a few seconds' worth).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from _support import Crash, Ping, StopSelf
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from supervise import (
    Actor,
    ActorRef,
    CallFailedError,
    ChildSpec,
    ChildState,
    Restart,
    RestartIntensityExceeded,
    StartError,
    Strategy,
    SupervisorSpec,
    open_tree,
)
from supervise._tree import Tree
from supervise.testing import capture_events

T = TypeVar("T")

#: Start attempts in order (paths), and how many of each child's next attempts fail.
ATTEMPTS: list[str] = []
FAIL_NEXT: dict[str, int] = {}


class Child(Actor[Ping | Crash | StopSelf]):
    """Records each start attempt; fails the ones FAIL_NEXT asks for."""

    async def on_start(self) -> None:
        ATTEMPTS.append(self.path)
        if FAIL_NEXT.get(self.path, 0):
            FAIL_NEXT[self.path] -= 1
            raise RuntimeError(f"{self.path} refuses to start")

    async def handle(self, msg: Ping | Crash | StopSelf) -> str:
        if isinstance(msg, Crash):
            raise ValueError(msg.message)
        if isinstance(msg, StopSelf):
            self.stop()
        return "pong"


# -- the reference model --------------------------------------------------------------------


@dataclass
class ModelChild:
    name: str
    restart: Restart
    running: bool = False


@dataclass
class Model:
    """OTP's supervisor, reduced to what the test observes."""

    strategy: Strategy
    max_restarts: int
    children: list[ModelChild] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    fail_next: dict[str, int] = field(default_factory=dict)
    restarts: int = 0
    gave_up: bool = False

    def find(self, name: str) -> ModelChild | None:
        return next((c for c in self.children if c.name == name), None)

    def attempt(self, child: ModelChild) -> bool:
        """One start attempt of ``child``: True if it started."""
        self.attempts.append(child.name)
        if self.fail_next.get(child.name, 0):
            self.fail_next[child.name] -= 1
            return False
        child.running = True
        return True

    def exited(self, child: ModelChild, abnormal: bool) -> None:
        """§2.2: restart per the restart type; a temporary child is dropped."""
        child.running = False
        if child.restart is Restart.PERMANENT or (child.restart is Restart.TRANSIENT and abnormal):
            self.restart(child)
        elif child.restart is Restart.TEMPORARY:
            self.children.remove(child)

    def restart(self, offender: ModelChild) -> None:
        """§2.3: count it; stop the group in reverse; start it in order; retry a failure."""
        self.restarts += 1
        if self.restarts > self.max_restarts:
            self.gave_up = True
            for child in self.children:
                child.running = False
            return
        index = self.children.index(offender)
        if self.strategy is Strategy.ONE_FOR_ONE:
            group = [offender]
        elif self.strategy is Strategy.ONE_FOR_ALL:
            group = list(self.children)
        else:
            group = self.children[index:]
        for child in group:
            if child is not offender:
                child.running = False
                if child.restart is Restart.TEMPORARY:
                    self.children.remove(child)
        for child in [c for c in group if c in self.children]:
            if not self.attempt(child):  # try_again_restart from the child that failed
                self.restart(child)
                return

    def rows(self) -> list[tuple[str, ChildState]]:
        if self.gave_up:
            return []
        return [
            (c.name, ChildState.RUNNING if c.running else ChildState.STOPPED) for c in self.children
        ]


# -- the machine ----------------------------------------------------------------------------

RESTARTS = st.sampled_from(list(Restart))


class SupervisorMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tree: Tree | None = None
        self.model = Model(Strategy.ONE_FOR_ONE, 0)
        self.next_name = 0
        self.capture = capture_events()
        self.events = self.capture.__enter__()
        ATTEMPTS.clear()
        FAIL_NEXT.clear()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 30))

    def new_name(self) -> str:
        self.next_name += 1
        return f"c{self.next_name}"

    @initialize(
        strategy=st.sampled_from(list(Strategy)),
        max_restarts=st.integers(0, 4),
        restarts=st.lists(RESTARTS, min_size=1, max_size=4),
    )
    def start_tree(self, strategy: Strategy, max_restarts: int, restarts: list[Restart]) -> None:
        names = [self.new_name() for _ in restarts]
        spec = SupervisorSpec(
            name="root",
            strategy=strategy,
            max_restarts=max_restarts,
            max_seconds=3600,  # longer than any run: every restart counts
            children=[
                ChildSpec(name=n, actor=Child, restart=r, shutdown="brutal_kill")
                for n, r in zip(names, restarts, strict=True)
            ],
        )
        self.model = Model(strategy, max_restarts)
        for name, restart in zip(names, restarts, strict=True):
            child = ModelChild(name, restart)
            self.model.children.append(child)
            assert self.model.attempt(child)
        self.tree = open_tree(spec)
        self.run(self.tree.start())

    def teardown(self) -> None:
        try:
            if self.tree is not None:
                self.run(self.tree.stop())
        finally:
            self.capture.__exit__(None, None, None)
            self.loop.close()

    # -- helpers

    def ref(self, name: str) -> ActorRef[Any]:
        assert self.tree is not None
        ref = self.tree.whereis(f"root/{name}")
        assert isinstance(ref, ActorRef)
        return ref

    def running(self) -> list[ModelChild]:
        return [c for c in self.model.children if c.running]

    def stopped(self) -> list[ModelChild]:
        return [c for c in self.model.children if not c.running]

    async def settled(self) -> list[tuple[str, ChildState]]:
        """which_children once no restart is pending (each retry is queued behind the last)."""
        assert self.tree is not None
        while self.tree.running:
            try:
                rows = [(c.name, c.state) for c in await self.tree.root.which_children()]
            except Exception:
                if self.tree.running:
                    raise
                break
            if all(state is not ChildState.RESTARTING for _, state in rows):
                return rows
        await self.tree._process.wait(None)  # type: ignore[union-attr]
        return []

    # -- steps

    @precondition(lambda self: not self.model.gave_up and self.running())
    @rule(data=st.data(), how=st.sampled_from(["crash", "kill", "stop"]))
    def child_exits(self, data: st.DataObject, how: str) -> None:
        """A running child crashes, is killed, or stops itself (normal)."""
        child = data.draw(st.sampled_from(self.running()))
        ref = self.ref(child.name)

        async def go() -> None:
            down = ref.monitor()  # this incarnation's end, whatever follows it
            if how == "crash":
                with pytest.raises(CallFailedError):
                    await ref.call(Crash())
            elif how == "kill":
                ref.kill()
            else:
                assert await ref.call(StopSelf()) == "pong"
            await down

        self.run(go())
        self.model.exited(child, abnormal=how != "stop")

    @precondition(lambda self: not self.model.gave_up and self.model.children)
    @rule(data=st.data(), times=st.integers(1, 3))
    def next_starts_fail(self, data: st.DataObject, times: int) -> None:
        """The next ``times`` start attempts of a child fail."""
        child = data.draw(st.sampled_from(self.model.children))
        self.model.fail_next[child.name] = self.model.fail_next.get(child.name, 0) + times
        FAIL_NEXT[f"root/{child.name}"] = FAIL_NEXT.get(f"root/{child.name}", 0) + times

    @precondition(lambda self: not self.model.gave_up and self.model.children)
    @rule(data=st.data())
    def terminate_child(self, data: st.DataObject) -> None:
        child = data.draw(st.sampled_from(self.model.children))
        assert self.tree is not None
        self.run(self.tree.root.terminate_child(child.name))
        child.running = False
        if child.restart is Restart.TEMPORARY:
            self.model.children.remove(child)

    @precondition(lambda self: not self.model.gave_up and self.stopped())
    @rule(data=st.data())
    def restart_child(self, data: st.DataObject) -> None:
        child = data.draw(st.sampled_from(self.stopped()))
        assert self.tree is not None
        if self.model.attempt(child):
            assert self.run(self.tree.root.restart_child(child.name)) is self.ref(child.name)
        else:
            with pytest.raises(StartError):
                self.run(self.tree.root.restart_child(child.name))

    @precondition(lambda self: not self.model.gave_up and self.stopped())
    @rule(data=st.data())
    def delete_child(self, data: st.DataObject) -> None:
        child = data.draw(st.sampled_from(self.stopped()))
        assert self.tree is not None
        self.run(self.tree.root.delete_child(child.name))
        self.model.children.remove(child)

    @precondition(lambda self: not self.model.gave_up and len(self.model.children) < 6)
    @rule(restart=RESTARTS, fails=st.booleans())
    def start_child(self, restart: Restart, fails: bool) -> None:
        name = self.new_name()
        assert self.tree is not None
        spec = ChildSpec(name=name, actor=Child, restart=restart, shutdown="brutal_kill")
        child = ModelChild(name, restart)
        if fails:
            self.model.fail_next[name] = 1
            FAIL_NEXT[f"root/{name}"] = 1
        if self.model.attempt(child):
            self.model.children.append(child)
            self.run(self.tree.root.start_child(spec))
        else:
            with pytest.raises(StartError):
                self.run(self.tree.root.start_child(spec))

    @rule()
    def nothing_happens(self) -> None:
        """A step with no action: a settled supervisor (or one that gave up) stays as it is."""
        self.run(asyncio.sleep(0))

    # -- what must hold after every step

    @invariant()
    def agrees_with_the_model(self) -> None:
        if self.tree is None:
            return
        rows = self.run(self.settled())
        assert rows == self.model.rows()
        assert [a.removeprefix("root/") for a in ATTEMPTS] == self.model.attempts
        if self.model.gave_up:
            assert not self.tree.running
            with pytest.raises(RestartIntensityExceeded):
                self.run(self.tree.wait())
            assert len(self.events.of("restart_intensity_exceeded")) == 1
        else:
            assert self.tree.running
            assert self.tree.root.statistics().restarts_in_window == self.model.restarts


SupervisorMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("SUPERVISE_MODEL_EXAMPLES", "40")),
    stateful_step_count=25,
    deadline=None,  # a loaded CI machine is slow; every wait above is bounded
    suppress_health_check=[HealthCheck.too_slow],
)
test_supervisor_agrees_with_the_otp_model = pytest.mark.timeout(300)(SupervisorMachine.TestCase)
