"""Framework side of the benchmarks: supervise's own actors.

This module is where the supervise implementation of each workload goes.  The
harness (``python -m benchmarks``) looks up one coroutine function per workload
here, by name; a workload whose function is absent is shown as
``not yet implemented`` in the table and written as ``null`` in the JSON (no
figure is ever invented).  Functions can be added one at a time.

Contract
--------
Every function has exactly this signature (``benchmarks._common.WorkloadFn``)::

    async def <name>(n: int) -> float

* ``n`` is the workload's size after ``--scale`` (listed below at scale 1.0).
* It is awaited inside a fresh event loop (asyncio or uvloop, whichever the run
  uses) after ``gc.collect()``; it must time only the measured region itself
  (with ``benchmarks._common.now_ns``), and return the figure in the unit below.
* It must leave nothing running: stop every actor and supervisor it started
  before returning (the harness warns about leftover tasks).
* It must measure exactly what the raw function of the same name in
  ``benchmarks/_raw.py`` measures (read its docstring), using the shared
  constants and helpers in ``benchmarks/_common.py``: ``YIELD_EVERY``,
  ``FANIN_PRODUCERS``, ``FANOUT_MESSAGES_PER_ACTOR``, ``CALL_WARMUP``,
  ``RESTART_INTENSITY`` / ``RESTART_PERIOD_S``, ``per_second``,
  ``percentile_s``, ``traced_bytes_per_item``.

Functions to provide (workload name -> function; n at scale 1.0; unit):

========================  ========================  ========  ==========  =======
workload                  function                  n         unit        better
========================  ========================  ========  ==========  =======
W1_spawn                  w1_spawn                  100_000   actors/s    higher
W1_stop                   w1_stop                   100_000   actors/s    higher
W1_memory_per_actor       w1_memory_per_actor       10_000    bytes       lower
W2_call_roundtrip         w2_call_roundtrip         200_000   calls/s     higher
W3_cast_1to1              w3_cast_1to1              1_000_000 messages/s  higher
W3_cast_100to1            w3_cast_100to1            1_000_000 messages/s  higher
W4_call_latency_p50       w4_call_latency_p50       100_000   s           lower
W4_call_latency_p99       w4_call_latency_p99       100_000   s           lower
W5_restart_latency_p50    w5_restart_latency_p50    10_000    s           lower
W5_restart_latency_p99    w5_restart_latency_p99    10_000    s           lower
W6_fanout                 w6_fanout                 10_000    messages/s  higher
W7_loop_lag_loop          w7_loop_lag_loop          1_000     s           lower
W7_loop_lag_thread        w7_loop_lag_thread        1_000     s           lower
W7_loop_lag_process       w7_loop_lag_process       1_000     s           lower
W8_isolated_call          w8_isolated_call          10_000    calls/s     higher
W8_isolated_restart       w8_isolated_restart       20        s           lower
W9_nodedown               w9_nodedown               5         s           lower
========================  ========================  ========  ==========  =======

What each must do with supervise (the raw counterpart is in ``_raw.py``):

* ``w1_spawn(n)``: start ``n`` idle actors under one supervisor; time until all
  are started and ready to receive; stop them (untimed).
* ``w1_stop(n)``: start ``n`` idle actors under a supervisor (untimed),
  ``gc.collect()``, time stopping all of them (graceful stop / supervisor
  shutdown) until every one has terminated.
* ``w1_memory_per_actor(n)``: ``return await traced_bytes_per_item(n, build,
  teardown)`` where ``build`` starts ``n`` idle supervised actors and returns a
  handle, and ``teardown`` stops them.
* ``w2_call_roundtrip(n)``: one actor makes ``n`` sequential calls to another;
  calls/s timed inside the caller.
* ``w3_cast_1to1(n)`` / ``w3_cast_100to1(n)``: 1 or ``FANIN_PRODUCERS``
  producers cast ``n // producers`` messages each to one actor, yielding with
  ``await asyncio.sleep(0)`` every ``YIELD_EVERY`` casts; messages/s until the
  actor has handled all of them.
* ``w4_call_latency_p50(n)`` / ``..._p99(n)``: ``CALL_WARMUP`` untimed calls,
  then ``n`` calls each timed; ``percentile_s(latencies_ns, 0.50 / 0.99)``.
* ``w5_restart_latency_p50(n)`` / ``..._p99(n)``: one permanent child under a
  one_for_one supervisor (intensity ``RESTART_INTENSITY`` per
  ``RESTART_PERIOD_S``); ``n`` crashes in sequence; latency from just before the
  child raises to the new incarnation being ready to receive;
  ``percentile_s(latencies_ns, ...)``.
* ``w6_fanout(n)``: ``n`` actors started (untimed), ``gc.collect()``, then one
  sender casts ``FANOUT_MESSAGES_PER_ACTOR`` rounds round-robin, yielding every
  ``YIELD_EVERY`` casts; messages/s until every actor has received all.

* ``w7_loop_lag_loop(n)`` / ``..._thread(n)`` / ``..._process(n)``: one actor
  started with ``execution: loop`` / ``thread`` / ``process`` answers one call
  of zero work (untimed), then computes ``burn_cpu(n)`` (``n`` ms of CPU) for
  one call while ``loop_lag_p99`` samples the loop's lag.
* ``w8_isolated_call(n)``: ``CALL_WARMUP`` untimed calls, then ``n``
  sequential calls to an actor with ``execution: isolated``; calls/s.
* ``w8_isolated_restart(n)``: ``n`` times SIGKILL the isolated actor's
  process from outside; seconds until the restarted actor's first reply; p50.

Any other public name starting with ``w`` and a digit is rejected by the
harness as a probable typo.
How supervise does it (the differences from raw that are part of the method)
----------------------------------------------------------------------------

* Every actor is a supervised child: an :class:`~supervise.Actor` subclass
  started from a :class:`~supervise.ChildSpec` under a supervisor of a tree
  opened with :func:`~supervise.open_tree`; messages are frozen pydantic models
  sent through an :class:`~supervise.ActorRef` (typed and checked on every
  send).  Mass starts go through a :class:`~supervise.DynamicSupervisorSpec`
  pool, ``await pool.start_child()`` once per actor.
* Messages are built once and re-sent: a frozen model of immutable fields is
  passed by reference, as raw passes its integers.  Building a model per
  message is the application's cost (pydantic validation), not the mailbox's;
  ``RESULTS.md`` gives its price.
* W3 uses an unbounded mailbox (``capacity: None``), as raw's
  ``asyncio.Queue()``: 100 producers with 1000 casts between yields would
  overflow the default capacity of 1000.  Every other workload uses the
  default bounded mailbox (1000, overflow ``wait``).
* Calls use the default timeout (5 s), so each call arms and cancels its
  timeout as a user's call does; raw has no timeout.
* Logging: :func:`quiet_logging` configures structlog for the measured region
  with a filtering bound logger at WARNING, cached on first use, as structlog
  advises for production (every lifecycle ``info`` event is dropped at a level
  check; nothing on these paths logs at warning or above),
  and at CRITICAL (logging off, as in the anchors) for W5, whose every restart
  logs an ``actor_crashed`` error.  The previous configuration is restored
  afterwards.  ``RESULTS.md`` records what structlog's default configuration
  (every event rendered to stdout) costs instead.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import structlog
from pydantic import BaseModel

from benchmarks import _cluster, _nodedown
from benchmarks._common import (
    CALL_WARMUP,
    FANIN_PRODUCERS,
    FANOUT_MESSAGES_PER_ACTOR,
    RESTART_INTENSITY,
    RESTART_PERIOD_S,
    STREAM_CONCURRENCY,
    STREAM_TIMEOUT,
    YIELD_EVERY,
    burn_cpu,
    loop_lag_p99,
    now_ns,
    per_second,
    percentile_s,
    stream_item,
    traced_bytes_per_item,
)
from benchmarks._isolated_echo import Echo, Ping, WhichPid
from supervise import (
    Actor,
    ActorRef,
    ChildSpec,
    DynamicSupervisorSpec,
    SupervisorSpec,
    Tree,
    open_tree,
)
from supervise import _log as supervise_log
from supervise.events import Event

# --------------------------------------------------------------------------- shared


@contextlib.contextmanager
def quiet_logging(level: int = logging.WARNING) -> Iterator[None]:
    """Configure structlog as a production process would, for the block's duration.

    A filtering bound logger at ``level``, cached on first use (structlog's
    advice for production), so a filtered-out event costs one no-op method
    call.  This is the benchmark's choice, not the library's (supervise never
    configures structlog).  A cached logger ignores later reconfiguration, so
    supervise's lazy logger is replaced by a fresh one on entry and on exit
    (the only reach into a private module here): the test suite's event
    capture keeps working afterwards, and the previous configuration is
    restored.
    """
    old = structlog.get_config()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    supervise_log._logger = structlog.get_logger("supervise")
    try:
        yield
    finally:
        structlog.configure(**old)
        supervise_log._logger = structlog.get_logger("supervise")


def logging_setup() -> dict[str, Any]:
    """The structlog configuration the measured regions run under, for the run's header.

    Read by entering :func:`quiet_logging` as the workloads do.  ``dropped_early``
    says whether supervise's lifecycle events are dropped by a level check
    before their fields are built (``supervise._log.enabled``), which is what
    makes them nearly free; with a wrapper class that cannot answer
    ``is_enabled_for`` every event is built and handed to structlog.
    """
    with quiet_logging():
        config = structlog.get_config()
        info_dropped = not supervise_log.enabled(Event.ACTOR_STARTED)
    with quiet_logging(logging.CRITICAL):
        error_dropped = not supervise_log.enabled(Event.ACTOR_CRASHED)
    return {
        "wrapper_class": config["wrapper_class"].__name__,
        "level": "warning",
        "level_w5": "critical",
        "cache_logger_on_first_use": config["cache_logger_on_first_use"],
        "processors": [getattr(p, "__name__", type(p).__name__) for p in config["processors"]],
        "dropped_early": info_dropped and error_dropped,
    }


class _Noop(BaseModel, frozen=True):
    """Declared by actors that are never sent anything."""


class _Ping(BaseModel, frozen=True):
    """A call request."""


class _Tick(BaseModel, frozen=True):
    """A cast."""


class _Crash(BaseModel, frozen=True):
    """Makes the W5 worker raise."""


class _Run(BaseModel, frozen=True):
    """Tells the W2 caller how many calls to make."""

    n: int


_PING: Final = _Ping()
_TICK: Final = _Tick()
_CRASH: Final = _Crash()
_PONG: Final = object()


class _CrashError(Exception):
    """Raised by the W5 worker on purpose."""


class _Probe:
    """What the benchmark driver and its actors share (one workload runs at a time)."""

    done: asyncio.Future[None]
    remaining: int
    ready: asyncio.Queue[int]
    crashed_at: int


_probe = _Probe()


#: Open the trees with the loop watchdog on (``--watchdog``), to measure what it costs.
WATCHDOG = False

#: Open the trees with the control endpoint on (``--control``), to measure what it costs:
#: each tree serves a Unix socket of its own in a temporary directory, removed at exit.
CONTROL = False
_control_sockets: list[Path] = []


def _control_socket() -> Path:
    """A fresh socket path for the next tree's control endpoint."""
    if not _control_sockets:
        where = Path(tempfile.mkdtemp(prefix="sv-bench-"))
        atexit.register(shutil.rmtree, where, True)
        _control_sockets.append(where)
    path = _control_sockets[0] / f"tree-{len(_control_sockets)}.sock"
    _control_sockets.append(path)
    return path


