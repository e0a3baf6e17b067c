"""W8: the actor the isolated workloads call, found by import path in its own process.

A module of its own so that the isolated actor's process imports only this
(and supervise), not the harness.
"""

from __future__ import annotations

import os

from supervise import Actor, Request


class Ping(Request[int], frozen=True):
    """Echo ``n`` back."""

    n: int


class WhichPid(Request[int], frozen=True):
    """Reply with the process id the actor runs in."""


class Echo(Actor[Ping | WhichPid]):
    """Replies to each call at once."""

    async def handle(self, msg: Ping | WhichPid) -> int:
        if isinstance(msg, Ping):
            return msg.n
        return os.getpid()


__all__ = ["Echo", "Ping", "WhichPid"]
