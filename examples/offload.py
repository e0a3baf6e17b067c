"""A handler that blocks the loop, seen and named; then the same actor offloaded.

    python examples/offload.py

`Hasher` computes for 0.5 s per message (1 MiB SHA-256 rounds, which release the
GIL). First it runs on the event loop: the loop watchdog logs
``event_loop_blocked`` naming ``app/hasher`` and the message type ``Digest``,
with the line that blocks, and the `Echo` actor beside it answers nothing until
the handler is done. Then the same actor runs with ``execution: thread``: the
watchdog is quiet and the echo actor answers all along.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Literal

from pydantic import BaseModel

from supervise import Actor, ChildSpec, SupervisorSpec, configure_logging, open_tree


class Digest(BaseModel, frozen=True):
    seconds: float


class Ping(BaseModel, frozen=True):
    pass


_BLOCK = b"x" * (1 << 20)


class Hasher(Actor[Digest]):
    async def handle(self, msg: Digest) -> int:
        end, rounds = time.monotonic() + msg.seconds, 0
        while time.monotonic() < end:  # CPU work with no await: the loop waits for it
            hashlib.sha256(_BLOCK).digest()
            rounds += 1
        return rounds


class Echo(Actor[Ping]):
    async def handle(self, msg: Ping) -> str:
        return "pong"


async def run(execution: Literal["loop", "thread"]) -> int:
    """Ask for 0.5 s of hashing; count the echo's answers meanwhile."""
    spec = SupervisorSpec(
        name="app",
        children=[
            ChildSpec(name="hasher", actor=Hasher, execution=execution),
            ChildSpec(name="echo", actor=Echo),
        ],
    )
    async with open_tree(spec, watchdog=True) as tree:
        hashing = asyncio.ensure_future(tree.actor("app/hasher", Hasher).call(Digest(seconds=0.5)))
        echo = tree.actor("app/echo", Echo)
        answered = 0
        while not hashing.done():
            await echo.call(Ping())
            answered += 1
            await asyncio.sleep(0.01)
        await hashing
    return answered


async def main() -> None:
    configure_logging(format="console", level="warning")
    on_loop = await run("loop")
    print(f"execution loop:   the echo actor answered {on_loop} call(s) during the work")
    in_thread = await run("thread")
    print(f"execution thread: the echo actor answered {in_thread} call(s) during the work")


if __name__ == "__main__":
    asyncio.run(main())
