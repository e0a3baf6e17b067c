"""Actors for tests/test_offload.py, importable by path in a worker process."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from typing import Any

from pydantic import BaseModel

from supervise import Actor, Exit, offload


class Compute(BaseModel, frozen=True):
    """Compute for this many seconds, then reply with the worker's pid."""

    seconds: float


class Fail(BaseModel, frozen=True):
    text: str


class SwitchIntervalNow(BaseModel, frozen=True):
    """Reply with the interpreter's thread switch interval, as the handler sees it."""


class Square(BaseModel, frozen=True):
    n: int


class Leave(BaseModel, frozen=True):
    """Raise `Exit("shutdown", detail)` from the handler."""

    detail: str


class Squared(BaseModel, frozen=True):
    n: int
    square: int


_BLOCK = b"x" * (1 << 20)


def compute(seconds: float) -> int:
    """Work for ``seconds``: hashing 1 MiB blocks (CPython releases the GIL while it hashes)."""
    end = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < end:
        hashlib.sha256(_BLOCK).digest()
        rounds += 1
    return rounds


class Cruncher(Actor[Compute | Fail | Square | SwitchIntervalNow | Leave]):
    """Its handler computes; where it runs is the spec's `execution`."""

    async def handle(self, msg: Compute | Fail | Square | SwitchIntervalNow | Leave) -> Any:
        match msg:
            case SwitchIntervalNow():
                return sys.getswitchinterval()
            case Compute(seconds=seconds):
                compute(seconds)
                return os.getpid()
            case Fail(text=text):
                raise ValueError(text)
            case Square(n=n):
                return Squared(n=n, square=n * n)
            case Leave(detail=detail):
                raise Exit("shutdown", detail)
        return None


class ThreadCruncher(Cruncher):
    """The same, offloaded to a thread by the decorator."""

    @offload("thread")
    async def handle(self, msg: Compute | Fail | Square | SwitchIntervalNow | Leave) -> Any:
        return await super().handle(msg)
