"""Actors and helpers shared by the runtime tests."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from supervise import Actor, ChildSpec, ExitReason


class Ping(BaseModel, frozen=True):
    pass


class Crash(BaseModel, frozen=True):
    message: str = "boom"


class StopSelf(BaseModel, frozen=True):
    detail: str | None = None


class Sleep(BaseModel, frozen=True):
    seconds: float


class Echo(BaseModel, frozen=True):
    text: str


class WorkerConfig(BaseModel, frozen=True):
    fail_start: bool = False
    #: Seconds on_stop takes (to exercise shutdown timeouts).
    stop_seconds: float = 0.0
    #: Swallow cancellation inside on_stop/handlers (a badly behaved actor).
    swallow_cancel: bool = False


#: Shared across incarnations by the tests only (never between actors in real code).
STOPS: list[tuple[str, str]] = []


class Worker(Actor[Ping | Crash | StopSelf | Sleep | Echo]):
    """A test actor: replies to Ping, crashes on Crash, stops itself on StopSelf."""

    config: WorkerConfig

    async def on_start(self) -> None:
        if self.config.fail_start:
            raise RuntimeError(f"{self.path} refuses to start")
        self.handled = 0

    async def handle(self, msg: Ping | Crash | StopSelf | Sleep | Echo) -> Any:
        self.handled += 1
        match msg:
            case Ping():
                return "pong"
            case Echo(text=text):
                return text
            case Crash(message=message):
                raise ValueError(message)
            case StopSelf(detail=detail):
                self.stop(detail)
                return "stopping"
            case Sleep(seconds=seconds):
                await self._sleep(seconds)
                return "slept"
        return None

    async def _sleep(self, seconds: float) -> None:
        if not self.config.swallow_cancel:
            await asyncio.sleep(seconds)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            try:
                await asyncio.sleep(deadline - loop.time())
            except asyncio.CancelledError:
                pass  # misbehaving on purpose

    async def on_stop(self, reason: ExitReason) -> None:
        STOPS.append((self.path, str(reason)))
        if self.config.stop_seconds:
            await self._sleep(self.config.stop_seconds)


class Plain(Actor[Ping]):
    """An actor with no on_start and no config."""

    async def handle(self, msg: Ping) -> str:
        return "pong"


def worker(name: str, **fields: Any) -> ChildSpec:
    """A ChildSpec for `Worker`; config keys go to args, the rest to the spec."""
    config_keys = set(WorkerConfig.model_fields)
    args = {k: fields.pop(k) for k in list(fields) if k in config_keys}
    return ChildSpec(name=name, actor=Worker, args=args, **fields)


async def until(predicate: Any, timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` is true, checking after every loop pass."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.001)