#: Open the trees counting Prometheus metrics (``--metrics``), to measure what it costs.
METRICS = False


def _open_tree(spec: SupervisorSpec | DynamicSupervisorSpec) -> Tree:
    return open_tree(
        spec,
        watchdog=WATCHDOG,
        metrics=METRICS,
        control=_control_socket() if CONTROL else None,
    )


def _pool(actor: type[Actor[Any]], **child: Any) -> DynamicSupervisorSpec:
    """A dynamic supervisor of ``actor`` children (a pool started with start_child)."""
    return DynamicSupervisorSpec(
        name="bench",
        child=ChildSpec(name="a", actor=actor, **child),
    )


async def _start_pool(actor: type[Actor[Any]], n: int) -> tuple[Tree, list[ActorRef[Any]]]:
    """Open a pool tree and start ``n`` actors; return once every one is parked.

    Actors without ``on_start`` are ready as soon as their task exists, and
    ``start_child`` returns then.  One ``sleep(0)`` afterwards lets every task
    created so far take its first step, which parks it on its mailbox (tasks
    run in creation order); :func:`_check_parked` verifies that, untimed.
    """
    tree = _open_tree(_pool(actor))
    await tree.start()
    pool = tree.root
    start_child = pool.start_child
    refs: list[ActorRef[Any]] = []
    append = refs.append
    for _ in range(n):
        ref = await start_child()
        append(ref)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    return tree, refs


