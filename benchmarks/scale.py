"""One process, very many idle supervised actors: memory, start time, stop time.

Run from the repository root (not part of the test suite; a million actors
take about a minute and a few GiB)::

    python -m benchmarks.scale --actors 1000000
    python -m benchmarks.scale --actors 1000000 --side raw        # Task + Queue per actor
    python -m benchmarks.scale --actors 1000000 --loop uvloop --json out.json

Each side runs in its own fresh process (this script re-executes itself), so
one side's heap never inflates the other's RSS.  Method, per side:

1. Import everything, open the tree (framework) and ``gc.collect()``; read RSS.
2. Start ``--actors`` idle actors: the framework with ``await pool.start_child()``
   per actor under one `DynamicSupervisor` (as W1_spawn), raw with one
   ``asyncio.Queue`` and one ``Task`` per actor (as the raw W1_spawn); then let
   every actor park on its mailbox.  Timed.
3. ``gc.collect()``; read RSS: (RSS after - RSS before) / actors is the
   resident memory per idle actor, allocator slack and page rounding included.
4. Check a sample of actors answers (framework: a call each; untimed).
5. Stop them all (framework: ``tree.stop()``, the pool stops every child at
   once; raw: a stop message per mailbox) until every task has ended.  Timed.

CPython's garbage collector keeps its default thresholds unless ``--gc`` says
otherwise: ``freeze`` calls ``gc.freeze()`` after the start (what an
application that has finished booting may do; the library never touches GC
settings), ``off`` disables the collector for the whole run (a reference
point, not advice).  Structlog is configured as in the benchmarks (a cached
filtering logger at WARNING).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SAMPLE = 1000  # actors checked to answer after the start


def _rss_bytes() -> int:
    """Current resident set size (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def _framework(n: int, gc_mode: str) -> dict[str, Any]:
    from benchmarks._framework import _Idle, _Noop, _pool, quiet_logging
    from supervise import ActorRef, open_tree

    with quiet_logging():
        tree = open_tree(_pool(_Idle))
        await tree.start()
        pool = tree.root
        gc.collect()
        rss0 = _rss_bytes()
        start_child = pool.start_child
        t0 = time.perf_counter()
        for _ in range(n):
            await start_child()
        await asyncio.sleep(0)
        t1 = time.perf_counter()
        if gc_mode == "freeze":
            gc.freeze()
        gc.collect()
        rss1 = _rss_bytes()
        step = max(1, n // _SAMPLE)
        for i in range(1, n + 1, step):
            ref = tree.whereis(f"bench/a-{i}")
            assert isinstance(ref, ActorRef)
            assert await ref.call(_Noop()) is None
        counts = await pool.count_children()
        assert counts.active == n, counts
        t2 = time.perf_counter()
        await tree.stop()
        t3 = time.perf_counter()
        if gc_mode == "freeze":
            gc.unfreeze()
    return {"start_s": t1 - t0, "stop_s": t3 - t2, "rss_before": rss0, "rss_after": rss1}


async def _raw(n: int, gc_mode: str) -> dict[str, Any]:
    from benchmarks._raw import _IdleActors

    gc.collect()
    rss0 = _rss_bytes()
    actors = _IdleActors(n)
    t0 = time.perf_counter()
    await actors.spawn()
    t1 = time.perf_counter()
    if gc_mode == "freeze":
        gc.freeze()
    gc.collect()
    rss1 = _rss_bytes()
    t2 = time.perf_counter()
    await actors.stop()
    t3 = time.perf_counter()
    if gc_mode == "freeze":
        gc.unfreeze()
    return {"start_s": t1 - t0, "stop_s": t3 - t2, "rss_before": rss0, "rss_after": rss1}


def _run_side(side: str, n: int, loop: str, gc_mode: str) -> dict[str, Any]:
    """Measure one side in this process."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if loop == "uvloop":
        # By name, so that type-checking does not need the optional uvloop installed.
        factory = importlib.import_module("uvloop").new_event_loop
    if gc_mode == "off":
        gc.disable()
    fn = _framework if side == "framework" else _raw
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(fn(n, gc_mode))
    result.update(
        side=side,
        actors=n,
        start_actors_per_s=n / result["start_s"],
        stop_actors_per_s=n / result["stop_s"],
        rss_per_actor=(result["rss_after"] - result["rss_before"]) / n,
        peak_rss=_peak_rss_bytes(),
    )
    return result


def _gib(b: float) -> str:
    return f"{b / 2**30:.2f} GiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__)
    parser.add_argument("--actors", type=int, default=1_000_000)
    parser.add_argument("--side", choices=["framework", "raw", "both"], default="framework")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--gc", choices=["default", "freeze", "off"], default="default")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: one side, print JSON
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(_run_side(args.child, args.actors, args.loop, args.gc)))
        return 0

    sides = ["framework", "raw"] if args.side == "both" else [args.side]
    results = []
    for side in sides:
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.scale",
            "--child",
            side,
            "--actors",
            str(args.actors),
            "--loop",
            args.loop,
            "--gc",
            args.gc,
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        results.append(result)
        print(
            f"{side:9s} {args.actors:,} actors ({args.loop}, gc {args.gc}): "
            f"start {result['start_s']:.1f} s ({result['start_actors_per_s'] / 1e3:.1f}k/s), "
            f"stop {result['stop_s']:.1f} s ({result['stop_actors_per_s'] / 1e3:.1f}k/s), "
            f"RSS +{_gib(result['rss_after'] - result['rss_before'])} "
            f"({result['rss_per_actor']:.0f} B/actor), peak RSS {_gib(result['peak_rss'])}",
            flush=True,
        )
    if args.json:
        machine = {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "event_loop": args.loop,
            "gc": args.gc,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        args.json.write_text(json.dumps({"results": results, "machine": machine}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
