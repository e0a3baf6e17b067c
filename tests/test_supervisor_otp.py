"""Supervisor conformance with OTP, in the style of OTP's supervisor_SUITE.

Each test counts the start attempts of every child and checks the exact states
``which_children`` reports (../shared/docs/otp-semantics.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from _support import Crash, Ping, until
from pydantic import BaseModel

from supervise import (
    Actor,
    ActorRef,
    ChildError,
    ChildSpec,
    ChildState,
    DynamicSupervisorSpec,
    SupervisorRef,
    TaskRef,
)
from supervise import open_tree as open_tree


class StartPlan:
    """Start attempts per child path, and which attempts fail."""

    def __init__(self) -> None:
        self.starts: dict[str, int] = {}
        #: path -> the attempt numbers (1-based) whose on_start raises.
        self.failing: dict[str, set[int]] = {}
        #: path -> attempt numbers from which on_start raises for good.
        self.failing_from: dict[str, int] = {}
        #: path -> an event that on_start waits for before it decides.
        self.gates: dict[str, asyncio.Event] = {}

    def attempt(self, path: str) -> int:
        n = self.starts[path] = self.starts.get(path, 0) + 1
        return n

    def fails(self, path: str, n: int) -> bool:
        return n in self.failing.get(path, ()) or n >= self.failing_from.get(path, n + 1)


PLAN = StartPlan()


@pytest.fixture(autouse=True)
def plan() -> Iterator[StartPlan]:
    global PLAN
    PLAN = StartPlan()
    yield PLAN


class Counted(Actor[Ping | Crash]):
    """Counts its start attempts in PLAN; fails the ones PLAN says."""

    async def on_start(self) -> None:
        n = PLAN.attempt(self.path)
        gate = PLAN.gates.get(self.path)
        if gate is not None:
            await gate.wait()
        if PLAN.fails(self.path, n):
            raise RuntimeError(f"{self.path}: start {n} fails")

    async def handle(self, msg: Ping | Crash) -> str:
        if isinstance(msg, Crash):
            raise ValueError(msg.message)
        return "pong"


def counted(name: str, **fields: Any) -> ChildSpec:
    return ChildSpec(name=name, actor=Counted, **fields)


def actor_ref(ref: ActorRef[Any] | SupervisorRef | TaskRef) -> ActorRef[Any]:
    assert isinstance(ref, ActorRef)
    return ref


async def states(sup: SupervisorRef) -> list[tuple[str, ChildState]]:
    return [(c.name, c.state) for c in await sup.which_children()]


class Empty(BaseModel, frozen=True):
    pass


async def test_max_children_zero_refuses_every_start() -> None:
    """max_children: 0 is valid, as in Elixir; every start_child is refused."""
    spec = DynamicSupervisorSpec(name="pool", max_children=0, child=counted("c"))
    async with open_tree(spec) as tree:
        with pytest.raises(ChildError, match=r"max_children \(0\) reached"):
            await tree.root.start_child()
        assert await states(tree.root) == []
    assert PLAN.starts == {}
