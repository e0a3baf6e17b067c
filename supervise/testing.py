"""Helpers for testing code built on supervise (a public namespace, like ``structlog.testing``).

- `capture_events`: record the lifecycle events a block emits (an `EventLog`).
- `wait_for_event`: wait, with a timeout, until a matching event has been logged.
- `open_test_tree`: open a tree from a spec, a dict, or a YAML/JSON file or text.
- `TreeStarter`: what the ``start_tree`` pytest fixture (supervise's pytest plugin)
  gives a test: ``tree = await start_tree(SPEC)`` starts a tree in the test's own
  task, and the fixture stops it at teardown.
- `inject_crash`: make a named actor (or task, or supervisor) crash as if its
  handler raised, and wait until it has ended.
- `VirtualClockLoop`, `virtual_clock_loop_factory`, `VirtualClockPolicy`: an
  event loop whose clock jumps to the next timer when idle, so restart windows,
  backoff delays and timers are tested without waiting.
- `NatsServer`: a ``nats-server`` on 127.0.0.1 (the ``nats`` extra's binary), with
  JetStream in a temporary directory, for tests and demos of trees in a cluster.

Open trees with `supervise.open_tree` itself, in the test body (not in a
fixture that yields inside it: pytest-asyncio may run the teardown in another
task, and the tree's cancel scope must be left in the task that entered it), or
with the ``start_tree`` fixture.

Example (``tests/test_testing_example.py`` runs it)::

    from supervise import open_tree
    from supervise.testing import capture_events, inject_crash, wait_for_event

    @pytest.mark.virtual_clock
    async def test_the_counter_heals() -> None:
        with capture_events() as events:
            async with open_tree(SPEC) as tree:
                await inject_crash(tree, "app/counter")
                await wait_for_event(events, "actor_started", actor="app/counter", incarnation=2)
        assert events.sequence("actor_crashed", "actor_started")[-2:] == [...]

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

import structlog

from ._errors import ActorNotRunningError
from ._nats._server import NatsServer  # stdlib only: no nats-py imported
from ._reason import crash
from ._virtual_clock import VirtualClockLoop, VirtualClockPolicy, virtual_clock_loop_factory
from .events import Event

if TYPE_CHECKING:
    from ._tree import Tree
    from .spec import DynamicSupervisorSpec, SupervisorSpec

EventDict = dict[str, Any]


def _matches(entry: EventDict, event: str | None, fields: dict[str, object]) -> bool:
    if event is not None and entry.get("event") != event:
        return False
    return all(entry.get(key) == value for key, value in fields.items())


def _resolve(future: asyncio.Future[EventDict], entry: EventDict) -> None:
    if not future.done():
        future.set_result(entry)


def _resolve_from_any_thread(future: asyncio.Future[EventDict], entry: EventDict) -> None:
    """Resolve a waiter, also for an event logged on another thread (the loop watchdog's)."""
    loop = future.get_loop()
    try:
        here = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    if here is loop:
        future.set_result(entry)
    elif not loop.is_closed():
        loop.call_soon_threadsafe(_resolve, future, entry)


class EventLog:
    """The events captured so far, as dicts (``event`` holds the name), oldest first."""

    def __init__(self) -> None:
        self.entries: list[EventDict] = []
        self._waiters: list[tuple[Callable[[EventDict], bool], asyncio.Future[EventDict]]] = []

    def __call__(
        self, logger: object, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> Any:
        entry = dict(event_dict)
        entry.setdefault("log_level", method_name)
        self.entries.append(entry)
        if self._waiters:
            still = []
            for predicate, future in self._waiters:
                if future.done():
                    continue
                if predicate(entry):
                    _resolve_from_any_thread(future, entry)
                else:
                    still.append((predicate, future))
            self._waiters = still
        raise structlog.DropEvent

    def names(self) -> list[str]:
        """The event names, in order."""
        return [str(e.get("event")) for e in self.entries]

    def of(self, event: str | Event | None = None, **fields: object) -> list[EventDict]:
        """The entries with that name (any if None) whose fields have these values."""
        name = None if event is None else str(event)
        return [e for e in self.entries if _matches(e, name, fields)]

    def sequence(self, *events: str | Event, key: str = "actor") -> list[tuple[str, object]]:
        """``(event, entry[key])`` pairs for the named events, in order, to assert order."""
        wanted = {str(e) for e in events}
        return [(str(e["event"]), e.get(key)) for e in self.entries if e.get("event") in wanted]

    async def wait_for(
        self,
        event: str | Event | None = None,
        *,
        timeout: float = 10.0,
        count: int = 1,
        **fields: object,
    ) -> EventDict:
        """Wait until ``count`` matching events have been logged (past ones count).

        Returns:
            The ``count``-th matching event (the first match when ``count`` is 1),
            not the latest one: more may have been logged since.


        Raises:
            TimeoutError: with the events seen so far, if they do not come in ``timeout``.
        """
        name = None if event is None else str(event)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    seen = [e for e in self.entries if _matches(e, name, fields)]
                    if len(seen) >= count:
                        return seen[count - 1]
                    future: asyncio.Future[EventDict] = asyncio.get_running_loop().create_future()
                    self._waiters.append((lambda e: _matches(e, name, fields), future))
                    await future
        except TimeoutError:
            raise TimeoutError(
                f"waited {timeout:g} s for {count} x {name or 'any event'} {fields}; "
                f"events so far: {self.names()}"
            ) from None


@contextmanager
def capture_events() -> Iterator[EventLog]:
    """Capture structlog events (supervise's and the application's) within the block.

    Like ``structlog.testing.capture_logs``, the events are not printed. The
    previous structlog configuration is restored afterwards.
    """
    log = EventLog()
    old = structlog.get_config()
    structlog.configure(
        processors=[structlog.processors.add_log_level, log],
        cache_logger_on_first_use=False,
    )
    try:
        yield log
    finally:
        structlog.configure(**old)


async def wait_for_event(
    events: EventLog,
    event: str | Event,
    *,
    timeout: float = 10.0,
    count: int = 1,
    **fields: object,
) -> EventDict:
    """Wait until ``count`` events named ``event`` with these field values have been logged.

    Events logged before the call count. On a `VirtualClockLoop` the timeout is
    virtual: a missing event fails the test at once instead of after ``timeout``
    real seconds.

    Args:
        events: the log from `capture_events`.
        event: the event name (see `supervise.events.Event`).
        timeout: seconds to wait in all.
        count: how many matching events to wait for.
        **fields: values the event's fields must have, e.g. ``actor="root/db"``.

    Returns:
        The ``count``-th matching event, as a dict (not necessarily the latest:
        events logged before the call count, so with ``count=1`` it is the first match).

    Raises:
        TimeoutError: they did not all come in time; the message lists the events seen.

    .. versionadded:: 0.1
    """
    return await events.wait_for(event, timeout=timeout, count=count, **fields)


def open_test_tree(
    source: SupervisorSpec | DynamicSupervisorSpec | Mapping[str, Any] | str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
) -> Tree:
    """Open a tree for a test from a spec, a dict, or a YAML/JSON file or text.

    Use it in the test body: ``async with open_test_tree("tests/tree.yaml") as tree:``.
    A file's directory is put on `sys.path` first, so actor modules beside it
    import, as ``supervise run`` does.

    Args:
        source: a `SupervisorSpec`/`DynamicSupervisorSpec`, a dict, a file path,
            or YAML/JSON text (a `str` with a line break, or starting with ``{``,
            read by `supervise.load_tree_text`).
        env: variables for ``${VAR}`` interpolation (default: `os.environ`).

    Raises:
        TreeFileError: the file or text has problems (all of them are listed).

    .. versionadded:: 0.1
    """
    from ._loader import load_tree, load_tree_text
    from ._tree import open_tree
    from .spec import DynamicSupervisorSpec, SupervisorSpec

    if isinstance(source, SupervisorSpec | DynamicSupervisorSpec):
        return open_tree(source)
    if isinstance(source, str) and ("\n" in source or source.startswith("{")):
        return open_tree(load_tree_text(source, env=env))
    extra: list[str] = []
    if not isinstance(source, Mapping):
        extra.append(str(Path(source).resolve().parent))
    return open_tree(load_tree(source, env=env, extra_sys_path=extra))


@final
class TreeStarter:
    """Start trees in the calling task; stop them all at the end (the ``start_tree`` fixture).

    ``tree = await start_tree(source)`` starts the tree in the test's own task,
    like ``async with open_test_tree(source)`` without the block; the fixture's
    teardown stops every tree it started, newest first, each in reverse start
    order. A tree whose root gave up fails the test at teardown with that
    error (`RestartIntensityExceeded`), unless the test saw it already from
    ``await tree.wait()``: expect a give-up with
    ``with pytest.raises(RestartIntensityExceeded): await tree.wait()``.

    Unlike ``async with``, the test body is not cancelled when a root gives up.

    .. versionadded:: 0.1
    """

    def __init__(self) -> None:
        self._trees: list[Tree] = []

    async def __call__(
        self,
        source: SupervisorSpec | DynamicSupervisorSpec | Mapping[str, Any] | str | os.PathLike[str],
        *,
        env: Mapping[str, str] | None = None,
    ) -> Tree:
        """Start a tree from what `open_test_tree` takes; return it, running.

        Raises:
            StartError: a child failed to start (the started ones were stopped).
            TreeFileError: the file or text has problems.
        """
        tree = open_test_tree(source, env=env)
        await tree.start()
        self._trees.append(tree)
        return tree

    async def aclose(self) -> None:
        """Stop the trees, newest first; then raise a give-up no test code has seen."""
        from ._tree import unraised_failure  # deferred, as in open_test_tree

        trees, self._trees = self._trees, []
        for tree in reversed(trees):
            await tree.stop()
        for tree in trees:
            failure = unraised_failure(tree)
            if failure is not None:
                raise failure


class InjectedCrash(Exception):
    """The exception `inject_crash` crashes a child with, unless given another.

    .. versionadded:: 0.1
    """


async def inject_crash(tree: Tree, path: str, exc: BaseException | None = None) -> None:
    """Crash the child at ``path`` as if its handler raised ``exc``; wait until it has ended.

    The crash goes through the runtime, not through your code: an actor ends
    after the message in hand, its ``on_stop`` runs with the crash reason and
    queued calls fail, exactly as when a handler raises; a plain task is
    cancelled and reported as crashed; a supervisor stops its children and ends
    with the crash. Its supervisor then applies its restart type, intensity and
    backoff as for any crash (``actor_crashed`` carries ``exc_type``).

    Args:
        tree: the running tree.
        path: the child's tree path (``"root/db"``) or registered name.
        exc: the exception to crash with (default: `InjectedCrash`).

    Raises:
        NameNotFoundError: nothing is at ``path``.
        ActorNotRunningError: nothing runs there now.

    .. versionadded:: 0.1
    """
    child = tree.whereis(path)._child
    process = child.process
    if process is None or process.reason is not None:
        raise ActorNotRunningError(child.path)
    if exc is None:
        exc = InjectedCrash(f"crash injected into {child.path!r} by supervise.testing")
    # A stop request carrying a crash reason: the runtime's own way of ending an
    # incarnation abnormally from outside (links use it too).
    process.request_stop(crash(exc))
    await process.wait(None)


__all__ = [
    "EventLog",
    "InjectedCrash",
    "NatsServer",
    "TreeStarter",
    "VirtualClockLoop",
    "VirtualClockPolicy",
    "capture_events",
    "inject_crash",
    "open_test_tree",
    "virtual_clock_loop_factory",
    "wait_for_event",
]
