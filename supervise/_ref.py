"""Refs: the only way to reach an actor or a supervisor.

A ref addresses a child *slot*, not an incarnation, so it stays valid across
restarts (Akka and kameo do the same; OTP hands out a new pid). Between a crash
and the restart nothing runs behind it: casts are dead-lettered and calls
raise `ActorNotRunningError`, as OTP's ``noproc``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, final, overload

from ._deadlines import call_timeouts
from ._errors import (
    ActorNotRunningError,
    CallDroppedError,
    CallingSelfError,
    CallTimeoutError,
    MessageTypeError,
)
from ._mailbox import MailboxClosed
from ._monitor import Watchable, until_running
from ._operations import (
    CountChildren,
    DeleteChild,
    RestartChild,
    StartChild,
    TerminateChild,
    WhichChildren,
)
from ._process import ActorProcess, Call
from ._reason import NORMAL, ExitReason

if TYPE_CHECKING:
    from ._actor import Request
    from ._supervisor import ChildCounts, ChildInfo, Supervisor, SupervisorStatistics
    from ._task import TaskRef
    from .spec import AnyChildSpec

MsgT = TypeVar("MsgT")
ReplyT = TypeVar("ReplyT")


def _expire(future: asyncio.Future[Any], actor: str, message: object, timeout: float) -> None:
    if not future.done():
        future.set_exception(CallTimeoutError(actor, message, timeout))


@final
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
        if kind in child.copy_types:
            # Mutable model: the receiver gets its own copy, so nothing is shared.
            return msg.model_copy(deep=True)  # type: ignore[attr-defined]
        for accepted in child.accepts:
            if isinstance(msg, accepted):  # an instance of a subclass
                return msg.model_copy(deep=True)
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
                ``retry_while_restarting``: it did not run again within ``timeout``).
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
        loop = asyncio.get_running_loop()
        if asyncio.current_task(loop) is process.task:
            raise CallingSelfError(child.path)
        future: asyncio.Future[Any] = loop.create_future()
        envelope = Call(checked, future)
        mailbox = process.mailbox
        try:
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
        # One loop timer per timeout value, not one per call (see _deadlines).
        bucket = call_timeouts(loop).add(loop, future, timeout, child.path, checked)
        try:
            return await future
        finally:
            bucket.pending.pop(future, None)

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
            if not await until_running(child, deadline):
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
    ) -> ActorRef[Any] | SupervisorRef | TaskRef:
        """Add a child after the existing ones and start it (OTP ``start_child``).

        For a dynamic supervisor pass what varies for a new instance of its
        template: None (the template as it is), a dict (an actor's ``args``, a
        task's ``kwargs``) or, for a task template, a list (its positional ``args``).

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

    async def terminate_child(
        self, name_or_ref: str | ActorRef[Any] | SupervisorRef | TaskRef
    ) -> None:
        """Stop a child (not a restart, not counted). Its spec stays unless temporary."""
        await self._supervisor().request(TerminateChild(name_or_ref))

    async def restart_child(self, name: str) -> ActorRef[Any] | SupervisorRef | TaskRef:
        """Start a stopped child again (after ``terminate_child``)."""
        return await self._supervisor().request(RestartChild(name))

    async def delete_child(self, name: str) -> None:
        """Remove a stopped child's spec."""
        await self._supervisor().request(DeleteChild(name))

    async def which_children(self) -> list[ChildInfo]:
        """The children in start order (OTP lists them newest first)."""
        return await self._supervisor().request(WhichChildren())

    async def count_children(self) -> ChildCounts:
        """Counts of specs, running children, supervisors and workers."""
        return await self._supervisor().request(CountChildren())

    def statistics(self) -> SupervisorStatistics:
        """A snapshot: children running, restarts within the window."""
        return self._supervisor().statistics()

    async def stop(self) -> None:
        """Stop the supervisor and its subtree in order, and wait until it has ended.

        Its parent then applies its restart type, as for any child.
        """
        supervisor = self._supervisor()
        supervisor.request_stop(NORMAL)
        await supervisor.wait(None)
