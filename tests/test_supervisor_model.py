"""Model-based test: a supervisor against a small reference model of OTP's semantics.

Hypothesis drives random trees (a root whose children are workers or nested
supervisors, each with a random strategy, intensity and restart types) through
random steps: workers at any depth crash, are killed or stop normally, start
attempts fail, and the root's children are started, terminated, restarted and
deleted. After each step the tree has handled everything (no restart pending),
and the runtime must agree with the model (../shared/docs/otp-semantics.md,
§2-§3) on:

- which children exist, in order, and which run, in every running supervisor;
- every start attempt, in the same order (so the same restarts, in the same order);
- the restarts each supervisor counted, which supervisors gave up and in what
  order (exactly when their intensity is exceeded), and how the parent took it
  (a give-up is a ``shutdown``: a permanent child supervisor is restarted, a
  transient one stays stopped, a temporary one is dropped).

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
    ActorNotRunningError,
    ActorRef,
    CallFailedError,
    ChildSpec,
    ChildState,
    NameNotFoundError,
    Restart,
    RestartIntensityExceeded,
    StartError,
    Strategy,
    SupervisorRef,
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
class Node:
    """A child of a model supervisor: a worker, or a supervisor (``sup``)."""

    name: str
    restart: Restart
    sup: Sup | None = None
    running: bool = False


@dataclass
class Sup:
    """OTP's supervisor, reduced to what the test observes."""

    path: str
    strategy: Strategy
    max_restarts: int
    #: The spec's children, for a fresh start: (name, restart, a nested supervisor's template).
    spec: list[tuple[str, Restart, Sup | None]]
    parent: Sup | None = None
    children: list[Node] = field(default_factory=list)
    restarts: int = 0

    def find(self, name: str) -> Node | None:
        return next((c for c in self.children if c.name == name), None)


@dataclass
class World:
    root: Sup
    attempts: list[str] = field(default_factory=list)
    fail_next: dict[str, int] = field(default_factory=dict)
    gave_up: bool = False
    #: Every supervisor that gave up, in order.
    gave_up_log: list[str] = field(default_factory=list)

    def attempt(self, sup: Sup, node: Node) -> bool:
        """One start of ``node`` under ``sup``: True if it (and its whole subtree) started."""
        path = f"{sup.path}/{node.name}"
        if node.sup is None:
            self.attempts.append(path)
            if self.fail_next.get(path, 0):
                self.fail_next[path] -= 1
                return False
        else:  # a supervisor: a fresh incarnation starts its spec's children in order
            sub = node.sup
            sub.children = [Node(n, r, fresh(t, sub, n)) for n, r, t in sub.spec]
            sub.restarts = 0
            for child in sub.children:
                if not self.attempt(sub, child):
                    stop_all(sub)
                    return False
        node.running = True
        return True

    def exited(self, sup: Sup, node: Node, abnormal: bool) -> None:
        """§2.2: restart per the restart type; a temporary child is dropped."""
        stop(node)
        if node.restart is Restart.PERMANENT or (node.restart is Restart.TRANSIENT and abnormal):
            self.restart(sup, node)
        elif node.restart is Restart.TEMPORARY:
            sup.children.remove(node)

    def restart(self, sup: Sup, offender: Node) -> None:
        """§2.3: count it; stop the group in reverse; start it in order; retry a failure."""
        sup.restarts += 1
        if sup.restarts > sup.max_restarts:
            self.give_up(sup)
            return
        index = sup.children.index(offender)
        if sup.strategy is Strategy.ONE_FOR_ONE:
            group = [offender]
        elif sup.strategy is Strategy.ONE_FOR_ALL:
            group = list(sup.children)
        else:
            group = sup.children[index:]
        for child in group:
            if child is not offender:
                stop(child)
                if child.restart is Restart.TEMPORARY:
                    sup.children.remove(child)
        for child in [c for c in group if c in sup.children]:
            if not self.attempt(sup, child):  # try_again_restart from the child that failed
                self.restart(sup, child)
                return

    def give_up(self, sup: Sup) -> None:
        """§3.2: stop every child; end with shutdown, which the parent sees as a normal exit."""
        self.gave_up_log.append(sup.path)
        stop_all(sup)
        parent = sup.parent
        if parent is None:
            self.gave_up = True
            return
        node = next(c for c in parent.children if c.sup is sup)
        self.exited(parent, node, abnormal=False)

    def running_sups(self) -> list[Sup]:
        """The root and every running nested supervisor, parents first."""
        if self.gave_up:
            return []
        sups = [self.root]
        for sup in sups:
            sups.extend(c.sup for c in sup.children if c.sup is not None and c.running)
        return sups

    def running_workers(self) -> list[tuple[Sup, Node]]:
        return [
            (s, c) for s in self.running_sups() for c in s.children if c.sup is None and c.running
        ]


