from __future__ import annotations

import asyncio


async def poll(name: str, every: float) -> None:
    while True:
        await asyncio.sleep(every)
