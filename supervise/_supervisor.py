"""Supervisors: start children in order, restart them by strategy, stop them in reverse.

A supervisor is itself a process: one task that takes child exits and API
requests from a single inbox and handles them one at a time, starting and
stopping children inline. This reproduces OTP's ordering guarantees: while a
supervisor restarts or terminates children it answers nothing else, and a
child's exit is handled only after everything queued before it.

Giving up (restart intensity exceeded) ends the supervisor with reason
``shutdown`` (detail ``reached_max_restart_intensity``), as in OTP: a
permanent parent entry restarts it, a transient one leaves it stopped. An
unexpected error inside the supervisor itself is a crash: its children are
stopped in reverse order and the crash escalates like any other.

Where we differ from OTP on purpose:

- The intensity window uses exact float seconds (see `RestartIntensity`).
- ``which_children`` lists children in start order; OTP lists newest first.
- Restarts can be delayed by an optional `Backoff`; OTP retries at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar

from pydantic import TypeAdapter, ValidationError

from . import _log
from ._child import Child, ChildState
from ._errors import (
    ActorExitedError,
    ActorNotRunningError,
    ChildError,
    ChildNotFoundError,
    RestartIntensityExceeded,
    SpecError,
    StartError,
    SuperviseError,
)
from ._mailbox import Mailbox, MailboxClosed
from ._operations import Operation, StartChild
from ._process import LoopProcess, Process
from ._reason import (
    SHUTDOWN,
    ExitKind,
    ExitReason,
    Ignore,
    _reason,
    crash,
    ends_program,
    give_up,
    killed,
    shutdown,
)
from ._ref import ActorRef, SupervisorRef, child_of
from ._registry import register, slot_at, unregister
from ._shutdown import emit_exit, stop_processes
from ._strategies import RestartIntensity, restart_group, should_restart
from ._task import TaskRef
from .events import CATALOGUE, Event
from .spec import (
    DYNAMIC,
    AnyChildSpec,
    AutoShutdown,
    ChildSpec,
    DynamicSupervisorSpec,
    OnNodedown,
    Restart,
    Strategy,
    SupervisorSpec,
    TaskSpec,
    significant_problem,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence, ValuesView

    from ._metrics import TreeMetrics
    from ._operations import ChildKey, ChildRef, StartArg

R = TypeVar("R")

#: Creates the process of a child's next incarnation, not started (`supervise._launch.launch`).
Launch: TypeAlias = "Callable[[Child], Process]"

_child_spec_adapter: TypeAdapter[AnyChildSpec] = TypeAdapter(AnyChildSpec)


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One row of ``which_children``.

    Attributes:
        name: the child's name among its siblings.
        path: its tree path.
        ref: its `ActorRef` or `SupervisorRef`.
        state: running, stopped or restarting.
        kind: ``worker``, ``supervisor`` or ``dynamic_supervisor``.
        restart: its restart type.
        incarnation: how many times it has been started.
        restart_count: automatic restarts so far.
    """

    name: str
    path: str
    ref: ActorRef[Any] | SupervisorRef | TaskRef
    state: ChildState
    kind: str
    restart: Restart
    incarnation: int
    restart_count: int


@dataclass(frozen=True, slots=True)
class ChildCounts:
    """``count_children``: as OTP, type counts ignore whether the child runs.

    Attributes:
        specs: children known (running or not).
        active: children running now.
        supervisors: children that are supervisors.
        workers: children that are actors.
    """

    specs: int
    active: int
    supervisors: int
    workers: int


@dataclass(frozen=True, slots=True)
class SupervisorStatistics:
    """A snapshot of a supervisor.

    Attributes:
        children: children known.
        children_running: children running now.
        restarts_in_window: restarts counted within the intensity window.
        max_restarts, max_seconds: its restart intensity.
    """

    children: int
    children_running: int
    restarts_in_window: int
    max_restarts: int
    max_seconds: float


def _info(c: Child) -> ChildInfo:
    return ChildInfo(
        name=c.name,
        path=c.path,
        ref=c.ref,
        state=c.state,
        kind=c.spec.kind,
        restart=c.spec.restart,
        incarnation=c.incarnation,
        restart_count=c.restart_count,
    )


class _ChildExit:
    __slots__ = ("process",)

    def __init__(self, process: Process) -> None:
        self.process = process


class _Request:
    __slots__ = ("future", "operation")

    def __init__(self, operation: Operation[object], future: asyncio.Future[Any]) -> None:
        self.operation = operation
        self.future = future


class _Shutdown:
    __slots__ = ("reason",)

    def __init__(self, reason: ExitReason) -> None:
        self.reason = reason


class _RestartDue:
    """A restart of ``offender`` (and its group) that is due.

    After a backoff delay (``retry`` False), or after a failed start (OTP's
    ``try_again_restart``, ``retry`` True: it costs one more unit of
    intensity). ``offender`` is the child whose start is pending; it is the
    only one shown as restarting. If it was terminated or deleted meanwhile,
    nothing is restarted.
    """

    __slots__ = ("offender", "reason", "retry")

    def __init__(self, offender: Child, reason: ExitReason, retry: bool) -> None:
        self.offender = offender
        self.reason = reason
        self.retry = retry


