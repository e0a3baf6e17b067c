"""Node processes for cluster tests: ``supervise run`` of a tree that only joins the cluster.

Each node is a child process on loopback, logging JSON lines to a file of its own;
`Nodes.close` kills and reaps every one of them (a frozen one is continued first).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats

from supervise import ClusterSpec

TESTS = Path(__file__).resolve().parent

#: The cluster name of the tests, and their failure detector: 100 ms heartbeats, 4 misses
#: (a node is down after 0.4 s: short, yet longer than a busy CI machine's stalls).
CLUSTER = "test"
HEARTBEAT = 0.1
MISSES = 4


def cluster(url: str, node: str = "main") -> ClusterSpec:
    """The cluster block of a test tree on node ``node``."""
    return ClusterSpec(servers=url, node=node, name=CLUSTER, heartbeat=HEARTBEAT, misses=MISSES)


class Nodes:
    """Node processes of one test, by name."""

    def __init__(self, url: str, directory: Path) -> None:
        self.url = url
        self.directory = directory
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._stderr: list[Any] = []

    def start(self, name: str, labels: dict[str, str] | None = None) -> None:
        """Start node ``name`` (``supervise run`` of a tree with no children of its own)."""
        tree = self.directory / f"node-{name}.json"
        spec: dict[str, Any] = {
            "name": f"node-{name}",
            "cluster": {
                "servers": self.url,
                "node": name,
                "name": CLUSTER,
                "heartbeat": HEARTBEAT,
                "misses": MISSES,
                "labels": labels or {},
            },
        }
        tree.write_text(json.dumps(spec))
        stderr = open(self.directory / f"node-{name}.err", "wb")  # noqa: SIM115
        self._stderr.append(stderr)
        self.processes[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "supervise",
                "run",
                "--log-format",
                "json",
                "--log-file",
                str(self.log_file(name)),
                "--no-watchdog",
                str(tree),
            ],
            cwd=TESTS,  # the placed children's actors are in tests/_tree_actors.py
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )

    def log_file(self, name: str) -> Path:
        return self.directory / f"node-{name}.log"

    def log(self, name: str) -> list[dict[str, Any]]:
        """The events node ``name`` has logged so far."""
        path = self.log_file(name)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    async def wait_up(self, *names: str, timeout: float = 20.0) -> None:
        """Wait until each named node has sent a heartbeat."""
        waiting = set(names)
        seen = asyncio.Event()
        client = await nats.connect(self.url)
        try:

            async def heard(msg: Any) -> None:
                waiting.discard(msg.subject.rsplit(".", 1)[-1])
                if not waiting:
                    seen.set()

            await client.subscribe(f"sup.{CLUSTER}.hb.*", cb=heard)
            async with asyncio.timeout(timeout):
                await seen.wait()
        except TimeoutError:
            errors = {n: (self.directory / f"node-{n}.err").read_text() for n in waiting}
            raise TimeoutError(f"nodes {sorted(waiting)} sent no heartbeat: {errors}") from None
        finally:
            await client.close()

    async def wait_logged(
        self, name: str, event: str, timeout: float = 10.0, **fields: object
    ) -> dict[str, Any]:
        """Wait until node ``name`` has logged ``event`` with these fields."""
        async with asyncio.timeout(timeout):
            while True:
                for entry in self.log(name):
                    if entry.get("event") == event and all(
                        entry.get(k) == v for k, v in fields.items()
                    ):
                        return entry
                await asyncio.sleep(0.02)

    def signal(self, name: str, signum: int) -> None:
        self.processes[name].send_signal(signum)

    def close(self) -> None:
        """Kill and reap every node (continuing a frozen one first)."""
        for process in self.processes.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.kill()
        for process in self.processes.values():
            process.wait(timeout=10)
        for stderr in self._stderr:
            stderr.close()
