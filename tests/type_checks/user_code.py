"""Code as a user writes it, which must type-check (tests/test_doc_types.py runs the checkers).

Never run: only mypy --strict (with and without the pydantic plugin) and pyright's strict
mode read it. Each ``assert_type`` is checked by both.
"""

from __future__ import annotations

from typing import Any, assert_type

from pydantic import BaseModel

from supervise import (
    Actor,
    ActorRef,
    ChildSpec,
    MailboxSpec,
    Request,
    Restart,
    Strategy,
    SupervisorRef,
    SupervisorSpec,
    TaskRef,
    TaskSpec,
    Tree,
)


class Add(BaseModel, frozen=True):
    by: int = 1


class Total(Request[int], frozen=True):
    pass


class Counter(Actor[Add | Total]):
    async def handle(self, msg: Add | Total) -> int | None:
        return None


async def poll() -> None:
    pass


def specs() -> SupervisorSpec:
    # Enum fields take their words; reading them gives the enum.
    workers = [ChildSpec(name=f"w{i}", actor=Counter, restart="transient") for i in range(3)]
    spec = SupervisorSpec(
        name="root",
        strategy="rest_for_one",
        # A list[ChildSpec] is accepted where any child spec may go (lists are invariant).
        children=[*workers, TaskSpec(name="poll", task=poll, restart=Restart.TEMPORARY)],
    )
    assert_type(spec.strategy, Strategy)
    assert_type(spec.children[0].restart, Restart)
    assert_type(MailboxSpec(overflow="fail").capacity, int | None)
    return SupervisorSpec(name="outer", children=workers)


async def lookups(tree: Tree) -> None:
    counter = tree.actor("root/w0", Counter)
    assert_type(counter, ActorRef[Add | Total])
    assert_type(await counter.call(Total()), int)
    assert_type(await counter.call(Add(), retry_while_restarting=True), Any)
    await counter.cast(Add(by=2))
    await counter.wait_running(timeout=1.0)
    assert_type(tree.supervisor("root"), SupervisorRef)
    assert_type(tree.task("root/poll"), TaskRef)
    assert_type(tree.actor("root/w1"), ActorRef[Any])


async def feed(adder: ActorRef[Add]) -> None:
    await adder.cast(Add())


async def variance(tree: Tree) -> None:
    # A ref that accepts Add | Total is a ref that accepts Add: refs are contravariant.
    counter = tree.actor("root/w0", Counter)
    await feed(counter)


def import_paths() -> SupervisorSpec:
    # As in tree files, a class or function may be named by its import path.
    db = ChildSpec(name="db", actor="myapp.db:Database")
    poller = TaskSpec(name="poller", task="myapp.jobs:poll")
    return SupervisorSpec(name="root", children=[db, poller])
