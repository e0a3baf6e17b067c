"""Raw-asyncio baselines: the "physical limit" each framework figure is divided by.

The idiom is fixed (and must stay fixed, or figures stop being comparable over
time):

* an actor is one :class:`asyncio.Task` with one unbounded :class:`asyncio.Queue`
  as its mailbox, and it receives with ``await queue.get()``, one message at a
  time;
* a cast is ``queue.put_nowait(msg)``; producers hand control back to the loop
  with ``await asyncio.sleep(0)`` every :data:`~benchmarks._common.YIELD_EVERY`
  casts;
* a call puts ``(request, future)`` in the callee's mailbox and awaits the
  future; the callee answers with ``future.set_result(reply)`` (a future per
  reply);
* supervision is a hand-written ``while True: try: await child; except: restart``
  loop that creates a fresh Task and a fresh mailbox per incarnation.

There is no framework code here and no cleverness beyond hoisting bound methods
into locals, as the anchors (``shared/anchors/bench_asyncio.py``) do.  Every
function has the :data:`~benchmarks._common.WorkloadFn` signature
``async def fn(n: int) -> float`` and leaves no task running when it returns.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import json
import multiprocessing
import os
import signal
import sys
from collections import deque
from typing import Final

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

_STOP: Final = object()
_PING: Final = object()
_PONG: Final = object()
_CRASH: Final = object()

#: A call message: the request and the future that carries the reply.
_Call = tuple[object, "asyncio.Future[object]"]


class _Crash(Exception):
    """Raised by the W5 worker on purpose."""


class SupervisorGaveUp(Exception):
    """The raw supervisor's restart intensity was exceeded (never expected)."""


# --------------------------------------------------------------------------- W1


class _IdleActors:
    """``n`` idle raw actors owned by one parent, each parked in ``await q.get()``.

    The parent keeps every child's Task and mailbox (what a supervisor without
    restarts keeps).  Children count themselves in and out; the child that
    completes a count resolves a future, so the parent waits without polling.
    """

    def __init__(self, n: int) -> None:
        loop = asyncio.get_running_loop()
        self.n = n
        self.started = 0
        self.alive = 0
        self.queues: list[asyncio.Queue[object]] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.all_started: asyncio.Future[None] = loop.create_future()
        self.all_stopped: asyncio.Future[None] = loop.create_future()

    async def _actor(self, q: asyncio.Queue[object]) -> None:
        self.started += 1
        self.alive += 1
        if self.started == self.n:
            self.all_started.set_result(None)
        try:
            get = q.get
            while True:
                msg = await get()
                if msg is _STOP:
                    return
        finally:
            self.alive -= 1
            if not self.alive:
                self.all_stopped.set_result(None)

    async def spawn(self) -> None:
        """Start all ``n`` actors; return once every one is parked on its mailbox."""
        create_task = asyncio.create_task
        new_queue = asyncio.Queue
        actor = self._actor
        queues = self.queues
        tasks = self.tasks
        for _ in range(self.n):
            q: asyncio.Queue[object] = new_queue()
            queues.append(q)
            tasks.append(create_task(actor(q)))
        await self.all_started

    async def stop(self) -> None:
        """Send every actor a stop message; return once every Task has finished."""
        for q in self.queues:
            q.put_nowait(_STOP)
        await self.all_stopped


async def w1_spawn(n: int) -> float:
    """W1_spawn: actors/s started.

    Creates ``n`` mailboxes and Tasks from one parent and times until every
    actor has run up to its first ``await q.get()``.  Then stops them
    (untimed).
    """
    actors = _IdleActors(n)
    t0 = now_ns()
    await actors.spawn()
    t1 = now_ns()
    await actors.stop()
    return per_second(n, t1 - t0)


async def w1_stop(n: int) -> float:
    """W1_stop: actors/s stopped.

    Spawns ``n`` idle actors (untimed), runs ``gc.collect()``, then times from
    the first stop message until every actor's Task has finished.  Stopping is
    graceful: a stop message per mailbox, as a supervisor shutting its children
    down would send.
    """
    actors = _IdleActors(n)
    await actors.spawn()
    gc.collect()
    t0 = now_ns()
    await actors.stop()
    t1 = now_ns()
    return per_second(n, t1 - t0)


