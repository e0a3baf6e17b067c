"""Offload: an actor's handler run off the event loop, in a thread or a worker process.

``execution: thread`` (or ``@offload("thread")`` on ``handle``) runs each
message's ``handle`` in a worker thread (``anyio.to_thread.run_sync``, with a
limiter of one thread per incarnation, so one actor cannot take every
thread); an ``async def`` handler runs there on the thread's own event loop.
``execution: process`` runs it in a worker process of the incarnation's own
(a pool of one, started on the first message): the message crosses as its
pydantic model's JSON and is validated there, the reply comes back as JSON
(a pydantic model is validated again on this side), and an exception comes
back as its type, message and traceback text, never pickled objects.

The actor's message loop does not change: it awaits ``handle`` as always, so
one message is handled at a time, in mailbox order, while the loop serves
every other actor. What the offloaded handler may touch: the message, the
actor's config and its own state (in a worker process, the state of that
process's instance). Not other actors, timers or refs: those belong to the
tree's loop.

The GIL: pure-Python work in a thread holds the GIL until the interpreter
makes it let go, every ``sys.getswitchinterval()`` (5 ms by default); the
loop thread waits that long for it each time it wakes, which puts the loop's
p99 lag at 10-12 ms. While a thread-offloaded handler runs, the switch
interval is lowered to the child's ``switch_interval`` (1 ms by default, a
p99 lag of about 5 ms), and set back once no such handler runs
(`SwitchInterval`).

Stopping: a thread cannot be killed. A graceful stop waits for the handler
up to the shutdown timeout; a kill then cancels the actor's task, which
cannot end while the thread runs, so the supervisor abandons it after the
grace period (``actor_abandoned``), as for any task that ignores a kill. A
worker process is killed (SIGKILL) when its incarnation ends, however it
ends; the next incarnation starts a new one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import multiprocessing
import sys
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

import anyio
import anyio.to_thread
from pydantic import BaseModel

from ._errors import OffloadedHandlerError
from ._imports import import_path_of, resolve_import_path
from ._process import Exit
from .spec import Execution

if TYPE_CHECKING:
    from ._actor import Actor
    from ._process import ActorProcess

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute `offload` sets on a handler.
_MARK: Final = "__supervise_execution__"


def offload(execution: str = "thread") -> Callable[[F], F]:
    """Run an actor's ``handle`` off the event loop: ``@offload("thread")`` or ``"process"``.

    The same as ``execution: thread`` (or ``process``) in the actor's child
    spec, declared with the code that needs it::

        class Resizer(Actor[Resize]):
            @offload("thread")
            async def handle(self, msg: Resize) -> bytes:
                return resize(msg.data)  # CPU work: the loop keeps serving others

    A spec's ``execution`` other than ``loop`` wins over the decorator.

    Raises:
        ArgumentError: ``execution`` is neither ``"thread"`` nor ``"process"``.

    .. versionadded:: 0.1
    """
    from ._errors import ArgumentError

    if execution not in ("thread", "process"):
        raise ArgumentError("offload execution", f'got {execution!r}; use "thread" or "process"')

    def mark(handler: F) -> F:
        setattr(handler, _MARK, Execution(execution))
        return handler

    return mark


def execution_of(spec_execution: Execution, actor: type[Actor[Any]]) -> Execution:
    """Where an actor class's handler runs: the spec's choice, else the decorator's."""
    if spec_execution is not Execution.LOOP:
        return spec_execution
    marked: Execution | None = getattr(actor.handle, _MARK, None)
    return marked or Execution.LOOP


def offload_handler(
    process: ActorProcess,
    actor: Actor[Any],
    execution: Execution,
    switch_interval: float | None = None,
) -> None:
    """Make this incarnation's ``handle`` run in a thread or a worker process.

    The wrapper is set on the instance, so actors on the loop keep their
    direct call and pay nothing. ``switch_interval``: the most the interpreter's
    thread switch interval may be while a handler runs in a thread (None: leave it).
    """
    handle = actor.handle
    if execution is Execution.THREAD:
        limiter = anyio.CapacityLimiter(1)
        run: Callable[[Callable[[object], Any], object], Any] = (
            _run_handler
            if switch_interval is None
            else functools.partial(_run_handler_switching, switch_interval)
        )

        async def in_thread(msg: object) -> Any:
            work = asyncio.ensure_future(
                anyio.to_thread.run_sync(run, handle, msg, limiter=limiter)
            )
            return await _until_done(work)

        actor.handle = in_thread  # type: ignore[method-assign]
        return
    config: BaseModel | None = getattr(actor, "config", None)
    worker = _Worker(type(actor), config)
    actor.handle = worker.handle  # type: ignore[method-assign]
    process.add_exit_callback(worker, lambda _: worker.kill())


# -- threads ---------------------------------------------------------------------------


