"""W9_nodedown: a node killed with SIGKILL, until its subtree runs again on another node.

Both sides run a NATS server on 127.0.0.1 (``NatsServer``, the ``nats`` extra) and two
processes that stand for nodes; each of the ``n`` rounds kills the process holding the
work with SIGKILL and times until the work runs on the other one. The killed process is
started again, untimed, for the next round (which kills the other one). The figure is
the median over the rounds, in seconds.

* framework: two ``supervise run`` nodes of a cluster (heartbeat 50 ms, 3 misses); the
  tree in this process places a one-actor subtree with ``prefer: [a, b]``; the time runs
  from the kill to the subtree's ``subtree_placed`` on the other node (detection,
  ``nodedown`` exit, the one_for_one restart, the lease's compare-and-set and the
  remote start).
* raw: two nats-py responder processes; the time runs from the kill to the server's
  disconnect advisory for the killed client plus one request/reply to the other
  responder (the least any detector on NATS can do, and one message to move the work).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from benchmarks._common import now_ns
from supervise import Actor

#: The repository: the nodes import this module's `Idle` from here.
_ROOT = Path(__file__).resolve().parent.parent

_CLUSTER = "bench"
_HEARTBEAT = 0.05
_MISSES = 3

_NODE = """
import sys
import benchmarks._nodedown
from supervise._cli import main
main(sys.argv[1:], prog_name="supervise")
"""

_RESPONDER = """
import asyncio, sys
import nats
from supervise._nats._node import settle

async def main():
    nc = await nats.connect(sys.argv[1], name="raw:" + sys.argv[2])
    async def answer(msg):
        await msg.respond(b"ok")
    await nc.subscribe("raw." + sys.argv[2], cb=answer)
    await settle(nc, 30.0)
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@contextlib.contextmanager
def _processes() -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Child processes by name; every one killed and reaped at the end."""
    running: dict[str, subprocess.Popen[bytes]] = {}
    try:
        yield running
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
        for process in running.values():
            process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()


async def _heartbeats(url: str, subject: str, names: set[str], timeout: float = 30.0) -> None:
    """Wait until each of ``names`` has published on ``subject`` (``*`` is the name)."""
    import nats

    waiting = set(names)
    heard = asyncio.Event()
    client = await nats.connect(url)
    try:

        async def seen(msg: Any) -> None:
            waiting.discard(msg.subject.rsplit(".", 1)[-1])
            if not waiting:
                heard.set()

        await client.subscribe(subject, cb=seen)
        async with asyncio.timeout(timeout):
            await heard.wait()
    finally:
        await client.close()


def _start_node(name: str, url: str, directory: Path) -> subprocess.Popen[bytes]:
    tree = directory / f"node-{name}.json"
    tree.write_text(
        json.dumps(
            {
                "name": f"node-{name}",
                "cluster": {
                    "servers": url,
                    "node": name,
                    "name": _CLUSTER,
                    "heartbeat": _HEARTBEAT,
                    "misses": _MISSES,
                },
            }
        )
    )
    # The work's code is imported before the node joins, as in a deployment where
    # every node runs the same application: not an import inside the timed restart.
    command = [sys.executable, "-c", _NODE, "run", "--log-level", "error", str(tree)]
    return subprocess.Popen(command, cwd=_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


async def framework_side(n: int) -> float:
    """The framework side (see the module docs)."""
    from supervise import ChildSpec, ClusterSpec, Placement, SupervisorSpec, open_tree
    from supervise._nats._server import NatsServer
    from supervise.testing import capture_events

    times: list[float] = []
    with (
        NatsServer() as server,
        tempfile.TemporaryDirectory() as tmp,
        _processes() as nodes,
        capture_events() as events,
    ):
        for name in ("a", "b"):
            nodes[name] = _start_node(name, server.url, Path(tmp))
        await _heartbeats(server.url, f"sup.{_CLUSTER}.hb.*", {"a", "b"})
        spec = SupervisorSpec(
            name="bench",
            # Room for a placement tried while the detector is still settling.
            max_restarts=3 * n + 3,
            max_seconds=3600,
            cluster=ClusterSpec(
                servers=server.url,
                node="bench",
                name=_CLUSTER,
                heartbeat=_HEARTBEAT,
                misses=_MISSES,
            ),
            children=[
                SupervisorSpec(
                    name="work",
                    placement=Placement(prefer=["a", "b"]),
                    children=[ChildSpec(name="w", actor="benchmarks._nodedown:Idle")],
                )
            ],
        )
        async with open_tree(spec) as tree:
            conn = tree._membership.conn  # type: ignore[union-attr]
            holder = str((await events.wait_for("subtree_placed", actor="bench/work"))["node"])
            for _ in range(n):
                other = "b" if holder == "a" else "a"
                placed = len(events.of("subtree_placed", actor="bench/work"))
                started = now_ns()
                nodes[holder].send_signal(signal.SIGKILL)
                moved = await events.wait_for(
                    "subtree_placed", actor="bench/work", count=placed + 1, timeout=30
                )
                times.append((now_ns() - started) / 1e9)
                assert moved["node"] == other, moved
                nodes[holder].wait(timeout=10)
                nodes[holder] = _start_node(holder, server.url, Path(tmp))
                await conn.wait_node_up(holder, timeout=30)
                holder = other
    return statistics.median(times)


class Tick(BaseModel, frozen=True):
    """Nobody sends it: the placed actor only runs."""


class Idle(Actor[Tick]):
    """The work that moves: an idle actor in the placed subtree."""

    async def handle(self, msg: Tick) -> None:
        return None


async def raw_side(n: int) -> float:
    """The raw side (see the module docs)."""
    import nats

    from supervise._nats._node import settle
    from supervise._nats._server import NatsServer

    times: list[float] = []
    with NatsServer() as server, _processes() as responders:

        def start(name: str) -> subprocess.Popen[bytes]:
            command = [sys.executable, "-c", _RESPONDER, server.url, name]
            return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)

        for name in ("a", "b"):
            responders[name] = start(name)
        for process in responders.values():
            assert process.stdout is not None
            await asyncio.to_thread(process.stdout.readline)
        client = await nats.connect(server.url)
        try:
            gone: asyncio.Queue[str] = asyncio.Queue()

            async def advisory(msg: Any) -> None:
                name = (json.loads(msg.data).get("client") or {}).get("name") or ""
                if name.startswith("raw:"):
                    gone.put_nowait(name[4:])

            await client.subscribe("$SYS.ACCOUNT.*.DISCONNECT", cb=advisory)
            await settle(client, 30.0)
            holder = "a"
            for _ in range(n):
                other = "b" if holder == "a" else "a"
                started = now_ns()
                responders[holder].send_signal(signal.SIGKILL)
                while await gone.get() != holder:
                    pass
                await client.request(f"raw.{other}", b"start", timeout=10)
                times.append((now_ns() - started) / 1e9)
                killed = responders[holder]
                killed.wait(timeout=10)
                if killed.stdout is not None:
                    killed.stdout.close()
                responders[holder] = start(holder)
                stdout = responders[holder].stdout
                assert stdout is not None
                await asyncio.to_thread(stdout.readline)
                holder = other
        finally:
            await client.close()
    return statistics.median(times)
