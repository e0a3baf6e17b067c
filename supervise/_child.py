"""A supervisor's record of one child slot.

The slot outlives incarnations: each (re)start puts a new process in it, and
the child's `ActorRef`/`SupervisorRef` addresses the slot, so refs stay valid
across restarts.
"""

from __future__ import annotations

import asyncio
import enum
from typing import TYPE_CHECKING

from ._ref import ActorRef, SupervisorRef
from ._task import TaskRef
from .spec import AnyChildSpec, ChildSpec, Overflow, TaskSpec

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ._dead_letters import DeadLetters
    from ._deadlines import _Bucket
    from ._metrics import NodeMetrics
    from ._process import Process
    from ._registry import Registry
    from ._supervisor import Supervisor


def _ref_class(spec: AnyChildSpec) -> type[ActorRef[object] | SupervisorRef | TaskRef]:
    if isinstance(spec, ChildSpec):
        return ActorRef
    return TaskRef if isinstance(spec, TaskSpec) else SupervisorRef


class ChildState(enum.StrEnum):
    """Where a child slot stands."""

    #: An incarnation is running.
    RUNNING = "running"
    #: Nothing runs (it ended and is not restarted, or was terminated).
    STOPPED = "stopped"
    #: It exited and its restart is pending (backoff, or a failed start being retried).
    RESTARTING = "restarting"


class Child:
    """One child slot of a supervisor."""

    __slots__ = (
        "accepts",
        "blocks",
        "copy_types",
        "crashes",
        "dead_letters",
        "fail_when_full",
        "failures",
        "incarnation",
        "last_crash",
        "last_started_at",
        "longest_block",
        "loop",
        "metrics",
        "name",
        "path",
        "process",
        "ref",
        "registry",
        "restart_count",
        "restarting",
        "running_waiters",
        "share_types",
        "spec",
        "supervisor",
        "timeouts",
    )

    path: str
    name: str
    spec: AnyChildSpec
    supervisor: Supervisor | None
    registry: Registry
    dead_letters: DeadLetters
    restart_count: int
    incarnation: int
    restarting: bool
    failures: int
    last_started_at: float
    blocks: int
    longest_block: float
    #: The message types its actor accepts, and which of them are shared or copied.
    accepts: tuple[type[BaseModel], ...]
    share_types: frozenset[type]
    copy_types: frozenset[type]
    fail_when_full: bool

    def __init__(
        self,
        spec: AnyChildSpec,
        path: str,
        supervisor: Supervisor | None,
        registry: Registry,
        dead_letters: DeadLetters,
    ) -> None:
        self.path = path
        self.registry = registry
        self.dead_letters = dead_letters
        #: The running incarnation, or None.
        self.process: Process | None = None
        self.restart_count = 0
        self.incarnation = 0
        self.restarting = False
        #: Consecutive failures, for backoff; reset after a long enough run.
        self.failures = 0
        self.last_started_at = 0.0
        #: Incarnations that ended abnormally (crashed or killed), and the last such
        #: end: (wall-clock time, exception type or ``killed``, message), for live
        #: introspection (`Tree.snapshot`).
        self.crashes: int = 0
        self.last_crash: tuple[float, str, str] | None = None
        #: Times its code blocked the event loop past its threshold (the loop
        #: watchdog), and the longest such block in seconds, over all incarnations.
        self.blocks = 0
        self.longest_block = 0.0
        #: What it counts for the tree's metrics (None: the tree exports none); set
        #: by its supervisor when the slot is added, shared by a dynamic supervisor's
        #: children (see `supervise._metrics`).
        self.metrics: NodeMetrics | None = None
        #: The call-timeout bucket its callers used last (`ActorRef.call`): calls
        #: mostly use one timeout, and the slot lives on one loop.
        self.timeouts: _Bucket | None = None
        #: The event loop its incarnations run on, once the first one started: read
        #: there rather than asked of asyncio (`asyncio.get_running_loop` costs a
        #: getpid() system call on CPython 3.11, about 0.2 µs of every restart).
        self.loop: asyncio.AbstractEventLoop | None = None
        #: Futures of ``ref.wait_running()`` callers, woken by `wake_running`.
        self.running_waiters: list[asyncio.Future[None]] | None = None
        self.ref: ActorRef[object] | SupervisorRef | TaskRef
        self.adopt(spec, supervisor)
        self.ref = _ref_class(spec)(self)

    def adopt(
        self,
        spec: AnyChildSpec,
        supervisor: Supervisor | None,
    ) -> None:
        """(Re)attach the slot to a supervisor incarnation and a spec.

        A restarted supervisor adopts the slots its previous incarnation left at
        the same paths, so refs to children stay valid across subtree restarts.
        """
        self.spec = spec
        self.name = spec.name
        self.supervisor = supervisor
        self.restarting = False
        if isinstance(spec, ChildSpec):
            actor = spec.actor
            self.accepts = actor.accepts
            self.share_types = actor._share_types
            self.copy_types = actor._copy_types
            self.fail_when_full = spec.mailbox.overflow is Overflow.FAIL
        else:
            self.accepts = ()
            self.share_types = frozenset()
            self.copy_types = frozenset()
            self.fail_when_full = False

    def wake_running(self) -> None:
        """An incarnation runs now: wake the ``wait_running`` callers (the supervisor calls it)."""
        waiters, self.running_waiters = self.running_waiters, None
        for future in waiters or ():
            if not future.done():
                future.set_result(None)

    @property
    def state(self) -> ChildState:
        process = self.process
        if process is not None and process.reason is None:
            return ChildState.RUNNING
        return ChildState.RESTARTING if self.restarting else ChildState.STOPPED

    def can_adopt(self, spec: AnyChildSpec) -> bool:
        """Whether ``spec`` may take over this slot: its refs must keep their type."""
        return _ref_class(spec) is type(self.ref)

    @property
    def is_supervisor(self) -> bool:
        return _ref_class(self.spec) is SupervisorRef

    def __repr__(self) -> str:
        return f"<Child {self.path} {self.state.value} incarnation={self.incarnation}>"
