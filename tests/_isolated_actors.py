"""Actors for tests/test_isolated.py, importable by path in an isolated actor's own process."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from supervise import Actor, Down, ExitReason, Request


class Pid(Request[int], frozen=True):
    """Reply with the process id the actor runs in."""


class Add(BaseModel, frozen=True):
    n: int


class Total(BaseModel, frozen=True):
    value: int


class GetTotal(Request[Total], frozen=True):
    pass


class Fail(BaseModel, frozen=True):
    text: str


class Exit(BaseModel, frozen=True):
    code: int


class Segfault(BaseModel, frozen=True):
    pass


class Hang(BaseModel, frozen=True):
    """Ignore SIGTERM, then block the process's loop for good."""


class Nap(BaseModel, frozen=True):
    seconds: float


class Tick(BaseModel, frozen=True):
    pass


class Ticks(Request[int], frozen=True):
    pass


class Unencodable(Request[object], frozen=True):
    """Reply with something that is not JSON data."""


class Scale(Request[float], frozen=True):
    """A float that JSON cannot carry when it is infinite (it crosses as null)."""

    factor: float


class IsolatedConfig(BaseModel, frozen=True):
    #: A file each hook appends a line to: what ran in the child, seen from the test.
    journal: str | None = None
    fail_start: bool = False
    tick_every: float | None = None


class Counter(
    Actor[
        Pid
        | Add
        | GetTotal
        | Fail
        | Exit
        | Segfault
        | Hang
        | Ticks
        | Tick
        | Unencodable
        | Scale
        | Nap
        | Down
    ]
):
    """Keeps a total; its hooks write to the journal; some messages end its process."""

    config: IsolatedConfig

    def _note(self, line: str) -> None:
        if self.config.journal is not None:
            with Path(self.config.journal).open("a") as journal:
                journal.write(f"{os.getpid()} {line}\n")

    async def on_start(self) -> None:
        self.total = 0
        self.ticks = 0
        if self.config.fail_start:
            raise RuntimeError("cannot start here")
        if self.config.tick_every is not None:
            self.send_interval(self.config.tick_every, Tick())
        self._note("on_start")

    async def handle(self, msg: Any) -> Any:
        match msg:
            case Pid():
                return os.getpid()
            case Add(n=n):
                self.total += n
            case GetTotal():
                return Total(value=self.total)
            case Fail(text=text):
                raise ValueError(text)
            case Exit(code=code):
                os._exit(code)
            case Segfault():
                ctypes.string_at(0)
            case Hang():
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                self._note("hanging")
                while True:
                    time.sleep(1)  # noqa: ASYNC251  # blocking the loop is the point
            case Nap(seconds=seconds):
                await asyncio.sleep(seconds)
            case Tick():
                self.ticks += 1
            case Ticks():
                return self.ticks
            case Unencodable():
                return {1, 2}
            case Scale(factor=factor):
                return self.total * factor
            case Down(path=path, reason=reason):
                self._note(f"down {path} {reason}")
        return None

    async def on_stop(self, reason: ExitReason) -> None:
        self._note(f"on_stop {reason.kind.value}")


def children() -> set[int]:
    """This process's child processes, zombies included (not reaped yet)."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        text = (task / "children").read_text()
        found.update(int(pid) for pid in text.split())
    return found


def gone(pid: int) -> bool:
    """Whether ``pid`` has ended (gone, or a zombie waiting for its new parent to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
