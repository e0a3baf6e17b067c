"""Tree.snapshot: the running tree as data, matching what happened to it."""

from __future__ import annotations

import asyncio
import datetime
import gc

import pytest
from _support import Crash, Ping, Plain, worker

from supervise import (
    ChildSpec,
    ChildState,
    DynamicSupervisorSpec,
    SupervisorSpec,
    TaskSpec,
    Tree,
    TreeSnapshot,
    open_tree,
)
from supervise._snapshot import NodeRows, _jsonable, snapshot_json, take_snapshot
from supervise.testing import InjectedCrash, inject_crash


async def forever() -> None:
    await asyncio.Event().wait()


def spec() -> SupervisorSpec:
    return SupervisorSpec(
        name="root",
        max_restarts=5,
        max_seconds=3600,
        children=[
            worker("a"),
            TaskSpec(name="poller", task=forever),
            SupervisorSpec(name="inner", children=[worker("b")]),
            DynamicSupervisorSpec(
                name="pool", child=ChildSpec(name="conn", actor=Plain), max_restarts=10
            ),
        ],
    )


async def test_snapshot_lists_every_node_depth_first_with_its_kind() -> None:
    async with open_tree(spec()) as tree:
        await tree.supervisor("root/pool").start_child()
        snap = await tree.snapshot()
    assert [(n.path, n.kind, n.depth, n.parent) for n in snap.nodes] == [
        ("root", "supervisor", 0, None),
        ("root/a", "actor", 1, "root"),
        ("root/poller", "task", 1, "root"),
        ("root/inner", "supervisor", 1, "root"),
        ("root/inner/b", "actor", 2, "root/inner"),
        ("root/pool", "dynamic_supervisor", 1, "root"),
        ("root/pool/conn-1", "actor", 2, "root/pool"),
    ]
    assert all(n.state is ChildState.RUNNING and n.incarnation == 1 for n in snap.nodes)
    assert snap.tree == "root"
    assert snap.node("root").children == 4
    assert snap.node("root/pool").max_restarts == 10
    # It is data: a JSON round trip gives the same snapshot.
    assert TreeSnapshot.model_validate_json(snap.model_dump_json()) == snap


async def test_snapshot_counts_messages_calls_and_the_mailbox_high_water_mark() -> None:
    async with open_tree(spec()) as tree:
        a = tree.actor("root/a")
        for _ in range(3):
            assert await a.call(Ping()) == "pong"
        # Five casts while the actor waits: the first is handed to it, four queue
        # behind it (the mailbox holds four at once).
        for _ in range(5):
            a.cast_nowait(Ping())
        node = (await tree.snapshot()).node("root/a")
        assert node.mailbox_depth == 4
        assert node.mailbox_high_water == 4
        # Queued behind the casts (five queued at once, behind the one handed over):
        # all handled on return.
        await a.call(Ping())
        node = (await tree.snapshot()).node("root/a")
    assert node.messages_handled == 9
    assert node.calls_served == 4
    assert node.mailbox_depth == 0
    assert node.mailbox_high_water == 5
    assert node.events_per_second is not None
    assert node.events_per_second > 0


async def started(tree: Tree, path: str, incarnation: int) -> None:
    """Wait until the supervisor has recorded ``incarnation`` of ``path`` as started."""
    async with asyncio.timeout(10):
        while (await tree.snapshot()).node(path).incarnation < incarnation:
            await asyncio.sleep(0.001)


async def test_snapshot_matches_injected_crashes_counts_states_and_window() -> None:
    async with open_tree(spec()) as tree:
        before = datetime.datetime.now(datetime.UTC)
        await inject_crash(tree, "root/a")
        await started(tree, "root/a", 2)
        await inject_crash(tree, "root/inner/b", ValueError("disk full"))
        await started(tree, "root/inner/b", 2)
        await inject_crash(tree, "root/a")
        await started(tree, "root/a", 3)
        snap = await tree.snapshot()
    root, a, b, inner = (snap.node(p) for p in ("root", "root/a", "root/inner/b", "root/inner"))
    assert (a.state, a.incarnation, a.restart_count, a.crashes) == (ChildState.RUNNING, 3, 2, 2)
    assert a.last_crash is not None
    assert a.last_crash.exc_type == InjectedCrash.__qualname__
    assert a.last_crash.time >= before
    assert (b.incarnation, b.restart_count, b.crashes) == (2, 1, 1)
    assert b.last_crash is not None
    assert (b.last_crash.exc_type, b.last_crash.message) == ("ValueError", "disk full")
    # Each supervisor counts its own restarts against its own intensity.
    assert (root.restarts_in_window, root.max_restarts, root.max_seconds) == (2, 5, 3600)
    assert (inner.restarts_in_window, inner.max_restarts) == (1, 3)
    assert root.crashes == 0
    assert root.last_crash is None
    assert a.uptime_seconds is not None
    assert a.uptime_seconds >= 0