def fresh(template: Sup | None, parent: Sup, name: str) -> Sup | None:
    if template is None:
        return None
    return Sup(
        f"{parent.path}/{name}", template.strategy, template.max_restarts, template.spec, parent
    )


def stop(node: Node) -> None:
    node.running = False
    if node.sup is not None:
        stop_all(node.sup)


def stop_all(sup: Sup) -> None:
    for child in sup.children:
        stop(child)


def rows(sup: Sup) -> list[tuple[str, ChildState]]:
    running, stopped = ChildState.RUNNING, ChildState.STOPPED
    return [(c.name, running if c.running else stopped) for c in sup.children]


# -- the machine ----------------------------------------------------------------------------

RESTARTS = st.sampled_from(list(Restart))
STRATEGIES = st.sampled_from(list(Strategy))
#: A nested supervisor: its restart type, strategy, intensity and its workers' restart types.
SUBTREES = st.tuples(
    RESTARTS, STRATEGIES, st.integers(0, 2), st.lists(RESTARTS, min_size=1, max_size=3)
)
#: A child of the root: a worker (its restart type) or a nested supervisor.
ROOT_CHILDREN = st.lists(st.one_of(RESTARTS, SUBTREES), min_size=1, max_size=4)


def worker_spec(name: str, restart: Restart) -> ChildSpec:
    return ChildSpec(name=name, actor=Child, restart=restart, shutdown="brutal_kill")


class SupervisorMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tree: Tree | None = None
        self.world = World(Sup("root", Strategy.ONE_FOR_ONE, 0, []))
        self.next_name = 0
        self.capture = capture_events()
        self.events = self.capture.__enter__()
        ATTEMPTS.clear()
        FAIL_NEXT.clear()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 30))

    def new_name(self, prefix: str = "c") -> str:
        self.next_name += 1
        return f"{prefix}{self.next_name}"

    @initialize(
        strategy=STRATEGIES,
        max_restarts=st.integers(0, 4),
        children=ROOT_CHILDREN,
    )
    def start_tree(
        self,
        strategy: Strategy,
        max_restarts: int,
        children: list[Restart | tuple[Restart, Strategy, int, list[Restart]]],
    ) -> None:
        root = Sup("root", strategy, max_restarts, [])
        specs: list[ChildSpec | SupervisorSpec] = []
        for child in children:
            if isinstance(child, Restart):
                name = self.new_name()
                root.spec.append((name, child, None))
                specs.append(worker_spec(name, child))
                continue
            restart, sub_strategy, sub_max, leaves = child
            name = self.new_name("s")
            leaf_names = [self.new_name() for _ in leaves]
            template = Sup(
                "",
                sub_strategy,
                sub_max,
                list(zip(leaf_names, leaves, [None] * len(leaves), strict=True)),
            )
            root.spec.append((name, restart, template))
            specs.append(
                SupervisorSpec(
                    name=name,
                    restart=restart,
                    strategy=sub_strategy,
                    max_restarts=sub_max,
                    max_seconds=3600,
                    children=[worker_spec(n, r) for n, r in zip(leaf_names, leaves, strict=True)],
                )
            )
        self.world = World(root)
        root.children = [Node(n, r, fresh(t, root, n)) for n, r, t in root.spec]
        for node in root.children:
            assert self.world.attempt(root, node)
        spec = SupervisorSpec(
            name="root",
            strategy=strategy,
            max_restarts=max_restarts,
            max_seconds=3600,  # longer than any run: every restart counts
            children=specs,
        )
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

    def actor(self, path: str) -> ActorRef[Any]:
        assert self.tree is not None
        ref = self.tree.whereis(path)
        assert isinstance(ref, ActorRef)
        return ref

    def supervisor(self, path: str) -> SupervisorRef:
        assert self.tree is not None
        ref = self.tree.whereis(path)
        assert isinstance(ref, SupervisorRef)
        return ref

    @property
    def root(self) -> Sup:
        return self.world.root

    def running(self) -> list[Node]:
        return [c for c in self.root.children if c.running]

    def stopped(self) -> list[Node]:
        return [c for c in self.root.children if not c.running]

    async def settled(self) -> dict[str, list[tuple[str, ChildState]]]:
        """Every running supervisor's which_children, once nothing is pending anywhere.

        A pass asks the root, then each running child supervisor (parents
        first). A child that ended shows as stopped before its supervisor has
        handled the exit, but that exit is queued before the next pass's
        request: two equal passes in a row, with no restart pending, see a
        settled tree.
        """
        assert self.tree is not None
        previous: dict[str, list[tuple[str, ChildState]]] | None = None
        while self.tree.running:
            seen: dict[str, list[tuple[str, ChildState]]] = {}
            paths = ["root"]
            try:
                for path in paths:
                    found = await self.supervisor(path).which_children()
                    seen[path] = [(c.name, c.state) for c in found]
                    paths.extend(
                        c.path
                        for c in found
                        if c.kind == "supervisor" and c.state is ChildState.RUNNING
                    )
            except (ActorNotRunningError, NameNotFoundError):
                previous = None
                continue  # a supervisor ended (and was removed) meanwhile: ask again
            pending = any(s is ChildState.RESTARTING for rows in seen.values() for _, s in rows)
            if not pending and seen == previous:
                return seen
            previous = seen
        await self.tree._process.wait(None)  # type: ignore[union-attr]
        return {}

    # -- steps

    @precondition(lambda self: not self.world.gave_up and self.world.running_workers())
    @rule(data=st.data(), how=st.sampled_from(["crash", "kill", "stop"]))
    def worker_exits(self, data: st.DataObject, how: str) -> None:
        """A running worker, at any depth, crashes, is killed, or stops itself (normal)."""
        sup, node = data.draw(st.sampled_from(self.world.running_workers()))
        ref = self.actor(f"{sup.path}/{node.name}")

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
        self.world.exited(sup, node, abnormal=how != "stop")

    @precondition(lambda self: not self.world.gave_up)
    @rule(data=st.data(), times=st.integers(1, 3))
    def next_starts_fail(self, data: st.DataObject, times: int) -> None:
        """The next ``times`` start attempts of a worker (at any depth, running or not) fail."""
        paths = sorted(set(ATTEMPTS))
        path = data.draw(st.sampled_from(paths))
        self.world.fail_next[path] = self.world.fail_next.get(path, 0) + times
        FAIL_NEXT[path] = FAIL_NEXT.get(path, 0) + times

    @precondition(lambda self: not self.world.gave_up and self.root.children)
    @rule(data=st.data())
    def terminate_child(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(self.root.children))
        assert self.tree is not None
        self.run(self.tree.root.terminate_child(node.name))
        stop(node)
        if node.restart is Restart.TEMPORARY:
            self.root.children.remove(node)

    @precondition(lambda self: not self.world.gave_up and self.stopped())
    @rule(data=st.data())
    def restart_child(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(self.stopped()))
        assert self.tree is not None
        if self.world.attempt(self.root, node):
            ref = self.run(self.tree.root.restart_child(node.name))
            assert ref is self.tree.whereis(f"root/{node.name}")
        else:
            with pytest.raises(StartError):
                self.run(self.tree.root.restart_child(node.name))

    @precondition(lambda self: not self.world.gave_up and self.stopped())
    @rule(data=st.data())
    def delete_child(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(self.stopped()))
        assert self.tree is not None
        self.run(self.tree.root.delete_child(node.name))
        self.root.children.remove(node)

    @precondition(lambda self: not self.world.gave_up and len(self.root.children) < 6)
    @rule(restart=RESTARTS, fails=st.booleans())
    def start_child(self, restart: Restart, fails: bool) -> None:
        name = self.new_name()
        assert self.tree is not None
        node = Node(name, restart)
        if fails:
            self.world.fail_next[f"root/{name}"] = 1
            FAIL_NEXT[f"root/{name}"] = 1
        if self.world.attempt(self.root, node):
            self.root.children.append(node)
            self.run(self.tree.root.start_child(worker_spec(name, restart)))
        else:
            with pytest.raises(StartError):
                self.run(self.tree.root.start_child(worker_spec(name, restart)))

    @rule()
    def nothing_happens(self) -> None:
        """A step with no action: a settled tree (or one that gave up) stays as it is."""
        self.run(asyncio.sleep(0))

    # -- what must hold after every step

    @invariant()
    def agrees_with_the_model(self) -> None:
        if self.tree is None:
            return
        seen = self.run(self.settled())
        assert seen == {sup.path: rows(sup) for sup in self.world.running_sups()}
        assert self.world.attempts == ATTEMPTS
        if self.world.gave_up:
            assert not self.tree.running
            with pytest.raises(RestartIntensityExceeded):
                self.run(self.tree.wait())
        else:
            assert self.tree.running
            for sup in self.world.running_sups():
                assert self.supervisor(sup.path).statistics().restarts_in_window == sup.restarts
        gave_up = [e["supervisor"] for e in self.events.of("restart_intensity_exceeded")]
        assert gave_up == self.world.gave_up_log


SupervisorMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("SUPERVISE_MODEL_EXAMPLES", "40")),
    stateful_step_count=25,
    deadline=None,  # a loaded CI machine is slow; every wait above is bounded
    suppress_health_check=[HealthCheck.too_slow],
)
test_supervisor_agrees_with_the_otp_model = pytest.mark.timeout(300)(SupervisorMachine.TestCase)
