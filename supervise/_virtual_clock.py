"""A virtual-time asyncio event loop for tests.

:class:`VirtualClockLoop` is an ordinary :class:`asyncio.SelectorEventLoop`
whose :meth:`~VirtualClockLoop.time` reports *virtual* seconds. Everything in
asyncio that measures time goes through ``loop.time()`` (``call_later``,
``asyncio.sleep``, ``asyncio.timeout``, ``wait_for``, ...), so restart
windows, backoff delays and timers all run on the virtual clock.

With *autojump* on (the default) the loop never sleeps for a timer: when it
has nothing ready to run and would otherwise block in the selector until its
next timer is due, it polls for I/O without blocking and, if nothing arrived,
moves virtual time straight to that timer. ``await asyncio.sleep(3600)`` then
returns at once with ``loop.time()`` 3600 seconds later, while real I/O
(sockets, pipes, subprocess output, ``call_soon_threadsafe`` wake-ups) keeps
working because the selector is still polled before every jump. This is the
idea behind trio's ``MockClock(autojump_threshold=0)`` and the ``looptime``
library.

While the loop waits on work it started itself in a thread or child
process (``run_in_executor``/``asyncio.to_thread``, ``getaddrinfo``,
``asyncio.create_subprocess_*``) it does not jump; virtual time follows real
time until that work is done, so timeouts around it stay meaningful. Outside
parties it cannot see (threads started by hand, peers in other processes) are
what ``autojump_threshold`` is for; see :class:`VirtualClockLoop`.

With autojump off, virtual time moves only through
:meth:`VirtualClockLoop.advance`.

Limitations: the loop is a selector loop, so it cannot stand in for uvloop or
Windows' proactor loop (no subprocesses on Windows); its clock is per loop,
so ``time.monotonic()``, ``time.sleep()`` and timeouts inside threads stay
real.

Running code on the virtual clock::

    import asyncio
    from supervise._virtual_clock import virtual_clock_loop_factory

    with asyncio.Runner(loop_factory=virtual_clock_loop_factory()) as runner:
        runner.run(main())

    # Python 3.12+ only: asyncio.run(main(), loop_factory=virtual_clock_loop_factory())

pytest-asyncio 1.4 and later (the ``pytest_asyncio_loop_factories`` hook, in a
``conftest.py``; the hook must return a non-empty mapping for *every* asyncio
test, so tests without the marker get the stock loop)::

    import asyncio
    from supervise._virtual_clock import virtual_clock_loop_factory

    def pytest_configure(config):
        config.addinivalue_line("markers", "virtual_clock: run on a VirtualClockLoop")

    def pytest_asyncio_loop_factories(config, item):
        if item.get_closest_marker("virtual_clock") is not None:
            return {"virtual_clock": virtual_clock_loop_factory()}
        return {"asyncio": asyncio.new_event_loop}

pytest-asyncio before 1.4 (overriding the ``event_loop_policy`` fixture, in a
test module or ``conftest.py``; 1.4 and later still honour it but emit a
``PytestDeprecationWarning``, which ``filterwarnings = ["error"]`` turns into
an error unless it is filtered as shown)::

    import pytest
    from supervise._virtual_clock import VirtualClockPolicy

    pytestmark = pytest.mark.filterwarnings(
        "ignore:Overriding the \\"event_loop_policy\\" fixture:pytest.PytestDeprecationWarning"
    )

    @pytest.fixture(scope="module")
    def event_loop_policy():
        return VirtualClockPolicy()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import selectors
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, TypeVarTuple

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

__all__ = ["VirtualClockLoop", "VirtualClockPolicy", "virtual_clock_loop_factory"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")
_ProtocolT = TypeVar("_ProtocolT", bound=asyncio.BaseProtocol)


def _check_start(start: float) -> float:
    if not math.isfinite(start):
        raise ValueError(f"start must be a finite number of seconds, got {start!r}")
    return float(start)


def _check_threshold(threshold: float) -> float:
    # Written so that NaN fails too.
    if not (math.isfinite(threshold) and threshold >= 0):
        raise ValueError(
            f"autojump_threshold must be a finite number >= 0 of seconds, got {threshold!r}"
        )
    return float(threshold)


def _noop() -> None:
    pass


class _ClockState:
    """Virtual time and jump settings shared by the loop and its selector."""

    __slots__ = ("autojump", "has_external_work", "now", "threshold")

    def __init__(self, start: float, autojump: bool, threshold: float) -> None:
        self.now = start
        self.autojump = autojump
        self.threshold = threshold
        self.has_external_work: Callable[[], bool] = lambda: False


class _AutojumpSelector(selectors.BaseSelector):
    """A selector wrapper that turns timer waits into virtual-time jumps.

    This is the only place that depends on asyncio internals, and it does so
    through behaviour rather than private attributes: the loop receives this
    object through the public ``selector`` argument of
    :class:`asyncio.SelectorEventLoop`. ``BaseEventLoop._run_once`` (checked
    on CPython 3.11, 3.12 and 3.13) calls ``select(timeout)`` once per
    iteration with ``timeout``:

    * ``0`` when callbacks are ready or the loop is stopping,
    * ``None`` when nothing is ready and no timer is scheduled,
    * otherwise ``min(next_timer_when - loop.time(), MAXIMUM_SELECT_TIMEOUT)``.

    In the last case the timeout is a distance in *virtual* seconds to the
    next timer, so adding it to the clock makes that timer due; the loop moves
    due timers to its ready queue right after ``select`` returns. When the
    timeout was capped at ``MAXIMUM_SELECT_TIMEOUT`` the next iteration simply
    jumps again.
    """

    def __init__(self, inner: selectors.BaseSelector, clock: _ClockState) -> None:
        self._inner = inner
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        """Poll for I/O, advancing virtual time instead of sleeping for a timer.

        Args:
            timeout: Seconds until the loop's next timer (virtual), ``0`` to
                poll, or ``None`` to wait for I/O indefinitely.

        Returns:
            The ready ``(key, events)`` pairs, as the wrapped selector returns.
        """
        if timeout is None or timeout <= 0:
            return self._inner.select(timeout)
        clock = self._clock
        if not clock.autojump:
            # No timer can come due on its own: only advance(), called from a
            # callback that some I/O or call_soon_threadsafe wake-up triggers.
            return self._inner.select(None)
        if clock.has_external_work():
            # A thread or child process is doing work whose duration the loop
            # cannot know, so let virtual time follow real time: jumping now
            # would fire timeouts armed around that work spuriously.
            started = time.monotonic()
            events = self._inner.select(timeout)
            if events:
                clock.now += min(time.monotonic() - started, timeout)
            else:
                clock.now += timeout
            return events
        events = self._inner.select(min(clock.threshold, timeout))
        if not events:
            clock.now += timeout
        return events

    def register(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        """Register a file object with the wrapped selector.

        Args:
            fileobj: File object or descriptor to watch.
            events: Bitmask of ``selectors.EVENT_READ`` / ``EVENT_WRITE``.
            data: Opaque data attached to the key.

        Returns:
            The new selector key.
        """
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        """Stop watching a file object.

        Args:
            fileobj: File object or descriptor to forget.

        Returns:
            The key it was registered with.
        """
        return self._inner.unregister(fileobj)

    def modify(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        """Change the events or data watched for a registered file object.

        Args:
            fileobj: A registered file object or descriptor.
            events: New bitmask of events.
            data: New opaque data.

        Returns:
            The updated selector key.
        """
        return self._inner.modify(fileobj, events, data)

    def get_key(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        """Look up the key of a registered file object.

        Args:
            fileobj: A registered file object or descriptor.

        Returns:
            Its selector key.
        """
        return self._inner.get_key(fileobj)

    def get_map(self) -> Mapping[FileDescriptorLike, selectors.SelectorKey]:
        """Return the mapping of file objects to keys of the wrapped selector.

        Returns:
            The wrapped selector's mapping.
        """
        return self._inner.get_map()

    def close(self) -> None:
        """Close the wrapped selector."""
        self._inner.close()


class _ExternalWork:
    """Thread-safe count of in-flight work that happens outside the loop."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._wake = wake

    def acquire(self) -> None:
        with self._lock:
            self._count += 1

    def release(self) -> None:
        with self._lock:
            self._count -= 1
        # The loop may be in a real-time select() because of this work; wake
        # it so that it may go back to jumping.
        self._wake()

    def pending(self) -> bool:
        return self._count > 0


