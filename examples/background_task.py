"""A supervised background task with backoff: the restart loop you no longer write by hand.

    python examples/background_task.py

`poll` is a plain ``async def`` loop that reads a sensor every 50 ms. The sensor
has an outage: three reads in a row fail. Each failure escapes `poll`, so the
supervisor logs ``actor_crashed`` with the exception, waits (backoff: about
0.1 s, then 0.2 s, then 0.4 s, growing while the failures come in a row) and
calls `poll` again with the same arguments. Once the sensor is back, polling
carries on; after two quiet seconds the backoff would start from 0.1 s again.

No Actor class, no retry decorator, no ``while True: try: ... except: sleep``:
the child spec says what to run and how to supervise it.
"""

from __future__ import annotations

import asyncio
import sys

import structlog

from supervise import Backoff, SupervisorSpec, TaskSpec, open_tree

log = structlog.get_logger("example")


class Sensor:
    """A stand-in for a network service: reads 4, 5 and 6 fail (an outage)."""

    def __init__(self) -> None:
        self.reads = 0

    async def read(self) -> float:
        self.reads += 1
        await asyncio.sleep(0.01)  # the network
        if 4 <= self.reads <= 6:
            raise ConnectionError(f"sensor unreachable (read {self.reads})")
        return 20.0 + self.reads / 10


SENSOR = Sensor()


async def poll(name: str, every: float) -> None:
    """Read the sensor for ever. Any exception is a crash: the supervisor takes over."""
    log.info("poller_started", sensor=name)
    try:
        while True:
            value = await SENSOR.read()
            log.info("reading", sensor=name, value=value)
            await asyncio.sleep(every)
    finally:
        # Runs on a crash and when the supervisor cancels us to shut down.
        log.info("poller_stopped", sensor=name)


TREE = SupervisorSpec(
    name="app",
    max_restarts=5,  # more than 5 restarts within 10 s and the tree gives up
    max_seconds=10,
    backoff=Backoff(min_seconds=0.1, max_seconds=5, jitter=0.2, reset_after=2),
    children=[
        TaskSpec(name="poller", task=poll, kwargs={"name": "greenhouse", "every": 0.05}),
    ],
)


async def main(seconds: float = 1.5) -> None:
    SENSOR.reads = 0
    async with open_tree(TREE):
        await asyncio.sleep(seconds)


if __name__ == "__main__":
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S.%f"),
            structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty()),
        ]
    )
    asyncio.run(main())
