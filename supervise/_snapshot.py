"""Live introspection: the running tree as data (`Tree.snapshot`).

A snapshot is read from counters the runtime keeps anyway or keeps for this
at the cost of one integer increment per message (an actor's casts and calls;
its mailbox's high-water mark is sampled once per wake-up of the actor) and a
few fields per crash (the child slot's crash count and last crash). Nothing is
measured per message in time.

What a snapshot costs the loop. The walk reads each node into a row, a plain
tuple of strings, numbers and None, and yields to the event loop every `CHUNK`
nodes (a few milliseconds of work), so the tree goes on running meanwhile. A
row refers to nothing the garbage collector follows, so CPython stops tracking
it at the first young collection it meets: 100,000 rows never reach the old
generation, and never make the collector walk the whole heap. (A pydantic
model per node did: with 100,000 actors the heap holds about 1.3 million
tracked objects, and nearly every snapshot set off a full collection of 0.5 to
1.4 s.) `TreeSnapshot.nodes` builds each `NodeSnapshot` from its row when it
is read (`NodeRows`); the control endpoint encodes each chunk of rows to JSON
as it is read (`snapshot_json`) and never builds the models.

Consistency: each node is read in one piece, with no await in between, so its
fields agree with each other. A supervisor's children are the ones it has when
the supervisor itself is read. Nodes read in different chunks are read at
different moments (a walk of 100,000 nodes spans a second or more): a child
started after its supervisor was read is missing, and one removed since is
listed as it was when read. As Erlang's observer, which reads one process at a
time, it is a consistent view of each node, not a frozen instant of the tree.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Literal, TypeAlias, final, overload

from pydantic import BaseModel, field_serializer, field_validator

from ._child import ChildState
from ._process import ActorProcess
from ._registry import placer_of
from ._supervisor import Supervisor
from .spec import ChildSpec, DynamicSupervisorSpec, SupervisorSpec, TaskSpec

if TYPE_CHECKING:
    from ._child import Child
    from ._dead_letters import DeadLetters

#: Nodes read (or encoded) between two yields to the event loop.
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


#: One node as read: NodeSnapshot's fields in order, with ``state`` as its value
#: and ``last_crash`` as three fields (time, exception type, message). Only plain
#: values, so that the garbage collector stops tracking it (see the module's docstring).
Row: TypeAlias = tuple[
    str,  # path
    str | None,  # parent
    int,  # depth
    NodeKind,  # kind
    str,  # state
    int,  # incarnation
    int,  # restart_count
    int,  # crashes
    float | None,  # last crash: time (a Unix timestamp)
    str | None,  # last crash: exception type
    str | None,  # last crash: message
    float | None,  # uptime_seconds
    int | None,  # restarts_in_window
    int | None,  # max_restarts
    float | None,  # max_seconds
    int | None,  # children
    int | None,  # mailbox_depth
    int | None,  # mailbox_high_water
    int | None,  # mailbox_capacity
    int | None,  # messages_handled
    int | None,  # calls_served
    float | None,  # events_per_second
    str | None,  # runs_on
]

_STATES: Final = {state.value: state for state in ChildState}


def _crash(when: float, exc_type: str | None, message: str | None) -> CrashInfo:
    return CrashInfo.model_construct(
        time=datetime.fromtimestamp(when, UTC), exc_type=exc_type or "", message=message or ""
    )


def _model(row: Row) -> NodeSnapshot:
    """The `NodeSnapshot` of one row (no validation: the runtime's own values)."""
    (path, parent, depth, kind, state, incarnation, restarts, crashes) = row[:8]
    crash_time = row[8]
    return NodeSnapshot.model_construct(
        path=path,
        parent=parent,
        depth=depth,
        kind=kind,
        state=_STATES[state],
        incarnation=incarnation,
        restart_count=restarts,
        crashes=crashes,
        last_crash=None if crash_time is None else _crash(crash_time, row[9], row[10]),
        uptime_seconds=row[11],
        restarts_in_window=row[12],
        max_restarts=row[13],
        max_seconds=row[14],
        children=row[15],
        mailbox_depth=row[16],
        mailbox_high_water=row[17],
        mailbox_capacity=row[18],
        messages_handled=row[19],
        calls_served=row[20],
        events_per_second=row[21],
        runs_on=row[22],
    )


_NAMES: Final = tuple(NodeSnapshot.model_fields)
_CRASH_AT: Final = _NAMES.index("last_crash")


def _jsonable(row: Row) -> dict[str, object]:
    """One row as ``NodeSnapshot.model_dump(mode="json")`` gives it, without the model."""
    crash_time = row[8]
    values: list[object] = [*row[:8], None, *row[11:]]
    if crash_time is not None:
        values[_CRASH_AT] = _crash(crash_time, row[9], row[10]).model_dump(mode="json")
    return dict(zip(_NAMES, values, strict=True))


@final
class NodeRows(Sequence[NodeSnapshot]):
    """The nodes of a snapshot taken in this process, each built when it is read.

    A sequence of `NodeSnapshot`: ``len``, indexing, slicing, iteration and
    ``==`` with any sequence of nodes. Each read builds a new (equal) model
    from the node's row; keep the ones you need. Reading all of 100,000
    nodes builds 100,000 models (about a second of CPU): a program on the
    tree's loop should yield to it as it goes.
    """

    __slots__ = ("_rows",)

    def __init__(self, rows: list[Row]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> NodeSnapshot: ...

    @overload
    def __getitem__(self, index: slice) -> list[NodeSnapshot]: ...

    def __getitem__(self, index: int | slice) -> NodeSnapshot | list[NodeSnapshot]:
        if isinstance(index, slice):
            return [_model(row) for row in self._rows[index]]
        return _model(self._rows[index])

    def __iter__(self) -> Iterator[NodeSnapshot]:
        for row in self._rows:
            yield _model(row)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} nodes>"

    def find(self, path: str) -> NodeSnapshot | None:
        """The node at ``path``, built alone, or None."""
        for row in self._rows:
            if row[0] == path:
                return _model(row)
        return None


class TreeSnapshot(BaseModel, frozen=True):
    """The whole running tree at one moment, as data (`Tree.snapshot`).

    Attributes:
        tree: the root supervisor's name.
        taken_at: when the snapshot was started (UTC).
        took_seconds: how long reading it took (the loop ran other work in between).
        dead_letters: messages dead-lettered since the tree started.
        nodes: every node, depth first in start order (the root first). From
            `Tree.snapshot` each `NodeSnapshot` is built when it is read; from
            JSON (``model_validate_json``) it is a list.

    .. versionadded:: 0.1
    """

    tree: str
    taken_at: datetime
    took_seconds: float
    dead_letters: int
    nodes: Sequence[NodeSnapshot]

    @field_validator("nodes", mode="before")
    @classmethod
    def _rows_as_list(cls, nodes: object) -> object:
        # Another snapshot's nodes (TreeSnapshot(**snap)): validated as the models they are.
        return list(nodes) if isinstance(nodes, NodeRows) else nodes

    @field_serializer("nodes")
    def _nodes_as_list(self, nodes: Sequence[NodeSnapshot]) -> list[NodeSnapshot]:
        return nodes if isinstance(nodes, list) else list(nodes)

    def node(self, path: str) -> NodeSnapshot:
        """The node at ``path``.

        Raises:
            KeyError: no node has that path.
        """
        nodes = self.nodes
        if isinstance(nodes, NodeRows):
            found = nodes.find(path)
            if found is not None:
                return found
            raise KeyError(path)
        for node in nodes:
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


#: What the previous snapshot saw of each actor: path -> (incarnation, messages
#: handled, loop time), for its ``events_per_second``.
Seen: TypeAlias = dict[str, tuple[int, int, float]]


class Rates:
    """What a tree's previous snapshot saw, for the next one's ``events_per_second``."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen: Seen = {}

    def forget_before(self, started: float) -> None:
        """Forget the actors the snapshot that started at ``started`` did not see."""
        seen = self.seen
        for path in [path for path, (_, _, at) in seen.items() if at < started]:
            del seen[path]


def _read(
    child: Child, parent: str | None, depth: int, now: float, seen: Seen, here: str | None
) -> Row:
    """One node, read without yielding; ``here``: this process's node (None: no cluster)."""
    process = child.process
    running = process is not None and process.reason is None
    crash = child.last_crash
    in_window: int | None = None
    max_restarts: int | None = None
    max_seconds: float | None = None
    children: int | None = None
    queued: int | None = None
    high_water: int | None = None
    capacity: int | None = None
    handled: int | None = None
    calls: int | None = None
    rate: float | None = None
    if isinstance(process, Supervisor):
        spec = process.spec
        # Not `statistics()`: it counts the running children, 100,000 for a big pool.
        in_window = process.restarts_in_window(now)
        max_restarts, max_seconds = spec.max_restarts, spec.max_seconds
        children = len(process.child_slots())
    elif isinstance(process, ActorProcess):
        mailbox = process.mailbox
        queued = len(mailbox)
        high_water = max(mailbox.high_water, queued)
        capacity = mailbox.statistics().capacity
        calls = process.calls
        handled = process.casts + calls
        if running:
            path = child.path
            before = seen.get(path)
            seen[path] = (child.incarnation, handled, now)
            if before is not None and before[0] == child.incarnation and now > before[2]:
                rate = (handled - before[1]) / (now - before[2])
            else:
                elapsed = now - child.last_started_at
                rate = handled / elapsed if elapsed > 0 else 0.0
    return (
        child.path,
        parent,
        depth,
        _kind(child),
        child.state.value,
        child.incarnation,
        child.restart_count,
        child.crashes,
        None if crash is None else crash[0],
        None if crash is None else crash[1],
        None if crash is None else crash[2],
        now - child.last_started_at if running else None,
        in_window,
        max_restarts,
        max_seconds,
        children,
        queued,
        high_water,
        capacity,
        handled,
        calls,
        rate,
        # A placed child's process says where it runs (`PlacedProcess.node`).
        getattr(process, "node", here) if running else None,
    )


async def _walk(
    root: Child, rates: Rates, chunk: int, sink: Callable[[list[Row]], None]
) -> tuple[float, float]:
    """Read the tree under ``root``, handing ``sink`` each ``chunk`` rows and then yielding.

    Returns when it started (Unix time) and how long it took.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    wall = time.time()
    rows: list[Row] = []
    seen = rates.seen
    placer = placer_of(root.registry)
    here = None if placer is None else placer.node
    actors = 0
    # Depth first in start order: a stack of (children left, parent path, depth).
    stack: list[tuple[list[Child], str | None, int]] = [([root], None, 0)]
    while stack:
        children, parent, depth = stack[-1]
        if not children:
            stack.pop()
            continue
        child = children.pop()
        rows.append(_read(child, parent, depth, loop.time(), seen, here))
        process = child.process
        actors += isinstance(process, ActorProcess) and process.reason is None
        if isinstance(process, Supervisor) and process.reason is None:
            below = list(process.child_slots())
            below.reverse()  # popped from the end: start order
            stack.append((below, child.path, depth + 1))
        if len(rows) == chunk:
            sink(rows)
            rows = []
            await asyncio.sleep(0)
    sink(rows)
    if len(seen) > actors:  # some are gone (a pass over all of them: only then)
        rates.forget_before(started)
    return wall, loop.time() - started


async def take_snapshot(
    name: str, root: Child, dead_letters: DeadLetters, rates: Rates, chunk: int = CHUNK
) -> TreeSnapshot:
    """Read the tree under ``root``, yielding to the loop every ``chunk`` nodes."""
    rows: list[Row] = []
    wall, took = await _walk(root, rates, chunk, rows.extend)
    return TreeSnapshot.model_construct(
        tree=name,
        taken_at=datetime.fromtimestamp(wall, UTC),
        took_seconds=took,
        dead_letters=dead_letters.count,
        nodes=NodeRows(rows),
    )


_DUMPS: Final = json.JSONEncoder(separators=(",", ":")).encode


async def snapshot_json(
    name: str, root: Child, dead_letters: DeadLetters, rates: Rates, chunk: int = CHUNK
) -> list[bytes]:
    """A snapshot as JSON pieces (the control endpoint's reply), read and encoded in chunks.

    What ``take_snapshot(...).model_dump_json()`` gives, with ``nodes`` first,
    but without a model per node and without holding the rows: each chunk is
    encoded as it is read and then dropped. 100,000 nodes are about 45 MB of
    JSON, in pieces of ``chunk`` nodes that are written one by one.
    """
    pieces: list[bytes] = [b'{"nodes":[']

    def encode(rows: list[Row]) -> None:
        if rows:
            if len(pieces) > 1:
                pieces.append(b",")
            pieces.append(_DUMPS([_jsonable(row) for row in rows])[1:-1].encode())

    wall, took = await _walk(root, rates, chunk, encode)
    head = TreeSnapshot.model_construct(
        tree=name,
        taken_at=datetime.fromtimestamp(wall, UTC),
        took_seconds=took,
        dead_letters=dead_letters.count,
        nodes=[],
    ).model_dump(mode="json", exclude={"nodes"})
    pieces.append(b"]," + _DUMPS(head)[1:].encode())
    return pieces
