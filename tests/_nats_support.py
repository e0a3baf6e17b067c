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


class LateLink:
    """A TCP link to a NATS server that delivers a client's commands after a PING late.

    The bytes a client writes after a PING (its connection's first, the handshake's,
    aside) reach the server only with the client's next publish, as a busy server may
    read them after it has answered the PING: an answer to a PING says nothing of the
    commands written after it. With ``subscriptions_late``, every SUB and UNSUB is held
    so too, as a busy server may read them after another client's request. Everything
    else passes through in order.
    """

    def __init__(self, server_port: int, *, subscriptions_late: bool = False) -> None:
        self._server_port = server_port
        self._subscriptions_late = subscriptions_late
        self._listener: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self._held: list[list[bytes]] = []

    @property
    def held(self) -> list[bytes]:
        """The commands held back now, over every connection."""
        return [command for held in self._held for command in held]

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:PORT`` of the link."""
        return f"nats://127.0.0.1:{self.port}"

    async def __aenter__(self) -> LateLink:
        self._listener = await asyncio.start_server(self._link, "127.0.0.1", 0)
        self.port = self._listener.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._listener is not None
        self._listener.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._listener.wait_closed()

    async def _link(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        server_in, server_out = await asyncio.open_connection("127.0.0.1", self._server_port)
        down = asyncio.ensure_future(self._pipe(server_in, client_out))
        up = asyncio.ensure_future(self._commands(client_in, server_out))
        self._tasks.update((down, up))
        try:
            await asyncio.wait((down, up), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for writer in (client_out, server_out):
                writer.close()

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()

    async def _commands(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        held: list[bytes] = []
        self._held.append(held)
        holding = False
        pings = 0
        while line := await source.readline():
            verb = line.split(b" ", 1)[0].strip().upper()
            command = line
            publish = verb in (b"PUB", b"HPUB")
            if publish:  # the payload follows: its size ends the line
                command += await source.readexactly(int(line.split()[-1]) + 2)
            late = self._subscriptions_late and verb in (b"SUB", b"UNSUB")
            if (holding or late) and not publish:
                held.append(command)
                continue
            if publish:  # what was held goes first, in order
                sink.write(b"".join(held))
                held.clear()
                holding = False
            sink.write(command)
            await sink.drain()
            if verb == b"PING":
                pings += 1
                holding = pings > 1
