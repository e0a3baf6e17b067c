"""Placed children: one child of a local supervisor, running on another node over NATS.

Nodes are ``supervise run`` processes on loopback (`_cluster.Nodes`), heartbeats 50 ms with
3 misses; the tree under test runs in this process as node ``main``.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import pytest
from _cluster import Nodes, cluster
from _support import Crash, Ping, Worker
from _tree_actors import Counter, Increment

from supervise import (
    ChildSpec,
    Placement,
    RestartIntensityExceeded,
    StartError,
    SupervisorSpec,
    UsageError,
    open_tree,
)
from supervise._child import Child
from supervise._dead_letters import DeadLetters
from supervise._errors import CallDroppedError, PlacementError, RemoteError
from supervise._mailbox import MailboxClosed
from supervise._nats._placed import RemoteMailbox
from supervise._process import new_call
from supervise._reason import killed
from supervise._registry import Registry
from supervise.testing import EventLog

if TYPE_CHECKING:
    from supervise._nats._placed import PlacedProcess
    from supervise._nats._server import NatsServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def nodes(nats_server: NatsServer, tmp_path: Path) -> Iterator[Nodes]:
    """Node processes for the test; none is left behind."""
    group = Nodes(nats_server.url, tmp_path)
    try:
        yield group
    finally:
        group.close()


def placed_group(name: str, placement: Placement, **fields: object) -> SupervisorSpec:
    """A placed subtree of one actor."""
    return SupervisorSpec(
        name=name,
        placement=placement,
        children=[ChildSpec(name="w", actor="_tree_actors:Plain")],
        **fields,
    )


def placed_actor(
    name: str, placement: Placement, actor: str = "_tree_actors:Plain", **fields: object
) -> ChildSpec:
    """A placed actor."""
    return ChildSpec(name=name, actor=actor, placement=placement, **fields)


async def test_what_waited_for_a_placed_actor_that_ended_is_dead_lettered() -> None:
    """A placed actor's mailbox holds messages until the actor runs on its node; if the
    incarnation ends first, its calls fail (`CallDroppedError`) and every held message is
    a dead letter (``actor_stopped``), as for an in-process mailbox."""
    child = Child(ChildSpec(name="p", actor=Worker), "root/p", None, Registry(), DeadLetters())
    held = RemoteMailbox(cast("PlacedProcess", SimpleNamespace(path="root/p", child=child)))
    held.put_nowait(Ping())
    call = new_call(Ping(), asyncio.get_running_loop().create_future())
    held.put_nowait(call)
    held.close(killed("nodedown"))
    with pytest.raises(CallDroppedError):
        call.future.result()
    assert (child.dead_letters.count, child.dead_letters.by_cause) == (2, {"actor_stopped": 2})
    with pytest.raises(MailboxClosed):
        held.put_nowait(Ping())


async def test_without_a_cluster_placement_is_ignored(events: EventLog) -> None:
    """The same spec without a cluster block runs every child in this process."""
    spec = SupervisorSpec(
        name="root", children=[placed_group("ingest", Placement(prefer=["b", "c"]))]
    )
    async with open_tree(spec) as tree:
        assert tree.node is None
        await events.wait_for("actor_started", actor="root/ingest/w")
    assert not events.of("subtree_placed")


async def test_a_killed_node_is_nodedown_and_the_subtree_moves(
    nodes: Nodes, events: EventLog
) -> None:
    """SIGKILL of the node running a subtree: nodedown within 1 s, then one_for_one
    places it on the next node of its preference; a temporary child there is dropped."""
    nodes.start("b")
    nodes.start("c")
    await nodes.wait_up("b", "c")
    spec = SupervisorSpec(
        name="root",
        cluster=cluster(nodes.url),
        children=[
            placed_group("ingest", Placement(prefer=["b", "c"])),
            placed_actor("scratch", Placement(node="b"), restart="temporary"),
        ],
    )
    async with open_tree(spec) as tree:
        assert tree.node == "main"
        await events.wait_for("subtree_placed", actor="root/ingest", node="b")
        await events.wait_for("subtree_placed", actor="root/scratch", node="b")
        await nodes.wait_logged("b", "supervisor_started", supervisor="root/ingest")
        with pytest.raises(UsageError, match=r"runs on node b, and supervisor operations"):
            await tree.supervisor("root/ingest").which_children()
        killed_at = time.monotonic()
        nodes.signal("b", signal.SIGKILL)
        crashed = await events.wait_for("actor_crashed", actor="root/ingest")
        assert time.monotonic() - killed_at < 1.0
        assert crashed["reason"] == "nodedown"
        assert crashed["reason_detail"].startswith("b: ")
        relocated = await events.wait_for("subtree_relocated", actor="root/ingest")
        assert (relocated["from_node"], relocated["node"]) == ("b", "c")
        await events.wait_for("subtree_placed", actor="root/ingest", node="c")
        await events.wait_for("actor_started", actor="root/ingest", incarnation=2)
        await nodes.wait_logged("c", "supervisor_started", supervisor="root/ingest")
        await events.wait_for("actor_crashed", actor="root/scratch", reason="nodedown")
        assert "root/scratch" not in tree.registry.paths()
    ingest = [
        name
        for name, actor in events.sequence(
            "subtree_placed", "actor_crashed", "subtree_relocated", "actor_started"
        )
        if actor == "root/ingest"
    ]
    assert ingest == [
        "subtree_placed",
        "actor_started",
        "actor_crashed",
        "subtree_relocated",
        "subtree_placed",
        "actor_started",
    ]
    # Stopping the tree stopped the copy on c.
    await nodes.wait_logged("c", "supervisor_stopped", supervisor="root/ingest")


async def test_a_frozen_node_fences_itself_when_it_resumes(nodes: Nodes, events: EventLog) -> None:
    """SIGSTOP: nodedown by missed heartbeats, the actor moves; SIGCONT: the old node
    finds itself cut off for longer than misses x heartbeat and kills its own copy, so
    only the new copy answers."""
    nodes.start("b")
    nodes.start("c")
    await nodes.wait_up("b", "c")
    spec = SupervisorSpec(
        name="root",
        cluster=cluster(nodes.url),
        children=[
            placed_actor(
                "counter",
                Placement(prefer=["b", "c"]),
                actor="_tree_actors:Counter",
                args={"start": 10},
                registered_name="counter",
            )
        ],
    )
    async with open_tree(spec) as tree:
        await events.wait_for("subtree_placed", actor="root/counter", node="b")
        counter = tree.actor("root/counter", Counter)
        assert await counter.call(Increment(by=2)) == 12
        nodes.signal("b", signal.SIGSTOP)
        crashed = await events.wait_for("actor_crashed", actor="root/counter")
        assert crashed["reason"] == "nodedown"
        await events.wait_for("subtree_placed", actor="root/counter", node="c")
        assert await counter.call(Increment(by=1)) == 11  # a fresh incarnation, on c
        nodes.signal("b", signal.SIGCONT)
        stopped = await nodes.wait_logged("b", "actor_crashed", actor="root/counter")
        assert stopped["reason"] == "killed"
        assert stopped["reason_detail"] in ("fenced: frozen", "lost its lease")
        # Its name leaves b with the copy (b answered for it while frozen); the tree's own
        # node answers for it too, forwarding to c.
        conn = tree._membership.conn  # type: ignore[union-attr]
        async with asyncio.timeout(5):
            while "b" in {(await conn.whereis("counter")).node for _ in range(10)}:
                await asyncio.sleep(0.05)
        assert {(await conn.whereis("counter")).node for _ in range(20)} <= {"c", "main"}
        assert await counter.call(Increment(by=1)) == 12
        assert await conn.remote_ref("counter", "c").call(Increment(by=1)) == 13
        assert len(events.of("actor_crashed", actor="root/counter")) == 1
        assert nodes.processes["b"].poll() is None  # the node itself lives on


async def test_calls_and_casts_reach_a_placed_actor(nodes: Nodes, events: EventLog) -> None:
    """A placed actor's ref works as a local one: casts and calls in order, replies
    validated; a normal stop and a crash there are exits here, and the restart runs
    there again."""
    nodes.start("b")
    await nodes.wait_up("b")
    spec = SupervisorSpec(
        name="root",
        cluster=cluster(nodes.url),
        children=[
            placed_actor(
                "counter", Placement(node="b"), actor="_tree_actors:Counter", args={"start": 5}
            ),
            placed_actor("worker", Placement(node="b"), actor="_support:Worker"),
        ],
    )
    async with open_tree(spec) as tree:
        counter = tree.actor("root/counter", Counter)
        await counter.cast(Increment(by=1))  # may arrive while it is being placed
        await counter.cast(Increment(by=1))
        assert await counter.call(Increment(by=3)) == 10
        await events.wait_for("subtree_placed", actor="root/counter", node="b")
        await counter.stop()
        await events.wait_for("actor_started", actor="root/counter", incarnation=2)
        assert await counter.call(Increment(by=1)) == 6
        worker = tree.actor("root/worker", Worker)
        with pytest.raises(RemoteError, match=r"\(call_failed\): ValueError: boom$"):
            await worker.call(Crash(message="boom"))
        crashed = await events.wait_for("actor_crashed", actor="root/worker")
        assert (crashed["reason"], crashed["exc_type"], crashed["exc_message"]) == (
            "crash",
            "RemoteExitError",
            "'root/worker' on node b: ValueError: boom",
        )
        await events.wait_for("actor_started", actor="root/worker", incarnation=2)
        assert await worker.call(Ping()) == "pong"
        assert not events.of("subtree_relocated")


@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
async def test_strategies_span_nodes(nodes: Nodes, events: EventLog, strategy: str) -> None:
    """Losing one node restarts the group the strategy names, wherever its members run:
    one_for_all stops and restarts all three children; rest_for_one only the ones after."""
    nodes.start("b")
    nodes.start("c")
    await nodes.wait_up("b", "c")
    spec = SupervisorSpec(
        name="root",
        strategy=strategy,
        cluster=cluster(nodes.url),
        children=[
            placed_actor("first", Placement(prefer=["c", "b"])),
            placed_actor("second", Placement(prefer=["b", "c"])),
            ChildSpec(name="local", actor="_tree_actors:Plain"),
        ],
    )
    async with open_tree(spec):
        await events.wait_for("subtree_placed", actor="root/second", node="b")
        await events.wait_for("actor_started", actor="root/local")
        nodes.signal("b", signal.SIGKILL)
        await events.wait_for("actor_started", actor="root/local", incarnation=2)
        await events.wait_for("actor_started", actor="root/second", incarnation=2)
        exits = events.sequence("actor_crashed", "actor_stopped", "actor_started")
        after_crash = exits[exits.index(("actor_crashed", "root/second")) :]
        if strategy == "one_for_all":
            assert after_crash == [
                ("actor_crashed", "root/second"),
                ("actor_stopped", "root/local"),
                ("actor_stopped", "root/first"),
                ("actor_started", "root/first"),
                ("actor_started", "root/second"),
                ("actor_started", "root/local"),
            ]
        else:
            assert after_crash == [
                ("actor_crashed", "root/second"),
                ("actor_stopped", "root/local"),
                ("actor_started", "root/second"),
                ("actor_started", "root/local"),
            ]
        await events.wait_for("subtree_placed", actor="root/second", node="c")


async def test_repeated_node_losses_exceed_the_intensity_and_escalate(
    nodes: Nodes, events: EventLog
) -> None:
    """Each node loss is one restart of the placed child; past max_restarts the root
    gives up and open_tree raises."""
    nodes.start("b")
    nodes.start("c")
    await nodes.wait_up("b", "c")
    spec = SupervisorSpec(
        name="root",
        max_restarts=1,
        cluster=cluster(nodes.url),
        children=[placed_group("ingest", Placement(prefer=["b", "c"]))],
    )
    with pytest.raises(RestartIntensityExceeded) as info:
        async with open_tree(spec):
            await events.wait_for("subtree_placed", actor="root/ingest", node="b")
            nodes.signal("b", signal.SIGKILL)
            await events.wait_for("subtree_placed", actor="root/ingest", node="c")
            nodes.signal("c", signal.SIGKILL)
            await asyncio.sleep(30)  # cancelled when the root gives up
    assert info.value.last_child == "root/ingest"
    await events.wait_for("restart_intensity_exceeded", supervisor="root")


async def test_no_eligible_node_fails_the_start(nats_server: NatsServer) -> None:
    """A placement no live node satisfies is a start failure naming the placement."""
    spec = SupervisorSpec(
        name="root",
        cluster=cluster(nats_server.url),
        children=[placed_group("gpu", Placement(labels={"gpu": "true"}))],
    )
    with pytest.raises(StartError) as info:
        async with open_tree(spec):
            pass
    assert isinstance(info.value.cause, PlacementError)
    assert str(info.value.cause) == (
        "cannot place 'root/gpu': no node its placement allows is up (labels {gpu: true}; "
        "nodes up: main); start one (supervise node --name NAME) or widen the placement"
    )


async def test_on_nodedown_wait_and_stop(nodes: Nodes, events: EventLog) -> None:
    """After its node is lost, a pinned child (``wait``) starts there again once the node
    is back (its supervisor waits meanwhile, as for a slow start); a child with
    ``on_nodedown: stop`` is left stopped and costs no restart."""
    nodes.start("b")
    await nodes.wait_up("b")
    spec = SupervisorSpec(
        name="root",
        cluster=cluster(nodes.url),
        children=[
            placed_actor("pinned", Placement(node="b")),
            placed_actor("once", Placement(prefer=["b"], on_nodedown="stop")),
        ],
    )
    async with open_tree(spec) as tree:
        await events.wait_for("subtree_placed", actor="root/once", node="b")
        nodes.signal("b", signal.SIGKILL)
        await events.wait_for("actor_crashed", actor="root/pinned", reason="nodedown")
        nodes.processes["b"].wait(timeout=10)
        nodes.start("b")  # the node comes back (a new process, the same name)
        await events.wait_for("subtree_placed", actor="root/pinned", node="b", count=2)
        await events.wait_for("actor_started", actor="root/pinned", incarnation=2)
        await events.wait_for("actor_crashed", actor="root/once", reason="nodedown")
        snapshot = await tree.snapshot()
        assert snapshot.node("root/pinned").runs_on == "b"
        assert snapshot.node("root/once").state == "stopped"
        assert snapshot.node("root").restarts_in_window == 1
    assert not events.of("subtree_relocated")


async def test_a_node_that_stops_hands_its_children_back(nodes: Nodes, events: EventLog) -> None:
    """SIGTERM: the node stops its placed children in order and reports each as nodedown
    (its node is leaving), so even a transient child moves to another node."""
    nodes.start("b")
    nodes.start("c")
    await nodes.wait_up("b", "c")
    spec = SupervisorSpec(
        name="root",
        cluster=cluster(nodes.url),
        children=[placed_group("ingest", Placement(prefer=["b", "c"]), restart="transient")],
    )
    async with open_tree(spec):
        await events.wait_for("subtree_placed", actor="root/ingest", node="b")
        nodes.signal("b", signal.SIGTERM)
        crashed = await events.wait_for("actor_crashed", actor="root/ingest")
        assert (crashed["reason"], crashed["reason_detail"]) == ("nodedown", "b: stopped")
        await events.wait_for("subtree_placed", actor="root/ingest", node="c")
        await nodes.wait_logged("b", "supervisor_stopped", supervisor="root/ingest")
        assert nodes.processes["b"].wait(timeout=10) == 0