async def w1_memory_per_actor(n: int) -> float:
    """W1_memory_per_actor: Python-heap bytes per idle actor (tracemalloc).

    Spawns ``n`` idle actors (as in W1_spawn) under
    :func:`~benchmarks._common.traced_bytes_per_item` and divides the traced
    heap growth by ``n``.  The parent's two lists (8 bytes per slot each) are
    included, as a supervisor's per-child bookkeeping would be.
    """

    async def build(count: int) -> _IdleActors:
        actors = _IdleActors(count)
        await actors.spawn()
        return actors

    async def teardown(actors: _IdleActors) -> None:
        await actors.stop()

    return await traced_bytes_per_item(n, build, teardown)


# --------------------------------------------------------------------------- W2


async def _call_server(mailbox: asyncio.Queue[_Call | None]) -> None:
    """A callee actor: answers every call with ``_PONG``; ``None`` stops it."""
    get = mailbox.get
    while True:
        msg = await get()
        if msg is None:
            return
        msg[1].set_result(_PONG)


async def w2_call_roundtrip(n: int) -> float:
    """W2_call_roundtrip: calls/s between two actors.

    A caller Task makes ``n`` sequential calls to a server actor: a fresh
    future per call, ``(request, future)`` into the server's mailbox, ``await
    future``.  Timed inside the caller from the first call to the last reply.
    (The anchors' W2 is a ping-pong through two mailboxes; this one uses the
    fixed call idiom, a future per reply, so it is closer to their W4 calls/s.)
    """
    loop = asyncio.get_running_loop()
    mailbox: asyncio.Queue[_Call | None] = asyncio.Queue()
    server = asyncio.create_task(_call_server(mailbox))
    await asyncio.sleep(0)

    async def caller() -> int:
        create_future = loop.create_future
        put = mailbox.put_nowait
        t0 = now_ns()
        for _ in range(n):
            fut: asyncio.Future[object] = create_future()
            put((_PING, fut))
            await fut
        return now_ns() - t0

    elapsed = await asyncio.create_task(caller())
    mailbox.put_nowait(None)
    await server
    return per_second(n, elapsed)


# --------------------------------------------------------------------------- W3


