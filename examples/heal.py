"""Watch a supervision tree crash and heal.

    python examples/heal.py

A `Feeder` casts numbers to a `Divider` that crashes on zero. Each crash is
logged, the supervisor restarts the divider (same ref, fresh state), and the
feeder carries on. After a few rounds the demo stops the tree in order.
"""

from __future__ import annotations

import asyncio
import sys

import structlog
from pydantic import BaseModel

from supervise import Actor, ActorRef, ChildSpec, SupervisorSpec, open_tree


class Divide(BaseModel, frozen=True):
    """Divide 100 by this number."""

    by: int


class Total(BaseModel, frozen=True):
    """Ask for the running total (a call)."""


class Divider(Actor[Divide | Total]):
    """Keeps a running total of 100/n; n == 0 crashes it (let it crash)."""

    async def on_start(self) -> None:
        self.total = 0.0  # state lives in the actor and starts afresh on restart

    async def handle(self, msg: Divide | Total) -> float | None:
        match msg:
            case Divide(by=by):
                self.total += 100 / by  # ZeroDivisionError on 0: the supervisor takes over
            case Total():
                return self.total
        return None


class FeederConfig(BaseModel):
    numbers: tuple[int, ...] = (5, 4, 0, 2, 0, 1, 10)


class Tick(BaseModel, frozen=True):
    pass


class Feeder(Actor[Tick]):
    """Sends one number per tick to the divider, found by its tree path."""

    config: FeederConfig

    async def on_start(self) -> None:
        self.next = 0
        self.divider: ActorRef[Divide | Total] = self.registry.whereis("demo/divider")  # type: ignore[assignment]
        self.ref.cast_nowait(Tick())

    async def handle(self, msg: Tick) -> None:
        numbers = self.config.numbers
        by = numbers[self.next % len(numbers)]
        self.next += 1
        await self.divider.cast(Divide(by=by))
        await asyncio.sleep(0.05)
        self.ref.cast_nowait(Tick())


TREE = SupervisorSpec(
    name="demo",
    strategy="one_for_one",
    max_restarts=10,
    max_seconds=5,
    children=[
        ChildSpec(name="divider", actor=Divider),
        ChildSpec(name="feeder", actor=Feeder),
    ],
)


async def main(rounds: int = 3) -> None:
    async with open_tree(TREE) as tree:
        divider = tree.whereis("demo/divider")
        assert isinstance(divider, ActorRef)
        for _ in range(rounds):
            await asyncio.sleep(0.4)
            try:
                total = await divider.call(Total())
                print(f"--- divider total since its last restart: {total:.1f}", flush=True)
            except Exception as exc:  # it may be restarting right now
                print(f"--- divider busy: {exc}", flush=True)


if __name__ == "__main__":
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S.%f"),
            structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty()),
        ]
    )
    asyncio.run(main())
