"""Timers owned by an actor: a sampler that crashes on a bad reading and re-arms on restart.

    python examples/timers.py

`Sampler` asks for a `Sample` message every 100 ms (``send_interval``) and a
one-off `Report` 350 ms after it starts (``send_after``). The seventh reading is
impossible (negative), so the handler raises and the actor crashes. Its timers
die with the crashed incarnation; the restarted one sets them again in
``on_start``, so there is never a stray tick from the old one, and sampling
carries on.
"""

from __future__ import annotations

import asyncio
import sys
from itertools import count

import structlog
from pydantic import BaseModel

from supervise import Actor, ActorRef, ChildSpec, SupervisorSpec, open_tree

log = structlog.get_logger("example")


class Sample(BaseModel, frozen=True):
    """Time to take a reading (sent by the interval timer)."""


class Report(BaseModel, frozen=True):
    """Time to log a summary (sent once by a one-shot timer)."""


class Count(BaseModel, frozen=True):
    """How many readings since the last (re)start? (a call)"""


READINGS = count(1)


def read_sensor() -> float:
    n = next(READINGS)
    return -1.0 if n == 7 else 20.0 + n / 10


class Sampler(Actor[Sample | Report | Count]):
    async def on_start(self) -> None:
        self.readings: list[float] = []
        self.ticker = self.send_interval(0.1, Sample())  # cancelled for us on crash/stop
        self.send_after(0.35, Report())

    async def handle(self, msg: Sample | Report | Count) -> int | None:
        match msg:
            case Sample():
                value = read_sensor()
                if value < 0:
                    raise ValueError(f"impossible reading {value}")  # let it crash
                self.readings.append(value)
            case Report():
                log.info("sampler_report", samples=len(self.readings))
            case Count():
                return len(self.readings)
        return None


TREE = SupervisorSpec(name="lab", children=[ChildSpec(name="sampler", actor=Sampler)])


async def main(seconds: float = 1.2) -> int:
    global READINGS
    READINGS = count(1)
    async with open_tree(TREE) as tree:
        sampler = tree.whereis("lab/sampler")
        assert isinstance(sampler, ActorRef)
        await asyncio.sleep(seconds)
        # A call that meets the sampler between a crash and its restart is sent again.
        samples: int = await sampler.call(Count(), retry_while_restarting=True)
        print(f"--- {samples} samples since the sampler's last restart", flush=True)
    return samples


if __name__ == "__main__":
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S.%f"),
            structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty()),
        ]
    )
    asyncio.run(main())
