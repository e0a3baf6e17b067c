"""Supervised tasks with results: Elixir's ``Task.Supervisor`` on a dynamic supervisor.

``await sup.async_(fn, *args)`` starts ``fn(*args)`` as a temporary task child
of a dynamic supervisor and returns an `AsyncTask`; awaiting it gives the
function's return value, or raises `TaskExitedError` (the exception as its
``__cause__``) if the task crashed, was killed or was stopped first::

    task = await tree.supervisor("root/tasks").async_(fetch, url)
    page = await task

``sup.async_stream(fn, items, max_concurrency=8)`` maps ``fn`` over ``items``
with at most ``max_concurrency`` calls running at once, as one supervised
child, and yields a `TaskResult` per item (in input order unless
``ordered=False``).

Linked or not, as in Elixir:

===================================  ===============================  ===========================
                                     ``async_`` / ``async_stream``    ``async_nolink`` /
                                                                      ``async_stream_nolink``
===================================  ===============================  ===========================
the caller is an actor or task of    linked to it (`supervise._link`  not linked
the same tree                        rules): a crash of one crashes
                                     the other
a call raises                        ``await`` raises                 the same / a `TaskResult`
                                     `TaskExitedError` / the stream   with ``exit`` set; the
                                     crashes and the iteration        stream goes on
                                     raises it
===================================  ===============================  ===========================

Called from code outside the tree (no incarnation to link to), the linked and
unlinked forms differ only in how a stream treats a failing call.

A stream is one child, not one per item: its calls run in ``max_concurrency``
asyncio tasks owned by that child's incarnation, each taking the next item when
it is done with one. Stopping the child (its supervisor's shutdown,
``terminate_child``, the consumer leaving) cancels the calls in flight and
waits for them within the child's ``shutdown``, as for any task child; and
nothing is taken from ``items`` any more. Item calls are not restarted and not
logged one by one: their outcomes go to the consumer.

``items`` may be an async iterable too (an async generator reading a queue or
a socket): it is read as lazily, one worker at a time (an async generator
cannot be stepped by two at once), never further ahead of the consumer than
a sync one. An exception raised while reading ``items``, sync or async, ends
the stream's child with that crash, linked or not: no item is lost unseen.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import re
import weakref
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
)
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, NamedTuple, TypeVar, cast, final

from ._errors import (
    ActorNotRunningError,
    ArgumentError,
    ChildError,
    SpecError,
    TaskExitedError,
    TaskTimeoutError,
    UsageError,
)
from ._link import link
from ._operations import StartChild
from ._reason import SHUTDOWN, ExitReason, crash, killed
from ._registry import slot_at
from .spec import _NAME_PATTERN, DynamicSupervisorSpec, Restart, TaskSpec, _is_async_callable

if TYPE_CHECKING:
    from ._operations import ChildRef, OperationHandler
    from ._process import Process
    from ._ref import SupervisorRef
    from ._registry import Registry
    from ._task import TaskRef

T = TypeVar("T")

_NAME: Final = re.compile(_NAME_PATTERN)

#: Elixir's default ``max_concurrency``: one call per scheduler (here: per CPU).
DEFAULT_MAX_CONCURRENCY: Final = os.cpu_count() or 1


def _task_name(fn: object) -> str:
    """The child's name: the function's, if it is a valid child name, else ``task``."""
    name = getattr(fn, "__name__", None)
    if isinstance(name, str) and len(name) <= 100 and _NAME.match(name):
        return name
    return "task"


def _caller(registry: Registry) -> Process | None:
    """The incarnation of ``registry``'s tree whose task is running this code, if any."""
    task = asyncio.current_task()
    if task is None:
        return None
    slot = slot_at(registry, task.get_name())
    process = slot.process if slot is not None else None
    return process if process is not None and process.task is task else None


def _check_function(where: str, fn: object, args: tuple[Any, ...]) -> None:
    if not _is_async_callable(fn):
        raise SpecError(
            where,
            f"{fn!r} is not an async function; pass a function defined as `async def f(...)`",
        )
    try:
        signature = inspect.signature(cast("Callable[..., Any]", fn))
    except (TypeError, ValueError):
        return  # nothing to check against
    try:
        signature.bind(*args)
    except TypeError as exc:
        raise SpecError(where, f"the arguments do not fit {fn!r}{signature}: {exc}") from None