async def test_uptimes_count_from_each_start_the_roots_too() -> None:
    """No node has run longer than the test (the root was once counted from the clock's 0)."""
    loop = asyncio.get_running_loop()
    opened = loop.time()
    async with open_tree(spec()) as tree:
        snap = await tree.snapshot()
        bound = loop.time() - opened
    uptimes = {n.path: n.uptime_seconds for n in snap.nodes if n.uptime_seconds is not None}
    assert {"root", "root/a"} <= set(uptimes)
    assert all(0 <= u <= bound for u in uptimes.values()), uptimes


async def test_snapshot_shows_a_terminated_child_stopped_and_a_crash_from_a_handler() -> None:
    async with open_tree(spec()) as tree:
        a = tree.actor("root/a")
        with pytest.raises(Exception, match="boom"):
            await a.call(Crash())
        await started(tree, "root/a", 2)
        await tree.root.terminate_child("poller")
        snap = await tree.snapshot()
    a_node, poller = snap.node("root/a"), snap.node("root/poller")
    assert a_node.last_crash is not None
    assert (a_node.last_crash.exc_type, a_node.last_crash.message) == ("ValueError", "boom")
    assert poller.state is ChildState.STOPPED
    assert poller.uptime_seconds is None
    assert snap.node("root").restarts_in_window == 1


async def test_snapshot_of_many_actors_yields_to_the_loop_between_chunks() -> None:
    pool = DynamicSupervisorSpec(name="pool", child=ChildSpec(name="w", actor=Plain))
    async with open_tree(SupervisorSpec(name="root", children=[pool])) as tree:
        ref = tree.supervisor("root/pool")
        for _ in range(250):
            await ref.start_child()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        ticks = 0
        snap = await take_snapshot(tree.spec.name, tree._root, tree.dead_letters, tree._rates, 50)
        during = ticks
        task.cancel()
    assert len(snap.nodes) == 252
    assert during >= 252 // 50  # the loop ran other tasks between chunks


async def test_nodes_are_a_sequence_of_models_built_from_plain_rows() -> None:
    """`nodes` reads like a list; its rows hold nothing the garbage collector follows."""
    async with open_tree(spec()) as tree:
        a = tree.actor("root/a")
        with pytest.raises(Exception, match="boom"):
            await a.call(Crash())
        await started(tree, "root/a", 2)
        snap = await tree.snapshot()
    nodes = snap.nodes
    assert isinstance(nodes, NodeRows)
    listed = list(nodes)
    assert len(nodes) == len(listed) == 6
    assert nodes[1] == listed[1]
    assert nodes[-1].path == "root/pool"
    assert nodes[1:3] == listed[1:3]
    assert nodes == listed
    assert listed == nodes
    assert nodes != listed[:-1]
    assert repr(nodes) == "<6 nodes>"
    assert snap.node("root/a") == listed[1]
    # Validated again (from another snapshot's fields), the nodes are the same models.
    again = TreeSnapshot(**dict(snap))
    assert isinstance(again.nodes, list)
    assert again == snap
    with pytest.raises(KeyError):
        snap.node("root/nobody")
    # One snapshot, the same JSON whether encoded from the rows or from the models.
    rows = nodes._rows
    assert [_jsonable(row) for row in rows] == [n.model_dump(mode="json") for n in listed]
    assert listed[1].last_crash is not None
    assert listed[1].last_crash.message == "boom"
    # Rows are untracked after a young collection: a big snapshot never makes the
    # collector walk the whole heap (only the list that holds them is tracked).
    gc.collect()
    assert not any(gc.is_tracked(row) for row in rows)


async def test_the_control_endpoints_json_is_the_snapshots_json() -> None:
    """`snapshot_json` (what the control socket sends) parses to the same snapshot."""
    pool = DynamicSupervisorSpec(name="pool", child=ChildSpec(name="w", actor=Plain))
    async with open_tree(SupervisorSpec(name="root", children=[pool])) as tree:
        ref = tree.supervisor("root/pool")
        for _ in range(120):
            await ref.start_child()
        await tree.actor("root/pool/w-7").call(Ping())
        args = (tree.spec.name, tree._root, tree.dead_letters, tree._rates, 50)
        pieces = await snapshot_json(*args)
        snap = await take_snapshot(*args)
    sent = TreeSnapshot.model_validate_json(b"".join(pieces))
    assert len(pieces) > 120 // 50  # one piece per chunk of nodes (and separators)
    assert sent.tree == snap.tree == "root"
    moving = {"uptime_seconds", "events_per_second"}
    assert [n.model_dump(exclude=moving) for n in sent.nodes] == [
        n.model_dump(exclude=moving) for n in snap.nodes
    ]
    assert sent.node("root/pool/w-7").messages_handled == 1


async def test_rates_forget_actors_that_are_gone() -> None:
    """What a snapshot remembers for the next one's rates is only what it saw."""
    async with open_tree(spec()) as tree:
        await tree.snapshot()
        assert set(tree._rates.seen) == {"root/a", "root/inner/b"}
        await tree.root.terminate_child("a")
        await tree.snapshot()
        assert set(tree._rates.seen) == {"root/inner/b"}
