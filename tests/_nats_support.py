"""Node processes for tests/test_nats_*.py: `supervise node` subprocesses, always reaped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent
TREE = TESTS / "nats_node.yaml"
#: Heartbeat for tests: nodedown within misses x this (0.15 s).
HEARTBEAT = 0.05
MISSES = 3


class NodeProcess:
    """A `supervise node` subprocess serving tests/nats_node.yaml."""

    def __init__(self, process: asyncio.subprocess.Process, name: str, log: Path) -> None:
        self.process = process
        self.name = name
        self.log = log

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the node process."""
        self.process.send_signal(sig)

    def log_text(self) -> str:
        """What the node logged (JSON lines)."""
        return self.log.read_text(errors="replace")


@contextlib.asynccontextmanager
async def node_process(url: str, name: str, tmp: Path) -> AsyncIterator[NodeProcess]:
    """Start node ``name`` on ``url``, wait until it serves, and kill and reap it after."""
    log = tmp / f"{name}.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), str(TESTS.parent)]))
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "supervise",
            "node",
            "--name",
            name,
            "--nats",
            url,
            "--heartbeat",
            str(HEARTBEAT),
            "--misses",
            str(MISSES),
            "--tree",
            str(TREE),
            "--log-format",
            "json",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    node = NodeProcess(process, name, log)
    try:
        assert process.stderr is not None
        async with asyncio.timeout(30):
            line = await process.stderr.readline()
        assert line == f"node {name} ready\n".encode(), (line, node.log_text())
        yield node
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGCONT)
                process.kill()
        await process.wait()