def _attach(ref: ChildRef, watch: Callable[[Process], None], caller: Process | None) -> Process:
    """Watch (and link ``caller`` to) the incarnation just started, before it runs."""
    process = ref._child.process
    assert process is not None  # started, and not yet run:
    assert process.reason is None
    process.add_exit_callback(watch, watch)
    if caller is not None and caller.reason is None:
        link(caller, process)
    return process


@dataclass(frozen=True, slots=True)
class _StartWatched(StartChild):
    """`StartChild`, then watch (and link) the new incarnation in the same step.

    The supervisor starts a task without yielding, so the watch is in place
    before the task's first step: no end can be missed.
    """

    watch: Callable[[Process], None]
    caller: Process | None

    async def apply(self, handler: OperationHandler) -> ChildRef | None:
        ref = await handler.op_start_child(self.arg)
        assert ref is not None  # a task has no start to ignore: it is ready at once
        _attach(ref, self.watch, self.caller)
        return ref


async def _start(
    sup: SupervisorRef,
    what: str,
    spec: TaskSpec,
    watch: Callable[[Process], None],
    linked: bool,
) -> tuple[TaskRef, Process]:
    supervisor = sup._supervisor()
    if not isinstance(supervisor.spec, DynamicSupervisorSpec):
        raise UsageError(
            f"{what} on {sup.path!r}",
            "supervised tasks with results run under a dynamic supervisor; "
            "start them on a DynamicSupervisorSpec child",
        )
    caller = _caller(sup._child.registry) if linked else None
    ref = supervisor.start_child_now(spec)
    if ref is None:
        ref = await supervisor.request(_StartWatched(spec, watch, caller))
        assert ref is not None  # a task has no start to ignore
        process = ref._child.process
        assert process is not None
    else:
        process = _attach(ref, watch, caller)
    return cast("TaskRef", ref), process


def _spec(name: str, body: Callable[[], Awaitable[None]], shutdown: float | str) -> TaskSpec:
    return TaskSpec(name=name, task=body, restart=Restart.TEMPORARY, shutdown=shutdown)


def _exited(path: str, reason: ExitReason) -> TaskExitedError:
    error = TaskExitedError(path, reason)
    error.__cause__ = reason.exception
    return error


# -- async / await ----------------------------------------------------------------------