async def _fan_in(n: int, producers: int) -> float:
    """``producers`` Tasks cast ``n // producers`` integers each into one actor."""
    per_producer = max(1, n // producers)
    total = per_producer * producers
    loop = asyncio.get_running_loop()
    mailbox: asyncio.Queue[int] = asyncio.Queue()
    done: asyncio.Future[None] = loop.create_future()

    async def consumer() -> None:
        get = mailbox.get
        count = 0
        while count < total:
            await get()
            count += 1
        done.set_result(None)

    async def producer(k: int) -> None:
        put = mailbox.put_nowait
        budget = YIELD_EVERY
        for i in range(k):
            put(i)
            budget -= 1
            if not budget:
                budget = YIELD_EVERY
                await asyncio.sleep(0)

    consumer_task = asyncio.create_task(consumer())
    await asyncio.sleep(0)
    t0 = now_ns()
    producer_tasks = [asyncio.create_task(producer(per_producer)) for _ in range(producers)]
    await done
    t1 = now_ns()
    await asyncio.gather(consumer_task, *producer_tasks)
    return per_second(total, t1 - t0)


async def w3_cast_1to1(n: int) -> float:
    """W3_cast_1to1: messages/s, one producer casting ``n`` integers to one actor.

    Timed from the producer's start until the consumer has received all ``n``
    (``await q.get()`` per message).  The producer yields every
    :data:`~benchmarks._common.YIELD_EVERY` casts.
    """
    return await _fan_in(n, 1)


async def w3_cast_100to1(n: int) -> float:
    """W3_cast_100to1: messages/s, 100 producers casting ``n / 100`` each to one actor.

    Same as W3_cast_1to1 with :data:`~benchmarks._common.FANIN_PRODUCERS`
    producer Tasks started together; the rate counts ``100 * (n // 100)``
    messages.
    """
    return await _fan_in(n, FANIN_PRODUCERS)


# --------------------------------------------------------------------------- W4


async def _call_latencies_ns(n: int) -> list[int]:
    """Per-call latency of ``n`` sequential calls from the driver to one actor."""
    loop = asyncio.get_running_loop()
    mailbox: asyncio.Queue[_Call | None] = asyncio.Queue()
    server = asyncio.create_task(_call_server(mailbox))
    await asyncio.sleep(0)
    create_future = loop.create_future
    put = mailbox.put_nowait

    for _ in range(CALL_WARMUP):
        fut: asyncio.Future[object] = create_future()
        put((_PING, fut))
        await fut

    latencies = [0] * n
    for i in range(n):
        start = now_ns()
        fut = create_future()
        put((_PING, fut))
        await fut
        latencies[i] = now_ns() - start

    mailbox.put_nowait(None)
    await server
    return latencies


async def w4_call_latency_p50(n: int) -> float:
    """W4_call_latency_p50: median seconds per call.

    After :data:`~benchmarks._common.CALL_WARMUP` untimed calls, ``n``
    sequential calls are each timed from before the future is created until
    the awaiting caller resumes with the reply; p50 by nearest rank.
    """
    return percentile_s(await _call_latencies_ns(n), 0.50)


async def w4_call_latency_p99(n: int) -> float:
    """W4_call_latency_p99: 99th-percentile seconds per call (a separate run, same method)."""
    return percentile_s(await _call_latencies_ns(n), 0.99)


# --------------------------------------------------------------------------- W5


async def _restart_latencies_ns(n: int) -> list[int]:
    """Crash-to-ready latency of ``n`` crashes of one worker under a raw supervisor."""
    loop = asyncio.get_running_loop()
    # The benchmark's own mailbox: each incarnation reports (its mailbox, ready time).
    ready: asyncio.Queue[tuple[asyncio.Queue[object], int]] = asyncio.Queue()
    crashed_at = 0

    async def worker() -> None:
        nonlocal crashed_at
        mailbox: asyncio.Queue[object] = asyncio.Queue()  # fresh mailbox per incarnation
        ready.put_nowait((mailbox, now_ns()))
        get = mailbox.get
        while True:
            msg = await get()
            if msg is _CRASH:
                crashed_at = now_ns()
                raise _Crash

    async def supervisor() -> None:
        """one_for_one with one permanent child and OTP-style restart intensity."""
        create_task = asyncio.create_task
        restarts: deque[float] = deque()
        while True:
            child = create_task(worker())
            # The fixed raw idiom is try/except (contextlib.suppress would add cost).
            try:
                await child
            except Exception:
                pass
            now = loop.time()
            restarts.append(now)
            while restarts[0] < now - RESTART_PERIOD_S:
                restarts.popleft()
            if len(restarts) > RESTART_INTENSITY:
                raise SupervisorGaveUp

    sup = asyncio.create_task(supervisor())
    mailbox, _ = await ready.get()
    latencies: list[int] = []
    for _ in range(n):
        mailbox.put_nowait(_CRASH)
        mailbox, ready_at = await ready.get()
        latencies.append(ready_at - crashed_at)
    sup.cancel()  # also cancels the child it is awaiting
    with contextlib.suppress(asyncio.CancelledError):
        await sup
    return latencies


async def w5_restart_latency_p50(n: int) -> float:
    """W5_restart_latency_p50: median seconds from crash to ready again.

    One permanent worker runs under a hand-written one_for_one supervisor loop
    (``await child`` / ``except Exception`` / intensity check / new Task).  The
    driver sends ``n`` crash messages in sequence.  T0 is taken inside the
    worker just before it raises; T1 inside the new incarnation (fresh Task,
    fresh mailbox) just before it parks on ``await q.get()``.
    """
    return percentile_s(await _restart_latencies_ns(n), 0.50)


async def w5_restart_latency_p99(n: int) -> float:
    """W5_restart_latency_p99: 99th-percentile crash-to-ready seconds (separate run)."""
    return percentile_s(await _restart_latencies_ns(n), 0.99)


# --------------------------------------------------------------------------- W6


async def w6_fanout(n: int) -> float:
    """W6_fanout: messages/s from one sender to ``n`` actors, 10 messages each.

    ``n`` actors are spawned and parked (untimed), then ``gc.collect()``.  The
    driver casts :data:`~benchmarks._common.FANOUT_MESSAGES_PER_ACTOR` rounds
    round-robin over all mailboxes, yielding every
    :data:`~benchmarks._common.YIELD_EVERY` casts; timed until every actor has
    received all its messages.
    """
    k = FANOUT_MESSAGES_PER_ACTOR
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    remaining = n

    async def actor(mailbox: asyncio.Queue[int]) -> None:
        nonlocal remaining
        get = mailbox.get
        for _ in range(k):
            await get()
        remaining -= 1
        if not remaining:
            done.set_result(None)

    mailboxes: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in range(n)]
    tasks = [asyncio.create_task(actor(q)) for q in mailboxes]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    gc.collect()

    t0 = now_ns()
    budget = YIELD_EVERY
    for r in range(k):
        for q in mailboxes:
            q.put_nowait(r)
            budget -= 1
            if not budget:
                budget = YIELD_EVERY
                await asyncio.sleep(0)
    await done
    t1 = now_ns()
    await asyncio.gather(*tasks)
    return per_second(n * k, t1 - t0)


