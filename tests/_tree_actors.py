"""Actors that the tree files under tests/ (and tests/bad_specs/) point at."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from pydantic import BaseModel, Field

from supervise import Actor, ExitReason


class Increment(BaseModel, frozen=True):
    by: int = 1


class CounterConfig(BaseModel, frozen=True, extra="forbid"):
    start: int = 0
    step: int = Field(default=1, ge=1)
    label: str = "counter"


class Counter(Actor[Increment]):
    """Counts; has a config model."""

    config: CounterConfig

    async def on_start(self) -> None:
        self.value = self.config.start

    async def handle(self, msg: Increment) -> int:
        self.value += msg.by * self.config.step
        return self.value


class Plain(Actor[Increment]):
    """No config model: takes no args."""

    async def handle(self, msg: Increment) -> None:
        return None


class FailStart(Actor[Increment]):
    """Fails to start, every time."""

    async def on_start(self) -> None:
        raise RuntimeError("cannot open the database")

    async def handle(self, msg: Increment) -> None:
        return None


class CrashSoon(Actor[Increment]):
    """Crashes right after every start (a cast to itself), so its supervisor gives up."""

    async def on_start(self) -> None:
        self.ref.cast_nowait(Increment())

    async def handle(self, msg: Increment) -> None:
        raise RuntimeError("crashing on purpose")


class SlowStop(Actor[Increment]):
    """Takes a minute to stop (give it `shutdown: infinity`): an orderly stop that lasts."""

    async def handle(self, msg: Increment) -> None:
        return None

    async def on_stop(self, reason: ExitReason) -> None:
        await asyncio.sleep(60)


class OwnsProcessConfig(BaseModel, frozen=True, extra="forbid"):
    pid_file: str


class OwnsProcess(Actor[Increment]):
    """Runs a subprocess for its lifetime, and writes its pid to `pid_file`."""

    config: OwnsProcessConfig

    async def on_start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import time; time.sleep(60)"
        )
        await asyncio.to_thread(Path(self.config.pid_file).write_text, str(self.process.pid))

    async def handle(self, msg: Increment) -> None:
        return None

    async def on_stop(self, reason: ExitReason) -> None:
        self.process.kill()
        await self.process.wait()


NotAnActor = Increment


class EndsProgramConfig(BaseModel, frozen=True, extra="forbid"):
    exit_code: int | None = None  # None: KeyboardInterrupt


class EndsProgram(Actor[Increment]):
    """Its first message (a cast to itself) raises KeyboardInterrupt, or SystemExit(exit_code)."""

    config: EndsProgramConfig

    async def on_start(self) -> None:
        self.ref.cast_nowait(Increment())

    async def handle(self, msg: Increment) -> None:
        if self.config.exit_code is None:
            raise KeyboardInterrupt
        raise SystemExit(self.config.exit_code)


class SlowStart(Actor[Increment]):
    """Blocks the event loop in on_start (time.sleep): what the loop watchdog reports."""

    async def on_start(self) -> None:
        time.sleep(0.3)  # noqa: ASYNC251  # the blocking the watchdog must see

    async def handle(self, msg: Increment) -> None:
        return None