class SwitchInterval:
    """The interpreter's thread switch interval, lowered while thread-offloaded handlers run.

    ``sys.setswitchinterval`` is process-wide, so the requests of all running
    handlers (of every tree and loop in the process) are counted together: the
    interval is the smallest one asked for while any is held, and goes back to
    what it was before the first once the last is released. It is never raised
    above what the application set, and if the application sets it itself
    meanwhile, its value is kept and not overwritten on release.
    """

    def __init__(self) -> None:
        # Held from worker threads, which start and end handlers concurrently.
        self._lock = threading.Lock()
        self._held: list[float] = []
        # What it was before the first request, and what we set it to since.
        self._before = 0.0
        self._ours: float | None = None

    def __len__(self) -> int:
        """Holds in force: handlers running in threads now (an abandoned one included)."""
        return len(self._held)

    def hold(self, interval: float) -> None:
        """Keep the switch interval at most ``interval`` until `release` (``interval`` > 0)."""
        with self._lock:
            if not self._held:
                self._before = sys.getswitchinterval()
                self._ours = None
            self._held.append(interval)
            self._apply()

    def release(self, interval: float) -> None:
        """End one `hold` of ``interval``."""
        with self._lock:
            self._held.remove(interval)
            if self._held:
                self._apply()
            elif self._ours is not None and sys.getswitchinterval() == self._ours:
                sys.setswitchinterval(self._before)

    def _apply(self) -> None:
        current = sys.getswitchinterval()
        if self._ours is not None and current != self._ours:
            # The application changed it while we held it: its choice is the new base.
            self._before = current
        wanted = min(min(self._held), self._before)
        if wanted != current:
            sys.setswitchinterval(wanted)
        # Read back: the interpreter keeps it in whole microseconds.
        self._ours = sys.getswitchinterval()


#: The one switch interval of this process.
switch_interval: Final = SwitchInterval()


def _run_handler_switching(interval: float, handle: Callable[[object], Any], msg: object) -> Any:
    """`_run_handler` with the switch interval held at most ``interval`` meanwhile."""
    switch_interval.hold(interval)
    try:
        return _run_handler(handle, msg)
    finally:
        switch_interval.release(interval)


def _run_handler(handle: Callable[[object], Any], msg: object) -> Any:
    """Run ``handle(msg)`` to completion in this thread (on a loop of its own for a coroutine)."""
    result = handle(msg)
    if not asyncio.iscoroutine(result):
        return result
    # A loop of its own for this message, closed after it: a loop kept per worker
    # thread would outlive the thread unclosed. It costs about 0.1 ms a message.
    with asyncio.Runner() as runner:
        return runner.run(result)


async def _until_done(work: asyncio.Future[Any]) -> Any:
    """The thread's outcome, however often the actor's task is cancelled meanwhile.

    A thread cannot be stopped: a kill must not pretend the handler has ended,
    or the next incarnation would run beside it. The task keeps waiting, so the
    supervisor abandons it once its grace period is over (``actor_abandoned``);
    the cancellation is raised when the thread is done.
    """
    cancelled: asyncio.CancelledError | None = None
    while not work.done():
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError as exc:
            if work.done() and not work.cancelled():
                break
            cancelled = exc
    if cancelled is not None:
        raise cancelled
    return work.result()


# -- worker processes ------------------------------------------------------------------


def _context() -> Any:
    # forkserver: a clean process to fork workers from (forking the tree's own
    # process, with its threads and loop, is unsafe); spawn where it is missing.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class _Worker:
    """One incarnation's worker process: a pool of one, started on the first message."""

    def __init__(self, actor_class: type[Actor[Any]], config: BaseModel | None) -> None:
        self._actor = import_path_of(actor_class)
        self._config = None if config is None else config.model_dump_json()
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._path = ""

    async def handle(self, msg: object) -> Any:
        if not isinstance(msg, BaseModel):
            raise TypeError(f"a message to a worker process must be a pydantic model, not {msg!r}")
        args = (self._actor, self._config, import_path_of(type(msg)), msg.model_dump_json())
        pool = self._pool
        if pool is None:
            pool = self._pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=_context())
            # The first submission starts the worker process (and, once, the fork
            # server): about 0.1 s that must not block the loop.
            future = await asyncio.to_thread(functools.partial(pool.submit, _in_worker, *args))
        else:
            future = pool.submit(_in_worker, *args)
        kind, *rest = await asyncio.wrap_future(future)
        if kind == "exit":  # the handler chose to stop the actor (`Exit`), as on the loop
            exit_kind, detail = json.loads(rest[0])
            raise Exit(exit_kind, detail)
        if kind == "error":
            exc_type, message, remote = rest
            raise OffloadedHandlerError(self._actor, exc_type, message, remote)
        if kind == "model":
            model_path, text = rest
            model = resolve_import_path(model_path)
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise TypeError(f"the worker replied with {model_path}, not a pydantic model")
            return model.model_validate_json(text)
        return json.loads(rest[0])

    def kill(self) -> None:
        """Kill the worker process (SIGKILL) and drop the pool; idempotent."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        for worker in processes:
            if worker.is_alive():
                worker.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in processes:
            worker.join(5)


_instances: dict[tuple[str, str | None], Any] = {}


def _in_worker(
    actor_path: str, config: str | None, model_path: str, message: str
) -> tuple[str, ...]:
    """In the worker process: validate the message, run the handler, encode the outcome."""
    try:
        key = (actor_path, config)
        actor = _instances.get(key)
        if actor is None:
            actor_class: Any = resolve_import_path(actor_path)
            actor = actor_class()
            if config is not None:
                actor.config = actor_class.config_model.model_validate_json(config)
            _instances[key] = actor
        model: Any = resolve_import_path(model_path)
        msg = model.model_validate_json(message)
        reply = _run_handler(functools.partial(type(actor).handle, actor), msg)
        if isinstance(reply, BaseModel):
            return ("model", import_path_of(type(reply)), reply.model_dump_json())
        return ("json", json.dumps(reply))
    except Exit as exc:
        return ("exit", json.dumps([exc.reason.kind.value, exc.reason.detail]))
    except Exception as exc:
        return ("error", type(exc).__qualname__, str(exc), traceback.format_exc())


__all__ = ["execution_of", "offload", "offload_handler"]