def _check_parked(refs: list[ActorRef[Any]]) -> None:
    """Untimed sanity check (private attributes): every actor waits on its mailbox."""
    for ref in refs:
        process: Any = ref._child.process
        if process is None or process.mailbox.parked is None:
            raise RuntimeError(f"{ref.path} is not parked on its mailbox")


# --------------------------------------------------------------------------- W1


class _Idle(Actor[_Noop]):
    """An idle actor: no on_start, never sent anything."""

    async def handle(self, msg: _Noop) -> None:
        return None


async def w1_spawn(n: int) -> float:
    """W1_spawn: actors/s started under a dynamic supervisor.

    ``n`` sequential ``await pool.start_child()`` calls from the driver, timed
    until every actor is parked on its mailbox; then the tree is stopped
    (untimed).
    """
    with quiet_logging():
        tree = _open_tree(_pool(_Idle))
        await tree.start()
        start_child = tree.root.start_child
        t0 = now_ns()
        for _ in range(n):
            await start_child()
        await asyncio.sleep(0)
        t1 = now_ns()
        refs = [tree.whereis(f"bench/a-{i}") for i in range(1, n + 1)]
        _check_parked(refs)  # type: ignore[arg-type]
        await tree.stop()
    return per_second(n, t1 - t0)


async def w1_stop(n: int) -> float:
    """W1_stop: actors/s stopped.

    Starts ``n`` idle actors (untimed), ``gc.collect()``, then times
    ``tree.stop()``: the dynamic supervisor asks every child to stop at once
    (a stop request each, as raw's stop message) and waits until every actor's
    task has ended, then ends itself.
    """
    with quiet_logging():
        tree, refs = await _start_pool(_Idle, n)
        del refs
        gc.collect()
        t0 = now_ns()
        await tree.stop()
        t1 = now_ns()
    return per_second(n, t1 - t0)


