"""Metrics of a running tree: what is counted while it runs, and how it is read.

Counted only in a tree opened with ``metrics=`` (or ``http=``), per child slot
in a `NodeMetrics`:

- crashes and restarts: one increment each, when they happen;
- an actor's call latencies, from the call being sent to the reply being set,
  in a histogram of fixed buckets: the caller stamps the call envelope with
  the clock, the actor adds the time taken once it has replied (two clock
  reads, a bisection and two increments per call).

The children of a dynamic supervisor, and the subtrees of those that are
supervisors, share one `NodeMetrics`, exported under the path
``<supervisor>/*`` (``MetricsOptions.aggregate_dynamic``, the default): the
number of series stays that of the spec however many children come and go,
and the counts of children that ended for good are kept.

Mailbox depths, children counts and dead letters are read when scraped, by
`TreeMetrics.read`, which walks the tree yielding to the loop every `CHUNK`
nodes. A tree opened without metrics pays one attribute test per call
(``Child.metrics is None``) and nothing else.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

from ._process import ActorProcess
from ._supervisor import Supervisor
from .spec import ChildSpec, DynamicSupervisorSpec, TaskSpec

if TYPE_CHECKING:
    from ._child import Child
    from ._dead_letters import DeadLetters

#: Upper bounds (seconds, inclusive) of the call-latency histogram's buckets; one more
#: bucket counts the slower calls (``+Inf``).
BUCKETS: Final[tuple[float, ...]] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

#: Nodes read between two yields to the event loop.
CHUNK: Final[int] = 1000


@final
@dataclass(frozen=True, slots=True)
class MetricsOptions:
    """What `open_tree` exports as Prometheus metrics (``open_tree(spec, metrics=...)``).

    Attributes:
        aggregate_dynamic: count the children of each dynamic supervisor together,
            under the path ``<supervisor>/*`` (their restarts, crashes, mailbox
            depths and call latencies), so that the number of series does not grow
            with the children. False: one series per child, which come and go
            with the children.

    .. versionadded:: 0.1
    """

    aggregate_dynamic: bool = True


class NodeMetrics:
    """What a child slot (or the children of a dynamic supervisor) counted so far."""

    __slots__ = ("buckets", "call_seconds", "crashes", "group", "restarts")

    def __init__(self, group: bool = False) -> None:
        #: Shared by the children of a dynamic supervisor (and their subtrees).
        self.group: bool = group
        self.crashes: int = 0
        self.restarts: int = 0
        #: Calls answered per bucket of `BUCKETS` (not cumulative), the last one
        #: past the largest bound; None until the first call.
        self.buckets: list[int] | None = None
        self.call_seconds: float = 0.0

    def observe(self, seconds: float) -> None:
        """One call answered ``seconds`` after it was sent."""
        buckets = self.buckets
        if buckets is None:
            buckets = self.buckets = [0] * (len(BUCKETS) + 1)
        buckets[bisect_left(BUCKETS, seconds)] += 1
        self.call_seconds += seconds


@dataclass(frozen=True, slots=True)
class Row:
    """One exported path at the moment it was read.

    ``kind`` is ``supervisor``, ``dynamic_supervisor``, ``actor``, ``task`` or
    ``children`` (the aggregated children of a dynamic supervisor, ``path`` ending
    in ``/*``). ``mailbox_depth`` is None where there is no mailbox; ``children``
    is a supervisor's children now; ``buckets`` is None before the first call.
    """

    path: str
    kind: str
    restarts: int
    crashes: int
    mailbox_depth: int | None
    children: int | None
    buckets: tuple[int, ...] | None
    call_seconds: float


@dataclass(frozen=True, slots=True)
class Reading:
    """A whole tree's metrics, read on its loop: handed to a scrape in another thread."""

    tree: str
    rows: list[Row]
    dead_letters: dict[str, int]


def _kind(child: Child) -> str:
    spec = child.spec
    if isinstance(spec, ChildSpec):
        return "actor"
    if isinstance(spec, TaskSpec):
        return "task"
    return "dynamic_supervisor" if isinstance(spec, DynamicSupervisorSpec) else "supervisor"


def _counts(metrics: NodeMetrics | None) -> tuple[int, int, tuple[int, ...] | None, float]:
    if metrics is None:
        return 0, 0, None, 0.0
    buckets = metrics.buckets
    return (
        metrics.restarts,
        metrics.crashes,
        None if buckets is None else tuple(buckets),
        metrics.call_seconds,
    )


def _depth(child: Child) -> int:
    """An actor's queued messages now (0 while nothing runs)."""
    process = child.process
    if isinstance(process, ActorProcess) and process.reason is None:
        return len(process.mailbox)
    return 0


@final
class TreeMetrics:
    """One tree's metrics: the options, the aggregated groups, and the reading walk.

    Given to the root supervisor (``Supervisor.metrics``), whose children and
    their supervisors pass it on; each new child slot gets its `NodeMetrics`
    from `for_child`.
    """

    __slots__ = ("aggregate_dynamic", "dead_letters", "groups", "loop", "name", "root")

    def __init__(
        self, name: str, root: Child, dead_letters: DeadLetters, options: MetricsOptions
    ) -> None:
        self.name: str = name
        self.root: Child = root
        self.dead_letters: DeadLetters = dead_letters
        self.aggregate_dynamic: bool = options.aggregate_dynamic
        #: A dynamic supervisor's path -> what its children counted together.
        self.groups: dict[str, NodeMetrics] = {}
        #: The loop the tree runs on, set when it starts.
        self.loop: asyncio.AbstractEventLoop | None = None
        root.metrics = NodeMetrics()

    def for_child(self, supervisor: Supervisor) -> NodeMetrics:
        """The `NodeMetrics` a new child slot of ``supervisor`` counts into."""
        if not self.aggregate_dynamic:
            return NodeMetrics()
        above = supervisor.child.metrics
        if above is not None and above.group:  # inside a dynamic supervisor's subtree
            return above
        if isinstance(supervisor.spec, DynamicSupervisorSpec):
            group = self.groups.get(supervisor.path)
            if group is None:
                group = self.groups[supervisor.path] = NodeMetrics(group=True)
            return group
        return NodeMetrics()

    def _rows(self) -> Iterator[Row | None]:
        """Every exported path, depth first in start order; None where the walk may pause."""
        budget = CHUNK
        stack: list[list[Child]] = [[self.root]]
        while stack:
            children = stack[-1]
            if not children:
                stack.pop()
                continue
            child = children.pop()
            process = child.process
            below: list[Child] = []
            if isinstance(process, Supervisor) and process.reason is None:
                below = list(process.child_slots())
            restarts, crashes, buckets, seconds = _counts(child.metrics)
            kind = _kind(child)
            yield Row(
                child.path,
                kind,
                restarts,
                crashes,
                _depth(child) if kind == "actor" else None,
                len(below) if kind.endswith("supervisor") else None,
                buckets,
                seconds,
            )
            if kind == "dynamic_supervisor" and self.aggregate_dynamic:
                # The whole subtree below, counted together: only the mailboxes to add up.
                depth = read = 0
                while below:
                    member = below.pop()
                    depth += _depth(member)
                    process = member.process
                    if isinstance(process, Supervisor) and process.reason is None:
                        below.extend(process.child_slots())
                    read += 1
                    if read % CHUNK == 0:
                        yield None
                restarts, crashes, buckets, seconds = _counts(self.groups.get(child.path))
                yield Row(
                    f"{child.path}/*", "children", restarts, crashes, depth, None, buckets, seconds
                )
            elif below:
                below.reverse()  # popped from the end: start order
                stack.append(below)
            budget -= 1
            if budget <= 0:
                budget = CHUNK
                yield None

    def read_now(self) -> Reading:
        """Read the whole tree without yielding (on the tree's loop, or with it stopped)."""
        rows = [row for row in self._rows() if row is not None]
        return Reading(self.name, rows, dict(self.dead_letters.by_cause))

    async def read(self) -> Reading:
        """Read the whole tree on its loop, yielding to it every `CHUNK` nodes."""
        rows: list[Row] = []
        for row in self._rows():
            if row is None:
                await asyncio.sleep(0)
            else:
                rows.append(row)
        return Reading(self.name, rows, dict(self.dead_letters.by_cause))
