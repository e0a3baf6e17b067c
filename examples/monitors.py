"""Monitors and links: be told when something dies, or die with it.

    python examples/monitors.py

Three children of one supervisor (one_for_one):

- ``feed``, a plain task standing for a connection; it drops after a while.
- ``session``, an actor *linked* to the feed in ``on_start``: when the feed
  ends abnormally, the session crashes too (reason ``LinkedExit``), so it never
  works on a dead connection. Both are restarted, and the new session links to
  the new feed.
- ``guard``, an actor *monitoring* the session: it receives a typed `Down` in
  its mailbox when the watched incarnation ends, logs it, and watches the next
  incarnation once it is up (a monitor follows one incarnation, as in OTP).
"""

from __future__ import annotations

import asyncio
import sys

import structlog
from pydantic import BaseModel

from supervise import Actor, ChildSpec, Down, SupervisorSpec, TaskSpec, open_tree

log = structlog.get_logger("example")


async def feed(drop_after: float) -> None:
    """A connection that drops: the exception is the crash."""
    await asyncio.sleep(drop_after)
    raise ConnectionResetError("peer went away")


class Work(BaseModel, frozen=True):
    pass


class Session(Actor[Work]):
    async def on_start(self) -> None:
        # Share the feed's fate: if it fails, this incarnation fails with it.
        self.link(self.registry.whereis("app/feed"))

    async def handle(self, msg: Work) -> None:
        pass


class Rewatch(BaseModel, frozen=True):
    pass


class Guard(Actor[Down | Rewatch]):
    """Watches the session, incarnation after incarnation."""

    async def on_start(self) -> None:
        self.downs = 0
        self.watch()

    def watch(self) -> None:
        self.monitor(self.registry.whereis("app/session"))

    async def handle(self, msg: Down | Rewatch) -> None:
        match msg:
            case Down(reason="noproc"):
                self.send_after(0.05, Rewatch())  # not back yet: look again shortly
            case Down(path=path, reason=reason, detail=detail):
                self.downs += 1
                log.info("guard_saw_down", watched=path, reason=reason, detail=detail)
                self.send_after(0.05, Rewatch())
            case Rewatch():
                self.watch()


TREE = SupervisorSpec(
    name="app",
    max_restarts=10,
    max_seconds=5,
    children=[
        TaskSpec(name="feed", task=feed, kwargs={"drop_after": 0.3}),
        ChildSpec(name="session", actor=Session),
        ChildSpec(name="guard", actor=Guard),
    ],
)


async def main(seconds: float = 1.0) -> None:
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
