"""The loop watchdog: a thread that sees the event loop blocked and names who blocks it.

asyncio cannot preempt: a handler that computes for a second (or calls
``time.sleep``) stops every actor on its event loop. The watchdog cannot stop
it either, but it makes it seen. A thread pings the loop (a
``call_soon_threadsafe`` callback) a few times per block threshold; a ping
still unanswered after the threshold means the loop has not turned for that
long. The thread then names whoever runs: the task the loop is running
(``asyncio.current_task(loop)``, a dict lookup), which for a tree's child is
its process's task, named after its path; and for an actor the message in hand
(`ActorProcess.handling`, one plain store per message: no lock and no timer on
the hot path). It logs ``event_loop_blocked`` with the loop thread's stack
(``sys._current_frames``). Once the ping is answered, ``event_loop_unblocked``
is logged on the loop with the total, the child's block statistics are
updated, and an actor with ``on_block: crash`` crashes once its handler
returns.

Durations are measured from the ping, so they are lower bounds, short by at
most a quarter threshold (the pause between pings).

The pings follow the smallest block threshold in use: the watchdog follows
each tree's child slots as they come and go (dynamic children too), so a
child started with a smaller threshold is watched at its own pace at once,
and the pace goes back up when the last such child is gone.

One watchdog thread serves every tree with the watchdog on that runs on a
loop; it stops when the last of them ends.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Final

from . import _log
from ._errors import LoopBlockedError
from ._process import ActorProcess, Call, Process
from ._reason import ExitKind, ExitReason
from ._registry import slot_at, watch_slots
from .events import Event
from .spec import ChildSpec, OnBlock

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._child import Child
    from ._registry import Registry
    from .spec import DynamicSupervisorSpec, SupervisorSpec

#: The block threshold of a tree whose specs set none, in seconds.
DEFAULT_BLOCK_THRESHOLD: Final = 0.1

#: The reason detail of an actor crashed by ``on_block: crash``.
BLOCKED_LOOP: Final = "blocked_loop"


class _Watched:
    """One attached tree, and the block thresholds its child slots set.

    Slots are followed through the registry (`watch_slots`); a slot entered
    again (adopted by a restarted supervisor) replaces its count. Distinct
    thresholds are few, so the smallest is found over `counts`, not the slots.
    """

    __slots__ = ("counts", "default", "name", "of", "registry", "unwatch")

    def __init__(self, name: str, registry: Registry, default: float) -> None:
        self.name = name
        self.registry = registry
        #: The threshold of a child that sets none anywhere above it (the root's, or 0.1 s).
        self.default = default
        #: The slots that set a threshold, and how many set each one.
        self.of: dict[Child, float] = {}
        self.counts: dict[float, int] = {}
        self.unwatch: Callable[[], None] | None = None

    def smallest(self) -> float:
        return min(self.default, *self.counts) if self.counts else self.default

    def slot(self, child: Child, entered: bool) -> bool:
        """Count ``child`` in (or out); True if the counts changed."""
        old = self.of.pop(child, None)
        if old is not None:
            left = self.counts[old] - 1
            if left:
                self.counts[old] = left
            else:
                del self.counts[old]
        new: float | None = getattr(child.spec, "block_threshold", None) if entered else None
        if new is not None:
            self.of[child] = new
            self.counts[new] = self.counts.get(new, 0) + 1
        return old != new


def threshold_of(child: Child) -> float:
    """A child's block threshold: its own, else the nearest supervisor's above it."""
    slot: Child | None = child
    while slot is not None:
        threshold: float | None = getattr(slot.spec, "block_threshold", None)
        if threshold is not None:
            return threshold
        supervisor = slot.supervisor
        slot = supervisor.child if supervisor is not None else None
    return DEFAULT_BLOCK_THRESHOLD


class _Block:
    """Who the loop is running while it is blocked."""

    __slots__ = ("child", "message_type", "name", "on_block", "process", "threshold", "tree")

    def __init__(
        self,
        name: str,
        tree: str,
        threshold: float,
        child: Child | None = None,
        process: Process | None = None,
    ) -> None:
        self.name = name
        self.tree = tree
        self.threshold = threshold
        self.child = child
        self.process = process
        self.message_type: str | None = None
        self.on_block = OnBlock.WARN
        if child is not None and isinstance(child.spec, ChildSpec):
            self.on_block = child.spec.on_block
        if isinstance(process, ActorProcess):
            item = process.handling
            if type(item) is Call:
                item = item.message
            if item is not None:
                self.message_type = type(item).__qualname__


class LoopWatchdog:
    """The watchdog thread of one event loop; trees `attach` to it and `detach`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()
        #: The attached trees.
        self._trees: list[_Watched] = []
        #: The smallest threshold in use: how soon the thread must look (it reads it).
        self._threshold = DEFAULT_BLOCK_THRESHOLD
        self._answered = threading.Event()
        self._stopping = threading.Event()
        #: Cuts the thread's pause short: a smaller threshold, or the stop.
        self._nudge = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="supervise-loop-watchdog", daemon=True
        )

    # -- on the loop ---------------------------------------------------------------------

    def _attach(self, name: str, registry: Registry, default: float) -> None:
        watched = _Watched(name, registry, default)
        self._trees = [*self._trees, watched]

        def slot(child: Child, entered: bool) -> None:
            if watched.slot(child, entered):
                self._retune()

        watched.unwatch = watch_slots(registry, slot)
        self._retune()
        if not self._thread.is_alive():
            self._thread.start()

    def _detach(self, registry: Registry) -> bool:
        """Forget a tree; True (and the thread told to stop) if it was the last."""
        for watched in self._trees:
            if watched.registry is registry and watched.unwatch is not None:
                watched.unwatch()
        self._trees = [watched for watched in self._trees if watched.registry is not registry]
        if self._trees:
            self._retune()
            return False
        self._stopping.set()
        self._nudge.set()
        return True

    def _retune(self) -> None:
        """Ping at the pace of the smallest threshold in use; a smaller one applies at once."""
        threshold = min(watched.smallest() for watched in self._trees)
        if threshold < self._threshold:
            # We run on the loop, so it turns: the ping in flight counts as answered,
            # and the thread's wait (at the old pace) ends now.
            self._answered.set()
            self._nudge.set()
        self._threshold = threshold

    def _unblocked(self, block: _Block, total: float) -> None:
        child = block.child
        if child is not None:
            child.blocks += 1
            child.longest_block = max(child.longest_block, total)
        _log.emit(
            Event.EVENT_LOOP_UNBLOCKED,
            actor=block.name,
            tree=block.tree,
            blocked_seconds=round(total, 6),
            on_block=block.on_block.value,
        )
        process = block.process
        if (
            block.on_block is OnBlock.CRASH
            and isinstance(process, ActorProcess)
            and process.reason is None
        ):
            error = LoopBlockedError(process.path, total)
            process.crash_after_handler(ExitReason(ExitKind.CRASH, BLOCKED_LOOP, error))

    # -- on the watchdog thread ----------------------------------------------------------

    def _run(self) -> None:
        loop, answered, stopping, nudge = self._loop, self._answered, self._stopping, self._nudge
        while not stopping.is_set():
            nudge.clear()
            threshold = self._threshold
            answered.clear()
            sent = time.monotonic()
            try:
                loop.call_soon_threadsafe(answered.set)
            except RuntimeError:  # the loop is closed
                return
            if answered.wait(threshold):
                nudge.wait(threshold / 4)
            else:
                self._watch_block(sent)

    def _watch_block(self, sent: float) -> None:
        """The loop has not turned since ``sent``: report it, then wait for it to turn."""
        answered, stopping = self._answered, self._stopping
        block: _Block | None = None
        reported = False
        while not stopping.is_set():
            if not reported:
                block = self._who()
                blocked = time.monotonic() - sent
                if blocked >= block.threshold:
                    reported = True
                    self._report(block, blocked)
            if answered.wait(max(self._threshold / 4, 0.001)):
                break
        else:
            return
        if reported and block is not None:
            total = time.monotonic() - sent
            try:
                self._loop.call_soon_threadsafe(self._unblocked, block, total)
            except RuntimeError:
                pass  # the loop was closed meanwhile: nobody is left to tell

    def _who(self) -> _Block:
        task = asyncio.current_task(self._loop)
        name = "-" if task is None else task.get_name()
        trees = self._trees
        for watched in trees:
            child = slot_at(watched.registry, name)
            if child is None:
                continue
            process = child.process
            if process is not None and process.task is task:
                return _Block(name, watched.name, threshold_of(child), child, process)
        return _Block(name, trees[0].name if trees else "-", self._threshold)

    def _report(self, block: _Block, blocked: float) -> None:
        frame = sys._current_frames().get(self._loop_thread)
        stack = "".join(traceback.format_stack(frame)) if frame is not None else ""
        fields: dict[str, object] = {}
        if block.message_type is not None:
            fields["message_type"] = block.message_type
        _log.emit(
            Event.EVENT_LOOP_BLOCKED,
            actor=block.name,
            tree=block.tree,
            blocked_seconds=round(blocked, 6),
            threshold=block.threshold,
            stack=stack,
            **fields,
        )


_watchdogs: dict[asyncio.AbstractEventLoop, LoopWatchdog] = {}


def attach(
    name: str, registry: Registry, spec: SupervisorSpec | DynamicSupervisorSpec
) -> LoopWatchdog:
    """Watch this loop for a tree (starting the loop's watchdog thread if needed)."""
    loop = asyncio.get_running_loop()
    watchdog = _watchdogs.get(loop)
    if watchdog is None:
        watchdog = _watchdogs[loop] = LoopWatchdog(loop)
    default = DEFAULT_BLOCK_THRESHOLD if spec.block_threshold is None else spec.block_threshold
    watchdog._attach(name, registry, default)
    return watchdog


def detach(watchdog: LoopWatchdog, registry: Registry) -> None:
    """Stop watching for a tree; the last tree on a loop stops its thread."""
    if watchdog._detach(registry) and _watchdogs.get(watchdog._loop) is watchdog:
        del _watchdogs[watchdog._loop]