class _Restarted:
    """The rest of a one_for_one restart that the exiting task began (`_restart_in_place`).

    Left to the supervisor: freeing the ended incarnation's crash, which
    waits until the ended task has finished (its frame still ran when the
    restart began), and waiting for the new incarnation ``process`` to be
    ready (its on_start) and recording its start, unless there is nothing to
    wait for (None: it was ready at once, or it failed to spawn and its retry
    is queued).
    """

    __slots__ = ("child", "ended", "exception", "process")

    def __init__(
        self,
        child: Child,
        ended: Process,
        exception: BaseException | None,
        process: Process | None = None,
    ) -> None:
        self.child = child
        self.ended = ended
        self.exception = exception
        self.process = process


class _Fault:
    """An error raised by what the exiting task ran for the supervisor: its own fault."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class _GiveUp(Exception):
    """Raised inside the loop when a restart exceeds the intensity."""

    def __init__(self, offender: Child, reason: ExitReason) -> None:
        self.offender = offender
        self.reason = reason


class _AutoShutdown(Exception):
    """A significant child's end calls for this supervisor to stop (its ``auto_shutdown``)."""


#: The detail of the ``shutdown`` a supervisor ends with when its auto_shutdown fires.
AUTO_SHUTDOWN: Final = "auto_shutdown"


class _EndProgram(Exception):
    """A child ended with KeyboardInterrupt or SystemExit: stop in order and end with it."""

    def __init__(self, reason: ExitReason) -> None:
        self.reason = reason


_Message = _ChildExit | _Request | _Shutdown | _RestartDue | _Restarted | _Fault

_RUNTIME_DIR: Final = os.path.dirname(__file__) + os.sep


def _release_crash(process: Process, exc: BaseException) -> None:
    """Break the cycle a crash leaves, on the runtime's side only.

    The crash's traceback holds the ended incarnation's frames: the runtime's
    (``_main``, whose locals hold the process and the reason) and the user's
    (``handle``, whose ``self`` is the actor, which points to its process).
    Both paths lead back to the exception through ``process.reason``: a cycle
    that only the cyclic GC would free, pausing some later restart (W5 p99).
    The user's frames keep their locals, for debuggers and error trackers; the
    runtime drops its own references instead: its finished frames' locals, and
    the ended process's hold on the exception (its reason keeps kind and
    detail). Called once the exit has been logged and handed to monitors and links.
    """
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_filename.startswith(_RUNTIME_DIR):
            try:
                frame.clear()
            except RuntimeError:  # still running (an abandoned task): leave it
                pass
        tb = tb.tb_next
    reason = process.reason
    if reason is not None and reason.exception is exc:
        process.reason = _reason(reason.kind, reason.detail, None)


# actor_restarted and actor_started share a level: one level check per restart
# answers both (a check is about 0.2 µs, 2 % of a restart).
_RESTARTED_AS_STARTED: Final = (
    CATALOGUE[Event.ACTOR_RESTARTED].level == CATALOGUE[Event.ACTOR_STARTED].level
)

# Enum members read on every start and restart, as globals: on CPython 3.11 a
# member read through its class (``Event.ACTOR_STARTED``) costs about 70-140 ns.
_STARTED: Final = Event.ACTOR_STARTED
_RESTARTED: Final = Event.ACTOR_RESTARTED
_PERMANENT: Final = Restart.PERMANENT
_ONE_FOR_ONE: Final = Strategy.ONE_FOR_ONE

# Exits that `Supervisor._restart_in_place` leaves to the supervisor's turn: those
# that end the program (`ends_program`) or ignore a start (a task raising Ignore).
_HANDLED_IN_TURN: Final = (KeyboardInterrupt, SystemExit, Ignore)

# Supervisor._phase
_CREATED: Final = "created"
_STARTING: Final = "starting"
_SERVING: Final = "serving"


def _stays_down(spec: AnyChildSpec) -> bool:
    """Whether a placed child is left stopped after losing its node (``on_nodedown: stop``)."""
    placement = getattr(spec, "placement", None)
    return placement is not None and placement.policy is OnNodedown.STOP


