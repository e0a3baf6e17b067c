"""Processes: one incarnation of a child; today each runs as an asyncio task.

A `Process` is what a supervisor starts, stops and kills, and what refs,
monitors and links hold: the seam between them and wherever the child runs.
`LoopProcess` runs it as a task on the tree's event loop: an actor
(`ActorProcess`), a plain task (`supervise._task.TaskProcess`) or a supervisor
(`supervise._supervisor.Supervisor`). Each process ends exactly once with an
`ExitReason`, and then tells its parent through ``on_exit`` unless the parent
is the one terminating it.

Kill in asyncio is cooperative: ``kill`` cancels the task, which a coroutine can
swallow or ignore by blocking the loop. The parent therefore waits a bounded
grace period after a kill and then *abandons* the task (closes its mailbox,
fails its callers, reports it) so shutdown always ends in bounded time. This is
where we cannot match the BEAM's untrappable ``kill``.
"""

from __future__ import annotations

import asyncio
import inspect
from asyncio import Future
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final, Literal

from . import _log
from ._errors import ActorExitedError, ArgumentError, CallDroppedError, CallFailedError
from ._mailbox import Mailbox
from ._reason import NORMAL, ExitReason, Ignore, crash, ends_program, ignored, killed, shutdown
from .events import Event

#: The end of a process whose event loop was closed under it: `_finish` then
#: touches nothing (no future, no callback: they would fail with "Event loop is
#: closed"), since nothing can run on that loop any more and nobody waits.
CLOSED_WITH_LOOP: Final = killed("its event loop was closed")

if TYPE_CHECKING:
    from ._actor import Actor
    from ._child import Child


class Exit(Exception):  # a signal, as SystemExit, not an error
    """Raise it to end the incarnation with a reason of its choosing, as Erlang's ``exit/1``.

    An actor's ``on_stop`` (or a task that caught its cancellation) ends with
    ``normal`` or ``shutdown`` (optionally with a detail) whatever the stop
    asked for, as an OTP ``terminate/2`` may call ``exit(Reason)``::

        async def on_stop(self, reason: ExitReason) -> None:
            await self.flush()
            raise Exit("shutdown", "drained")   # OTP's exit({shutdown, drained})

    The supervisor then decides on that reason (a transient child ending
    ``shutdown`` is not restarted), and monitors see it. A plain task may
    raise it at any time. It cannot hide a crash or a kill: after a crash
    ``on_stop`` runs best effort and the crash stands; after a kill nothing runs.

    From ``handle`` it stops the actor with that reason, as a gen_server
    callback returning ``{stop, Reason, State}``: a stop, not a crash.
    ``on_stop`` runs with the reason; the call being handled gets no reply (its
    caller gets `ActorExitedError` with the reason, as for any actor that ends
    while handling a call) and the calls queued behind it `CallDroppedError`.
    ``self.stop(detail)`` instead replies, then stops. The same with the
    handler in a thread or a worker process (``execution``), and in an
    isolated actor, whose calls in flight all get `ActorExitedError`. From
    ``on_start`` it fails the start (`StartError`), as an ``init`` returning
    ``{stop, Reason}``; ``raise Ignore(...)`` declines to run.

    Args:
        kind: ``"normal"`` (default) or ``"shutdown"``.
        detail: for ``shutdown``, an optional detail (OTP's ``{shutdown, Detail}``).

    Attributes:
        reason: the `ExitReason` the incarnation ends with.

    Raises:
        ArgumentError: ``kind`` is neither, or ``normal`` is given a detail.

    .. versionadded:: 0.1
    """

    def __init__(
        self, kind: Literal["normal", "shutdown"] = "normal", detail: str | None = None
    ) -> None:
        if kind == "normal" and detail is None:
            self.reason = NORMAL
        elif kind == "shutdown":
            self.reason = shutdown(detail)
        else:
            problem = (
                "a normal end has no detail; use Exit('shutdown', detail)"
                if kind == "normal"
                else f"got {kind!r}; an incarnation may choose 'normal' or 'shutdown'"
            )
            raise ArgumentError("Exit kind", problem)
        super().__init__(str(self.reason))


class Call:
    """A call envelope: the message and the caller's reply future.

    Made with ``Call()`` and its two fields set by the caller: an ``__init__``
    would cost every call a Python frame run from C (about 50 ns of a 4 µs call
    round trip, `python -m timeit`). ``sent`` (`time.perf_counter`) is set by
    the caller only when the actor's child slot counts metrics; only then is it
    read.
    """

    __slots__ = ("future", "message", "sent")

    message: object
    future: asyncio.Future[Any]
    sent: float


