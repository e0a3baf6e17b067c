"""The far side of W9: an echo actor for a `supervise node`, and a raw nats-py responder.

``python -m benchmarks._nats_echo URL`` answers every request on ``bench.echo`` with its
own payload (the raw side); ``benchmarks/nats_echo.yaml`` runs `EchoActor` in a node
(the framework side). Both print one line on standard error once they serve.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from supervise import Actor, Request

#: The raw responder's subject.
RAW_SUBJECT = "bench.echo"


class Echo(Request[str], frozen=True):
    """Answered with ``text``."""

    text: str


class EchoActor(Actor[Echo]):
    """Answers each `Echo` with its text."""

    async def handle(self, msg: Echo) -> str:
        return msg.text


async def _serve_raw(url: str) -> None:
    import nats

    from supervise._nats._node import settle

    nc = await nats.connect(url)

    async def echo(msg: object) -> None:
        await msg.respond(msg.data)  # type: ignore[attr-defined]

    await nc.subscribe(RAW_SUBJECT, cb=echo)
    await settle(nc, 30.0)  # "ready" once the server has the subscription
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("raw echo ready", file=sys.stderr, flush=True)
    await stop.wait()
    await nc.close()


if __name__ == "__main__":
    asyncio.run(_serve_raw(sys.argv[1]))
