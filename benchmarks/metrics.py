"""A Prometheus scrape of 1k, 10k and 100k actors: total time and the longest loop stall.

Run from the repository root (not part of the test suite; needs ``supervise[metrics]``)::

    python -m benchmarks.metrics                      # 1000, 10000, 100000 actors
    python -m benchmarks.metrics --actors 1000 --json out.json

Method, per size: one `DynamicSupervisor` with that many idle actors (each
answered one call, so every histogram has a count), in a tree opened with
``http="127.0.0.1:0"``. A client in another process (started beforehand)
sends ``GET /metrics`` and reads the whole response, while a ticker task
records the gaps between its turns (`benchmarks.snapshot`'s method): the
longest gap is the longest the event loop was kept from other work, garbage
collections included. Measured twice: with the children counted together
(the default, one series for all of them) and one series per child
(``MetricsOptions(aggregate_dynamic=False)``). The median total and the worst
stall over ``--rounds`` rounds are reported, with the response's size.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from supervise import ChildSpec, DynamicSupervisorSpec, MetricsOptions, SupervisorSpec, open_tree

from ._framework import quiet_logging
from .snapshot import Idle, Ping, _stall

#: The client: waits for a line on stdin, scrapes the URL, prints the response's size.
_CLIENT = """
import sys, urllib.request
print("ready", flush=True)
sys.stdin.readline()
with urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=120) as response:
    print(len(response.read()))
"""


async def measure(actors: int, rounds: int, aggregate: bool) -> dict[str, Any]:
    pool = DynamicSupervisorSpec(name="pool", child=ChildSpec(name="w", actor=Idle))
    spec = SupervisorSpec(name="root", children=[pool])
    options = MetricsOptions(aggregate_dynamic=aggregate)
    async with open_tree(spec, metrics=options, http="127.0.0.1:0") as tree:
        assert tree.http_url is not None
        sup = tree.supervisor("root/pool")
        for _ in range(actors):
            ref = await sup.start_child()
            assert ref is not None
            await tree.actor(ref.path).call(Ping())
        gc.collect()  # the start-up's own garbage-collection debt is paid before measuring
        totals: list[float] = []
        stalls: list[float] = []
        size = 0
        for _ in range(rounds):
            client = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _CLIENT,
                tree.http_url,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            assert client.stdout is not None
            await client.stdout.readline()  # started and waiting, untimed

            async def scrape(client: asyncio.subprocess.Process = client) -> int:
                out, _ = await client.communicate(b"go\n")
                return int(out)

            total, stall, _cpu, size = await _stall(scrape)
            totals.append(total)
            stalls.append(stall)
    return {
        "actors": actors,
        "aggregate_dynamic": aggregate,
        "rounds": rounds,
        "scrape_total_seconds": statistics.median(totals),
        "scrape_max_stall_seconds": max(stalls),
        "response_bytes": size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metrics", description=__doc__)
    parser.add_argument("--actors", type=int, action="append", help="sizes (repeatable)")
    parser.add_argument("--rounds", type=int, default=3, help="scrapes per size and mode")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = []
    print(f"{'actors':>8} {'series':>10} {'scrape':>9} {'longest stall':>14} {'bytes':>11}")
    with quiet_logging():
        for actors in args.actors or [1_000, 10_000, 100_000]:
            for aggregate in (True, False):
                result = asyncio.run(measure(actors, args.rounds, aggregate))
                results.append(result)
                print(
                    f"{actors:>8} {'together' if aggregate else 'per child':>10} "
                    f"{result['scrape_total_seconds'] * 1e3:>7.1f}ms "
                    f"{result['scrape_max_stall_seconds'] * 1e3:>12.1f}ms "
                    f"{result['response_bytes']:>11}",
                    flush=True,
                )
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end; {sys.version}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
