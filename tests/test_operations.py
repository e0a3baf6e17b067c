"""Supervisor operations: typed commands, applied by the supervisor in its own task."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pytest
from _support import worker

from supervise import ActorRef, ChildCounts, ChildInfo, SupervisorRef, SupervisorSpec, open_tree
from supervise._operations import (
    CountChildren,
    DeleteChild,
    GetChildSpec,
    Operation,
    RestartChild,
    StartChild,
    TerminateChild,
    WhichChild,
    WhichChildren,
)

if TYPE_CHECKING:
    from supervise._operations import ChildKey, ChildRef, StartArg
    from supervise.spec import AnyChildSpec


class Recorder:
    """An OperationHandler that records what it was asked and answers with markers."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.ref: Any = object()
        self.infos: list[ChildInfo] = []
        self.counts = ChildCounts(specs=1, active=1, supervisors=0, workers=1)

    async def op_start_child(self, arg: StartArg) -> ChildRef:
        self.calls.append(("start_child", arg))
        ref: ChildRef = self.ref
        return ref

    async def op_terminate_child(self, key: ChildKey) -> None:
        self.calls.append(("terminate_child", key))

    async def op_restart_child(self, key: ChildKey) -> ChildRef:
        self.calls.append(("restart_child", key))
        ref: ChildRef = self.ref
        return ref

    async def op_delete_child(self, key: ChildKey) -> None:
        self.calls.append(("delete_child", key))

    async def op_which_children(self) -> list[ChildInfo]:
        self.calls.append(("which_children", None))
        return self.infos

    async def op_count_children(self) -> ChildCounts:
        self.calls.append(("count_children", None))
        return self.counts

    async def op_which_child(self, key: ChildKey) -> ChildInfo:
        self.calls.append(("which_child", key))
        info: ChildInfo = self.ref
        return info

    async def op_get_childspec(self, key: ChildKey) -> AnyChildSpec:
        self.calls.append(("get_childspec", key))
        spec: AnyChildSpec = self.ref
        return spec


async def test_each_operation_calls_its_own_handler_method_with_its_argument() -> None:
    """apply() routes each command to exactly one handler method and returns its answer."""
    handler = Recorder()
    spec = {"name": "w", "actor": "tests._tree_actors:Counter"}
    assert await StartChild(spec).apply(handler) is handler.ref
    await TerminateChild("a").apply(handler)
    assert await RestartChild("b").apply(handler) is handler.ref
    await DeleteChild("c").apply(handler)
    assert await WhichChildren().apply(handler) is handler.infos
    assert await CountChildren().apply(handler) is handler.counts
    row: object = await WhichChild("d").apply(handler)
    child_spec: object = await GetChildSpec("e").apply(handler)
    assert row is handler.ref
    assert child_spec is handler.ref
    assert handler.calls == [
        ("start_child", spec),
        ("terminate_child", "a"),
        ("restart_child", "b"),
        ("delete_child", "c"),
        ("which_children", None),
        ("count_children", None),
        ("which_child", "d"),
        ("get_childspec", "e"),
    ]


def test_operations_are_frozen_values() -> None:
    """Operations compare by value and cannot be changed once built (they may be sent later)."""
    assert TerminateChild("a") == TerminateChild("a")
    assert TerminateChild("a") != TerminateChild("b")
    assert WhichChildren() == WhichChildren()
    with pytest.raises(dataclasses.FrozenInstanceError):
        TerminateChild("a").key = "b"  # type: ignore[misc]


async def test_the_base_operation_cannot_be_applied() -> None:
    """An Operation subclass must define apply; the base refuses instead of answering None."""
    with pytest.raises(NotImplementedError):
        await Operation[None]().apply(Recorder())


async def test_a_supervisor_answers_typed_operations_in_order() -> None:
    """The ref's methods go through the operations; results keep their types."""
    spec = SupervisorSpec(name="root", children=[worker("a")])
    async with open_tree(spec) as tree:
        root = tree.root
        assert isinstance(root, SupervisorRef)
        ref = await root.start_child(worker("b"))
        assert isinstance(ref, ActorRef)
        await root.terminate_child("b")
        assert [c.state for c in await root.which_children()] == ["running", "stopped"]
        assert await root.restart_child("b") is ref
        await root.terminate_child(ref)
        await root.delete_child("b")
        counts = await root.count_children()
        assert counts == ChildCounts(specs=1, active=1, supervisors=0, workers=1)