async def w1_memory_per_actor(n: int) -> float:
    """W1_memory_per_actor: Python-heap bytes per idle supervised actor.

    ``build`` opens a pool tree and starts ``n`` idle actors (as W1_spawn);
    everything the tree keeps per child counts: task, coroutine frames,
    mailbox, process, child slot, ref, actor instance, registry and
    supervisor entries.  The driver keeps no list of refs (raw's parent keeps
    two lists; the supervisor is the parent here).
    """

    async def build(count: int) -> Tree:
        tree, refs = await _start_pool(_Idle, count)
        del refs
        return tree

    async def teardown(tree: Tree) -> None:
        await tree.stop()

    with quiet_logging():
        return await traced_bytes_per_item(n, build, teardown)


# --------------------------------------------------------------------------- W2 / W4


class _Server(Actor[_Ping]):
    """Answers every call."""

    async def handle(self, msg: _Ping) -> object:
        return _PONG


class _Caller(Actor[_Run]):
    """Makes ``n`` sequential calls to its sibling ``server``; replies with the ns taken."""

    async def handle(self, msg: _Run) -> int:
        server = self.registry.whereis("bench/server")
        assert isinstance(server, ActorRef)
        call = server.call
        ping = _PING
        t0 = now_ns()
        for _ in range(msg.n):
            await call(ping)
        return now_ns() - t0


