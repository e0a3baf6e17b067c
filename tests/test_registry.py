"""Typed lookups: tree.actor / supervisor / task, and replies typed by `Request` models."""

from __future__ import annotations

from typing import Any, assert_type

import pytest
from _support import Ping, Plain, Worker, worker
from pydantic import BaseModel

from supervise import (
    Actor,
    ActorRef,
    ChildKindError,
    ChildSpec,
    NameNotFoundError,
    Request,
    SupervisorRef,
    SupervisorSpec,
    TaskRef,
    TaskSpec,
    open_tree,
)


class Add(BaseModel, frozen=True):
    by: int = 1


class Total(Request[int], frozen=True):
    pass


class Label(Request[str], frozen=True):
    pass


class Counter(Actor[Add | Total | Label]):
    async def on_start(self) -> None:
        self.total = 0

    async def handle(self, msg: Add | Total | Label) -> int | str | None:
        match msg:
            case Add(by=by):
                self.total += by
            case Total():
                return self.total
            case Label():
                return f"total={self.total}"
        return None


class SpecialWorker(Worker):
    pass


async def forever() -> None:
    import asyncio

    await asyncio.Event().wait()


def tree_spec() -> SupervisorSpec:
    return SupervisorSpec(
        name="root",
        children=[
            ChildSpec(name="counter", actor=Counter, registered_name="tally"),
            worker("w"),
            ChildSpec(name="special", actor=SpecialWorker),
            TaskSpec(name="poller", task=forever),
            SupervisorSpec(name="group", children=[ChildSpec(name="plain", actor=Plain)]),
        ],
    )


async def test_typed_lookups_return_the_slot_refs() -> None:
    """Each lookup returns the same ref as whereis, typed for its kind (and actor class)."""
    async with open_tree(tree_spec()) as tree:
        counter = tree.actor("root/counter", Counter)
        assert_type(counter, ActorRef[Add | Total | Label])
        assert counter is tree.whereis("root/counter")
        assert tree.actor("tally", Counter) is counter  # by registered name
        assert_type(tree.actor("root/w"), ActorRef[Any])
        assert tree.actor("root/special", Worker) is tree.whereis("root/special")  # a base class
        group = tree.supervisor("root/group")
        assert_type(group, SupervisorRef)
        assert group is tree.whereis("root/group")
        assert tree.supervisor("root") is tree.root
        poller = tree.task("root/poller")
        assert_type(poller, TaskRef)
        assert poller is tree.whereis("root/poller")
        # The same lookups from inside an actor, through its registry.
        assert tree.registry.actor("root/group/plain", Plain).path == "root/group/plain"


async def test_calls_to_requests_are_typed_by_the_request() -> None:
    """`call` of a Request[R] returns R (checked by mypy here); other messages return Any."""
    async with open_tree(tree_spec()) as tree:
        counter = tree.actor("root/counter", Counter)
        await counter.cast(Add(by=2))
        assert_type(await counter.call(Add(by=3)), Any)
        total = await counter.call(Total())
        assert_type(total, int)
        assert total == 5
        label = await counter.call(Label(), timeout=1.0)
        assert_type(label, str)
        assert label == "total=5"
        await counter.cast(Total())  # a request is an ordinary message too


@pytest.mark.parametrize(
    ("lookup", "message"),
    [
        (
            lambda tree: tree.actor("root/group"),
            "'root/group' is a supervisor, not an actor",
        ),
        (
            lambda tree: tree.actor("root/w", Counter),
            "'root/w' is an actor of class Worker, not an actor of class Counter",
        ),
        (
            lambda tree: tree.actor("root/counter", SpecialWorker),
            "'root/counter' is an actor of class Counter, not an actor of class SpecialWorker",
        ),
        (lambda tree: tree.supervisor("root/poller"), "'root/poller' is a task, not a supervisor"),
        (
            lambda tree: tree.task("tally"),
            "'tally' is an actor of class Counter, not a task",
        ),
    ],
)
async def test_a_lookup_of_another_kind_says_what_is_there(lookup: Any, message: str) -> None:
    """ChildKindError names what was asked for, what is there, and what to use."""
    async with open_tree(tree_spec()) as tree:
        with pytest.raises(ChildKindError) as info:
            lookup(tree)
        assert str(info.value) == (
            f"{message}; look it up with the method for what it is (actor, supervisor, task), "
            f"or use whereis() for any kind"
        )
        assert isinstance(info.value, TypeError)


@pytest.mark.parametrize(
    ("module", "advice"),
    [
        ("__main__", "the script run as __main__ and the module the tree's `actor` path"),
        ("test_registry", "the same class was imported twice"),
    ],
)
async def test_a_class_imported_twice_is_told_apart_by_its_import_path(
    module: str, advice: str
) -> None:
    """A script that defines its actor and names it by path in a tree file has two classes
    of one name: the error gives both import paths and says why, not "Counter, not Counter"."""
    twin = type("Counter", (Counter,), {"__module__": module, "__qualname__": "Counter"})
    async with open_tree(tree_spec()) as tree:
        with pytest.raises(ChildKindError) as info:
            tree.actor("root/counter", twin)
    message = str(info.value)
    assert message.startswith(
        f"'root/counter' is an actor of class {Counter.__module__}:Counter, "
        f"not an actor of class {module}:Counter; {advice}"
    )


async def test_a_missing_path_is_name_not_found() -> None:
    """Every lookup raises NameNotFoundError for a path that holds nothing."""
    async with open_tree(tree_spec()) as tree:
        for lookup in (tree.actor, tree.supervisor, tree.task):
            with pytest.raises(NameNotFoundError) as info:
                lookup("root/nope")
            assert str(info.value) == (
                "nothing is at the tree path 'root/nope'; check the spelling against "
                "which_children() of 'root' (a child that ended for good, or was deleted, "
                "leaves its path)"
            )


def test_requests_are_shared_like_other_frozen_models() -> None:
    """A frozen Request with immutable fields passes by reference (no copy per send)."""
    assert Total in Counter._share_types
    assert Ping not in Counter.accepts
