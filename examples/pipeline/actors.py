"""A three-stage pipeline: a Producer numbers items, Square workers square them,
a Sink adds up the results.

Stages find each other by tree path (``pipeline/sink``) through the tree's
registry. A ref addresses a child slot, so it stays valid when the actor
behind it is restarted.
"""

from __future__ import annotations

import asyncio

import structlog
from pydantic import BaseModel, Field

from supervise import Actor, ActorRef, ExitReason

log = structlog.get_logger("examples.pipeline")


class Item(BaseModel, frozen=True):
    """The n-th item of the stream."""

    n: int


class Result(BaseModel, frozen=True):
    n: int
    square: int


class Resume(BaseModel, frozen=True):
    """Ask the sink which item to produce next (a call; the reply is an int)."""


class SinkConfig(BaseModel, frozen=True):
    report_every: int = Field(default=10, ge=1)


class Sink(Actor[Result | Resume]):
    """Counts and adds up results; logs its progress every few results."""

    config: SinkConfig

    async def on_start(self) -> None:
        self.count = 0
        self.total = 0
        self.next = 0  # one past the highest item seen

    async def handle(self, msg: Result | Resume) -> int | None:
        match msg:
            case Resume():
                return self.next
            case Result(n=n, square=square):
                self.count += 1
                self.total += square
                self.next = max(self.next, n + 1)
                if self.count % self.config.report_every == 0:
                    log.info("pipeline_progress", results=self.count, total=self.total)
        return None


class SquareConfig(BaseModel, frozen=True):
    sink: str
    #: Items whose number is a multiple of this crash the worker (0: never).
    poison_every: int = Field(default=0, ge=0)


class Square(Actor[Item]):
    """Squares items and passes them on; crashes on poison items (let it crash)."""

    config: SquareConfig

    async def on_start(self) -> None:
        self.sink: ActorRef[Result] = self.registry.whereis(self.config.sink)  # type: ignore[assignment]

    async def handle(self, msg: Item) -> None:
        poison = self.config.poison_every
        if poison and msg.n and msg.n % poison == 0:
            # No try/except: the supervisor restarts this worker with a clean slate.
            raise ValueError(f"poison item {msg.n}")
        await self.sink.cast(Result(n=msg.n, square=msg.n * msg.n))


class Tick(BaseModel, frozen=True):
    """Time to produce the next item (the producer sends it to itself)."""


class ProducerConfig(BaseModel, frozen=True):
    sink: str
    workers: list[str] = Field(min_length=1)
    interval: float = Field(default=0.2, gt=0)


class Producer(Actor[Tick]):
    """Produces one item per interval, round-robin over the workers."""

    config: ProducerConfig

    async def on_start(self) -> None:
        sink: ActorRef[Resume] = self.registry.whereis(self.config.sink)  # type: ignore[assignment]
        # Resume where the sink is: after a restart of the sink, that is 0 again.
        self.next: int = await sink.call(Resume())
        self.workers: list[ActorRef[Item]] = [
            self.registry.whereis(path)  # type: ignore[misc]
            for path in self.config.workers
        ]
        log.info("pipeline_producer_started", resume_at=self.next)
        self.timer: asyncio.TimerHandle | None = None
        self._schedule()

    def _schedule(self) -> None:
        # A timer rather than a sleep inside `handle`: a handler that sleeps
        # would hold up this actor's own shutdown for up to one interval.
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.config.interval, self.ref.cast_nowait, Tick())

    async def handle(self, msg: Tick) -> None:
        worker = self.workers[self.next % len(self.workers)]
        await worker.cast(Item(n=self.next))
        self.next += 1
        self._schedule()

    async def on_stop(self, reason: ExitReason) -> None:
        if self.timer is not None:
            self.timer.cancel()  # no Tick for an incarnation that is gone