def _servers(*extra: ChildSpec) -> SupervisorSpec:
    return SupervisorSpec(name="bench", children=[ChildSpec(name="server", actor=_Server), *extra])


async def w2_call_roundtrip(n: int) -> float:
    """W2_call_roundtrip: calls/s from one actor to another.

    The ``caller`` actor makes ``n`` sequential ``await server.call(ping)``
    (default timeout) to the ``server`` actor, timed inside the caller.
    """
    with quiet_logging():
        async with _open_tree(_servers(ChildSpec(name="caller", actor=_Caller))) as tree:
            caller = tree.whereis("bench/caller")
            assert isinstance(caller, ActorRef)
            elapsed: int = await caller.call(_Run(n=n), timeout=None)
    return per_second(n, elapsed)


async def _call_latencies_ns(n: int) -> list[int]:
    """Per-call latency of ``n`` sequential calls from the driver to one actor."""
    with quiet_logging():
        async with _open_tree(_servers()) as tree:
            server = tree.whereis("bench/server")
            assert isinstance(server, ActorRef)
            call = server.call
            ping = _PING
            for _ in range(CALL_WARMUP):
                await call(ping)
            latencies = [0] * n
            for i in range(n):
                start = now_ns()
                await call(ping)
                latencies[i] = now_ns() - start
    return latencies


async def w4_call_latency_p50(n: int) -> float:
    """W4_call_latency_p50: median seconds per ``await ref.call(msg)`` (default timeout)."""
    return percentile_s(await _call_latencies_ns(n), 0.50)


async def w4_call_latency_p99(n: int) -> float:
    """W4_call_latency_p99: 99th-percentile seconds per call (a separate run, same method)."""
    return percentile_s(await _call_latencies_ns(n), 0.99)


# --------------------------------------------------------------------------- W3


class _Counter(Actor[_Tick]):
    """Counts casts down from ``_probe.remaining``; resolves ``_probe.done`` at zero."""

    async def on_start(self) -> None:
        self.left = _probe.remaining

    async def handle(self, msg: _Tick) -> None:
        self.left -= 1
        if not self.left:
            _probe.done.set_result(None)