class Supervisor(LoopProcess):
    """A supervisor process (static children; see `DynamicSupervisor`)."""

    __slots__ = (
        "_abort",
        "_auto_shutdown",
        "_children",
        "_context",
        "_exited",
        "_inbox",
        "_intensity",
        "_launch",
        "_loop_time",
        "_one_for_one_at_once",
        "_phase",
        "_program_exit",
        "_strategy",
        "_timers",
        "metrics",
        "spec",
    )

    spec: SupervisorSpec | DynamicSupervisorSpec
    task: asyncio.Task[None] | None

    def __init__(self, child: Child, launch: Launch) -> None:
        super().__init__(child)
        #: Creates each child's process (see `supervise._launch`).
        self._launch = launch
        spec = child.spec
        assert isinstance(spec, SupervisorSpec | DynamicSupervisorSpec)
        self.spec = spec
        self._children: dict[str, Child] = {}
        self._inbox: Mailbox[_Message] = Mailbox(self.path, None)
        self._intensity = RestartIntensity(spec.max_restarts, spec.max_seconds)
        self._timers: set[asyncio.TimerHandle] = set()
        self._loop_time = asyncio.get_running_loop().time
        self._strategy = spec.strategy if isinstance(spec, SupervisorSpec) else Strategy.ONE_FOR_ONE
        #: Its auto_shutdown; a dynamic supervisor has none (`DYNAMIC`: never, and no
        #: significant child).
        self._auto_shutdown: AutoShutdown | str = (
            spec.auto_shutdown if isinstance(spec, SupervisorSpec) else DYNAMIC
        )
        # Restarts that `_restart_in_place` may begin: one_for_one, due at once.
        self._one_for_one_at_once = self._strategy is Strategy.ONE_FOR_ONE and spec.backoff is None
        # Every child's on_exit, bound once rather than once per incarnation.
        self._exited = self._child_exited
        #: created (its task has not run yet), starting (its initial children) or serving.
        self._phase = _CREATED
        # A child that this supervisor was stopping ended with KeyboardInterrupt or
        # SystemExit (from on_stop): it ends this supervisor too, once it can.
        self._program_exit: ExitReason | None = None
        #: A stop asked for while starting: the start is aborted (see request_stop).
        self._abort: ExitReason | None = None
        #: The tree's metrics, passed down from the parent (the tree sets the root's);
        #: None: the tree exports none.
        parent = child.supervisor
        self.metrics: TreeMetrics | None = None if parent is None else parent.metrics
        #: The context its task runs in, for what the exiting child's task runs on
        #: its behalf (`_restart_in_place`).
        self._context: contextvars.Context | None = None

    def start(self) -> None:
        """Create the task, in a context of its own that `_restart_in_place` enters too."""
        self._context = _log.incarnation_context(self.path, self.child.incarnation + 1)
        self.task = asyncio.get_running_loop().create_task(
            self._main(), name=self.path, context=self._context
        )

    # -- what the parent sees ------------------------------------------------------------

    def request_stop(self, reason: ExitReason) -> None:
        """Stop in order. While the initial children start, abort the start at once:

        the children started so far, and the one starting, are stopped in
        reverse order (the tree's host was cancelled while it waited for the start).
        """
        if self._phase is _SERVING or self.reason is not None:
            try:
                self._inbox.put_control(_Shutdown(reason))
            except MailboxClosed:
                pass  # ended already
            return
        if self._abort is None:
            self._abort = reason
            if self._phase is _STARTING:
                self._cancel_task()  # _main stops what it started (see _stopped_while_starting)

    def restarted_child_ready(self) -> None:
        """A restarting child's new incarnation is ready: wake up for the rest of its restart.

        `_restart_now` queued that rest without waking the supervisor. A wake-up
        while the supervisor is busy (it waits on that start itself in `_restart`)
        or has nothing queued does nothing.
        """
        self._inbox.wake()

    def start_child_now(self, arg: StartArg) -> ChildRef | None:
        """start_child handled in the caller's task, or None: queue the request.

        Only a `DynamicSupervisor` ever starts a child this way.
        """
        return None

    async def request(self, operation: Operation[R]) -> R:
        """Queue an operation and wait for the supervisor to answer it."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        try:
            self._inbox.put_control(_Request(operation, future))
        except MailboxClosed:
            raise ActorNotRunningError(self.path) from None
        return await future

    def statistics(self) -> SupervisorStatistics:
        # Counts the running children one by one: only `SupervisorRef.statistics` asks,
        # never the snapshot or the metrics (they read `child_slots`).
        return SupervisorStatistics(
            children=len(self._children),
            children_running=sum(1 for c in self._children.values() if c.process is not None),
            restarts_in_window=self.restarts_in_window(self._loop_time()),
            max_restarts=self.spec.max_restarts,
            max_seconds=self.spec.max_seconds,
        )

    # -- what the tree's readers see (snapshot, metrics) ---------------------------------

    def child_slots(self) -> ValuesView[Child]:
        """Its child slots, in start order: a live read-only view, not a copy.

        For the walks of the snapshot and the metrics, which copy it (``list``,
        ``extend``) before they yield to the loop, when children may come and go.
        """
        return self._children.values()

    def restarts_in_window(self, now: float) -> int:
        """The restarts its intensity window holds at loop time ``now``."""
        return self._intensity.in_window(now)

    # -- the task ------------------------------------------------------------------------

    async def _main(self) -> None:
        reason: ExitReason | None = None
        try:
            if self._abort is not None:  # asked to stop before it ran
                reason = self._abort
                return
            self._phase = _STARTING
            try:
                await self._start_initial_children()
            except StartError as exc:
                self._fail_start(exc)
                reason = crash(exc)
                return
            self._phase = _SERVING
            self._set_ready()
            _log.emit(
                Event.SUPERVISOR_STARTED,
                supervisor=self.path,
                strategy=self._strategy.value,
                children=len(self._children),
            )
            reason = await self._serve()
        except asyncio.CancelledError:
            abort = self._abort
            if self._kill_reason is None and abort is not None and self._phase is _STARTING:
                reason = abort
                self._fail_start(ActorExitedError(self.path, abort))
                await self._stop_children_or_kill()
            else:
                reason = self._kill_reason or killed("cancelled")
                await self._kill_children()
        except Exception as exc:
            # A fault of the supervisor itself: never a clean stop. Its children
            # are stopped in order and the crash escalates like any other.
            reason = crash(exc)
            self._fail_start(exc)
            await self._stop_children_or_kill()
        finally:
            self._finish(reason or self._kill_reason or killed("cancelled"))

    def _fail_start(self, exc: BaseException) -> None:
        """Fail the start future with ``exc`` if the start is still awaited."""
        started = self.started
        if not started.done():
            started.set_exception(exc)
            started.exception()  # retrieved here: nobody may be waiting for it

    async def _stop_children_or_kill(self) -> None:
        """Stop the children in reverse order; if that fails or is cancelled, kill the rest."""
        try:
            await self._stop_children()
        except BaseException:
            await self._kill_children()
            raise

    def _initial_specs(self) -> Sequence[AnyChildSpec]:
        assert isinstance(self.spec, SupervisorSpec)
        return self.spec.children

    def _initial_name(self, spec: AnyChildSpec) -> str:
        """The name an initial child gets: its spec's (a dynamic supervisor numbers it)."""
        return spec.name

    async def _start_initial_children(self) -> None:
        started: list[Child] = []
        for spec in self._initial_specs():
            try:
                try:
                    child = self._add_child(spec, self._initial_name(spec))
                except SuperviseError as exc:  # e.g. its registered name is taken
                    raise StartError(f"{self.path}/{spec.name}", exc) from exc
                try:
                    if not await self._start(child):
                        self._drop_ignored(child)  # OTP: the next children still start
                        continue
                except StartError:
                    self._remove(child)
                    raise
            except StartError:
                for earlier in reversed(started):
                    await self._terminate(earlier)
                raise
            started.append(child)

    async def _serve(self) -> ExitReason:
        inbox = self._inbox
        while True:
            # The inbox's one consumer, as an actor's loop. While its ``parked`` is set
            # the supervisor is idle, in the middle of nothing (see `_child_exited`
            # and DynamicSupervisor.start_child_now).
            message = await inbox.take()
            if message is None:  # woken: what woke it, if anything, is queued now
                continue
            kind = type(message)
            try:
                if kind is _ChildExit:
                    await self._on_child_exit(message.process)  # type: ignore[union-attr, arg-type]
                elif kind is _Restarted:
                    await self._on_restarted(message)  # type: ignore[arg-type]
                elif kind is _Fault:
                    raise message.error  # type: ignore[union-attr]
                elif kind is _Request:
                    await self._answer(message)  # type: ignore[arg-type]
                elif kind is _RestartDue:
                    await self._on_restart_due(message)  # type: ignore[arg-type]
                else:
                    await self._stop_children()
                    return self._program_exit or message.reason  # type: ignore[union-attr]
            except _GiveUp as give_up:
                gave_up = await self._give_up(give_up.offender, give_up.reason)
                return self._program_exit or gave_up
            except _EndProgram as end:
                await self._stop_children()
                return end.reason
            except _AutoShutdown:
                await self._stop_children()
                return self._program_exit or shutdown(AUTO_SHUTDOWN)
            if self._program_exit is not None:
                await self._stop_children()
                return self._program_exit

    def _finish(self, reason: ExitReason) -> None:
        if self.reason is not None or self._loop_closed():
            return
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for child in self._children.values():
            child.restarting = False  # nothing restarts any more: no stale states
        for message in self._inbox.close():
            if type(message) is _Request and not message.future.done():
                message.future.set_exception(ActorNotRunningError(self.path))
        _log.emit(Event.SUPERVISOR_STOPPED, supervisor=self.path, **reason.log_fields())
        super()._finish(reason)

    # -- children ------------------------------------------------------------------------

    def _add_child(self, spec: AnyChildSpec, name: str | None = None) -> Child:
        """Add a child slot for ``spec``, named ``name`` (default: ``spec.name``).

        A dynamic supervisor's children share its template spec, each under a
        name of its own.
        """
        if name is None:
            name = spec.name
        path = f"{self.path}/{name}"
        registry = self.child.registry
        child = slot_at(registry, path)
        if (
            child is not None
            and child.process is None
            and child.supervisor is not self
            and child.can_adopt(spec)
        ):
            child.adopt(spec, self)  # a slot our previous incarnation left: keep its refs
        else:
            child = Child(spec, path, self, registry, self.child.dead_letters)
        child.name = name
        if self.metrics is not None and child.metrics is None:
            child.metrics = self.metrics.for_child(self)
        register(registry, child)
        self._children[name] = child
        return child

    def _remove(self, child: Child) -> None:
        if self._children.get(child.name) is child:
            del self._children[child.name]
            unregister(self.child.registry, child)

    def _child_exited(self, process: Process) -> None:
        inbox = self._inbox
        if inbox.parked is not None and not inbox.items and self._restart_in_place(process):
            return
        try:
            inbox.put_control(_ChildExit(process))
        except MailboxClosed:
            pass  # we are gone; nobody restarts anything now

    async def _start(self, child: Child, *, restart: bool = False) -> bool:
        """Start one incarnation and wait until it is ready.

        Returns:
            True once it runs; False if its ``on_start`` raised `Ignore` (OTP's
            ``ignore``): nothing runs, ``actor_ignored`` is logged, and the
            caller keeps or drops the slot (`_drop_ignored`).

        Raises:
            StartError: creating it, its on_start, or its subtree's start failed.
        """
        process = self._spawn_or_fail(child)
        child.process = process
        pending = process.pending_start()
        if pending is not None and not await self._wait_start(child, process, pending):
            return False
        self._record_start(child, restart)
        return True

    def _emit_ignored(self, child: Child, exc: Ignore) -> None:
        fields: dict[str, object] = {}
        if exc.detail is not None:
            fields["reason_detail"] = exc.detail
        _log.emit(
            Event.ACTOR_IGNORED,
            actor=child.path,
            supervisor=self.path,
            incarnation=child.incarnation,
            restart_count=child.restart_count,
            **fields,
        )

    def _drop_ignored(self, child: Child) -> None:
        """A child ignored its start: keep its slot, stopped, unless it is temporary (as OTP)."""
        child.restarting = False
        if child.spec.restart is Restart.TEMPORARY:
            self._remove(child)

    async def _wait_start(
        self, child: Child, process: Process, pending: asyncio.Future[None]
    ) -> bool:
        """Wait until ``process`` is ready: True, or False if it ignored its start.

        Raises:
            StartError: it failed to start.
        """
        try:
            await pending
        except Exception as exc:
            child.process = None
            if isinstance(exc, Ignore):
                self._emit_ignored(child, exc)
                return False
            cause: BaseException = exc
            path = child.path
            if isinstance(exc, StartError):  # a nested supervisor: name the leaf
                path, cause = exc.actor, exc.cause
            elif process.reason is not None and process.reason.exception is not None:
                cause = process.reason.exception
            raise self._start_failed(child, path, cause) from cause
        return True

    def _start_now(self, child: Child) -> None:
        """`_start` for a child that is ready as soon as its task exists: never suspends."""
        process = self._spawn_or_fail(child)
        child.process = process
        assert process.pending_start() is None
        self._record_start(child, False)

    def _spawn_or_fail(self, child: Child) -> Process:
        """Create and start ``child``'s next incarnation (see `_start` for readiness)."""
        try:
            process = self._launch(child)
            process.on_exit = self._exited
            process.start()
        except Exception as exc:  # e.g. the actor's __init__ raised
            raise self._start_failed(child, child.path, exc) from exc
        return process

    def _start_failed(self, child: Child, path: str, cause: BaseException) -> StartError:
        _log.emit(
            Event.START_FAILED,
            actor=child.path,
            supervisor=self.path,
            exc_type=type(cause).__qualname__,
            exc_message=str(cause),
        )
        return StartError(path, cause)

    def _record_start(self, child: Child, restart: bool) -> None:
        child.incarnation += 1
        child.last_started_at = self._loop_time()
        if child.running_waiters:
            child.wake_running()
        # Mass starts and restarts: build the fields only if the logger keeps them.
        started = _log.enabled(_STARTED)
        restarted = restart and (started if _RESTARTED_AS_STARTED else _log.enabled(_RESTARTED))
        if started or restarted:
            fields: dict[str, object] = {
                "actor": child.path,
                "supervisor": self.path,
                "incarnation": child.incarnation,
                "restart_count": child.restart_count,
            }
            if restarted:
                _log.emit(_RESTARTED, **fields)
            if started:
                _log.emit(_STARTED, **fields)

    async def _terminate(self, child: Child, reason: ExitReason = SHUTDOWN) -> None:
        """Stop one child per its shutdown spec; always ends in bounded time (unless infinity)."""
        process = child.process
        if process is None:
            return
        child.process = None
        try:
            await self._terminate_processes([(child, process)], child.spec.shutdown, reason)
        except asyncio.CancelledError:
            if process.reason is None:
                child.process = process  # still ours to stop (or kill)
            raise

    async def _terminate_processes(
        self, pairs: list[tuple[Child, Process]], mode: float | str | None, reason: ExitReason
    ) -> None:
        """Stop ``pairs`` together within ``mode`` (None: each within its own shutdown)."""
        await stop_processes(pairs, mode, reason, self.path)
        if self._program_exit is None:
            for _, process in pairs:
                end = process.reason
                if end is not None and end.exception is not None and ends_program(end.exception):
                    self._program_exit = end
                    break

    async def _stop_children(self) -> None:
        """Stop every child, in reverse start order, each with its own shutdown spec."""
        for child in reversed(list(self._children.values())):
            child.restarting = False
            await self._terminate(child)

    async def _kill_children(self) -> None:
        """We were killed: kill the subtree at once (OTP links do the same)."""
        pairs = []
        for child in reversed(list(self._children.values())):
            if child.process is not None:
                pairs.append((child, child.process))
                child.process = None
        if pairs:
            await self._terminate_processes(pairs, "brutal_kill", killed("supervisor killed"))

    # -- restarts ------------------------------------------------------------------------

    async def _on_child_exit(self, process: Process) -> None:
        child = process.child
        if child.process is not process or self._children.get(child.name) is not child:
            return  # stale: an incarnation we already replaced or terminated
        reason = process.reason
        assert reason is not None
        if type(reason.exception) is Ignore:  # a task raised Ignore: as an ignored start
            child.process = None
            self._emit_ignored(child, reason.exception)
            self._drop_ignored(child)
            return
        self._note_exit(child, reason)
        if reason.exception is not None:
            _release_crash(process, reason.exception)
            if ends_program(reason.exception):
                raise _EndProgram(reason)
        spec = child.spec
        restart = spec.restart
        if not should_restart(restart, reason):
            if restart is Restart.TEMPORARY:
                self._remove(child)
            if spec.significant and self._auto_shutdown_due():
                raise _AutoShutdown
            return
        if reason.kind is ExitKind.NODEDOWN and _stays_down(child.spec):
            return  # placement on_nodedown: stop; its slot stays for restart_child
        if not self._intensity.add(self._loop_time()):
            raise _GiveUp(child, reason)
        await self._restart(child, reason, backoff=True)

    def _note_exit(self, child: Child, reason: ExitReason) -> None:
        """The slot is empty: log how the child ended and count a crash."""
        child.process = None
        emit_exit(child, reason, self.path)
        if not reason.is_normal:
            child.crashes += 1
            if child.metrics is not None:
                child.metrics.crashes += 1
            exc = reason.exception
            child.last_crash = (
                time.time(),
                reason.kind.value if exc is None else type(exc).__qualname__,
                (reason.detail or "") if exc is None else str(exc),
            )

    def _restart_in_place(self, process: Process) -> bool:
        """Begin handling the exit of ``process`` in the exiting task, or False: queue it.

        The same invariant as `DynamicSupervisor.start_child_now`: the
        supervisor is idle (parked on an empty inbox, in the middle of nothing),
        so handling the exit now is handling it where the supervisor would, with
        nothing queued before it. Only the common case: a one_for_one restart,
        due at once (no backoff), within the restart intensity, that does not end
        the program. The exiting task then runs, in the supervisor's context,
        what `_on_child_exit` and `_restart` run up to the new incarnation's
        spawn, which never suspends; the rest (waiting for on_start, freeing the
        crash once the ended task has finished) goes to the supervisor as the
        first message of its inbox, so nothing it handles comes between. A
        restart so saves the exit's trip through the inbox: a loop iteration and
        a wake-up of the supervisor before the new incarnation can start.
        """
        reason = process.reason
        context = self._context
        if (
            not self._one_for_one_at_once
            or reason is None
            or context is None
            or self._kill_reason is not None  # killed: its task is about to be cancelled
        ):
            return False
        child = process.child
        exc = reason.exception
        restart = child.spec.restart
        if (
            child.process is not process
            or self._children.get(child.name) is not child
            or (exc is not None and isinstance(exc, _HANDLED_IN_TURN))
            or (restart is not _PERMANENT and not should_restart(restart, reason))
        ):
            return False
        if not self._intensity.add_if_allowed(self._loop_time()):
            return False
        try:
            context.run(self._restart_now, child, process, reason)
        except Exception as exc:  # a fault of the supervisor: it crashes, not the exiting child
            self._inbox.put_control(_Fault(exc))
        return True

    def _restart_now(self, child: Child, ended: Process, reason: ExitReason) -> None:
        """`_restart_in_place`'s part in the exiting task, in the supervisor's context.

        The restart is counted in the intensity already.
        """
        self._note_exit(child, reason)
        child.restarting = True
        child.restart_count += 1
        if child.metrics is not None:
            child.metrics.restarts += 1
        inbox = self._inbox
        try:
            process = self._spawn_or_fail(child)
        except StartError as exc:
            inbox.put_control(_Restarted(child, ended, reason.exception))
            self._restart_failed(child, (), exc)
            return
        child.process = process
        if not process.ready:
            # Its on_start runs: `_on_restarted` waits for it, woken by the new
            # incarnation once ready (`restarted_child_ready`), so that waking the
            # supervisor and making a future to wait on cost the restart nothing.
            inbox.put_control_quietly(_Restarted(child, ended, reason.exception, process))
            return
        # Queued before the start is recorded, so that the ended incarnation is
        # freed before whoever waits for actor_started runs.
        inbox.put_control(_Restarted(child, ended, reason.exception))
        self._record_start(child, True)
        child.restarting = False

    async def _on_restarted(self, message: _Restarted) -> None:
        """Finish a restart that the exiting task began (`_restart_in_place`)."""
        exception = message.exception
        if exception is not None:
            message.exception = None
            _release_crash(message.ended, exception)
            del exception  # the ended incarnation is freed here, not inside the restart
        child, process = message.child, message.process
        if process is not None:
            # None if on_start is done already; failed if it failed; else it still runs.
            pending = process.pending_start()
            try:
                if pending is not None and not await self._wait_start(child, process, pending):
                    self._drop_ignored(child)  # OTP: stays stopped
                    return
            except StartError as exc:
                self._restart_failed(child, (), exc)
                return
            self._record_start(child, True)
            child.restarting = False
        if child.process is not None:  # what its next restart can have made now, not then
            child.process.prepare_next()

    def _restart_failed(self, child: Child, later: Sequence[Child], exc: StartError) -> None:
        """A restart's start of ``child`` failed: retry it (and ``later``) from the inbox."""
        if ends_program(exc.cause):
            raise _EndProgram(crash(exc.cause)) from None
        for sibling in later:
            sibling.restarting = False  # not running, and not the one retried
        self._inbox.put_control(_RestartDue(child, crash(exc.cause), retry=True))

    def _auto_shutdown_due(self) -> bool:
        """A significant child ended by itself for good: does this supervisor stop? (OTP 24+)

        ``any_significant``: yes. ``all_significant``: once no significant child
        runs or is about to restart.
        """
        if self._auto_shutdown == AutoShutdown.ANY_SIGNIFICANT:
            return True
        if self._auto_shutdown == AutoShutdown.ALL_SIGNIFICANT:
            return not any(
                c.spec.significant and (c.process is not None or c.restarting)
                for c in self._children.values()
            )
        return False

    async def _restart(self, offender: Child, reason: ExitReason, *, backoff: bool) -> None:
        """Restart ``offender`` and its group (OTP's ``restart/3``); already counted.

        The group's running members are stopped in reverse order (a temporary
        one is dropped), then the group starts in order. If a start fails, the
        children started so far keep running, the failed one is marked
        restarting, the ones after it stay stopped, and a retry is queued
        (OTP's ``try_again_restart``): one_for_all retries the whole group,
        rest_for_one the failed child and the ones after it.
        """
        strategy = self._strategy
        if strategy is _ONE_FOR_ONE:
            # No siblings involved: do not copy the children (a pool may have 100k).
            group = [offender]
        else:
            group = restart_group(strategy, list(self._children.values()), offender)
            for sibling in reversed(group):
                if sibling is not offender:
                    sibling.restarting = False
                    await self._terminate(sibling)
            if self._program_exit is not None:  # a sibling's on_stop asked the program to end
                raise _EndProgram(self._program_exit)
            for sibling in group:
                if sibling is not offender and sibling.spec.restart is Restart.TEMPORARY:
                    self._remove(sibling)
            group = [c for c in group if c is offender or c.spec.restart is not Restart.TEMPORARY]
        offender.restarting = True
        if backoff:
            delay = self._backoff_delay(offender)
            if delay > 0:
                self._schedule(_RestartDue(offender, reason, retry=False), delay)
                return
        for child in group:
            child.restarting = True
        for index, child in enumerate(group):
            child.restart_count += 1
            if child.metrics is not None:
                child.metrics.restarts += 1
            try:
                if not await self._start(child, restart=True):
                    self._drop_ignored(child)  # OTP: stays stopped; the group goes on
                    continue
            except StartError as exc:
                self._restart_failed(child, group[index + 1 :], exc)
                return
            child.restarting = False

    def _backoff_delay(self, offender: Child) -> float:
        backoff = self.spec.backoff
        if backoff is None:
            return 0.0
        if self._loop_time() - offender.last_started_at >= backoff.reset_seconds:
            offender.failures = 0
        offender.failures += 1
        return backoff.delay(offender.failures)

    def _schedule(self, message: _RestartDue, delay: float) -> None:
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle

        def due() -> None:
            self._timers.discard(timer)
            try:
                self._inbox.put_control(message)
            except MailboxClosed:
                pass

        timer = loop.call_later(delay, due)
        self._timers.add(timer)

    async def _on_restart_due(self, message: _RestartDue) -> None:
        offender = message.offender
        if self._children.get(offender.name) is not offender or not offender.restarting:
            return  # terminated, restarted or deleted while the restart was pending
        if message.retry:
            if not self._intensity.add(self._loop_time()):
                raise _GiveUp(offender, message.reason)
            await self._restart(offender, message.reason, backoff=True)
        else:
            await self._restart(offender, message.reason, backoff=False)

    async def _give_up(self, offender: Child, last: ExitReason) -> ExitReason:
        """Restart intensity exceeded: stop every child in reverse order, end with shutdown.

        As OTP: the reason is ``shutdown`` (``reached_max_restart_intensity``),
        so a transient parent entry does not restart us; the
        `RestartIntensityExceeded` it carries names the last child and its
        reason, and is what `open_tree` raises past the root.
        """
        error = RestartIntensityExceeded(
            self.path, self.spec.max_restarts, self.spec.max_seconds, offender.path, last
        )
        _log.emit(
            Event.RESTART_INTENSITY_EXCEEDED,
            supervisor=self.path,
            actor=offender.path,
            max_restarts=self.spec.max_restarts,
            max_seconds=self.spec.max_seconds,
            child_reason=str(last),
        )
        # The offender stays in the registry so refs to it survive a restart of this subtree.
        offender.restarting = False
        if self._children.get(offender.name) is offender:
            del self._children[offender.name]
        await self._stop_children()
        return give_up(error)

    # -- API requests --------------------------------------------------------------------

    async def _answer(self, request: _Request) -> None:
        future = request.future
        operation = request.operation
        starts = isinstance(operation, StartChild)  # _StartWatched too (supervise._task_supervisor)
        if starts and future.cancelled():
            return  # the caller was cancelled before its turn: nothing is started
        try:
            result = await operation.apply(self)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            if isinstance(exc, StartError) and ends_program(exc.cause):
                raise _EndProgram(crash(exc.cause)) from None
            return
        if not future.done():
            future.set_result(result)
        elif starts and result is not None:
            # Cancelled while its child started: nobody will learn the ref, so
            # the child is stopped and forgotten, as if it had not started.
            await self._undo_start(result)  # type: ignore[arg-type]

    async def _undo_start(self, ref: ChildRef) -> None:
        child = child_of(ref)
        if self._children.get(child.name) is not child:
            return
        child.restarting = False
        await self._terminate(child)
        self._remove(child)

    def _find(self, key: ChildKey) -> Child:
        if isinstance(key, ActorRef | SupervisorRef | TaskRef):
            child: Child | None = child_of(key)
            if child is not None and self._children.get(child.name) is not child:
                child = None
            name = key.path.rpartition("/")[2]
        else:
            name = str(key)
            child = self._children.get(name)
        if child is None:
            raise ChildNotFoundError(self.path, name)
        return child

    def _validate_child_spec(self, arg: object) -> AnyChildSpec:
        if isinstance(arg, ChildSpec | TaskSpec | SupervisorSpec | DynamicSupervisorSpec):
            return arg
        try:
            return _child_spec_adapter.validate_python(arg)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise SpecError(f"start_child on {self.path}: {where}", first["msg"]) from exc

    async def op_start_child(self, arg: StartArg) -> ChildRef | None:
        spec = self._validate_child_spec(arg)
        return await self._start_new_child(spec, spec.name)

    def _add_new_child(self, spec: AnyChildSpec, name: str) -> Child:
        if spec.significant:  # OTP checks it against the supervisor's auto_shutdown too
            problem = significant_problem(spec, self._auto_shutdown)
            if problem is not None:
                raise SpecError(f"start_child on {self.path}: {spec.name}.significant", problem)
        existing = self._children.get(name)
        if existing is not None:
            if existing.process is not None:
                raise ChildError(
                    self.path,
                    name,
                    "already started; pick another name or terminate_child and delete_child it",
                    code="already_started",
                    ref=existing.ref,
                )
            raise ChildError(
                self.path,
                name,
                "already present; pick another name, restart_child it or delete_child it first",
                code="already_present",
            )
        return self._add_child(spec, name)

    async def _start_new_child(
        self, spec: AnyChildSpec, name: str
    ) -> ActorRef[Any] | SupervisorRef | TaskRef | None:
        """Add and start a child; None if it ignored its start (OTP ``{ok, undefined}``)."""
        child = self._add_new_child(spec, name)
        try:
            if not await self._start(child):
                self._drop_ignored(child)
                return None
        except StartError:
            self._remove(child)
            raise
        return child.ref

    def _refuse_if_running(self, child: Child) -> None:
        """restart_child and delete_child want a stopped child (OTP ``running``/``restarting``)."""
        if child.process is not None:
            raise ChildError(
                self.path, child.name, "it is running; terminate_child it first", code="running"
            )
        if child.restarting:
            raise ChildError(
                self.path,
                child.name,
                "its restart is pending; wait for it or terminate_child it",
                code="restarting",
            )

    async def op_terminate_child(self, key: ChildKey) -> None:
        child = self._find(key)
        child.restarting = False
        await self._terminate(child)
        if child.spec.restart is Restart.TEMPORARY:
            self._remove(child)

    async def op_restart_child(self, key: ChildKey) -> ChildRef | None:
        child = self._find(key)
        self._refuse_if_running(child)
        if not await self._start(child):
            self._drop_ignored(child)
            return None
        return child.ref

    async def op_delete_child(self, key: ChildKey) -> None:
        child = self._find(key)
        self._refuse_if_running(child)
        self._remove(child)

    async def op_which_children(self) -> list[ChildInfo]:
        return [_info(c) for c in self._children.values()]

    async def op_which_child(self, key: ChildKey) -> ChildInfo:
        return _info(self._find(key))

    async def op_get_childspec(self, key: ChildKey) -> AnyChildSpec:
        return self._find(key).spec

    async def op_count_children(self) -> ChildCounts:
        children = self._children.values()
        supervisors = sum(1 for c in children if c.is_supervisor)
        return ChildCounts(
            specs=len(self._children),
            active=sum(1 for c in children if c.process is not None),
            supervisors=supervisors,
            workers=len(self._children) - supervisors,
        )
