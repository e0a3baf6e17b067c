"""Refs: the only way to reach an actor or a supervisor.

A ref addresses a child *slot*, not an incarnation, so it stays valid across
restarts (Akka and kameo do the same; OTP hands out a new pid). Between a crash
and the restart nothing runs behind it: casts are dead-lettered and calls
raise `ActorNotRunningError`, as OTP's ``noproc``.
"""

from __future__ import annotations

import asyncio
import copy
from asyncio import Future
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, final, overload

import anyio
from pydantic import BaseModel

from ._deadlines import Expired, call_timeouts
from ._errors import (
    ActorNotRunningError,
    ArgumentError,
    CallDroppedError,
    CallingSelfError,
    CallTimeoutError,
    MessageTypeError,
)
from ._mailbox import Mailbox, MailboxClosed, MailboxStatistics
from ._monitor import Down, Monitor, start_monitor
from ._operations import (
    CountChildren,
    DeleteChild,
    GetChildSpec,
    RestartChild,
    StartChild,
    TerminateChild,
    WhichChild,
    WhichChildren,
)
from ._process import ActorProcess, Call, new_call
from ._reason import NORMAL, ExitReason
from ._task_supervisor import AsyncTask, TaskStream, async_stream, start_async

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
    from typing import Literal

    from ._actor import Request
    from ._child import Child, ChildState
    from ._process import Process
    from ._supervisor import ChildCounts, ChildInfo, Supervisor, SupervisorStatistics
    from ._task import TaskRef
    from .spec import AnyChildSpec, Restart

# Contravariant: a ref that accepts ``A | B`` can be passed where a ref accepting ``A`` is
# expected (it is a sink of messages; nothing of type MsgT ever comes out of it).
MsgT = TypeVar("MsgT", contravariant=True)
ReplyT = TypeVar("ReplyT")
ResultT = TypeVar("ResultT")


def _uncopyable(value: object, path: str) -> str:
    """The path of the innermost part of ``value`` (at ``path``) that cannot be deep-copied.

    Looks into models' fields, lists, tuples, sets and dicts; ``path`` itself
    if no part of it fails on its own.
    """
    parts: list[tuple[str, object]]
    if isinstance(value, BaseModel):
        fields = dict(value.__dict__)
        fields.update(value.__pydantic_private__ or {})
        parts = [(f"{path}.{name}" if path else name, v) for name, v in fields.items()]
    elif isinstance(value, list | tuple):
        parts = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    elif isinstance(value, dict):
        parts = [(f"{path}[{k!r}]", v) for k, v in value.items()]
    elif isinstance(value, set | frozenset):
        parts = [(f"{path}{{{v!r}}}", v) for v in value]
    else:
        return path
    for where, part in parts:
        try:
            copy.deepcopy(part)
        except Exception:
            return _uncopyable(part, where)
    return path


def _expire(future: asyncio.Future[Any], actor: str, message: object, timeout: float) -> None:
    if not future.done():
        future.set_exception(CallTimeoutError(actor, message, timeout))


def child_of(ref: Watchable) -> Child:
    """The child slot behind ``ref``: what the runtime (supervisors, links) acts on.

    A function of this module rather than a property, so a ref's public surface
    stays what users call and the slot stays an internal of the runtime.
    """
    return ref._child


def _watcher_process(watcher: ActorRef[Any]) -> ActorProcess:
    child = watcher._child
    process = child.process
    if not isinstance(process, ActorProcess) or process.reason is not None:
        raise ActorNotRunningError(child.path)
    return process


def _runs(child: Child) -> bool:
    """Whether an incarnation runs in ``child`` and has started.

    Started as OTP's ``start_link`` returns: an actor once its ``on_start`` has
    returned, a supervisor once its start-time children have all started.
    """
    process = child.process
    return process is not None and process.reason is None and process.pending_start() is None


def _restarter(child: Child) -> tuple[Supervisor | None, str]:
    """The nearest running supervisor above ``child``, which may start it again.

    Returns:
        That supervisor, or None and the path of the topmost one that stopped
        (the child's own path for the root: the tree does not restart it).
    """
    supervisor, stopped = child.supervisor, child.path
    while supervisor is not None and supervisor.reason is not None:
        stopped = supervisor.path
        supervisor = supervisor.child.supervisor
    return supervisor, stopped


