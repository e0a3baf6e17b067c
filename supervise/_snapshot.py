"""Live introspection: the running tree as data (`Tree.snapshot`).

A snapshot is read from counters the runtime keeps anyway or keeps for this
at the cost of one integer increment per message (an actor's casts and calls;
its mailbox's high-water mark is sampled once per wake-up of the actor) and a
few fields per crash (the child slot's crash count and last crash). Nothing is
measured per message in time.

Walking a tree of 100,000 actors takes one to two seconds of Python, so the
walk yields to the event loop every `CHUNK` nodes (about 5 ms of work): the
tree goes on running meanwhile. The objects a big snapshot allocates can still
trigger a full garbage collection, whose pause grows with the whole heap
(docs/watching.md has the figures). Each node is read in one piece; nodes read
in different chunks may be a few milliseconds apart, and a child started or
removed during the walk may be missing or listed.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Literal

from pydantic import BaseModel

from ._child import ChildState
from ._process import ActorProcess
from ._registry import placer_of
from ._supervisor import Supervisor
from .spec import ChildSpec, DynamicSupervisorSpec, SupervisorSpec, TaskSpec

if TYPE_CHECKING:
    from ._child import Child
    from ._dead_letters import DeadLetters

#: Nodes read between two yields to the event loop.
CHUNK: Final[int] = 500

NodeKind = Literal["supervisor", "dynamic_supervisor", "actor", "task"]


class CrashInfo(BaseModel, frozen=True):
    """A child's last abnormal end (a crash, or a kill).

    Attributes:
        time: when it ended (UTC).
        exc_type: the exception's class name, or ``killed``.
        message: the exception's message (or the kill's detail).
    """

    time: datetime
    exc_type: str
    message: str


class NodeSnapshot(BaseModel, frozen=True):
    """One node of a `TreeSnapshot`: a supervisor, dynamic supervisor, actor or task.

    Attributes:
        path: its tree path (``root/db``).
        parent: its supervisor's path (None for the root).
        depth: 0 for the root, 1 for its children, ...
        kind: ``supervisor``, ``dynamic_supervisor``, ``actor`` or ``task``.
        state: ``running``, ``restarting`` or ``stopped``.
        incarnation: how many times it has been started.
        restart_count: automatic restarts so far.
        crashes: incarnations that ended abnormally (crashed or killed).
        last_crash: the last of them, if any.
        uptime_seconds: how long the current incarnation has run (None if none runs).
        restarts_in_window: a supervisor's restarts within its intensity window.
        max_restarts, max_seconds: a supervisor's restart intensity.
        children: a supervisor's children (running or not).
        mailbox_depth: an actor's queued messages now.
        mailbox_high_water: the most messages its current incarnation found queued when
            it woke up, or holds now (sampled, not checked per message).
        mailbox_capacity: its bound (None: unbounded).
        messages_handled: messages (casts and calls) its current incarnation handled.
        calls_served: calls it answered.
        events_per_second: messages handled per second since the previous snapshot
            taken by the same tree (the first: over the incarnation's uptime).
        runs_on: the cluster node its current incarnation runs on: for a placed child
            the node it was placed on, else this process's node; None without a
            cluster, or while it does not run. (The children of a placed subtree
            run on that node and are not in this tree's snapshot.)
    """

    path: str
    parent: str | None
    depth: int
    kind: NodeKind
    state: ChildState
    incarnation: int
    restart_count: int
    crashes: int
    last_crash: CrashInfo | None = None
    uptime_seconds: float | None = None
    restarts_in_window: int | None = None
    max_restarts: int | None = None
    max_seconds: float | None = None
    children: int | None = None
    mailbox_depth: int | None = None
    mailbox_high_water: int | None = None
    mailbox_capacity: int | None = None
    messages_handled: int | None = None
    calls_served: int | None = None
    events_per_second: float | None = None
    runs_on: str | None = None


class TreeSnapshot(BaseModel, frozen=True):
    """The whole running tree at one moment, as data (`Tree.snapshot`).

    Attributes:
        tree: the root supervisor's name.
        taken_at: when the snapshot was started (UTC).
        took_seconds: how long reading it took (the loop ran other work in between).
        dead_letters: messages dead-lettered since the tree started.
        nodes: every node, depth first in start order (the root first).

    .. versionadded:: 0.1
    """

    tree: str
    taken_at: datetime
    took_seconds: float
    dead_letters: int
    nodes: list[NodeSnapshot]

    def node(self, path: str) -> NodeSnapshot:
        """The node at ``path``.

        Raises:
            KeyError: no node has that path.
        """
        for node in self.nodes:
            if node.path == path:
                return node
        raise KeyError(path)


def _kind(child: Child) -> NodeKind:
    spec = child.spec
    if isinstance(spec, ChildSpec):
        return "actor"
    if isinstance(spec, TaskSpec):
        return "task"
    if isinstance(spec, DynamicSupervisorSpec):
        return "dynamic_supervisor"
    assert isinstance(spec, SupervisorSpec)
    return "supervisor"


class Rates:
    """What the previous snapshot saw per actor, for its ``events_per_second``."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        #: path -> (incarnation, messages handled, loop time)
        self._seen: dict[str, tuple[int, int, float]] = {}

    def rate(self, path: str, incarnation: int, handled: int, now: float, since: float) -> float:
        seen = self._seen.get(path)
        self._seen[path] = (incarnation, handled, now)
        if seen is not None and seen[0] == incarnation and now > seen[2]:
            return (handled - seen[1]) / (now - seen[2])
        elapsed = now - since
        return handled / elapsed if elapsed > 0 else 0.0

    def forget_except(self, paths: set[str]) -> None:
        """Drop what is remembered of nodes that are gone."""
        for path in [p for p in self._seen if p not in paths]:
            del self._seen[path]


def _read(
    child: Child, parent: str | None, depth: int, now: float, rates: Rates, here: str | None
) -> NodeSnapshot:
    """One node, read without yielding; ``here``: this process's node (None: no cluster)."""
    process = child.process
    running = process is not None and process.reason is None
    crash = child.last_crash
    node: dict[str, object] = {
        "path": child.path,
        "parent": parent,
        "depth": depth,
        "kind": _kind(child),
        "state": child.state,
        "incarnation": child.incarnation,
        "restart_count": child.restart_count,
        "crashes": child.crashes,
        "last_crash": None
        if crash is None
        else CrashInfo.model_construct(
            time=datetime.fromtimestamp(crash[0], UTC), exc_type=crash[1], message=crash[2]
        ),
        "uptime_seconds": now - child.last_started_at if running else None,
        # A placed child's process says where it runs (`PlacedProcess.node`).
        "runs_on": getattr(process, "node", here) if running else None,
    }
    if isinstance(process, Supervisor):
        stats = process.statistics()
        node["restarts_in_window"] = stats.restarts_in_window
        node["max_restarts"] = stats.max_restarts
        node["max_seconds"] = stats.max_seconds
        node["children"] = stats.children
    elif isinstance(process, ActorProcess):
        mailbox = process.mailbox
        handled = process.casts + process.calls
        node["mailbox_depth"] = len(mailbox)
        node["mailbox_high_water"] = max(mailbox.high_water, len(mailbox))
        node["mailbox_capacity"] = mailbox.statistics().capacity
        node["messages_handled"] = handled
        node["calls_served"] = process.calls
        node["events_per_second"] = (
            rates.rate(child.path, child.incarnation, handled, now, child.last_started_at)
            if running
            else None
        )
    return NodeSnapshot.model_construct(**node)  # type: ignore[arg-type]


async def take_snapshot(
    name: str, root: Child, dead_letters: DeadLetters, rates: Rates, chunk: int = CHUNK
) -> TreeSnapshot:
    """Read the tree under ``root``, yielding to the loop every ``chunk`` nodes."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    wall = time.time()
    nodes: list[NodeSnapshot] = []
    # Depth first in start order: a stack of (children left, parent path, depth).
    stack: list[tuple[list[Child], str | None, int]] = [([root], None, 0)]
    placer = placer_of(root.registry)
    here = None if placer is None else placer.node
    budget = chunk
    while stack:
        children, parent, depth = stack[-1]
        if not children:
            stack.pop()
            continue
        child = children.pop()
        now = loop.time()
        nodes.append(_read(child, parent, depth, now, rates, here))
        process = child.process
        if isinstance(process, Supervisor) and process.reason is None:
            below = list(process._children.values())
            below.reverse()  # popped from the end: start order
            stack.append((below, child.path, depth + 1))
        budget -= 1
        if budget == 0:
            budget = chunk
            await asyncio.sleep(0)
    rates.forget_except({node.path for node in nodes})
    return TreeSnapshot.model_construct(
        tree=name,
        taken_at=datetime.fromtimestamp(wall, UTC),
        took_seconds=loop.time() - started,
        dead_letters=dead_letters.count,
        nodes=nodes,
    )
