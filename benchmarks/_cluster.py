"""W9: calls to an actor on another node over NATS, beside raw nats-py request/reply.

Opt-in (``python -m benchmarks --only W9``): each measurement starts a ``nats-server``
(the ``nats`` extra) on 127.0.0.1 and one far-side process, untimed, and stops both after.

- Raw: a nats-py client requests ``bench.echo`` (a small JSON payload) from a process whose
  nats-py subscription answers with the same bytes (``nc.request`` / ``msg.respond``).
- Framework: ``RemoteActorRef.call(Echo(text=...))`` from a node (`open_node`) to an
  `EchoActor` served by a ``supervise node`` process: the message is a pydantic model as
  JSON, validated there, put in the actor's mailbox, answered, and the reply validated here
  as the ``Request[str]``'s ``str``.

``W9_remote_call``: ``n`` sequential calls (one round trip each), calls/s.
``W9_remote_pipelined``: ``n`` calls with `PIPELINE` in flight at once, calls/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from benchmarks._common import now_ns, per_second

_ROOT = Path(__file__).resolve().parent.parent
#: W9_remote_pipelined: calls in flight at once.
PIPELINE = 64
#: Untimed calls made before the timed ones (connections, caches, the JIT-less warm-up).
WARMUP = 200
_TEXT = "hello"


def nats_available() -> bool:
    """Whether the ``nats`` extra is installed (nats-py and the server binary)."""
    import importlib.util

    from supervise._nats._server import nats_server_binary

    return importlib.util.find_spec("nats") is not None and nats_server_binary() is not None


@contextlib.asynccontextmanager
async def _far_side(*args: str, ready: str) -> AsyncIterator[None]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=_ROOT,
        env=dict(os.environ, PYTHONPATH=str(_ROOT)),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        async with asyncio.timeout(60):
            line = await process.stderr.readline()
        if line.decode().strip() != ready:
            raise RuntimeError(f"{args}: expected {ready!r}, got {line!r}")
        yield
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


@contextlib.asynccontextmanager
async def _server() -> AsyncIterator[str]:
    from supervise._nats._server import NatsServer

    server = NatsServer()
    await asyncio.to_thread(server.start)
    try:
        yield server.url
    finally:
        await asyncio.to_thread(server.close)


async def _timed(n: int, in_flight: int, call: Callable[[], Awaitable[object]]) -> float:
    for _ in range(WARMUP):
        await call()
    if in_flight == 1:
        start = now_ns()
        for _ in range(n):
            await call()
        return per_second(n, now_ns() - start)
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    start = now_ns()
    await asyncio.gather(*(worker() for _ in range(min(in_flight, n))))
    return per_second(n, now_ns() - start)


async def _raw(n: int, in_flight: int) -> float:
    import nats

    from benchmarks._nats_echo import RAW_SUBJECT

    payload = b'{"text":"' + _TEXT.encode() + b'"}'
    async with (
        _server() as url,
        _far_side("-m", "benchmarks._nats_echo", url, ready="raw echo ready"),
    ):
        nc = await nats.connect(url)
        try:

            async def call() -> object:
                reply = await nc.request(RAW_SUBJECT, payload, timeout=10)
                assert reply.data == payload
                return reply

            return await _timed(n, in_flight, call)
        finally:
            await nc.close()


async def _framework(n: int, in_flight: int) -> float:
    from benchmarks._nats_echo import Echo
    from supervise._nats._node import open_node

    tree = str(_ROOT / "benchmarks" / "nats_echo.yaml")
    async with _server() as url, _far_side(
        "-m", "supervise", "node", "--name", "far", "--nats", url, "--tree", tree,
        "--log-level", "warning", ready="node far ready",
    ), open_node(url, name="near") as conn:  # fmt: skip
        await conn.wait_node_up("far", timeout=30)
        echo = await conn.whereis("echo")
        message = Echo(text=_TEXT)

        async def call() -> object:
            reply = await echo.call(message, timeout=10)
            assert reply == _TEXT
            return reply

        return await _timed(n, in_flight, call)


async def w9_remote_call_raw(n: int) -> float:
    """W9_remote_call, raw: ``n`` sequential nats-py requests to an echo process."""
    return await _raw(n, 1)


async def w9_remote_call_framework(n: int) -> float:
    """W9_remote_call, framework: ``n`` sequential calls to an actor on another node."""
    return await _framework(n, 1)


async def w9_remote_pipelined_raw(n: int) -> float:
    """W9_remote_pipelined, raw: ``n`` requests, `PIPELINE` in flight."""
    return await _raw(n, PIPELINE)


async def w9_remote_pipelined_framework(n: int) -> float:
    """W9_remote_pipelined, framework: ``n`` calls, `PIPELINE` in flight."""
    return await _framework(n, PIPELINE)