def new_call(message: object, future: asyncio.Future[Any]) -> Call:
    """A `Call` of ``message`` answered through ``future`` (off the busy path)."""
    call = Call()
    call.message = message
    call.future = future
    return call


class _Stop:
    """A stop request queued behind the messages (``ActorRef.stop``)."""

    __slots__ = ("reason",)

    def __init__(self, reason: ExitReason) -> None:
        self.reason = reason


class Process:
    """One incarnation of a child, wherever it runs: the execution seam.

    Supervisors, refs, monitors, links and timers reach a child only through
    its slot's current `Process` and use only what is defined here (and, for
    an actor, the ``mailbox`` refs put messages in and `ActorProcess`'s
    ``stop_after_queued``); none of them asks where the child runs.

    - Lifecycle, driven by the supervisor: `start`, then `started` or
      `pending_start` for readiness; `request_stop` (graceful, with a reason),
      `kill` (forced, reason ``killed``), `abandon` (give up on an end that does
      not come), `wait`.
    - The end: `reason` is set exactly once; then exit callbacks run (monitors,
      links, timers: `add_exit_callback`), then ``on_end``, then ``on_exit``
      (the parent) unless the parent was ``terminating`` it.
    - ``task``: the asyncio task running this incarnation's own code on this
      loop, if any; a ref uses it to refuse waiting on itself from inside.

    `LoopProcess` is the implementation for children that run as a task on the
    tree's event loop (all of them today). A child run in a worker thread, an
    OS process of its own or on another node is another subclass, picked by
    `supervise._launch.launch`, that ends once with an `ExitReason` like this.
    """

    __slots__ = (
        "_exit_callbacks",
        "_kill_reason",
        "_started",
        "child",
        "on_end",
        "on_exit",
        "path",
        "reason",
        "task",
        "terminating",
    )

    task: asyncio.Task[None] | None

    def __init__(self, child: Child, *, ready: bool = False) -> None:
        """``ready``: the process is ready as soon as its task exists (nothing to wait for)."""
        self.child: Child = child
        self.path: str = child.path
        self.task = None
        # The future `started` returns, made when first asked for; until then True
        # (ready) or False (not yet). An idle actor then costs no future, and a
        # restart makes none inside its latency unless someone waits for it.
        self._started: asyncio.Future[None] | bool = ready
        #: Set once, when the process has ended (or been abandoned).
        self.reason: ExitReason | None = None
        #: Set by the parent while it terminates this process: its exit is expected.
        self.terminating: bool = False
        self.on_exit: Callable[[Process], None] | None = None
        #: Called when the process ends, terminating or not: the parent's countdown
        #: while it waits for a group of children to end (`Supervisor._wait_all`).
        self.on_end: Callable[[Process], None] | None = None
        self._kill_reason: ExitReason | None = None
        # Monitors, links and timers of this incarnation; created on first use.
        self._exit_callbacks: dict[object, Callable[[Process], None]] | None = None

    @property
    def done(self) -> bool:
        return self.reason is not None

    @property
    def started(self) -> asyncio.Future[None]:
        """Resolved once the process is ready, or failed with why it could not start."""
        started = self._started
        if started is True or started is False:
            # On its task's loop: `_finish` may ask while no loop runs (a task
            # destroyed between two runs of its loop).
            task = self.task
            loop = asyncio.get_running_loop() if task is None else task.get_loop()
            future: asyncio.Future[None] = loop.create_future()
            if started:
                future.set_result(None)
            self._started = started = future
        return started

    @property
    def ready(self) -> bool:
        """Whether the process is ready (its start is done), asked without making a future."""
        started = self._started
        if started is True or started is False:
            return started
        return started.done() and not started.cancelled() and started.exception() is None

    def pending_start(self) -> asyncio.Future[None] | None:
        """The future to await for readiness (failed if the start failed), or None if ready.

        None too if the start's waiter gave up (cancelled it): nobody waits any more.
        """
        if self._started is True:
            return None
        started = self.started
        if started.done() and (started.cancelled() or started.exception() is None):
            return None
        return started

    def prepare_next(self) -> None:
        """Prepare what the next incarnation's start can make ahead; its parent calls it
        after a restart, outside any restart's latency. Nothing, by default."""

    def _set_ready(self) -> None:
        """The start is done: resolve `started` (if anyone asked), and tell a restart that waits.

        Every process becomes ready through here. A restart begun in the exiting
        task (`Supervisor._restart_in_place`) leaves its rest queued without
        waking the supervisor: the new incarnation wakes it here, once ready,
        after the restart's latency. (An end before that reaches the supervisor
        through ``on_exit``, which wakes it.)
        """
        started = self._started
        if started is False:
            self._started = True
        elif started is not True and not started.done():
            started.set_result(None)
        child = self.child
        if child.restarting and child.supervisor is not None:
            child.supervisor.restarted_child_ready()

    def start(self) -> None:
        """Start running. The caller awaits `started` (or `pending_start`) for readiness."""
        raise NotImplementedError

    def request_stop(self, reason: ExitReason) -> None:
        """Ask for a graceful stop with ``reason``; returns at once."""
        raise NotImplementedError

    def kill(self, detail: str) -> None:
        """Force the end now, without ``on_stop``; the reason will be ``killed``."""
        raise NotImplementedError

    async def wait(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: for ever) for the end; True if it ended."""
        raise NotImplementedError

    def abandon(self) -> None:
        """Give up on a task that does not end: finish it as ``killed`` without it."""
        self._finish(self._kill_reason or killed("abandoned"))

    def add_exit_callback(self, key: object, callback: Callable[[Process], None]) -> None:
        """Call ``callback(self)`` once when this incarnation ends (monitors, links, timers).

        The caller checks first that the process has not ended; ``key`` lets
        `remove_exit_callback` withdraw it.
        """
        callbacks = self._exit_callbacks
        if callbacks is None:
            callbacks = self._exit_callbacks = {}
        callbacks[key] = callback

    def remove_exit_callback(self, key: object) -> None:
        """Withdraw a callback added under ``key``, if it is still there."""
        if self._exit_callbacks is not None:
            self._exit_callbacks.pop(key, None)

    def _finish(self, reason: ExitReason) -> None:
        if self.reason is not None or reason is CLOSED_WITH_LOOP:
            return
        self.reason = reason
        started = self._started
        if started is not True and (started is False or not started.done()):
            started = self.started  # whoever asks later learns that it never became ready
            started.set_exception(ActorExitedError(self.path, reason))
            started.exception()  # retrieved here: nobody may be waiting for it
        self._release(reason)
        callbacks = self._exit_callbacks
        if callbacks:
            # Before the parent hears of the exit: a watcher's Down precedes any restart.
            self._exit_callbacks = None
            for callback in list(callbacks.values()):
                callback(self)
        if self.on_end is not None:
            self.on_end(self)
        if self.on_exit is not None and not self.terminating:
            self.on_exit(self)

    def _fail_started(self, exc: BaseException) -> None:
        """Fail `started` with ``exc``, unless its waiter gave up (cancelled it)."""
        started = self.started
        if not started.done():
            started.set_exception(exc)

    def _release(self, reason: ExitReason) -> None:
        """Free what the process holds; subclasses fail their callers here."""

    def _loop_closed(self) -> bool:
        """Whether its end can no longer be reported (its event loop is gone)."""
        return False


class LoopProcess(Process):
    """A process that runs as a task on the tree's event loop: the in-loop execution.

    Its code is `_main`, run as one asyncio task named after the child's path.
    A kill cancels that task; a task that swallows the cancellation or blocks
    the loop cannot be stopped by force, so the supervisor abandons it after a
    grace period (see `supervise._shutdown`).
    """

    __slots__ = ()

    task: asyncio.Task[None] | None

    def start(self) -> None:
        """Create the task. The caller awaits `started` if it needs readiness."""
        # Logs from inside carry the actor, incarnation and tree (this start's number).
        context = _log.incarnation_context(self.path, self.child.incarnation + 1)
        self.task = asyncio.get_running_loop().create_task(
            self._main(), name=self.path, context=context
        )

    def _cancel_task(self) -> None:
        """Cancel the task; if it has not taken its first step, finish when it ends.

        A task cancelled before its first step never runs ``_main``'s
        ``finally``, so `_task_done` reports the end instead. The done callback
        is added only then, not to every task: it would cost each incarnation a
        bound method, a context copy and a loop callback when it ends (about
        10% of stopping a big pool, and a loop pass inside every restart).
        """
        task = self.task
        assert task is not None
        task.cancel()
        coro = task.get_coro()
        if inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if self.reason is None:
            self._finish(self._kill_reason or killed("cancelled before it ran"))

    async def _main(self) -> None:
        raise NotImplementedError

    def kill(self, detail: str) -> None:
        """Force the end: cancel the task; the reason will be ``killed``."""
        if self.reason is not None or self.task is None:
            return
        if self._kill_reason is None:
            self._kill_reason = killed(detail)
        self._cancel_task()

    def _loop_closed(self) -> bool:
        """Whether the task's loop was closed under it.

        A loop closed with tasks still pending destroys them, and each coroutine
        is closed (`GeneratorExit`) when it is collected. Nothing can run on that
        loop any more and nobody waits for the process: its end must touch no
        future or callback, which would fail with "Event loop is closed".
        """
        task = self.task
        return task is not None and task.get_loop().is_closed()

    def _cancelled(self, exc: BaseException) -> bool:
        """Whether ``exc`` is this task being cancelled (a kill, a stop, its loop ending).

        A `CancelledError` that a hook raises while nobody cancels this task
        (it awaited a future someone else cancelled, or raised one) is not a
        kill but a crash like any other exception.
        """
        if not isinstance(exc, asyncio.CancelledError):
            return False
        task = self.task
        return self._kill_reason is not None or task is None or task.cancelling() > 0

    def _closed_reason(self) -> ExitReason:
        """The reason to end with when the coroutine is closed from outside (`_closing`)."""
        if self._loop_closed():
            return CLOSED_WITH_LOOP
        return self._kill_reason or killed("its task was destroyed")

    def _closing(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the coroutine being closed from outside, not raised by a hook.

        `GeneratorExit` thrown in by ``coroutine.close()`` (its task destroyed
        pending) must end the coroutine without awaiting; one that a hook raises
        while the task runs is a crash like any other exception.
        """
        if type(exc) is not GeneratorExit:
            return False
        try:
            return asyncio.current_task() is not self.task
        except RuntimeError:  # no loop is running: closed after its loop stopped
            return True

    async def wait(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: for ever) for the end; True if it ended."""
        task = self.task
        if self.reason is not None or task is None:
            return True
        if task.done():
            return True
        done, _ = await asyncio.wait((task,), timeout=timeout)
        return bool(done) or self.reason is not None


class ActorProcess(LoopProcess):
    """An actor incarnation: its mailbox and its message loop."""

    __slots__ = (
        "_current",
        "_stop_reason",
        "actor",
        "calls",
        "casts",
        "handling",
        "mailbox",
        "stop_bound",
    )

    task: asyncio.Task[None] | None

    def __init__(
        self, child: Child, actor: Actor[Any], mailbox: Mailbox[object], stop_bound: float | None
    ) -> None:
        # `Process.__init__`, inline: a call of it from here costs every restart about
        # 0.2 µs of its latency (W5, uvloop); `tests/test_process.py` checks that
        # both set the same fields. Without on_start there is nothing to wait for:
        # ready as soon as the task exists.
        self.child: Child = child
        self.path: str = child.path
        self.task = None
        self._started: asyncio.Future[None] | bool = not actor._has_on_start
        self.reason: ExitReason | None = None
        self.terminating: bool = False
        self.on_exit: Callable[[Process], None] | None = None
        self.on_end: Callable[[Process], None] | None = None
        self._kill_reason: ExitReason | None = None
        self._exit_callbacks: dict[object, Callable[[Process], None]] | None = None
        #: The actor instance; None once the incarnation has ended.
        self.actor: Actor[Any] | None = actor
        self.mailbox: Mailbox[object] = mailbox
        #: How long on_stop may take after a crash (the child's shutdown seconds).
        self.stop_bound: float | None = stop_bound
        self._stop_reason: ExitReason | None = None
        self._current: Call | None = None
        #: Casts taken from the mailbox and calls answered by this incarnation
        #: (live introspection: `Tree.snapshot`); one integer increment per message.
        self.casts: int = 0
        self.calls: int = 0
        #: The item in hand (a message or a `Call`), for the loop watchdog's thread
        #: to name: one plain store per message, kept after the handler returns.
        self.handling: object = None
        # A private write across classes, on purpose: an `Actor` is the user's
        # subclass, so a setter method would sit in their namespace, and actors
        # are a layer above processes (`_actor` imports us, not the reverse).
        actor._process = self

    def start(self) -> None:
        """Create the task; its first step binds the log context unless it was made ahead.

        See `_run` and `prepare_next`.
        """
        child = self.child
        incarnation = child.incarnation + 1
        context = _log.take_context(self.path, incarnation) if incarnation > 1 else None
        loop = child.loop
        if loop is None:
            loop = child.loop = asyncio.get_running_loop()
        self.task = loop.create_task(
            self._run(incarnation if context is None else None), name=self.path, context=context
        )

    def prepare_next(self) -> None:
        """Make the next incarnation's log context ahead (`_log.prepare_context`)."""
        _log.prepare_context(self.path, self.child.incarnation + 1)

    def request_stop(self, reason: ExitReason) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
        self.mailbox.wake()

    def crash_after_handler(self, reason: ExitReason) -> None:
        """End with ``reason`` (a crash) once the message in hand is handled."""
        if self._stop_reason is None:
            self._stop_reason = reason
        self.mailbox.wake()

    def stop_after_queued(self, reason: ExitReason) -> None:
        """Stop once the messages queued before this request are handled."""
        self.mailbox.put_control(_Stop(reason))

    def kill(self, detail: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = killed(detail)
        super().kill(detail)

    async def _run(self, incarnation: int | None) -> None:
        """The incarnation's code: `LoopProcess._main`, given its number to log with.

        The task copied its creator's context, as `LoopProcess.start`'s
        `_log.incarnation_context` does; the binding happens here, in the task's
        first step, rather than in whichever task starts it (on a restart, the
        exiting incarnation's, inside the restart's latency). None: the task
        runs in a context made ahead with it bound (`prepare_next`).
        """
        if incarnation is not None:  # None: its context was made with it bound
            _log.bind_incarnation(self.path, incarnation)
        actor = self.actor
        assert actor is not None
        reason: ExitReason | None = None
        try:
            if actor._has_on_start:
                try:
                    await actor.on_start()
                except BaseException as exc:
                    if self._closing(exc) or self._cancelled(exc):
                        raise
                    if isinstance(exc, Exception):
                        self._fail_started(exc)  # an Ignore too: the supervisor tells them apart
                    # Else (GeneratorExit, KeyboardInterrupt, ...) `_finish` fails
                    # `started`, and the reason carries the exception.
                    reason = ignored(exc) if isinstance(exc, Ignore) else crash(exc)
                    return
                self._set_ready()
            # The message loop, inline (a coroutine of its own would cost every
            # idle actor another frame). It is the mailbox's one consumer: it
            # reads the queue directly and drains it before waiting again.
            mailbox = self.mailbox
            # The slot's (`start` set it), kept on the mailbox for its callers.
            loop = self.child.loop
            assert loop is not None
            mailbox.bind(loop)
            # No more locals than needed: each is 8 bytes of every idle actor's frame
            # (``future`` is the start's, the park's and a call's in turn).
            item: Any  # a message, a `Call` or a `_Stop`, told apart by its type
            while self._stop_reason is None:
                if not mailbox.items:
                    # Park (`Mailbox.waiter`, inline): whoever puts an item or wakes
                    # the mailbox clears ``parked`` and resolves it, with the item
                    # handed over or None.
                    future = mailbox.parked = (
                        Future(loop=loop) if mailbox.plain_futures else loop.create_future()
                    )
                    try:  # free on 3.11+ while nothing is raised
                        item = await future
                    except BaseException:
                        mailbox.take_back(future)
                        raise
                    # The mailbox's high-water mark, sampled once per wake-up (the
                    # items queued behind one handed over count too).
                    if mailbox.items and len(mailbox.items) > mailbox.high_water:
                        mailbox.high_water = len(mailbox.items)
                    if item is None:
                        continue
                    self.handling = item
                else:
                    # `Mailbox.get_nowait`, inline: the oldest item, then room for a
                    # waiting sender.
                    item = self.handling = mailbox.items.popleft()
                    if mailbox.putters:
                        mailbox.wake_putter()
                kind = type(item)
                try:  # free on 3.11+ while nothing is raised
                    if kind is Call:
                        self._current = item
                        reply = await actor.handle(item.message)
                        self._current = None
                        try:
                            item.future.set_result(reply)
                        except asyncio.InvalidStateError:
                            pass  # a timed-out or cancelled caller has gone: drop the reply
                        self.calls += 1
                        # Its call latencies, if the tree exports metrics (read here
                        # rather than kept: a local is 8 bytes of every idle actor).
                        if self.child.metrics is not None:
                            self.child.metrics.observe(perf_counter() - item.sent)
                    elif kind is _Stop:
                        self._stop_reason = item.reason
                    else:
                        self.casts += 1
                        await actor.handle(item)
                except Exit as exc:
                    self._exit_from_handle(exc.reason)
            reason = self._stop_reason
            if self._kill_reason is not None:
                reason = self._kill_reason
                return
            assert reason is not None
            if actor._has_on_stop:
                try:
                    await actor.on_stop(reason)
                except BaseException as exc:
                    if self._closing(exc) or self._cancelled(exc):
                        raise
                    if isinstance(exc, Exit):  # it chose its reason; a crash stands
                        if reason.is_normal:
                            reason = exc.reason
                    else:
                        _log.emit(Event.ON_STOP_FAILED, actor=self.path, **crash(exc).log_fields())
                        reason = crash(exc)
        except BaseException as exc:
            # Whatever escapes a handler, except this task's own cancellation, is
            # a crash: GeneratorExit and other BaseExceptions too, or asyncio would
            # report it only as "Task exception was never retrieved" (and re-raise
            # KeyboardInterrupt and SystemExit out of the loop, past every
            # on_stop). The supervisor decides what KeyboardInterrupt and
            # SystemExit mean.
            # The checks' first tests inline: a crash, the common case here, is
            # neither, and skips two calls inside the restart's latency.
            if type(exc) is GeneratorExit and self._closing(exc):
                reason = self._closed_reason()
                raise
            if isinstance(exc, asyncio.CancelledError) and self._cancelled(exc):
                reason = self._kill_reason or killed("cancelled")
                return
            reason = crash(exc)
            if self._current is not None:  # the caller learns of the crash before on_stop runs
                self._fail_current(reason)
            if actor._has_on_stop:
                try:
                    reason = await self._on_stop_after_crash(actor, reason)
                except GeneratorExit:  # closed from outside (on_stop's own are caught in there)
                    reason = self._closed_reason()
                    raise
        finally:
            self._finish(reason or self._kill_reason or killed("cancelled"))

    def _exit_from_handle(self, reason: ExitReason) -> None:
        """``handle`` raised `Exit`: stop with its reason, as OTP's ``{stop, Reason, State}``.

        A stop, not a crash: the loop ends, ``on_stop`` runs with ``reason`` and
        the supervisor decides on it. The call in hand gets no reply: its caller
        gets `ActorExitedError` with that reason, as for an actor that ended
        while handling it. A crash decided already (``on_block: crash``) stands.
        """
        stop = self._stop_reason
        if stop is None or stop.is_normal:
            stop = self._stop_reason = reason
        self._fail_current(stop)

    async def _on_stop_after_crash(self, actor: Actor[Any], reason: ExitReason) -> ExitReason:
        """Best effort: run on_stop after a crash, bounded by the shutdown time.

        Returns the end's reason: the crash, unless on_stop asked the program
        to end (KeyboardInterrupt, SystemExit), which must not be lost.
        """
        try:
            async with asyncio.timeout(self.stop_bound):
                await actor.on_stop(reason)
        except BaseException as exc:  # includes TimeoutError; the crash is what counts
            if self._closing(exc):
                return self._closed_reason()  # closing: end without awaiting again
            if self._cancelled(exc):
                raise
            if isinstance(exc, Exit):  # a chosen reason cannot hide the crash
                return reason
            _log.emit(Event.ON_STOP_FAILED, actor=self.path, **crash(exc).log_fields())
            if ends_program(exc) and not ends_program(reason.exception):
                return crash(exc)
        return reason

    def _fail_current(self, reason: ExitReason) -> None:
        current = self._current
        if current is not None and not current.future.done():
            error: ActorExitedError
            if reason.exception is not None:
                error = CallFailedError(self.path, reason)
                error.__cause__ = reason.exception
            else:
                error = ActorExitedError(self.path, reason)
            current.future.set_exception(error)
        self._current = None

    def _release(self, reason: ExitReason) -> None:
        if self._current is not None:
            self._fail_current(reason)
        left = self.mailbox.close()
        if left:
            dead_letters = self.child.dead_letters
            for item in left:
                if type(item) is Call:
                    if not item.future.done():
                        item.future.set_exception(CallDroppedError(self.path, reason))
                    dead_letters.add(self.path, item.message, "actor_stopped")
                elif type(item) is not _Stop:
                    dead_letters.add(self.path, item, "actor_stopped")
        # The actor points back at us (``actor._process``): drop our side so the
        # ended incarnation is freed by reference counting, not by the cyclic GC.
        # Its task, if still running (abandoned), holds the actor itself.
        self.actor = None
