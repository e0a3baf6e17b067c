"""A subtree moving between machines, on this machine: one command.

Starts a NATS server and two nodes (worker-a, worker-b) as child processes on
127.0.0.1, runs examples/cluster.yaml here (its ``ingest`` subtree prefers
worker-a), kills worker-a with SIGKILL and shows ``ingest`` restarted on
worker-b by its local supervisor. Every process it started is gone when it ends.

    pip install 'supervise[nats]'
    python examples/cluster_demo.py
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from supervise import Tree, load_tree, open_tree
from supervise.testing import NatsServer

HERE = Path(__file__).resolve().parent


def start_node(name: str, url: str) -> subprocess.Popen[bytes]:
    """``supervise node``: a process that runs what the cluster places on it."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "supervise",
            "node",
            "--name",
            name,
            "--nats",
            url,
            "--cluster",
            "demo",
            "--heartbeat",
            "0.1",
        ],
        cwd=HERE,  # the placed actors are in examples/cluster/
        stdout=subprocess.DEVNULL,
    )


async def wait_for_nodes(url: str, names: set[str], timeout: float = 20.0) -> None:
    """Wait until every named node has sent a heartbeat (``sup.<cluster>.hb.<node>``)."""
    import nats

    waiting = set(names)
    heard = asyncio.Event()
    client = await nats.connect(url)
    try:

        async def beat(msg: Any) -> None:
            waiting.discard(msg.subject.rsplit(".", 1)[-1])
            if not waiting:
                heard.set()

        await client.subscribe("sup.demo.hb.*", cb=beat)
        async with asyncio.timeout(timeout):
            await heard.wait()
    finally:
        await client.close()


async def where(tree: Tree, path: str) -> str | None:
    """The node a child runs on now, from the tree's snapshot (None: not running)."""
    snapshot = await tree.snapshot()
    node = next(n for n in snapshot.nodes if n.path == path)
    return node.runs_on if node.state == "running" else None


async def wait_until_on(tree: Tree, path: str, node: str, timeout: float = 15.0) -> None:
    """Poll the snapshot until ``path`` runs on ``node`` (a demo; a program would watch events)."""
    async with asyncio.timeout(timeout):
        while await where(tree, path) != node:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def main() -> None:
    with NatsServer() as server:
        nodes = {name: start_node(name, server.url) for name in ("worker-a", "worker-b")}
        try:
            await wait_for_nodes(server.url, set(nodes))
            spec = load_tree(
                HERE / "cluster.yaml", env={"NATS_URL": server.url}, extra_sys_path=[HERE]
            )
            async with open_tree(spec) as tree:
                await wait_until_on(tree, "shop/ingest", "worker-a")
                print("shop/front runs here; shop/ingest runs on worker-a")
                killed_at = time.monotonic()
                nodes["worker-a"].send_signal(signal.SIGKILL)
                print("killed worker-a (SIGKILL)")
                await wait_until_on(tree, "shop/ingest", "worker-b")
                moved = time.monotonic() - killed_at
                print(f"shop/ingest runs on worker-b ({moved:.2f} s after the kill)")
        finally:
            for process in nodes.values():
                if process.poll() is None:
                    process.terminate()
            for process in nodes.values():
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    print("done: the tree stopped in order, both nodes are gone")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main())