# --------------------------------------------------------------------------- W7


async def w7_loop_lag_loop(n: int) -> float:
    """W7_loop_lag_loop: p99 loop lag (s) while a task does ``n`` ms of CPU work on the loop.

    The work (:func:`~benchmarks._common.burn_cpu`) runs in a task of the
    loop, as a handler that computes does; the probe
    (:func:`~benchmarks._common.loop_lag_p99`) cannot run until it ends.
    """

    async def work() -> int:
        return burn_cpu(n)

    # A coroutine, not a task: it runs once the probe is armed.
    return await loop_lag_p99(work())


async def w7_loop_lag_thread(n: int) -> float:
    """W7_loop_lag_thread: the same, the work in a worker thread (``asyncio.to_thread``).

    The default executor is warmed up with an empty piece of work first
    (untimed). The work is pure Python, so the thread and the loop take turns
    at the GIL: the loop waits up to ``sys.getswitchinterval()`` each time.
    """
    await asyncio.to_thread(burn_cpu, 0)
    return await loop_lag_p99(asyncio.to_thread(burn_cpu, n))


def _process_pool() -> concurrent.futures.ProcessPoolExecutor:
    """A pool of one worker process, forked from a fork server (as supervise's offload)."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return concurrent.futures.ProcessPoolExecutor(1, mp_context=context)


async def w7_loop_lag_process(n: int) -> float:
    """W7_loop_lag_process: the same, the work in a worker process (``run_in_executor``).

    A pool of one process is started and warmed up with an empty piece of
    work (untimed, off the loop), and shut down afterwards.
    """
    loop = asyncio.get_running_loop()
    pool = _process_pool()
    try:
        await loop.run_in_executor(pool, burn_cpu, 0)
        return await loop_lag_p99(loop.run_in_executor(pool, burn_cpu, n))
    finally:
        await asyncio.to_thread(pool.shutdown)


async def w8_async_stream(n: int) -> float:
    """W8_async_stream: items/s mapped with bounded concurrency, ``asyncio.gather`` style.

    The idiom ``async_stream`` replaces: one Task per item, each holding an
    ``asyncio.Semaphore(STREAM_CONCURRENCY)`` around ``await stream_item(x)``,
    all gathered; timed from the first Task's creation until ``gather``
    returns the ``n`` results in input order.
    """
    semaphore = asyncio.Semaphore(STREAM_CONCURRENCY)

    async def one(x: int) -> int:
        async with semaphore:
            return await stream_item(x)

    gc.collect()
    t0 = now_ns()
    results = await asyncio.gather(*(one(x) for x in range(n)))
    t1 = now_ns()
    assert len(results) == n
    return per_second(n, t1 - t0)


# --------------------------------------------------------------------------- W8 isolated

#: The raw isolated echo: a Python process answering length-prefixed JSON on its stdin/stdout.
_ECHO_CHILD: Final = """
import json, sys
read, write, flush = sys.stdin.buffer.read, sys.stdout.buffer.write, sys.stdout.buffer.flush
while True:
    head = read(4)
    if len(head) < 4:
        break
    request = json.loads(read(int.from_bytes(head, "big")))
    out = json.dumps(request["n"]).encode()
    write(len(out).to_bytes(4, "big") + out)
    flush()
