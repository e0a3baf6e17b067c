"""Actors that monitor and link on request, for tests/test_monitor.py and tests/test_link.py."""

from __future__ import annotations

import asyncio
from typing import Any

from _support import Crash, Ping
from pydantic import BaseModel

from supervise import (
    Actor,
    ActorRef,
    ChildSpec,
    Down,
    ExitReason,
    SupervisorSpec,
)

#: (watcher path, Down) for every Down a Watcher handled; cleared per test.
DOWNS: list[tuple[str, Down]] = []
#: (path, reason) seen by Linker.on_stop.
LINK_STOPS: list[tuple[str, ExitReason]] = []


def clear_records() -> None:
    DOWNS.clear()
    LINK_STOPS.clear()


class Watch(BaseModel, frozen=True):
    path: str


class Link(BaseModel, frozen=True):
    path: str
    unlink: bool = False


class Watcher(Actor[Watch | Link | Down | Ping | Crash]):
    """Monitors or links on request; records the Downs it gets."""

    async def handle(self, msg: Watch | Link | Down | Ping | Crash) -> Any:
        match msg:
            case Watch(path=path):
                return self.monitor(self.registry.whereis(path))
            case Link(path=path, unlink=unlink):
                target = self.registry.whereis(path)
                if unlink:
                    self.unlink(target)
                else:
                    self.link(target)
            case Down():
                DOWNS.append((self.path, msg))
            case Ping():
                return "pong"
            case Crash(message=message):
                raise ValueError(message)
        return None

    async def on_stop(self, reason: ExitReason) -> None:
        LINK_STOPS.append((self.path, reason))


class Deaf(Actor[Ping | Watch]):
    """Does not declare Down."""

    async def handle(self, msg: Ping | Watch) -> Any:
        if isinstance(msg, Watch):
            return self.monitor(self.registry.whereis(msg.path))
        return None


def tree_of(*children: Any, **sup: Any) -> SupervisorSpec:
    return SupervisorSpec(name="root", children=list(children), **sup)


def watcher(name: str = "watcher", **fields: Any) -> ChildSpec:
    return ChildSpec(name=name, actor=Watcher, **fields)


def ref_at(tree: Any, path: str) -> ActorRef[Any]:
    ref = tree.whereis(path)
    assert isinstance(ref, ActorRef)
    return ref


async def downs(count: int) -> list[Down]:
    async with asyncio.timeout(10):
        while len(DOWNS) < count:
            await asyncio.sleep(0)
    return [down for _, down in DOWNS]