def _wake(future: asyncio.Future[None]) -> Callable[[object], None]:
    def wake(_: object) -> None:
        if not future.done():
            future.set_result(None)

    return wake


async def _until_running(child: Child, deadline: float | None) -> bool:
    """Wait until an incarnation runs in ``child``, or until the loop time ``deadline``.

    Returns:
        Whether one runs (False: the deadline passed first).

    Raises:
        ActorNotRunningError: every supervisor above has stopped: none will run again.
    """
    loop = asyncio.get_running_loop()
    while not _runs(child):
        restarter, stopped = _restarter(child)
        watched: Process | None = restarter
        if watched is None:  # nothing above runs: only a root that is starting may run
            watched = child.process
            if watched is None or watched.reason is not None:
                raise ActorNotRunningError(child.path, stopped=stopped)
        future: asyncio.Future[None] = loop.create_future()
        waiters = child.running_waiters
        if waiters is None:
            waiters = child.running_waiters = []
        waiters.append(future)
        # Woken by a start, or by the end of that supervisor (then look again higher
        # up), or of the starting root.
        watched.add_exit_callback(future, _wake(future))
        try:
            async with asyncio.timeout_at(deadline):
                await future
        except TimeoutError:
            return _runs(child)
        finally:
            watched.remove_exit_callback(future)
            if not future.done() and future in waiters:
                waiters.remove(future)
    return True


async def _until_ended(process: Process) -> None:
    """Wait until ``process`` has ended, however often the caller is cancelled meanwhile.

    The stop it waits for is bounded by the children's ``shutdown``; a
    cancellation that arrives meanwhile is raised once it has ended (anyio's
    shielded cleanup, for native asyncio cancellation too).
    """
    cancelled: asyncio.CancelledError | None = None
    while process.reason is None:
        try:
            with anyio.CancelScope(shield=True):  # anyio: no redelivery while we wait
                await process.wait(None)
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        raise cancelled


class Watchable:
    """What every ref has (actors, plain tasks, supervisors): the child slot it
    addresses, its path and state, and monitors on the incarnation behind it.

    Refs come from the runtime (``tree.whereis(...)``, ``start_child``,
    ``Actor.ref``), never from user code.
    """

    __slots__ = ("_child",)

    def __init__(self, child: Child) -> None:
        self._child = child

    @property
    def path(self) -> str:
        """The child's tree path."""
        return self._child.path

    @property
    def state(self) -> ChildState:
        """running, stopped or restarting."""
        return self._child.state

    @property
    def restart(self) -> Restart:
        """Its restart type now (its parent's view, OTP's child spec ``restart``).

        .. versionadded:: 0.1
        """
        return self._child.spec.restart

    @property
    def shutdown(self) -> float | str:
        """Its shutdown now: seconds, ``brutal_kill`` or ``infinity``.

        .. versionadded:: 0.1
        """
        return self._child.spec.shutdown

    @property
    def is_running(self) -> bool:
        """Whether an incarnation runs behind this ref now and has started.

        Started as OTP's ``start_link`` returns: an actor once its ``on_start``
        has returned, a supervisor once its start-time children have all
        started (in order). While it starts, `state` is already ``running``.
        """
        return _runs(self._child)

    def __repr__(self) -> str:
        child = self._child
        return f"<{type(self).__name__} {child.path} incarnation={child.incarnation}>"

    async def wait_running(self, timeout: float | None = 5.0) -> None:
        """Wait until an incarnation runs behind this ref; return at once if one does.

        For riding through a restart: right after a crash nothing runs until the
        supervisor has started the child again (a loop pass, or the backoff).
        A child stopped for good (temporary, terminated) does not come back.
        Running means started, as `is_running`: an actor's ``on_start`` has
        returned; a supervisor (restarted too) has started all its start-time
        children, as OTP's ``start_link`` returns only after every child's init.

        Args:
            timeout: seconds to wait at most, or None to wait for ever.

        Raises:
            ActorNotRunningError: nothing ran within ``timeout`` (its ``waited``
                attribute says how long), or at once when nothing can start it
                again: its supervisors up to the root have stopped (``stopped``).

        .. versionadded:: 0.1
        """
        child = self._child
        if _runs(child):
            return
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        if not await _until_running(child, deadline):
            raise ActorNotRunningError(child.path, waited=timeout)

    def monitor(self, watcher: ActorRef[Any] | Callable[[Down], object] | None = None) -> Monitor:
        """Monitor the incarnation running behind this ref now (OTP ``monitor``).

        When it ends, one `Down` is delivered and the monitor is over; a
        restart does not fire it again. If nothing runs now, the `Down` comes
        at once with reason ``noproc``.

        Args:
            watcher: None to await the returned `Monitor`; an `ActorRef` whose
                actor receives the `Down` in its mailbox (it must declare
                ``Down`` among its messages); or a callable, called with the
                `Down` soon after the end.

        Returns:
            The `Monitor`: await it, or call ``demonitor()``.

        Raises:
            MessageTypeError: the watcher actor does not declare `Down`.
            ActorNotRunningError: the watcher actor is not running.
            ArgumentError: ``watcher`` is none of those.

        .. versionadded:: 0.1
        """
        if watcher is None:
            return start_monitor(self._child)
        if isinstance(watcher, ActorRef):
            return start_monitor(self._child, watcher=_watcher_process(watcher))
        if callable(watcher):
            return start_monitor(self._child, callback=watcher)
        raise ArgumentError(
            "monitor() watcher",
            f"takes an ActorRef, a callable or nothing, got {type(watcher).__name__}",
        )

    async def wait_down(self) -> Down:
        """Wait until the incarnation running now ends, and return its `Down`.

        Returns at once (reason ``noproc``) if nothing runs now.

        .. versionadded:: 0.1
        """
        with start_monitor(self._child) as monitor:
            return await monitor


