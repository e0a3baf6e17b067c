"""Actors that tests/test_nats_*.py serve from node processes (`supervise node --tree`)."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from supervise import Actor, Request


class EchoReply(BaseModel, frozen=True):
    """What `Echo` answers."""

    text: str
    node_seq: int


class Echo(Request[EchoReply], frozen=True):
    """Answered with the same text and how many messages the actor has handled."""

    text: str


class Add(BaseModel, frozen=True):
    """Add ``by`` to the count (cast)."""

    by: int


class Get(Request[int], frozen=True):
    """The count."""


class Nap(Request[str], frozen=True):
    """Answered after ``seconds``: a call that stays pending."""

    seconds: float


class Boom(BaseModel, frozen=True):
    """Crash the actor (a call gets the failure)."""


class Lie(Request[int], frozen=True):
    """Answered with a string although the request promises an int."""


class Counter(Actor[Echo | Add | Get | Nap | Boom | Lie]):
    """Counts what is added; echoes; naps; crashes on request."""

    async def on_start(self) -> None:
        self.count = 0
        self.seen = 0

    async def handle(self, msg: Echo | Add | Get | Nap | Boom | Lie) -> object:
        self.seen += 1
        match msg:
            case Echo(text=text):
                return EchoReply(text=text, node_seq=self.seen)
            case Add(by=by):
                self.count += by
            case Get():
                return self.count
            case Nap(seconds=seconds):
                await asyncio.sleep(seconds)
                return "awake"
            case Boom():
                raise RuntimeError("boom on request")
            case Lie():
                return "not a number"
        return None