async def _fan_in(n: int, producers: int) -> float:
    """``producers`` Tasks cast ``n // producers`` ticks each into one actor."""
    per_producer = max(1, n // producers)
    total = per_producer * producers
    _probe.remaining = total
    _probe.done = asyncio.get_running_loop().create_future()
    spec = SupervisorSpec(
        name="bench",
        children=[ChildSpec(name="counter", actor=_Counter, mailbox={"capacity": None})],
    )

    async def producer(ref: ActorRef[_Tick], k: int) -> None:
        cast = ref.cast_nowait
        tick = _TICK
        budget = YIELD_EVERY
        for _ in range(k):
            cast(tick)
            budget -= 1
            if not budget:
                budget = YIELD_EVERY
                await asyncio.sleep(0)

    with quiet_logging():
        async with _open_tree(spec) as tree:
            counter = tree.whereis("bench/counter")
            assert isinstance(counter, ActorRef)
            await asyncio.sleep(0)
            t0 = now_ns()
            tasks = [asyncio.create_task(producer(counter, per_producer)) for _ in range(producers)]
            await _probe.done
            t1 = now_ns()
            await asyncio.gather(*tasks)
    return per_second(total, t1 - t0)


async def w3_cast_1to1(n: int) -> float:
    """W3_cast_1to1: messages/s, one producer ``cast_nowait``-ing ``n`` ticks to one actor.

    Timed from the producer's start until the actor has handled all ``n``;
    the producer yields every :data:`~benchmarks._common.YIELD_EVERY` casts.
    """
    return await _fan_in(n, 1)


async def w3_cast_100to1(n: int) -> float:
    """W3_cast_100to1: messages/s, 100 producers casting ``n / 100`` ticks each to one actor."""
    return await _fan_in(n, FANIN_PRODUCERS)


# --------------------------------------------------------------------------- W5


class _Phoenix(Actor[_Crash]):
    """Reports each incarnation as ready (T1) in on_start; raises on _Crash (T0)."""

    async def on_start(self) -> None:
        _probe.ready.put_nowait(now_ns())

    async def handle(self, msg: _Crash) -> None:
        _probe.crashed_at = now_ns()
        raise _CrashError


async def _restart_latencies_ns(n: int) -> list[int]:
    """Crash-to-ready latency of ``n`` crashes of one worker under one_for_one."""
    _probe.ready = asyncio.Queue()
    spec = SupervisorSpec(
        name="bench",
        strategy="one_for_one",
        max_restarts=RESTART_INTENSITY,
        max_seconds=RESTART_PERIOD_S,
        children=[ChildSpec(name="worker", actor=_Phoenix)],
    )
    latencies: list[int] = []
    # Every restart logs actor_crashed (an error): logging off, as in the anchors.
    with quiet_logging(logging.CRITICAL):
        async with _open_tree(spec) as tree:
            worker = tree.whereis("bench/worker")
            assert isinstance(worker, ActorRef)
            ready = _probe.ready
            await ready.get()
            for _ in range(n):
                worker.cast_nowait(_CRASH)
                ready_at = await ready.get()
                latencies.append(ready_at - _probe.crashed_at)
    return latencies


async def w5_restart_latency_p50(n: int) -> float:
    """W5_restart_latency_p50: median seconds from crash to ready again.

    One permanent worker under a one_for_one supervisor (intensity
    :data:`~benchmarks._common.RESTART_INTENSITY` per
    :data:`~benchmarks._common.RESTART_PERIOD_S`).  The driver casts ``n``
    crash messages in sequence.  T0 is taken in the handler just before it
    raises; T1 in the new incarnation's ``on_start`` (fresh task, fresh
    mailbox), after which it is ready to receive.
    """
    return percentile_s(await _restart_latencies_ns(n), 0.50)


async def w5_restart_latency_p99(n: int) -> float:
    """W5_restart_latency_p99: 99th-percentile crash-to-ready seconds (separate run)."""
    return percentile_s(await _restart_latencies_ns(n), 0.99)


# --------------------------------------------------------------------------- W6


class _Sink(Actor[_Tick]):
    """Counts its 10 messages; the last sink to finish resolves ``_probe.done``."""

    left = FANOUT_MESSAGES_PER_ACTOR

    async def handle(self, msg: _Tick) -> None:
        self.left -= 1
        if not self.left:
            _probe.remaining -= 1
            if not _probe.remaining:
                _probe.done.set_result(None)


async def w6_fanout(n: int) -> float:
    """W6_fanout: messages/s from one sender to ``n`` actors, 10 messages each.

    ``n`` actors are started in a pool and parked (untimed), then
    ``gc.collect()``.  The driver casts
    :data:`~benchmarks._common.FANOUT_MESSAGES_PER_ACTOR` rounds round-robin
    with ``cast_nowait``, yielding every :data:`~benchmarks._common.YIELD_EVERY`
    casts; timed until every actor has handled all its messages.
    """
    k = FANOUT_MESSAGES_PER_ACTOR
    _probe.remaining = n
    _probe.done = asyncio.get_running_loop().create_future()
    with quiet_logging():
        tree, refs = await _start_pool(_Sink, n)
        casts = [ref.cast_nowait for ref in refs]
        gc.collect()
        t0 = now_ns()
        tick = _TICK
        budget = YIELD_EVERY
        for _ in range(k):
            for cast in casts:
                cast(tick)
                budget -= 1
                if not budget:
                    budget = YIELD_EVERY
                    await asyncio.sleep(0)
        await _probe.done
        t1 = now_ns()
        await tree.stop()
    return per_second(n * k, t1 - t0)


# --------------------------------------------------------------------------- W7


class _Burn(BaseModel, frozen=True):
    """Asks the W7 burner for ``ms`` milliseconds of CPU work."""

    ms: int


class _Burner(Actor[_Burn]):
    """Does the CPU work it is asked for, wherever its spec's ``execution`` puts it."""

    async def handle(self, msg: _Burn) -> int:
        return burn_cpu(msg.ms)


async def _loop_lag(n: int, execution: str) -> float:
    """p99 loop lag while the burner, run with ``execution``, computes for ``n`` ms.

    One call of zero work first (untimed) starts the thread or the worker
    process; then the measured call, with no timeout.
    """
    spec = SupervisorSpec(
        name="bench", children=[ChildSpec(name="burner", actor=_Burner, execution=execution)]
    )
    with quiet_logging():
        async with _open_tree(spec) as tree:
            burner = tree.actor("bench/burner")
            await burner.call(_Burn(ms=0), timeout=None)
            p99 = await loop_lag_p99(burner.call(_Burn(ms=n), timeout=None))
    return p99


async def w7_loop_lag_loop(n: int) -> float:
    """W7_loop_lag_loop: p99 loop lag (s) while an actor's handler computes for ``n`` ms.

    ``execution: loop`` (the default): the handler runs on the loop.
    """
    return await _loop_lag(n, "loop")


async def w7_loop_lag_thread(n: int) -> float:
    """W7_loop_lag_thread: the same with ``execution: thread`` (a worker thread)."""
    return await _loop_lag(n, "thread")


async def w7_loop_lag_process(n: int) -> float:
    """W7_loop_lag_process: the same with ``execution: process`` (a worker process)."""
    return await _loop_lag(n, "process")


async def w8_async_stream(n: int) -> float:
    """W8_async_stream: items/s through ``SupervisorRef.async_stream``.

    A dynamic supervisor is started (untimed); then ``async_stream(stream_item,
    range(n), max_concurrency=STREAM_CONCURRENCY, timeout=None)`` is iterated
    to the end, collecting the values in input order (``ordered=True``), timed
    from the call until the last result. ``timeout=None``: the raw side has no
    per-item timeout either.
    """
    with quiet_logging():
        tree = _open_tree(DynamicSupervisorSpec(name="tasks"))
        await tree.start()
        gc.collect()
        t0 = now_ns()
        stream = tree.root.async_stream(
            stream_item, range(n), max_concurrency=STREAM_CONCURRENCY, timeout=None
        )
        results = [result.value async for result in stream]
        t1 = now_ns()
        await tree.stop()
    assert len(results) == n
    return per_second(n, t1 - t0)


# --------------------------------------------------------------------------- W8 isolated


def _isolated_echo(**supervisor: Any) -> SupervisorSpec:
    child = ChildSpec(name="echo", actor=Echo, execution="isolated")
    return SupervisorSpec(name="bench", children=[child], **supervisor)


async def w8_isolated_call(n: int) -> float:
    """W8_isolated_call: calls/s, ``n`` sequential calls to an actor with ``execution: isolated``.

    ``CALL_WARMUP`` untimed calls first (the child process is started by
    then); each call crosses to the actor's own process and back as JSON.
    """
    with quiet_logging():
        async with _open_tree(_isolated_echo()) as tree:
            echo = tree.actor("bench/echo", Echo)
            for i in range(CALL_WARMUP):
                await echo.call(Ping(n=i))
            pings = [Ping(n=i) for i in range(n)]
            t0 = now_ns()
            for ping in pings:
                await echo.call(ping)
            t1 = now_ns()
    return per_second(n, t1 - t0)


async def w8_isolated_restart(n: int) -> float:
    """W8_isolated_restart: median seconds from SIGKILL to the first reply after the restart.

    One permanent isolated actor under one_for_one (intensity
    ``RESTART_INTENSITY`` per ``RESTART_PERIOD_S``). ``n`` times: its pid
    (untimed), then SIGKILL from outside, the Down, and a call with
    ``retry_while_restarting`` until the new process replies: the end's
    detection, the restart, the new interpreter's start-up and imports, and
    one round trip.
    """
    latencies: list[int] = []
    spec = _isolated_echo(max_restarts=RESTART_INTENSITY, max_seconds=RESTART_PERIOD_S)
    with quiet_logging(logging.CRITICAL):
        async with _open_tree(spec) as tree:
            echo = tree.actor("bench/echo", Echo)
            for i in range(n):
                pid = await echo.call(WhichPid(), timeout=None, retry_while_restarting=True)
                monitor = echo.monitor()
                t0 = now_ns()
                os.kill(pid, signal.SIGKILL)
                await monitor
                await echo.call(Ping(n=i), timeout=None, retry_while_restarting=True)
                latencies.append(now_ns() - t0)
    return percentile_s(latencies, 0.50)


async def w8_timed_async_stream(n: int) -> float:
    """W8_timed_async_stream: W8_async_stream with ``timeout=STREAM_TIMEOUT`` (the default)."""
    with quiet_logging():
        tree = _open_tree(DynamicSupervisorSpec(name="tasks"))
        await tree.start()
        gc.collect()
        t0 = now_ns()
        stream = tree.root.async_stream(
            stream_item, range(n), max_concurrency=STREAM_CONCURRENCY, timeout=STREAM_TIMEOUT
        )
        results = [result.value async for result in stream]
        t1 = now_ns()
        await tree.stop()
    assert len(results) == n
    return per_second(n, t1 - t0)


async def w9_nodedown(n: int) -> float:
    """W9_nodedown: median s from a node's SIGKILL to its subtree placed on another node.

    ``n`` rounds; the nodes are ``supervise run`` processes on a local NATS server
    (see `benchmarks._nodedown`).
    """
    return await _nodedown.framework_side(n)


__all__ = [
    "logging_setup",
    "quiet_logging",
    "w1_memory_per_actor",
    "w1_spawn",
    "w1_stop",
    "w2_call_roundtrip",
    "w3_cast_1to1",
    "w3_cast_100to1",
    "w4_call_latency_p50",
    "w4_call_latency_p99",
    "w5_restart_latency_p50",
    "w5_restart_latency_p99",
    "w6_fanout",
    "w7_loop_lag_loop",
    "w7_loop_lag_process",
    "w7_loop_lag_thread",
    "w8_async_stream",
    "w8_isolated_call",
    "w8_isolated_restart",
    "w8_timed_async_stream",
    "w9_nodedown",
    "w9_remote_call",
    "w9_remote_pipelined",
]


# W9 (opt-in): calls to an actor on another node over NATS; see benchmarks/_cluster.py.
w9_remote_call = _cluster.w9_remote_call_framework
w9_remote_pipelined = _cluster.w9_remote_pipelined_framework