@final
@dataclass(frozen=True, slots=True)
class ActorStatistics:
    """A snapshot of an actor's child slot (`ActorRef.statistics`).

    Attributes:
        mailbox: its running incarnation's mailbox, or None while nothing runs.
        blocks: how often its code blocked the event loop past its block
            threshold (seen by the loop watchdog), over all incarnations.
        longest_block: the longest such block, in seconds (0.0 if none).

    .. versionadded:: 0.1
    """

    mailbox: MailboxStatistics | None
    blocks: int
    longest_block: float


class ActorRef(Watchable, Generic[MsgT]):
    """A handle to an actor's child slot: ``cast``, ``call``, ``stop``, ``kill``.

    Refs come from the runtime (``tree.whereis(...)``, ``start_child``,
    ``Actor.ref``), never from a constructor. Messages are checked against the
    actor's declared types here, in the sender.

    .. versionadded:: 0.1
    """

    __slots__ = ()

    def _checked(self, msg: object) -> object:
        child = self._child
        kind = type(msg)
        if kind in child.share_types:
            return msg
        if kind in child.copy_types or any(isinstance(msg, a) for a in child.accepts):
            # Mutable model (or a subclass): the receiver gets its own copy, so
            # nothing is shared.
            try:
                return msg.model_copy(deep=True)  # type: ignore[attr-defined]
            except Exception as exc:
                raise MessageTypeError(
                    child.path, msg, child.accepts, field=_uncopyable(msg, ""), error=exc
                ) from exc
        raise MessageTypeError(child.path, msg, child.accepts)

    def cast_nowait(self, msg: MsgT) -> None:
        """Send without waiting.

        A message to an actor that is not running is dead-lettered.

        Raises:
            MessageTypeError: the actor does not accept this type.
            MailboxFull: the mailbox is at capacity.
        """
        child = self._child
        # The common case first, inline: a shared (immutable) model needs no copy.
        if type(msg) not in child.share_types:
            msg = self._checked(msg)  # type: ignore[assignment]
        process = child.process
        if process is None:
            child.dead_letters.add(child.path, msg, "not_running")
            return
        try:
            process.mailbox.put_nowait(msg)  # type: ignore[attr-defined]
        except MailboxClosed:
            child.dead_letters.add(child.path, msg, "not_running")

    async def cast(self, msg: MsgT) -> None:
        """Send; when the mailbox is full, wait for room (or raise, per its overflow policy).

        Raises:
            MessageTypeError: the actor does not accept this type.
            MailboxFull: the mailbox is full and its overflow policy is ``fail``.
        """
        child = self._child
        if child.fail_when_full:
            self.cast_nowait(msg)
            return
        checked = self._checked(msg)
        process = child.process
        if process is None:
            child.dead_letters.add(child.path, checked, "not_running")
            return
        try:
            await process.mailbox.put(checked)  # type: ignore[attr-defined]
        except MailboxClosed:
            child.dead_letters.add(child.path, checked, "not_running")

    @overload
    async def call(
        self,
        msg: Request[ReplyT],
        timeout: float | None = 5.0,
        *,
        retry_while_restarting: bool = False,
    ) -> ReplyT: ...
    @overload
    async def call(
        self, msg: MsgT, timeout: float | None = 5.0, *, retry_while_restarting: bool = False
    ) -> Any: ...
    async def call(
        self,
        msg: MsgT | Request[Any],
        timeout: float | None = 5.0,
        *,
        retry_while_restarting: bool = False,
    ) -> Any:
        """Send and wait for the reply (the handler's return value).

        Exactly one outcome: the reply, or one of the errors below. A late reply
        after a timeout is discarded. The reply is typed for a `Request` message
        (``class Get(Request[int])``: ``await ref.call(Get())`` is an ``int``).

        Args:
            msg: an instance of one of the actor's declared message models.
            timeout: seconds to wait in all (including for mailbox room, and for
                a restart with ``retry_while_restarting``), or None.
            retry_while_restarting: if nothing of the call ran because the actor
                is between a crash and its restart (`ActorNotRunningError`, or
                `CallDroppedError` for a call still queued when it crashed), wait
                until it runs again and send once more, all within ``timeout``.
                Never after `CallFailedError` or `ActorExitedError`: the handler
                may have run. See docs/actors.md, "Calls across a restart".

        Raises:
            MessageTypeError: the actor does not accept this type.
            CallTimeoutError: no reply within ``timeout``.
            CallFailedError: the handler raised; the actor crashed.
            CallDroppedError: the actor ended before it took the call from its mailbox.
            ActorExitedError: the actor ended before replying.
            ActorNotRunningError: nothing runs behind this ref now (with
                ``retry_while_restarting``: it did not run again within ``timeout``,
                or its supervisors up to the root have stopped: ``stopped``).
            CallingSelfError: an actor called itself.
            MailboxFull: the mailbox is full and its overflow policy is ``fail``.
        """
        if retry_while_restarting:
            return await self._call_across_restarts(msg, timeout)
        child = self._child
        # The common case first, inline: a shared (immutable) model needs no copy.
        checked = msg if type(msg) in child.share_types else self._checked(msg)
        process: ActorProcess | None = child.process  # type: ignore[assignment]
        if process is None:
            raise ActorNotRunningError(child.path)
        mailbox = process.mailbox
        parked = mailbox.parked
        if parked is not None:
            # A consumer parked on its mailbox is not the task calling, and its loop
            # is the caller's: no need to ask asyncio (`get_running_loop` costs a
            # getpid() system call on CPython 3.11, about 0.2 µs of a call).
            loop: asyncio.AbstractEventLoop = mailbox.loop  # type: ignore[assignment]
        else:
            loop = asyncio.get_running_loop()
            if asyncio.current_task(loop) is process.task:
                raise CallingSelfError(child.path)
        future: asyncio.Future[Any] = (
            Future(loop=loop) if mailbox.plain_futures else loop.create_future()
        )
        envelope = Call()
        envelope.message = checked
        envelope.future = future
        if child.metrics is not None:
            envelope.sent = perf_counter()
        try:
            if parked is not None and not mailbox.items and not mailbox.putters:
                # `Mailbox.put_nowait`'s hand-over, inline (its Python frame is about
                # 1 % of a call round trip): the parked consumer wakes with the call.
                mailbox.parked = None
                try:
                    parked.set_result(envelope)
                except asyncio.InvalidStateError:  # its wait was cancelled: queue the call
                    mailbox.put_nowait(envelope)
            else:
                mailbox.put_nowait(envelope)
        except MailboxClosed:
            raise ActorNotRunningError(child.path) from None
        except Exception:
            if child.fail_when_full:
                raise
            # Full: waiting for room counts against the same timeout.
            deadline = None if timeout is None else loop.time() + timeout
            try:
                async with asyncio.timeout_at(deadline):
                    await mailbox.put(envelope)
            except MailboxClosed:
                raise ActorNotRunningError(child.path) from None
            except TimeoutError:
                assert timeout is not None
                raise CallTimeoutError(child.path, checked, timeout) from None
            if deadline is not None:
                assert timeout is not None
                timer = loop.call_at(deadline, _expire, future, child.path, checked, timeout)
                try:
                    return await future
                finally:
                    timer.cancel()
        if timeout is None:
            return await future
        # One timer per timeout value, not one per call (see _deadlines), armed
        # inline (`_Bucket.add` without its frame); the slot keeps the bucket.
        bucket = child.timeouts
        if bucket is None or bucket.timeout != timeout:
            bucket = child.timeouts = call_timeouts(loop).bucket(timeout)
        clock = bucket.clock
        deadline = (loop.time() if clock is None else clock()) + timeout
        bucket.pending[future] = deadline
        if not bucket.armed:
            bucket.arm(loop, deadline)
        try:
            return await future
        except Expired:
            raise CallTimeoutError(child.path, checked, timeout) from None
        finally:
            bucket.discard(future, None)

    async def _call_across_restarts(self, msg: object, timeout: float | None) -> Any:
        child = self._child
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                return await self.call(msg, left)  # type: ignore[arg-type]
            except (ActorNotRunningError, CallDroppedError):
                pass  # nothing of it ran: safe to send again once it runs
            except CallTimeoutError as exc:
                # Report the caller's timeout, not what was left of it at the last try.
                raise CallTimeoutError(
                    child.path, exc.message, exc.timeout if timeout is None else timeout
                ) from None
            if not await _until_running(child, deadline):
                raise ActorNotRunningError(child.path, waited=timeout)

    async def stop(self, reason: ExitReason = NORMAL) -> None:
        """Stop the actor after the messages already queued, and wait until it has ended.

        Its ``on_stop`` runs. The supervisor then applies the restart type: a
        permanent child is restarted (as with OTP's ``gen_server:stop``); use the
        supervisor's ``terminate_child`` to stop it for good.
        """
        process = cast("ActorProcess | None", self._child.process)
        if process is None:
            return
        if asyncio.current_task() is process.task:
            process.request_stop(reason)
            return
        try:
            process.stop_after_queued(reason)
        except MailboxClosed:
            pass  # it is ending already; wait for that below
        await process.wait(None)

    def kill(self) -> None:
        """Kill the actor now: cancel it, without ``on_stop``; the reason is ``killed``."""
        process = self._child.process
        if process is not None:
            process.kill("ref.kill()")

    def statistics(self) -> ActorStatistics:
        """A snapshot: the mailbox, and the loop watchdog's block counts.

        .. versionadded:: 0.1
        """
        child = self._child
        process = child.process
        mailbox = None
        if process is not None and process.reason is None:
            box: Mailbox[object] | None = getattr(process, "mailbox", None)
            mailbox = None if box is None else box.statistics()
        return ActorStatistics(
            mailbox=mailbox,
            blocks=child.blocks,
            longest_block=child.longest_block,
        )