"""


async def _echo_child() -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _ECHO_CHILD,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )


async def _echo(child: asyncio.subprocess.Process, n: int) -> object:
    """One round trip: ``{"n": n}`` as length-prefixed JSON there, ``n`` back."""
    stdin, stdout = child.stdin, child.stdout
    assert stdin is not None
    assert stdout is not None
    body = json.dumps({"n": n}).encode()
    stdin.write(len(body).to_bytes(4, "big") + body)
    head = await stdout.readexactly(4)
    return json.loads(await stdout.readexactly(int.from_bytes(head, "big")))


async def _end(child: asyncio.subprocess.Process) -> None:
    assert child.stdin is not None
    child.stdin.close()
    await child.wait()


async def w8_isolated_call(n: int) -> float:
    """W8_isolated_call: calls/s, ``n`` sequential round trips to a child process.

    A child Python process (``asyncio.create_subprocess_exec``) reads
    length-prefixed JSON requests on its stdin and writes the replies on its
    stdout; the parent writes one and awaits the reply (``readexactly``)
    before the next. ``CALL_WARMUP`` untimed round trips first.
    """
    child = await _echo_child()
    try:
        for i in range(CALL_WARMUP):
            await _echo(child, i)
        t0 = now_ns()
        for i in range(n):
            await _echo(child, i)
        t1 = now_ns()
    finally:
        await _end(child)
    return per_second(n, t1 - t0)


async def w8_isolated_restart(n: int) -> float:
    """W8_isolated_restart: median seconds from SIGKILL to the first reply of a new child.

    ``n`` times: SIGKILL the echo child, reap it (``wait``), start a new one
    and make one round trip; timed from just before the kill until the reply.
    """
    child = await _echo_child()
    latencies: list[int] = []
    try:
        await _echo(child, 0)
        for i in range(n):
            t0 = now_ns()
            os.kill(child.pid, signal.SIGKILL)
            await child.wait()
            child = await _echo_child()
            await _echo(child, i)
            latencies.append(now_ns() - t0)
    finally:
        await _end(child)
    return percentile_s(latencies, 0.50)


# W9 (opt-in): raw nats-py request/reply to another process; see benchmarks/_cluster.py.
w9_remote_call = _cluster.w9_remote_call_raw
w9_remote_pipelined = _cluster.w9_remote_pipelined_raw


async def w8_timed_async_stream(n: int) -> float:
    """W8_timed_async_stream: W8_async_stream with a deadline on every call.

    The same gather over one Task per item inside the semaphore, each call in
    ``asyncio.timeout(STREAM_TIMEOUT)`` (never reached).
    """
    semaphore = asyncio.Semaphore(STREAM_CONCURRENCY)

    async def one(x: int) -> int:
        async with semaphore, asyncio.timeout(STREAM_TIMEOUT):
            return await stream_item(x)

    gc.collect()
    t0 = now_ns()
    results = await asyncio.gather(*(one(x) for x in range(n)))
    t1 = now_ns()
    assert len(results) == n
    return per_second(n, t1 - t0)


# --------------------------------------------------------------------------- W9


async def w9_nodedown(n: int) -> float:
    """W9_nodedown: median s from a responder's SIGKILL to the server's disconnect
    advisory for it plus one request/reply to the other responder (nats-py alone; see
    `benchmarks._nodedown`)."""
    return await _nodedown.raw_side(n)
