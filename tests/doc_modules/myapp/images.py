from __future__ import annotations

import hashlib

from pydantic import BaseModel

from supervise import Actor


class Resize(BaseModel, frozen=True):
    data: bytes
    rounds: int = 200_000


class Resizer(Actor[Resize]):
    """CPU work in a handler: what docs/asyncio-and-the-beam.md moves off the loop."""

    async def handle(self, msg: Resize) -> str:
        digest = msg.data
        for _ in range(msg.rounds):
            digest = hashlib.sha256(digest).digest()
        return digest.hex()