class _ExecutorJob(Generic[_T]):
    """A thread-pool call that counts as external work until its outcome is in.

    It is acquired on submission and released once the call is not running
    and its asyncio future is done, whichever comes last:

    * Normally the call returns first, and the release waits for the future:
      between the two, the executor is still handing the result over through
      ``call_soon_threadsafe``, and releasing early would let the loop jump
      (and fire a timeout) in that gap.
    * If the future is cancelled while the call runs, the release waits for
      the call to return: the thread still does real work.
    * If the future is cancelled while the call is queued, the executor
      normally never runs it, so the release is immediate; should the call
      start anyway, it is acquired again while it runs.
    """

    def __init__(self, work: _ExternalWork, call: Callable[[], _T]) -> None:
        self._work = work
        self._call = call
        self._lock = threading.Lock()
        self._running = False
        self._future_done = False
        self._released = False
        work.acquire()

    def __call__(self) -> _T:
        with self._lock:
            if self._released:
                self._work.acquire()
                self._released = False
            self._running = True
        try:
            return self._call()
        finally:
            with self._lock:
                self._running = False
                release = self._future_done
                self._released = release
            if release:
                self._work.release()

    def future_done(self, _future: object = None) -> None:
        with self._lock:
            self._future_done = True
            if self._running or self._released:
                return
            self._released = True
        self._work.release()


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is a virtual clock.

    Virtual time starts at ``start`` and moves only when the loop jumps to its
    next timer (autojump) or when :meth:`advance` is called; time spent
    running callbacks does not count.

    Autojump: when nothing is ready to run and the loop would block waiting for
    its next timer, it polls the selector, waiting at most
    ``autojump_threshold`` real seconds; if no I/O arrived, virtual time jumps
    to that timer. With nothing scheduled the loop blocks for I/O as usual.

    ``autojump_threshold`` trade-off: ``0`` (the default) jumps as soon as a
    non-blocking poll finds nothing. That is the fastest setting and is
    deterministic for code whose only outside inputs are in-process sockets,
    pipes and timers, but an outside party the loop cannot see (a thread
    started with :class:`threading.Thread`, a peer in another process, a
    signal) gets no real time before a jump, so a timeout armed around waiting
    for it fires immediately in real terms. A positive threshold gives such
    work that many real seconds to produce an event (``call_soon_threadsafe``
    and I/O cancel the jump) at the cost of every jump taking up to that long.

    Work the loop *can* see does not need the threshold while
    ``track_external_work`` is on (the default): jobs started with
    :meth:`run_in_executor` (so ``asyncio.to_thread`` and ``getaddrinfo``)
    and child processes started with :meth:`subprocess_exec` /
    :meth:`subprocess_shell` (so ``asyncio.create_subprocess_*``). While any
    of it is in flight the loop does not jump; virtual time follows real time
    instead, so ``await asyncio.wait_for(asyncio.to_thread(f), 5)`` times out
    after 5 real seconds, not at once. Long-lived threads or child processes
    therefore make the clock run at real speed for as long as they live; pass
    ``track_external_work=False`` to jump regardless. The loop never jumps
    during :meth:`shutdown_default_executor`, whatever the setting.

    Only use the loop from its own thread, as any asyncio loop, and call
    :meth:`advance` from that thread (or through ``call_soon_threadsafe``).

    Args:
        start: Initial virtual time in seconds.
        autojump: Whether to jump to the next timer when idle. When ``False``
            virtual time moves only through :meth:`advance`.
        autojump_threshold: Real seconds the loop must be idle before it
            jumps; see above.
        track_external_work: Whether executor jobs and child processes
            suspend jumping while they are in flight.

    Raises:
        ValueError: If ``start`` is not finite or ``autojump_threshold`` is
            negative or not finite.
    """

    def __init__(
        self,
        *,
        start: float = 0.0,
        autojump: bool = True,
        autojump_threshold: float = 0.0,
        track_external_work: bool = True,
    ) -> None:
        self._virtual_clock = _ClockState(0.0, autojump, 0.0)
        self._track_external_work = track_external_work
        self._external_work = _ExternalWork(self._wake_from_any_thread)
        self._tracked_processes: list[asyncio.SubprocessTransport] = []
        self._virtual_clock.has_external_work = self._has_external_work
        super().__init__(_AutojumpSelector(selectors.DefaultSelector(), self._virtual_clock))
        # Validated only now: raising before the base initialiser has run would
        # leave BaseEventLoop.__del__ to fail on a half-built object.
        try:
            self._virtual_clock.now = _check_start(start)
            self._virtual_clock.threshold = _check_threshold(autojump_threshold)
        except ValueError:
            self.close()
            raise

    def time(self) -> float:
        """Return the current virtual time.

        Returns:
            Virtual seconds since the clock's epoch (``start`` at creation).
        """
        return self._virtual_clock.now

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by ``seconds``.

        Timers that become due run on the loop's next iteration; a coroutine
        that calls this must yield to the loop (``await asyncio.sleep(0)``,
        once per hop of the chain it waits for) before their effects show.
        Call it from the loop's thread.

        Args:
            seconds: Non-negative, finite number of virtual seconds.

        Raises:
            ValueError: If ``seconds`` is negative or not finite.
        """
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
        self._virtual_clock.now += seconds

    @property
    def autojump(self) -> bool:
        """Whether the loop jumps to its next timer when idle."""
        return self._virtual_clock.autojump

    @autojump.setter
    def autojump(self, value: bool) -> None:
        self._virtual_clock.autojump = value

    @property
    def autojump_threshold(self) -> float:
        """Real seconds the loop waits for I/O before jumping.

        Raises:
            ValueError: On assignment of a negative or non-finite value.
        """
        return self._virtual_clock.threshold

    @autojump_threshold.setter
    def autojump_threshold(self, value: float) -> None:
        self._virtual_clock.threshold = _check_threshold(value)

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[[*_Ts], _T],
        *args: *_Ts,
    ) -> asyncio.Future[_T]:
        """Run ``func(*args)`` in an executor, pausing autojump while it runs.

        Args:
            executor: Executor to use, or ``None`` for the default thread pool.
            func: Callable to run.
            *args: Positional arguments for ``func``.

        Returns:
            A future for the call's result.
        """
        if not self._track_external_work:
            return super().run_in_executor(executor, func, *args)
        if executor is None or isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            job = _ExecutorJob(self._external_work, lambda: func(*args))
            try:
                future = super().run_in_executor(executor, job)
            except BaseException:
                job.future_done()  # never queued: nothing will run it
                raise
            future.add_done_callback(job.future_done)
            return future
        # Other executors (process pools) must pickle the callable, so they
        # cannot run a wrapper; count the work until its future is done.
        future = super().run_in_executor(executor, func, *args)
        self._external_work.acquire()
        future.add_done_callback(lambda _: self._external_work.release())
        return future

    async def subprocess_exec(
        self, protocol_factory: Callable[[], _ProtocolT], *args: Any, **kwargs: Any
    ) -> tuple[asyncio.SubprocessTransport, _ProtocolT]:
        """Start a child process; autojump pauses until it exits.

        Args:
            protocol_factory: Factory for the subprocess protocol.
            *args: Program and arguments, as for
                :meth:`asyncio.loop.subprocess_exec`.
            **kwargs: Keyword arguments for :meth:`asyncio.loop.subprocess_exec`.

        Returns:
            The transport and protocol.
        """
        transport, protocol = await super().subprocess_exec(protocol_factory, *args, **kwargs)
        self._track_process(transport)
        return transport, protocol

    async def subprocess_shell(
        self, protocol_factory: Callable[[], _ProtocolT], *args: Any, **kwargs: Any
    ) -> tuple[asyncio.SubprocessTransport, _ProtocolT]:
        """Start a shell command; autojump pauses until it exits.

        Args:
            protocol_factory: Factory for the subprocess protocol.
            *args: The command, as for :meth:`asyncio.loop.subprocess_shell`.
            **kwargs: Keyword arguments for :meth:`asyncio.loop.subprocess_shell`.

        Returns:
            The transport and protocol.
        """
        transport, protocol = await super().subprocess_shell(protocol_factory, *args, **kwargs)
        self._track_process(transport)
        return transport, protocol

    if sys.version_info >= (3, 12):

        async def shutdown_default_executor(self, timeout: float | None = None) -> None:
            """Shut the default executor down; autojump pauses meanwhile.

            The pause applies even with ``track_external_work=False``:
            otherwise ``asyncio.Runner.close`` (which passes a 300-second
            timeout) would jump past that timeout while worker threads are
            still finishing and warn that the executor did not join them.

            Args:
                timeout: Seconds to wait for the threads to join.
            """
            with self._external_work_in_flight():
                await super().shutdown_default_executor(timeout)

    else:

        async def shutdown_default_executor(self) -> None:
            """Shut the default executor down; autojump pauses meanwhile."""
            with self._external_work_in_flight():
                await super().shutdown_default_executor()

    @contextlib.contextmanager
    def _external_work_in_flight(self) -> Iterator[None]:
        self._external_work.acquire()
        try:
            yield
        finally:
            self._external_work.release()

    def _track_process(self, transport: asyncio.SubprocessTransport) -> None:
        if self._track_external_work and transport.get_returncode() is None:
            self._tracked_processes.append(transport)

    def _has_external_work(self) -> bool:
        if self._external_work.pending():
            return True
        if self._tracked_processes:
            self._tracked_processes = [
                t for t in self._tracked_processes if t.get_returncode() is None
            ]
        return bool(self._tracked_processes)

    def _wake_from_any_thread(self) -> None:
        # A closed loop has nothing left to wake.
        with contextlib.suppress(RuntimeError):
            self.call_soon_threadsafe(_noop)


