"""Prometheus exposition of the trees that count metrics (the ``metrics`` extra).

Imported only by a tree opened with ``metrics=`` or ``http=``: it imports
prometheus-client, which is not otherwise needed. One collector, registered
once in prometheus-client's default registry (``prometheus_client.REGISTRY``),
reports every such tree of the process; whatever already serves that registry
(``prometheus_client.start_http_server``, its ASGI app, the tree's own
``http=`` endpoint) serves the trees too.

A scrape reads each tree on the tree's own event loop: from another thread (as
prometheus-client's HTTP servers and the ``http=`` endpoint scrape) it asks the
loop for a reading made in chunks between which the loop runs on, and waits up
to `READ_TIMEOUT` seconds; from the loop's own thread it reads the tree at once.

Families (``path``: the tree path; ``<dynamic supervisor>/*`` for its children
counted together):

- ``supervise_restarts_total{path}``, ``supervise_crashes_total{path}``: counters.
- ``supervise_mailbox_depth{path}``: an actor's queued messages now (the sum over
  aggregated children).
- ``supervise_children{path}``: a supervisor's children now.
- ``supervise_call_duration_seconds{path}``: a histogram of calls answered, from
  sending to the reply (from the first call answered on).
- ``supervise_dead_letters_total{tree,cause}``: messages dead-lettered.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import REGISTRY, Collector

from ._errors import UsageError
from ._metrics import BUCKETS

if TYPE_CHECKING:
    from ._metrics import Reading, TreeMetrics

#: Seconds a scrape from another thread waits for a tree's loop to read it.
READ_TIMEOUT: Final[float] = 10.0

#: The causes of `DeadLetter`, exported at 0 before the first (rates work from the start).
_CAUSES: Final = frozenset({"not_running", "actor_stopped", "mailbox_full"})

#: The histogram's ``le`` labels, as prometheus-client writes them (``0.0001``, ``1.0``).
_LABELS: Final = (*(str(bound) for bound in BUCKETS), "+Inf")


def _families() -> tuple[
    CounterMetricFamily,
    CounterMetricFamily,
    GaugeMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    CounterMetricFamily,
]:
    return (
        CounterMetricFamily(
            "supervise_restarts",
            "Automatic restarts of the child at path (for <dynamic supervisor>/*: of its "
            "children together).",
            labels=["path"],
        ),
        CounterMetricFamily(
            "supervise_crashes",
            "Incarnations of the child at path that ended abnormally (crashed or killed).",
            labels=["path"],
        ),
        GaugeMetricFamily(
            "supervise_mailbox_depth",
            "Messages queued in the actor's mailbox now (for <dynamic supervisor>/*: in all "
            "its children's).",
            labels=["path"],
        ),
        GaugeMetricFamily(
            "supervise_children", "Children of the supervisor at path now.", labels=["path"]
        ),
        HistogramMetricFamily(
            "supervise_call_duration_seconds",
            "Calls answered by the actor at path, from the call being sent to the reply.",
            labels=["path"],
        ),
        CounterMetricFamily(
            "supervise_dead_letters",
            "Messages the tree could not deliver, by cause.",
            labels=["tree", "cause"],
        ),
    )


def families(readings: Iterable[Reading]) -> list[Metric]:
    """The metric families of ``readings``."""
    restarts, crashes, depth, children, calls, dead = _families()
    for reading in readings:
        for row in reading.rows:
            labels = [row.path]
            restarts.add_metric(labels, row.restarts)
            crashes.add_metric(labels, row.crashes)
            if row.mailbox_depth is not None:
                depth.add_metric(labels, row.mailbox_depth)
            if row.children is not None:
                children.add_metric(labels, row.children)
            if row.buckets is not None:  # from the first call answered on (as a labelled
                # prometheus-client histogram): an idle actor costs 4 lines, not 21
                cumulative: list[tuple[str, float]] = []
                total = 0
                for label, count in zip(_LABELS, row.buckets, strict=True):
                    total += count
                    cumulative.append((label, total))
                calls.add_metric(labels, cumulative, row.call_seconds)
        for cause in sorted(_CAUSES.union(reading.dead_letters)):
            dead.add_metric([reading.tree, cause], reading.dead_letters.get(cause, 0))
    return [restarts, crashes, depth, children, calls, dead]


def _read(tree: TreeMetrics) -> Reading:
    """Read ``tree`` on its loop, from whichever thread asks."""
    loop = tree.loop
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is None or running is loop or not loop.is_running():
        return tree.read_now()
    reading = asyncio.run_coroutine_threadsafe(tree.read(), loop)
    try:
        return reading.result(READ_TIMEOUT)
    except TimeoutError:
        reading.cancel()  # the loop is blocked or busy: the scrape fails, the walk stops
        raise


class TreesCollector(Collector):
    """The trees of this process that count metrics, for prometheus-client's registry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trees: dict[str, TreeMetrics] = {}

    def add(self, tree: TreeMetrics) -> None:
        """Report ``tree`` from now on.

        Raises:
            UsageError: a running tree of the same name reports metrics already.
        """
        with self._lock:
            if tree.name in self._trees:
                raise UsageError(
                    f"open_tree({tree.name!r}, metrics=...)",
                    f"a running tree named {tree.name!r} exports metrics already, and the "
                    "paths would be the same; give the root supervisors different names",
                )
            self._trees[tree.name] = tree

    def remove(self, tree: TreeMetrics) -> None:
        """Stop reporting ``tree`` (it has ended)."""
        with self._lock:
            if self._trees.get(tree.name) is tree:
                del self._trees[tree.name]

    def describe(self) -> list[Metric]:
        """The families without samples: registering never reads a tree."""
        return list(_families())

    def collect(self) -> list[Metric]:
        with self._lock:
            trees = list(self._trees.values())
        return families(_read(tree) for tree in trees)


#: The collector registered in ``prometheus_client.REGISTRY`` (once, at import).
COLLECTOR: Final = TreesCollector()
REGISTRY.register(COLLECTOR)
