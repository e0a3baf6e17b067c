"""`Tree.snapshot()` of 1k, 10k and 100k actors: total time and the longest loop stall.

Run from the repository root (not part of the test suite)::

    python -m benchmarks.snapshot                     # 1000, 10000, 100000 actors
    python -m benchmarks.snapshot --actors 1000 --json out.json

Method, per size: one `DynamicSupervisor` with that many idle actors (each
handled one call, so every node has counters to read). A ticker task records
the gaps between its turns while ``await tree.snapshot()`` runs: the longest
gap is the longest the event loop was kept from other work (the stall),
garbage collections included: with CPython's default thresholds the objects a
snapshot allocates can trigger a full collection, whose pause grows with the
whole heap (every actor), not with the snapshot; ``--gc freeze`` calls
``gc.freeze()`` once the actors run, as an application may after booting. Each
size is measured ``--rounds`` times; the median of the totals and the worst
stall are reported. Structlog is quiet (WARNING), as in the other benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
from typing import Any

from pydantic import BaseModel

from supervise import Actor, ChildSpec, DynamicSupervisorSpec, SupervisorSpec, open_tree

from ._framework import quiet_logging


class Ping(BaseModel, frozen=True):
    pass


class Idle(Actor[Ping]):
    async def handle(self, msg: Ping) -> None:
        return None


async def _tick(gaps: list[float], stop: asyncio.Event) -> None:
    """Record the time between this task's turns until ``stop`` is set."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while not stop.is_set():
        await asyncio.sleep(0)
        now = loop.time()
        gaps.append(now - last)
        last = now


async def measure(actors: int, rounds: int, freeze: bool = False) -> dict[str, Any]:
    pool = DynamicSupervisorSpec(name="pool", child=ChildSpec(name="w", actor=Idle))
    async with open_tree(SupervisorSpec(name="root", children=[pool])) as tree:
        ref = tree.supervisor("root/pool")
        for _ in range(actors):
            await ref.start_child()
        for node in (await tree.snapshot()).nodes[2:]:
            await tree.actor(node.path).call(Ping())
        if freeze:
            gc.freeze()
        loop = asyncio.get_running_loop()
        totals: list[float] = []
        stalls: list[float] = []
        for _ in range(rounds):
            gaps: list[float] = []
            stop = asyncio.Event()
            task = asyncio.create_task(_tick(gaps, stop))
            await asyncio.sleep(0)
            start = loop.time()
            snap = await tree.snapshot()
            totals.append(loop.time() - start)
            stop.set()
            await task
            assert len(snap.nodes) == actors + 2
            stalls.append(max(gaps))
            del snap  # freed here, outside the measured region
        gc.unfreeze()
    return {
        "actors": actors,
        "total_seconds": statistics.median(totals),
        "max_stall_seconds": max(stalls),
        "rounds": rounds,
        "gc": "freeze" if freeze else "default",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.snapshot")
    parser.add_argument("--actors", type=int, action="append", help="repeatable")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--gc",
        choices=["default", "freeze"],
        default="default",
        help="freeze: gc.freeze() once the actors run, as an application may after booting",
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    with quiet_logging():
        sizes = args.actors or [1000, 10000, 100000]
        results = [asyncio.run(measure(n, args.rounds, args.gc == "freeze")) for n in sizes]
    print(f"gc: {args.gc}")
    print(f"{'actors':>8}  {'snapshot total':>15}  {'longest loop stall':>19}")
    for r in results:
        print(
            f"{r['actors']:>8}  {r['total_seconds'] * 1e3:>12.1f} ms"
            f"  {r['max_stall_seconds'] * 1e3:>16.1f} ms"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"snapshot": results, "python": sys.version}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
