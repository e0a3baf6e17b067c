"""`Tree.snapshot()` of 1k, 10k and 100k actors: total time and the longest loop stall.

Run from the repository root (not part of the test suite)::

    python -m benchmarks.snapshot                     # 1000, 10000, 100000 actors
    python -m benchmarks.snapshot --actors 1000 --json out.json

Method, per size: one `DynamicSupervisor` with that many idle actors (each
handled one call, so every node has counters to read). A ticker task records
the gaps between its turns while the measured code runs: the longest gap is
the longest the event loop was kept from other work (the stall), garbage
collections included (a full collection's pause grows with the whole heap,
every actor, not with the snapshot). Two things are measured:

* ``snapshot``: ``await tree.snapshot()``;
* ``control``: a ``{"op": "snapshot"}`` request to the tree's control socket
  (what ``supervise top`` and ``supervise inspect`` send), from a client in
  another process (started beforehand) that reads the whole reply.

Each size is measured ``--rounds`` times, alternating the two; the median of
the totals and the worst stall over all rounds are reported. Then, once,
``models``: how long reading every node of a snapshot as a `NodeSnapshot`
takes (``list(snap.nodes)`` in one go: a program that does this on the tree's
loop stalls it that long, so it should read in pieces). ``--gc freeze`` calls
``gc.freeze()`` once the actors run, as an application may after booting.
Structlog is quiet (WARNING), as in the other benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from supervise import Actor, ChildSpec, DynamicSupervisorSpec, SupervisorSpec, Tree, open_tree

from ._framework import quiet_logging


class Ping(BaseModel, frozen=True):
    pass


class Idle(Actor[Ping]):
    async def handle(self, msg: Ping) -> None:
        return None


async def _tick(gaps: list[tuple[float, float]], stop: asyncio.Event) -> None:
    """Record (wall, CPU) time between this task's turns until ``stop`` is set.

    CPU time is the loop thread's own (``time.thread_time``): the work done
    between two turns, without the time the thread waited for a core.
    """
    loop = asyncio.get_running_loop()
    clock = time.thread_time
    last, last_cpu = loop.time(), clock()
    while not stop.is_set():
        await asyncio.sleep(0)
        now, cpu = loop.time(), clock()
        gaps.append((now - last, cpu - last_cpu))
        last, last_cpu = now, cpu


#: Full (oldest-generation) garbage collections that ran inside measured regions.
_full_collections = 0
_measuring = False


def _count_full(phase: str, info: dict[str, int]) -> None:
    global _full_collections
    if _measuring and phase == "start" and info["generation"] == 2:
        _full_collections += 1


async def _stall(work: Callable[[], Awaitable[int]]) -> tuple[float, float, float, int]:
    """Run ``work()`` beside a ticker: total seconds, longest gap (wall, CPU), its result."""
    global _measuring
    loop = asyncio.get_running_loop()
    gaps: list[tuple[float, float]] = []
    stop = asyncio.Event()
    task = asyncio.create_task(_tick(gaps, stop))
    await asyncio.sleep(0)
    start = loop.time()
    _measuring = True
    try:
        result = await work()
    finally:
        _measuring = False
    total = loop.time() - start
    stop.set()
    await task
    return total, max(g[0] for g in gaps), max(g[1] for g in gaps), result


#: The control client: sends one snapshot request, reads the reply, prints its length.
_CLIENT = """
import socket, sys
print("ready", flush=True)
sys.stdin.readline()
with socket.socket(socket.AF_UNIX) as s:
    s.connect(sys.argv[1])
    s.sendall(b'{"op": "snapshot"}\\n')
    size, last = 0, b""
    while not last.endswith(b"\\n"):
        last = s.recv(1 << 20)
        if not last:
            sys.exit("the reply was cut off")
        size += len(last)
print(size)
"""


async def measure(actors: int, rounds: int, freeze: bool = False) -> dict[str, Any]:
    global _full_collections
    _full_collections = 0
    pool = DynamicSupervisorSpec(name="pool", child=ChildSpec(name="w", actor=Idle))
    socket = Path(tempfile.mkdtemp()) / "tree.sock"
    spec = SupervisorSpec(name="root", children=[pool])
    async with open_tree(spec, control=socket) as tree:
        ref = tree.supervisor("root/pool")
        for _ in range(actors):
            await ref.start_child()
        for node in (await tree.snapshot()).nodes[2:]:
            await tree.actor(node.path).call(Ping())
        gc.collect()  # the start-up's own garbage-collection debt is paid before measuring
        if freeze:
            gc.freeze()

        async def snapshot() -> int:
            return len((await tree.snapshot()).nodes)

        async def control(client: asyncio.subprocess.Process) -> int:
            out, _ = await client.communicate(b"go\n")
            return int(out)

        figures: dict[str, tuple[list[float], list[float], list[float]]] = {
            "snapshot": ([], [], []),
            "control": ([], [], []),
        }
        for _ in range(rounds):
            client = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _CLIENT,
                str(socket),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            assert client.stdout is not None
            await client.stdout.readline()  # started and waiting, untimed
            for name, work in (
                ("snapshot", snapshot),
                ("control", functools.partial(control, client)),
            ):
                total, stall, stall_cpu, count = await _stall(work)
                assert name != "snapshot" or count == actors + 2
                figures[name][0].append(total)
                figures[name][1].append(stall)
                figures[name][2].append(stall_cpu)
        models = await _read_models(tree)
        gc.unfreeze()
    socket.parent.rmdir()  # the tree removed its socket
    result: dict[str, Any] = {
        "actors": actors,
        "rounds": rounds,
        "gc": "freeze" if freeze else "default",
        "full_collections": _full_collections,
    }
    for name, (totals, stalls, stalls_cpu) in figures.items():
        result[f"{name}_total_seconds"] = statistics.median(totals)
        result[f"{name}_max_stall_seconds"] = max(stalls)
        result[f"{name}_max_stall_cpu_seconds"] = max(stalls_cpu)
    result["models_seconds"] = models
    return result


async def _read_models(tree: Tree) -> float:
    """Seconds to read every node of a snapshot as a model, in one go."""
    snap = await tree.snapshot()
    loop = asyncio.get_running_loop()
    start = loop.time()
    nodes = list(snap.nodes)
    took = loop.time() - start
    del nodes
    return took


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
    gc.callbacks.append(_count_full)
    with quiet_logging():
        sizes = args.actors or [1000, 10000, 100000]
        results = [asyncio.run(measure(n, args.rounds, args.gc == "freeze")) for n in sizes]
    print(
        f"gc: {args.gc}; median total over {args.rounds} round(s); longest loop stall"
        " over all rounds, wall (CPU of the loop thread)"
    )
    print(
        f"{'actors':>8}  {'snapshot':>10}  {'stall':>17}  {'control':>10}  {'stall':>17}"
        f"  {'all models':>10}  full GCs"
    )

    def ms(seconds: float) -> str:
        return f"{seconds * 1e3:.1f} ms"

    for r in results:
        snap = f"{ms(r['snapshot_max_stall_seconds'])} ({ms(r['snapshot_max_stall_cpu_seconds'])})"
        ctl = f"{ms(r['control_max_stall_seconds'])} ({ms(r['control_max_stall_cpu_seconds'])})"
        print(
            f"{r['actors']:>8}  {ms(r['snapshot_total_seconds']):>10}  {snap:>17}"
            f"  {ms(r['control_total_seconds']):>10}  {ctl:>17}  {ms(r['models_seconds']):>10}"
            f"  {r['full_collections']:>8}"
        )
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end; {sys.version}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"snapshot": results, "python": sys.version}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