@final
class SupervisorRef(Watchable):
    """A handle to a supervisor's child slot: dynamic children and inspection.

    The supervisor works on one request at a time (as in OTP); each method
    waits for its turn.

    .. versionadded:: 0.1
    """

    __slots__ = ()

    def _supervisor(self) -> Supervisor:
        process = self._child.process
        if process is None:
            raise ActorNotRunningError(self._child.path)
        return cast("Supervisor", process)

    async def start_child(
        self, spec: AnyChildSpec | dict[str, Any] | list[Any] | None = None
    ) -> ActorRef[Any] | SupervisorRef | TaskRef | None:
        """Add a child after the existing ones and start it (OTP ``start_child``).

        Returns the new child's ref, or None if its ``on_start`` raised
        `Ignore` (OTP's ``{ok, undefined}``): nothing runs, and a permanent or
        transient child stays in the list, stopped, for ``restart_child``
        (a dynamic supervisor's, or a temporary one, is dropped).

        For a dynamic supervisor pass any child spec (started under the name
        ``<spec name>-<n>``), or what varies for a new instance of its
        template: None (the template as it is), a dict (an actor's ``args``, a
        task's ``kwargs``) or, for a task template, a list (its positional
        ``args``). Without a template, a dict is a spec's fields.

        A dynamic supervisor that is idle starts a child that needs no waiting
        (no ``on_start``) right in the caller's task, without a round trip and
        without yielding to the loop; the order of requests is the same as
        through its inbox (see `DynamicSupervisor.start_child_now`).

        Raises:
            ChildError: the name is taken, or max_children is reached.
            StartError: the child failed to start; its spec is not kept.
        """
        supervisor = self._supervisor()
        ref = supervisor.start_child_now(spec)
        if ref is None:
            ref = await supervisor.request(StartChild(spec))
        return ref

    async def async_(
        self,
        fn: Callable[..., Awaitable[ResultT]],
        /,
        *args: Any,
        shutdown: float | str = 5.0,
    ) -> AsyncTask[ResultT]:
        """Start ``fn(*args)`` as a task of this dynamic supervisor; await it for its value.

        Elixir's ``Task.Supervisor.async``: a temporary task child (named after
        the function, ``<name>-<n>``), linked to the calling actor or task if
        the caller is one of this tree (a crash of either crashes the other,
        by the rules of links). ``await`` on the returned `AsyncTask` gives the
        return value, or raises `TaskExitedError` (a crash's exception as its
        ``__cause__``).

        Raises:
            UsageError: this is not a dynamic supervisor.
            SpecError: ``fn`` is not an async function, or ``args`` do not fit it.
            ChildError: ``max_children`` is reached (code ``max_children``).

        .. versionadded:: 0.1
        """
        return await start_async(self, fn, args, shutdown, linked=True)

    async def async_nolink(
        self,
        fn: Callable[..., Awaitable[ResultT]],
        /,
        *args: Any,
        shutdown: float | str = 5.0,
    ) -> AsyncTask[ResultT]:
        """`async_` without the link (Elixir's ``Task.Supervisor.async_nolink``).

        A crash reaches the caller only through ``await`` (`TaskExitedError`),
        and the task outlives a caller that ends.

        .. versionadded:: 0.1
        """
        return await start_async(self, fn, args, shutdown, linked=False)

    def async_stream(
        self,
        fn: Callable[[Any], Awaitable[ResultT]],
        items: Iterable[Any] | AsyncIterable[Any],
        *,
        max_concurrency: int | None = None,
        ordered: bool = True,
        timeout: float | None = 5.0,
        on_timeout: Literal["exit", "kill_task"] = "exit",
        shutdown: float | str = 5.0,
    ) -> TaskStream[ResultT]:
        """Map ``fn`` over ``items``, at most ``max_concurrency`` calls at once, supervised.

        Elixir's ``Task.Supervisor.async_stream``. The stream is one temporary
        task child of this dynamic supervisor (started at the first step of
        the iteration, linked to the calling actor or task as `async_` is);
        iterating gives one `TaskResult` per item, in input order unless
        ``ordered=False``. A call that raises crashes the stream: the
        iteration raises `TaskExitedError`. A call that runs past ``timeout``
        seconds crashes it too (``on_timeout="exit"``), or is cancelled and
        gives a result with ``exit`` ``killed`` (``on_timeout="kill_task"``).

        Args:
            fn: an async function of one item.
            items: any iterable, or async iterable (an async generator); read
                one item at a time, as calls finish, never far ahead of the
                consumer. An exception raised while reading it crashes the stream.
            max_concurrency: calls running at once (default: the CPU count,
                as Elixir's schedulers online).
            ordered: results in input order (a result waits for the earlier
                ones); else as they come.
            timeout: seconds each call may take, or None.
            on_timeout: ``exit`` or ``kill_task``, as above.
            shutdown: the child's shutdown: how long the calls in flight get
                to end once cancelled.

        Raises:
            SpecError: ``fn`` is not an async function.
            ArgumentError: a bad ``max_concurrency``, ``timeout`` or ``on_timeout``.

        .. versionadded:: 0.1
        """
        return async_stream(
            self,
            fn,
            items,
            max_concurrency=max_concurrency,
            ordered=ordered,
            timeout=timeout,
            on_timeout=on_timeout,
            shutdown=shutdown,
            linked=True,
        )

    def async_stream_nolink(
        self,
        fn: Callable[[Any], Awaitable[ResultT]],
        items: Iterable[Any] | AsyncIterable[Any],
        *,
        max_concurrency: int | None = None,
        ordered: bool = True,
        timeout: float | None = 5.0,
        on_timeout: Literal["exit", "kill_task"] = "exit",
        shutdown: float | str = 5.0,
    ) -> TaskStream[ResultT]:
        """`async_stream` without the link: a call that raises gives a result with ``exit``.

        Elixir's ``Task.Supervisor.async_stream_nolink``: the result's
        ``exit`` is the crash (its exception), and the stream goes on.

        .. versionadded:: 0.1
        """
        return async_stream(
            self,
            fn,
            items,
            max_concurrency=max_concurrency,
            ordered=ordered,
            timeout=timeout,
            on_timeout=on_timeout,
            shutdown=shutdown,
            linked=False,
        )

    async def terminate_child(
        self, name_or_ref: str | ActorRef[Any] | SupervisorRef | TaskRef
    ) -> None:
        """Stop a child (not a restart, not counted). Its spec stays unless temporary."""
        await self._supervisor().request(TerminateChild(name_or_ref))

    async def restart_child(self, name: str) -> ActorRef[Any] | SupervisorRef | TaskRef | None:
        """Start a stopped child again (after ``terminate_child``, or an `Ignore`).

        Returns its ref, or None if it ignored its start again (`Ignore`).
        """
        return await self._supervisor().request(RestartChild(name))

    async def delete_child(self, name: str) -> None:
        """Remove a stopped child's spec."""
        await self._supervisor().request(DeleteChild(name))

    async def which_children(self) -> list[ChildInfo]:
        """The children in start order (OTP lists them newest first)."""
        return await self._supervisor().request(WhichChildren())

    async def which_child(
        self, name_or_ref: str | ActorRef[Any] | SupervisorRef | TaskRef
    ) -> ChildInfo:
        """One child's ``which_children`` row.

        Raises:
            ChildNotFoundError: no such child (``code`` ``not_found``).

        .. versionadded:: 0.1
        """
        return await self._supervisor().request(WhichChild(name_or_ref))

    async def get_childspec(
        self, name_or_ref: str | ActorRef[Any] | SupervisorRef | TaskRef
    ) -> AnyChildSpec:
        """The spec a child runs with (OTP ``get_childspec``).

        Raises:
            ChildNotFoundError: no such child (``code`` ``not_found``).

        .. versionadded:: 0.1
        """
        return await self._supervisor().request(GetChildSpec(name_or_ref))

    async def count_children(self) -> ChildCounts:
        """Counts of specs, running children, supervisors and workers."""
        return await self._supervisor().request(CountChildren())

    def statistics(self) -> SupervisorStatistics:
        """A snapshot: children running, restarts within the window."""
        return self._supervisor().statistics()

    def kill(self) -> None:
        """Kill the supervisor now, as its parent's ``brutal_kill`` does; returns at once.

        Its task is cancelled and its children are killed at once (no
        ``on_stop``, reason ``killed``, detail ``brutal_kill``), newest first; it ends
        with reason ``killed``, so its parent restarts it unless it is
        temporary. Nothing runs behind the ref: nothing happens.

        .. versionadded:: 0.1
        """
        process = self._child.process
        if process is not None:
            process.kill("ref.kill()")

    async def stop(self) -> None:
        """Stop the supervisor and its subtree in order, and wait until it has ended.

        Its parent then applies its restart type, as for any child. As with
        ``Tree.stop``, cancelling the caller does not cut the wait short: it
        returns once the subtree has ended, then the cancellation is raised.
        """
        supervisor = self._supervisor()
        supervisor.request_stop(NORMAL)
        await _until_ended(supervisor)


def accepted_messages(ref: ActorRef[Any]) -> tuple[type[BaseModel], ...]:
    """The message models the actor behind ``ref`` declares (for a node serving it remotely)."""
    return ref._child.accepts


def queue_call(ref: ActorRef[Any], msg: object) -> asyncio.Future[Any]:
    """Queue a call to ``ref`` now and return its reply future, without waiting or a timeout.

    For a node serving calls from other nodes: the call enters the mailbox in the order
    the node received it (after the casts before it), and the caller keeps the timeout.

    Raises:
        MessageTypeError: the actor does not accept this type.
        ActorNotRunningError: nothing runs behind the ref.
        MailboxFull: the mailbox is full (whatever its overflow policy: nothing waits here).
    """
    child = ref._child
    checked = msg if type(msg) in child.share_types else ref._checked(msg)
    process: ActorProcess | None = child.process  # type: ignore[assignment]
    if process is None:
        raise ActorNotRunningError(child.path)
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    try:
        process.mailbox.put_nowait(new_call(checked, future))
    except MailboxClosed:
        raise ActorNotRunningError(child.path) from None
    return future
