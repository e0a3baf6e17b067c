"""`Ignore`: a child that declines to start (OTP's ``init/1`` returning ``ignore``).

Modelled on supervisor_SUITE's ``sup_start_ignore_*`` cases and the ignore
rows of ../shared/docs/otp-semantics.md (§4, edge case 19).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _support import Crash, Ping
from pydantic import BaseModel

from supervise import (
    Actor,
    ActorRef,
    ChildCounts,
    ChildSpec,
    ChildState,
    DynamicSupervisorSpec,
    Ignore,
    SupervisorRef,
    SupervisorSpec,
    TaskSpec,
    open_tree,
)
from supervise._logs._views import TreeView
from supervise.testing import EventLog


class Switch:
    """Which paths ignore their next start, and how many start attempts each made."""

    ignoring: set[str] = set()
    attempts: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    Switch.ignoring = set()
    Switch.attempts = {}


class MaybeConfig(BaseModel):
    ignore: bool = False


class Maybe(Actor[Ping | Crash]):
    """Ignores its start when its config says so, or while its path is in `Switch.ignoring`."""

    config: MaybeConfig

    async def on_start(self) -> None:
        Switch.attempts[self.path] = Switch.attempts.get(self.path, 0) + 1
        if self.config.ignore or self.path in Switch.ignoring:
            raise Ignore("disabled in config")

    async def handle(self, msg: Ping | Crash) -> str:
        if isinstance(msg, Crash):
            raise ValueError(msg.message)
        return "pong"


def maybe(name: str, *, ignore: bool = False, **fields: Any) -> ChildSpec:
    return ChildSpec(name=name, actor=Maybe, args={"ignore": ignore}, **fields)


async def rows(sup: SupervisorRef) -> list[tuple[str, ChildState]]:
    return [(c.name, c.state) for c in await sup.which_children()]


async def test_start_child_ignored_keeps_a_permanent_child_stopped(events: EventLog) -> None:
    """supervisor_SUITE sup_start_ignore_child: ``{ok, undefined}``, then the next child starts.

    The ignored child stays in the list, not running; count_children counts its spec
    but not as active.
    """
    async with open_tree(SupervisorSpec(name="root")) as tree:
        assert await tree.root.start_child(maybe("child1", ignore=True)) is None
        child2 = await tree.root.start_child(maybe("child2"))
        assert isinstance(child2, ActorRef)
        assert await rows(tree.root) == [
            ("child1", ChildState.STOPPED),
            ("child2", ChildState.RUNNING),
        ]
        assert await tree.root.count_children() == ChildCounts(
            specs=2, active=1, supervisors=0, workers=2
        )
        child1 = tree.whereis("root/child1")
        assert not child1.is_running
    ignored = events.of("actor_ignored")
    assert [(e["actor"], e["supervisor"], e["reason_detail"]) for e in ignored] == [
        ("root/child1", "root", "disabled in config")
    ]
    assert events.sequence("actor_ignored", "actor_started") == [
        ("actor_ignored", "root/child1"),
        ("actor_started", "root/child2"),
    ]
    assert not events.of("start_failed")


async def test_initial_temporary_child_that_ignores_is_not_kept() -> None:
    """supervisor_SUITE sup_start_ignore_temporary_child: the spec is NOT saved."""
    spec = SupervisorSpec(
        name="root",
        children=[
            maybe("child1", ignore=True, restart="temporary"),
            maybe("child2", restart="temporary"),
        ],
    )
    async with open_tree(spec) as tree:
        assert await rows(tree.root) == [("child2", ChildState.RUNNING)]
        assert await tree.root.count_children() == ChildCounts(
            specs=1, active=1, supervisors=0, workers=1
        )


async def test_start_child_of_a_temporary_child_that_ignores_is_not_kept() -> None:
    """supervisor_SUITE sup_start_ignore_temporary_child_start_child."""
    async with open_tree(SupervisorSpec(name="root")) as tree:
        assert (
            await tree.root.start_child(maybe("child1", ignore=True, restart="temporary")) is None
        )
        assert await tree.root.start_child(maybe("child2", restart="temporary")) is not None
        assert await rows(tree.root) == [("child2", ChildState.RUNNING)]


@pytest.mark.parametrize("restart", ["temporary", "permanent"])
async def test_dynamic_supervisor_drops_a_child_that_ignores(restart: str) -> None:
    """supervisor_SUITE sup_start_ignore_{temporary,permanent}_child_start_child_simple.

    Nothing is stored whatever the restart type; the supervisor still stops cleanly.
    """
    spec = DynamicSupervisorSpec(name="pool", child=maybe("c", restart=restart))
    async with open_tree(spec) as tree:
        assert await tree.root.start_child({"ignore": True}) is None
        started = await tree.root.start_child({})
        assert isinstance(started, ActorRef)
        assert await rows(tree.root) == [("c-2", ChildState.RUNNING)]
        assert await tree.root.count_children() == ChildCounts(
            specs=1, active=1, supervisors=0, workers=1
        )


async def test_a_dynamic_supervisors_listed_child_that_ignores_is_dropped() -> None:
    """Elixir DynamicSupervisor: a child whose start returns :ignore is not kept; the listed
    children after it still start."""
    spec = DynamicSupervisorSpec(
        name="pool", children=[maybe("a", ignore=True, restart="transient"), maybe("b")]
    )
    async with open_tree(spec) as tree:
        assert await rows(tree.root) == [("b-2", ChildState.RUNNING)]


async def test_initial_children_after_an_ignored_one_still_start(events: EventLog) -> None:
    """otp-semantics §4: a start returning ignore, the supervisor carries on with the next."""
    spec = SupervisorSpec(name="root", children=[maybe("a"), maybe("b", ignore=True), maybe("c")])
    async with open_tree(spec) as tree:
        assert await rows(tree.root) == [
            ("a", ChildState.RUNNING),
            ("b", ChildState.STOPPED),
            ("c", ChildState.RUNNING),
        ]
        assert (await tree.root.which_child("b")).incarnation == 0
    assert events.sequence("actor_started", "actor_ignored", "supervisor_started") == [
        ("actor_started", "root/a"),
        ("actor_ignored", "root/b"),
        ("actor_started", "root/c"),
        ("supervisor_started", None),
    ]


async def test_restart_child_answers_none_while_it_ignores() -> None:
    """otp-semantics edge case 19 [V:15b]: restart_child gives ``{ok, undefined}`` while the
    child keeps ignoring, and its ref once it starts (Elixir: disabled by config, enabled later).
    """
    Switch.ignoring.add("root/feature")
    spec = SupervisorSpec(name="root", children=[maybe("feature")])
    async with open_tree(spec) as tree:
        assert await tree.root.restart_child("feature") is None
        assert await rows(tree.root) == [("feature", ChildState.STOPPED)]
        Switch.ignoring.clear()
        ref = await tree.root.restart_child("feature")
        assert ref is tree.whereis("root/feature")
        assert isinstance(ref, ActorRef)
        assert await ref.call(Ping()) == "pong"
        assert (await tree.root.which_child("feature")).incarnation == 1
    assert Switch.attempts == {"root/feature": 3}


async def test_a_restart_that_ignores_leaves_the_child_stopped(events: EventLog) -> None:
    """supervisor.erl restart/2 (one_for_one): an ignore while restarting stores pid undefined.

    No retry, no further intensity used, the supervisor stays up; restart_child brings
    the child back later.
    """
    spec = SupervisorSpec(name="root", max_restarts=1, children=[maybe("a"), maybe("b")])
    async with open_tree(spec) as tree:
        a = tree.actor("root/a")
        Switch.ignoring.add("root/a")
        await a.cast(Crash())
        await events.wait_for("actor_ignored", actor="root/a")
        assert await rows(tree.root) == [("a", ChildState.STOPPED), ("b", ChildState.RUNNING)]
        assert tree.root.statistics().restarts_in_window == 1
        Switch.ignoring.clear()
        assert await tree.root.restart_child("a") is a
        assert await a.call(Ping()) == "pong"
    assert Switch.attempts == {"root/a": 3, "root/b": 1}
    assert events.sequence("actor_crashed", "actor_restarted", "actor_ignored") == [
        ("actor_crashed", "root/a"),
        ("actor_ignored", "root/a"),
    ]


async def test_a_sibling_that_ignores_during_a_group_restart_does_not_stop_the_group(
    events: EventLog,
) -> None:
    """supervisor.erl restart_multiple_children: an ignore is ``{ok, undefined}``; the group
    goes on."""
    spec = SupervisorSpec(
        name="root", strategy="one_for_all", children=[maybe("a"), maybe("b"), maybe("c")]
    )
    async with open_tree(spec) as tree:
        Switch.ignoring.add("root/b")
        await tree.actor("root/a").cast(Crash())
        await events.wait_for("actor_started", actor="root/c", incarnation=2)
        assert await rows(tree.root) == [
            ("a", ChildState.RUNNING),
            ("b", ChildState.STOPPED),
            ("c", ChildState.RUNNING),
        ]
    assert Switch.attempts == {"root/a": 2, "root/b": 2, "root/c": 2}


# -- plain tasks -----------------------------------------------------------------------


async def disabled(why: str) -> None:
    raise Ignore(why)


@pytest.mark.parametrize(
    ("restart", "kept"), [("permanent", True), ("transient", True), ("temporary", False)]
)
async def test_a_task_that_raises_ignore_is_not_restarted(
    events: EventLog, restart: str, kept: bool
) -> None:
    """A task has no start phase: raising Ignore ends it as an ignored start, whatever
    its restart type (not restarted; kept stopped, or dropped if temporary)."""
    task = TaskSpec(name="poller", task=disabled, args=["no URL configured"], restart=restart)
    spec = SupervisorSpec(name="root", max_restarts=0, children=[task, maybe("a")])
    async with open_tree(spec) as tree:
        entry = await events.wait_for("actor_ignored", actor="root/poller")
        assert (entry["reason_detail"], entry["incarnation"]) == ("no URL configured", 1)
        expected = [("poller", ChildState.STOPPED)] if kept else []
        assert await rows(tree.root) == [*expected, ("a", ChildState.RUNNING)]
        assert tree.root.statistics().restarts_in_window == 0
    assert not events.of("actor_stopped", actor="root/poller")
    assert not events.of("actor_crashed")


async def test_a_monitor_sees_an_ignored_start_end_normal() -> None:
    """The incarnation that ignored ends ``normal`` with detail ``ignore`` (a gen_server whose
    init returns ignore exits normal), so links and monitors take it as a normal end."""
    gate = asyncio.Event()

    async def ignore_when_told() -> None:
        await gate.wait()
        raise Ignore()

    task = TaskSpec(name="t", task=ignore_when_told)
    async with open_tree(SupervisorSpec(name="root", children=[task])) as tree:
        ref = tree.whereis("root/t")
        down = asyncio.create_task(ref.wait_down())
        await asyncio.sleep(0)
        gate.set()
        assert (await down).reason == "normal"
        assert (await down).detail == "ignore"
        assert await rows(tree.root) == [("t", ChildState.STOPPED)]


async def test_supervise_logs_tree_shows_an_ignored_child_stopped(events: EventLog) -> None:
    """``supervise logs --tree`` rebuilds the state from the events: ignored is stopped."""
    spec = SupervisorSpec(name="root", children=[maybe("a"), maybe("b", ignore=True)])
    async with open_tree(spec):
        pass
    view = TreeView()
    ignored_at = events.names().index("actor_ignored")
    for entry in events.entries[: ignored_at + 1]:
        view.feed(entry)
    node = view.node("root/b")
    assert (node.state, node.last_exit) == ("stopped", "ignored (disabled in config)")
