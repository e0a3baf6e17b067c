"""Actors for the escalation example: a steady store and a leaf that keeps crashing."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from supervise import Actor, ExitReason


class Put(BaseModel, frozen=True):
    key: str
    value: str


class Get(BaseModel, frozen=True):
    key: str


class Store(Actor[Put | Get]):
    """A key-value store: steady, it never crashes on its own."""

    async def on_start(self) -> None:
        self.data: dict[str, str] = {}

    async def handle(self, msg: Put | Get) -> str | None:
        match msg:
            case Put(key=key, value=value):
                self.data[key] = value
            case Get(key=key):
                return self.data.get(key)
        return None


class Crash(BaseModel, frozen=True):
    """Crash now (the flaky actor sends this to itself)."""


class FlakyConfig(BaseModel, frozen=True):
    crash_after: float = Field(default=0.5, gt=0)


class Flaky(Actor[Crash]):
    """Crashes ``crash_after`` seconds after every start: a bug that restarts cannot fix."""

    config: FlakyConfig

    async def on_start(self) -> None:
        # A timer rather than a sleep in `handle`, so that stopping the actor
        # (its group restarting, or the tree stopping) is not held up; on_stop
        # cancels it.
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.config.crash_after, self.ref.cast_nowait, Crash())

    async def handle(self, msg: Crash) -> None:
        raise RuntimeError(f"flaky crashed {self.config.crash_after:g} s after its start")

    async def on_stop(self, reason: ExitReason) -> None:
        self.timer.cancel()
