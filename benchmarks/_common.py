"""Constants and measurement helpers shared by the raw and the framework side.

Both sides of every workload must measure the same thing the same way, so the
fixed workload parameters (producer count, fan-out depth, yield batch, warm-up)
and the measurement helpers (timer, percentile, traced memory) live here and are
imported by :mod:`benchmarks._raw` and :mod:`benchmarks._framework` alike.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import TypeAlias, TypeVar

#: A workload implementation: ``await fn(n)`` runs the workload at size ``n``
#: inside a fresh event loop and returns the figure (in the workload's unit).
WorkloadFn: TypeAlias = Callable[[int], Awaitable[float]]

#: Producers are cooperative: a tight ``put_nowait`` loop never yields, so every
#: producer hands control back to the loop (``await asyncio.sleep(0)``) after
#: this many casts, as the anchors do (a stand-in for BEAM preemption).
YIELD_EVERY = 1000

#: W3_cast_100to1: number of producers casting into the one consumer.
FANIN_PRODUCERS = 100

#: W6_fanout: messages each of the N receivers gets (sent round-robin).
FANOUT_MESSAGES_PER_ACTOR = 10

#: W8_async_stream: calls running at once (``max_concurrency``, the semaphore's size).
STREAM_CONCURRENCY = 100

#: W8_timed_async_stream: seconds each call may take (``async_stream``'s default).
STREAM_TIMEOUT = 5.0


async def stream_item(x: int) -> int:
    """W8_async_stream: one small item: suspends once (the I/O), then computes."""
    await asyncio.sleep(0)
    return 2 * x


#: W4: untimed calls made before the timed ones.
CALL_WARMUP = 1000

#: W5: restart intensity of the one_for_one supervisor (OTP ``intensity`` /
#: ``period``).  High enough never to trip during the benchmark, but it is
#: checked on every restart, as a real supervisor must.
RESTART_INTENSITY = 10**9
RESTART_PERIOD_S = 1.0

#: W7: the loop-lag probe asks to wake this often (seconds).
LAG_PERIOD_S = 0.001

#: Monotonic nanosecond timer used for every timed region.
now_ns: Callable[[], int] = time.perf_counter_ns

T = TypeVar("T")


def per_second(count: int, elapsed_ns: int) -> float:
    """Rate of ``count`` events over ``elapsed_ns`` nanoseconds, in events/s."""
    return count * 1e9 / max(1, elapsed_ns)


def percentile_s(latencies_ns: list[int], p: float) -> float:
    """Nearest-rank percentile ``p`` (0 < p <= 1) of ``latencies_ns``, in seconds.

    The rank is ``ceil(p * n)`` (1-based) in the sorted sample: p50 of 100k
    values is the 50,000th smallest, p99 the 99,000th.
    """
    if not latencies_ns:
        raise ValueError("percentile of an empty sample")
    ordered = sorted(latencies_ns)
    rank = min(len(ordered), max(1, math.ceil(p * len(ordered))))
    return ordered[rank - 1] / 1e9


async def traced_bytes_per_item(
    n: int,
    build: Callable[[int], Awaitable[T]],
    teardown: Callable[[T], Awaitable[None]],
) -> float:
    """Python-heap bytes per item kept alive by ``await build(n)``, via tracemalloc.

    Method (W1_memory_per_actor): ``gc.collect()``, start tracemalloc, read the
    traced size; build ``n`` items and wait until they are idle; ``gc.collect()``
    again (so only live objects count, not cyclic garbage left by start-up);
    read the traced size; stop tracemalloc; tear down (untraced).  The result is
    the difference divided by ``n``.  tracemalloc sees every allocation made
    through Python's allocators, so it covers task, coroutine frame, mailbox and
    bookkeeping objects, but not the allocator's own slack or page rounding
    (that is what an RSS delta would add; it is noisy at small counts, so it is
    not used here).
    """
    gc.collect()
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        built = await build(n)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    await teardown(built)
    return (after - before) / n


def burn_cpu(ms: int) -> int:
    """W7's CPU work: pure Python, holding the GIL, until this thread has used ``ms`` ms of CPU.

    Counted in the thread's own CPU time (``time.thread_time``), so the work is
    the same however busy the machine is; the wall time it takes grows with
    the load.  Returns the number of iterations (a result to send back).
    """
    end = time.thread_time() + ms / 1000
    clock = time.thread_time
    spins = 0
    while clock() < end:
        spins += 1
    return spins


async def loop_lag_p99(work: Awaitable[object]) -> float:
    """W7: the 99th-percentile loop lag, in seconds, while ``work`` is awaited.

    A probe task sleeps :data:`LAG_PERIOD_S` again and again; each wake-up's
    lag is how much later than asked it woke (how long the loop was kept
    from it).  Sampling starts just before ``work`` is awaited and ends with
    the first wake-up after it finished, so a loop blocked for the whole work
    still gives its one sample (that long).  Nearest-rank p99 of the samples
    (:func:`percentile_s`).
    """
    period_ns = round(LAG_PERIOD_S * 1e9)
    lags: list[int] = []
    finished = False

    async def probe() -> None:
        last = now_ns()
        while True:
            await asyncio.sleep(LAG_PERIOD_S)
            now = now_ns()
            lags.append(max(0, now - last - period_ns))
            last = now
            if finished:
                return

    task = asyncio.create_task(probe())
    await asyncio.sleep(0)  # the probe's first sleep is armed
    try:
        await work
    finally:
        finished = True
        await task
    return percentile_s(lags, 0.99)
