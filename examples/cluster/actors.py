"""The actors of examples/cluster.yaml: a local front and a placed ingest pipeline."""

from __future__ import annotations

import os

import structlog
from pydantic import BaseModel

from supervise import Actor

log = structlog.get_logger("cluster-demo")


class Tick(BaseModel, frozen=True):
    """A message nobody sends in this demo: the actors only start and stop."""


class Front(Actor[Tick]):
    """Runs in the tree's own process."""

    async def handle(self, msg: Tick) -> None:
        return None


class Reader(Actor[Tick]):
    """Runs on whichever node ingest is placed on; says where."""

    async def on_start(self) -> None:
        log.info("reader_running", pid=os.getpid())

    async def handle(self, msg: Tick) -> None:
        return None


class Parser(Actor[Tick]):
    async def handle(self, msg: Tick) -> None:
        return None