if TYPE_CHECKING:
    _DefaultEventLoopPolicy = asyncio.DefaultEventLoopPolicy
else:
    with warnings.catch_warnings():
        # Python 3.14 deprecates the policy system and warns on this attribute
        # access; pytest-asyncio still creates loops through policies, and an
        # import-time warning would be an error under filterwarnings=error.
        warnings.simplefilter("ignore", DeprecationWarning)
        _DefaultEventLoopPolicy = asyncio.DefaultEventLoopPolicy


class VirtualClockPolicy(_DefaultEventLoopPolicy):
    """The default event loop policy, except that new loops are virtual-clock loops.

    Meant for pytest-asyncio's ``event_loop_policy`` fixture (see the module
    docstring); each ``new_event_loop()`` call returns a fresh
    :class:`VirtualClockLoop` with the given settings.

    Args:
        start: Initial virtual time of each loop.
        autojump: Whether loops jump to their next timer when idle.
        autojump_threshold: Real seconds a loop must be idle before jumping.
        track_external_work: Whether executor jobs and child processes
            suspend jumping while in flight.

    Raises:
        ValueError: If ``start`` is not finite or ``autojump_threshold`` is
            negative or not finite.
    """

    def __init__(
        self,
        *,
        start: float = 0.0,
        autojump: bool = True,
        autojump_threshold: float = 0.0,
        track_external_work: bool = True,
    ) -> None:
        super().__init__()
        self._virtual_loop_factory = virtual_clock_loop_factory(
            start=start,
            autojump=autojump,
            autojump_threshold=autojump_threshold,
            track_external_work=track_external_work,
        )

    def new_event_loop(self) -> VirtualClockLoop:
        """Create a new virtual-clock loop.

        Returns:
            A new :class:`VirtualClockLoop`.
        """
        return self._virtual_loop_factory()