@final
class AsyncTask(Generic[T]):
    """A task started with ``async_`` or ``async_nolink``: await it for its value.

    ``await task`` returns what the function returned, or raises
    `TaskExitedError` if it ended otherwise (crashed: the exception is the
    ``__cause__``; killed; stopped by its supervisor). It may be awaited any
    number of times. Cancelling the waiter (``asyncio.timeout`` around the
    ``await``) stops the waiting, not the task: ``ref`` reaches the task
    (``await sup.terminate_child(task.ref)`` stops it).

    .. versionadded:: 0.1
    """

    __slots__ = ("_future", "_ref", "_returned", "_value")

    def __init__(self) -> None:
        self._future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._value: T | None = None
        self._returned = False
        self._ref: TaskRef | None = None

    async def _call(self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> None:
        self._value = await fn(*args)
        self._returned = True

    def _ended(self, process: Process) -> None:
        future = self._future
        if future.done():
            return
        if self._returned:
            future.set_result(cast("T", self._value))
            return
        reason = process.reason
        assert reason is not None
        future.set_exception(_exited(process.path, reason))
        future.exception()  # retrieved: nobody may await an unlinked task

    @property
    def ref(self) -> TaskRef:
        """The task's ref (its child slot under the supervisor)."""
        assert self._ref is not None
        return self._ref

    def done(self) -> bool:
        """Whether the task has ended (awaiting it then returns at once)."""
        return self._future.done()

    def __await__(self) -> Generator[Any, None, T]:
        return asyncio.shield(self._future).__await__()

    def __repr__(self) -> str:
        state = "done" if self._future.done() else "running"
        return f"<AsyncTask {self._ref.path if self._ref else '?'} {state}>"


async def start_async(
    sup: SupervisorRef,
    fn: Callable[..., Awaitable[T]],
    args: tuple[Any, ...],
    shutdown: float | str,
    *,
    linked: bool,
) -> AsyncTask[T]:
    """``async_`` and ``async_nolink``: start ``fn(*args)`` as a temporary task."""
    what = "async_" if linked else "async_nolink"
    _check_function(f"{what} on {sup.path!r}", fn, args)
    task: AsyncTask[T] = AsyncTask()
    spec = _spec(_task_name(fn), functools.partial(task._call, fn, args), shutdown)
    task._ref, _ = await _start(sup, what, spec, task._ended, linked)
    return task


# -- async_stream ----------------------------------------------------------------------


class TaskResult(NamedTuple, Generic[T]):
    """One item's outcome in an ``async_stream`` (Elixir's ``{:ok, v}`` / ``{:exit, r}``).

    Attributes:
        value: what the call returned (None if it did not).
        exit: None if the call returned; else how it ended: ``crash`` (the
            exception), or ``killed`` (detail ``timeout``) past ``timeout``
            with ``on_timeout="kill_task"``.
        item: the input item.

    .. versionadded:: 0.1
    """

    value: T | None
    exit: ExitReason | None
    item: object

    @property
    def ok(self) -> bool:
        """Whether the call returned."""
        return self.exit is None


_TIMED_OUT: Final = killed("timeout")

#: What `_Stream._next_async` returns once the async input is exhausted.
_EXHAUSTED: Final = object()


class _Deadline:
    """A worker's per-call timeout, with one timer re-armed lazily rather than one per call.

    ``asyncio.timeout`` around each call schedules and cancels a timer per
    item (about 5 µs, more than the rest of an item's cost in the stream).
    Here a call only notes when it must end; the one timer, when it fires,
    cancels the worker if the call running then is past its deadline, or
    re-arms itself for that call's deadline. The cancellation is told apart
    from any other as ``asyncio.timeout`` does: by the task's cancel count.
    """

    __slots__ = ("calls", "cancelling", "deadline", "fired", "loop", "task", "timeout", "timer")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self.task: asyncio.Task[Any] = task
        self.calls = 0  # calls begun
        self.fired = 0  # the call the timer cancelled (0: none)
        self.cancelling = 0  # the task's cancel count when that call began
        self.deadline: float | None = None  # of the call running, if any
        self.timer: asyncio.TimerHandle | None = None

    def begin(self) -> int:
        self.calls += 1
        self.cancelling = self.task.cancelling()
        deadline = self.deadline = self.loop.time() + self.timeout
        if self.timer is None:
            self.timer = self.loop.call_at(deadline, self._due)
        return self.calls

    def end(self, call: int) -> bool:
        """The call is over; True if the deadline cancelled it (and no one else did)."""
        self.deadline = None
        if self.fired != call:
            return False
        return self.task.uncancel() <= self.cancelling

    def _due(self) -> None:
        self.timer = None
        deadline = self.deadline
        if deadline is None:
            return  # idle: the next call arms the timer again
        if self.loop.time() >= deadline:
            self.fired = self.calls
            self.task.cancel()
        else:
            self.timer = self.loop.call_at(deadline, self._due)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class _Stream:
    """The state a stream's child and its consumer share."""

    __slots__ = (
        "async_items",
        "consumer",
        "end",
        "finished",
        "fn",
        "items",
        "kill_on_timeout",
        "linked",
        "low_water",
        "max_concurrency",
        "next",
        "path",
        "pending",
        "pulling",
        "results",
        "space",
        "timeout",
        "window",
    )

    def __init__(
        self,
        fn: Callable[[Any], Awaitable[Any]],
        items: Iterator[Any] | AsyncIterator[Any],
        max_concurrency: int,
        ordered: bool,
        timeout: float | None,
        kill_on_timeout: bool,
        linked: bool,
    ) -> None:
        self.fn: Callable[[Any], Awaitable[Any]] = fn
        #: The input: a sync iterator, or an async one that one worker steps at a time.
        self.items: Iterator[Any] | None = None
        self.async_items: AsyncIterator[Any] | None = None
        self.pulling: asyncio.Lock | None = None
        if isinstance(items, Iterator):
            self.items = items
        else:
            self.async_items = items
            self.pulling = asyncio.Lock()
        self.max_concurrency: int = max_concurrency
        self.timeout: float | None = timeout
        self.kill_on_timeout: bool = kill_on_timeout
        self.linked: bool = linked
        # Items taken from the input whose result the consumer has not taken yet:
        # at most `window`, so results waiting for their turn (ordered) or for
        # the consumer stay bounded; workers wait for room below `low_water`.
        self.window: int = max(2 * max_concurrency, 64)
        self.low_water: int = self.window // 2
        self.pending: int = 0
        #: ordered: results by input index, and the index the consumer takes next.
        self.results: dict[int, TaskResult[Any]] | deque[TaskResult[Any]] = (
            {} if ordered else deque()
        )
        self.next: int = 0
        self.consumer: asyncio.Future[None] | None = None
        self.space: asyncio.Future[None] | None = None
        self.path: str = ""
        #: The child's end, once it has ended; `finished`: every item was done.
        self.end: ExitReason | None = None
        self.finished: bool = False

    # -- in the child -------------------------------------------------------------------

    async def run(self) -> None:
        """The child's body: the workers, until every item is done or one fails."""
        loop = asyncio.get_running_loop()
        workers = [loop.create_task(self._worker(i)) for i in range(self.max_concurrency)]
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            failures = [_failure(worker) for worker in done]
            failure = next((exc for exc in failures if exc is not None), None)
            if failure is not None:
                raise failure
            self.finished = True
        finally:
            for worker in workers:
                worker.cancel()
            if not all(worker.done() for worker in workers):
                try:
                    await asyncio.wait(workers)
                except asyncio.CancelledError:  # killed while they end: cancel them again
                    for worker in workers:
                        worker.cancel()
                    raise
            for worker in workers:
                _failure(worker)  # retrieved: the first failure is the stream's end

    async def _worker(self, index: int) -> None:
        fn, items, timeout = self.fn, self.items, self.timeout
        results = self.results
        ordered = isinstance(results, dict)
        watch = None if timeout is None else _Deadline(timeout)
        try:
            while True:
                if items is not None:
                    while self.pending >= self.window:
                        await self._room()
                    try:
                        item = next(items)
                    except StopIteration:
                        return
                else:
                    item = await self._next_async()
                    if item is _EXHAUSTED:
                        return
                position = self.next + self.pending  # the input index, for ordered results
                self.pending += 1
                try:
                    if watch is None:
                        result = TaskResult(await fn(item), None, item)
                    else:
                        result = await self._call_timed(watch, item)
                except Exception as exc:
                    if self.linked or isinstance(exc, TaskTimeoutError):
                        raise
                    result = TaskResult(None, crash(exc), item)
                if ordered:
                    results[position] = result
                    if position != self.next:
                        continue  # an earlier one is still running: the consumer waits for it
                else:
                    results.append(result)  # type: ignore[union-attr]
                consumer = self.consumer
                if consumer is not None:
                    self.consumer = None
                    if not consumer.done():
                        consumer.set_result(None)
        finally:
            if watch is not None:
                watch.close()

    async def _room(self) -> None:
        """Wait until the consumer has taken results below the low-water mark."""
        space = self.space
        if space is None:
            space = self.space = asyncio.get_running_loop().create_future()
        await space

    async def _next_async(self) -> object:
        """The next item of the async input, or `_EXHAUSTED`; one worker steps it at a time."""
        items, pulling = self.async_items, self.pulling
        assert items is not None
        assert pulling is not None
        async with pulling:
            while self.pending >= self.window:  # checked under the lock: never past the window
                await self._room()
            try:
                return await anext(items)
            except StopAsyncIteration:
                return _EXHAUSTED

    async def _call_timed(self, watch: _Deadline, item: object) -> TaskResult[Any]:
        """One call under the worker's deadline: its result, a timeout result, or raises."""
        call = watch.begin()
        try:
            value = await self.fn(item)
        except asyncio.CancelledError:
            if not watch.end(call):
                raise  # a stop or a kill of the stream, not the deadline
            if not self.kill_on_timeout:
                raise TaskTimeoutError(self.path, watch.timeout, item) from None
            return TaskResult(None, _TIMED_OUT, item)
        except BaseException:
            watch.end(call)
            raise
        watch.end(call)  # a call that swallowed the deadline's cancellation keeps its value
        return TaskResult(value, None, item)

    # -- in the consumer ----------------------------------------------------------------

    def ended(self, process: Process) -> None:
        """The child has ended (watch callback): wake the consumer."""
        self.end = process.reason
        consumer = self.consumer
        if consumer is not None:
            self.consumer = None
            if not consumer.done():
                consumer.set_result(None)

    async def take(self) -> TaskResult[Any]:
        """The next result; StopAsyncIteration after the last; TaskExitedError if it failed."""
        results = self.results
        while True:
            if isinstance(results, dict):
                result = results.pop(self.next, None)
                if result is not None:
                    self.next += 1
                    self._taken()
                    return result
            elif results:
                result = results.popleft()
                self._taken()
                return result
            end = self.end
            if end is not None:
                if self.finished:
                    raise StopAsyncIteration
                raise _exited(self.path, end)
            consumer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.consumer = consumer
            await consumer

    def _taken(self) -> None:
        self.pending -= 1
        space = self.space
        if space is not None and self.pending <= self.low_water:
            self.space = None
            if not space.done():
                space.set_result(None)


def _failure(worker: asyncio.Task[None]) -> BaseException | None:
    """How a finished worker failed (a cancellation by someone else is one), if it did."""
    if worker.cancelled():
        return asyncio.CancelledError()
    return worker.exception()


def _stop(process: Process) -> None:
    """Stop a stream's child nobody consumes any more (its consumer was dropped)."""
    if process.reason is None:
        process.request_stop(SHUTDOWN)


@final
class TaskStream(Generic[T]):
    """``async_stream``'s results: an async iterator of `TaskResult`, and a context manager.

    Nothing starts until the first ``async for`` step (or ``async with``).
    Iterate it to the end, or use ``async with`` so that leaving early stops
    the stream's child at once (within its ``shutdown``); a stream dropped
    half-consumed is stopped when it is garbage-collected.

    Raises (from the iteration):
        TaskExitedError: the stream's child ended before every item was done:
            a call crashed in a linked stream (its exception is the
            ``__cause__``), a call overran ``timeout`` with
            ``on_timeout="exit"`` (`TaskTimeoutError`), or it was stopped.

    .. versionadded:: 0.1
    """

    __slots__ = ("__weakref__", "_linked", "_process", "_ref", "_shutdown", "_state", "_sup")

    def __init__(
        self, sup: SupervisorRef, state: _Stream, shutdown: float | str, linked: bool
    ) -> None:
        self._sup = sup
        self._state = state
        self._shutdown = shutdown
        self._linked = linked
        self._ref: TaskRef | None = None
        self._process: Process | None = None

    @property
    def ref(self) -> TaskRef | None:
        """The stream's child, once started."""
        return self._ref

    async def _begin(self) -> None:
        state = self._state
        what = "async_stream" if self._linked else "async_stream_nolink"
        spec = _spec(_task_name(state.fn), state.run, self._shutdown)
        self._ref, self._process = await _start(self._sup, what, spec, state.ended, self._linked)
        state.path = self._ref.path
        finalizer = weakref.finalize(self, _stop, self._process)
        finalizer.atexit = False

    def __aiter__(self) -> TaskStream[T]:
        return self

    async def __anext__(self) -> TaskResult[T]:
        if self._process is None:
            await self._begin()
        try:
            return await self._state.take()
        except StopAsyncIteration:
            raise
        except BaseException:
            process = self._process
            if process is not None:
                _stop(process)  # e.g. the consumer was cancelled: nobody takes results now
            raise

    async def __aenter__(self) -> TaskStream[T]:
        if self._process is None:
            await self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the stream's child, if it still runs, and wait until it has ended."""
        ref, process = self._ref, self._process
        if ref is None or process is None or process.reason is not None:
            return
        try:
            await self._sup.terminate_child(ref)
        except (ChildError, ActorNotRunningError):
            pass  # ended meanwhile, or its supervisor did


def async_stream(
    sup: SupervisorRef,
    fn: Callable[[Any], Awaitable[T]],
    items: Iterable[Any] | AsyncIterable[Any],
    *,
    max_concurrency: int | None,
    ordered: bool,
    timeout: float | None,
    on_timeout: Literal["exit", "kill_task"],
    shutdown: float | str,
    linked: bool,
) -> TaskStream[T]:
    """``async_stream`` and ``async_stream_nolink``: check the options, build the stream."""
    what = f"{'async_stream' if linked else 'async_stream_nolink'} on {sup.path!r}"
    if not _is_async_callable(fn):
        raise SpecError(
            what, f"{fn!r} is not an async function; pass one defined as `async def f(item)`"
        )
    concurrency = DEFAULT_MAX_CONCURRENCY if max_concurrency is None else max_concurrency
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise ArgumentError(
            f"{what}: max_concurrency", f"must be an integer >= 1, got {concurrency!r}"
        )
    if timeout is not None and not timeout > 0:
        raise ArgumentError(f"{what}: timeout", f"must be seconds > 0 or None, got {timeout!r}")
    if on_timeout not in ("exit", "kill_task"):
        raise ArgumentError(
            f"{what}: on_timeout", f'must be "exit" or "kill_task", got {on_timeout!r}'
        )
    iterator = aiter(items) if isinstance(items, AsyncIterable) else iter(items)
    state = _Stream(fn, iterator, concurrency, ordered, timeout, on_timeout == "kill_task", linked)
    return TaskStream(sup, state, shutdown, linked)