def virtual_clock_loop_factory(
    *,
    start: float = 0.0,
    autojump: bool = True,
    autojump_threshold: float = 0.0,
    track_external_work: bool = True,
) -> Callable[[], VirtualClockLoop]:
    """Return a factory of :class:`VirtualClockLoop` for ``loop_factory=`` parameters.

    Usable with ``asyncio.Runner(loop_factory=...)``, with
    ``asyncio.run(..., loop_factory=...)`` on Python 3.12+, and as a loop
    factory for pytest-asyncio's ``pytest_asyncio_loop_factories`` hook.

    Args:
        start: Initial virtual time of each loop.
        autojump: Whether loops jump to their next timer when idle.
        autojump_threshold: Real seconds a loop must be idle before jumping.
        track_external_work: Whether executor jobs and child processes
            suspend jumping while in flight.

    Returns:
        A callable creating a new loop on each call.

    Raises:
        ValueError: If ``start`` is not finite or ``autojump_threshold`` is
            negative or not finite (checked here, not on first use).
    """
    start = _check_start(start)
    autojump_threshold = _check_threshold(autojump_threshold)

    def factory() -> VirtualClockLoop:
        return VirtualClockLoop(
            start=start,
            autojump=autojump,
            autojump_threshold=autojump_threshold,
            track_external_work=track_external_work,
        )

    return factory
