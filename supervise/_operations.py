"""Supervisor operations: one small frozen command per request, each with its result type.

A `SupervisorRef` method builds an operation and hands it to the supervisor's
inbox; the supervisor, in its own task and in inbox order, applies it to
itself through `OperationHandler` (``await operation.apply(self)``). Each
operation states its result type as ``Operation[R]``, and its ``apply`` is
checked by mypy to return exactly that, so the whole path from
``SupervisorRef.restart_child`` to the supervisor's handler and back is typed.

Operations are plain data (names, refs, specs): they can be logged, compared
and, later, sent to a supervisor on another node, whose handler applies them
the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeAlias, TypeVar

if TYPE_CHECKING:
    from ._ref import ActorRef, SupervisorRef
    from ._supervisor import ChildCounts, ChildInfo
    from ._task import TaskRef
    from .spec import AnyChildSpec

    #: What ``start_child`` and ``restart_child`` return: the new child's ref.
    ChildRef: TypeAlias = ActorRef[Any] | SupervisorRef | TaskRef
    #: How an operation names a child: its name among its siblings, or its ref.
    ChildKey: TypeAlias = str | ChildRef
    #: What ``start_child`` accepts: a spec, its fields, or a template's arguments.
    StartArg: TypeAlias = AnyChildSpec | dict[str, Any] | list[Any] | None

R = TypeVar("R", covariant=True)


class OperationHandler(Protocol):
    """What a supervisor does for each operation, in its own task, one at a time."""

    async def op_start_child(self, arg: StartArg) -> ChildRef | None: ...

    async def op_terminate_child(self, key: ChildKey) -> None: ...

    async def op_restart_child(self, key: ChildKey) -> ChildRef | None: ...

    async def op_delete_child(self, key: ChildKey) -> None: ...

    async def op_which_children(self) -> list[ChildInfo]: ...

    async def op_count_children(self) -> ChildCounts: ...

    async def op_which_child(self, key: ChildKey) -> ChildInfo: ...

    async def op_get_childspec(self, key: ChildKey) -> AnyChildSpec: ...


class Operation(Generic[R]):
    """A request to a supervisor whose answer is an ``R``."""

    __slots__ = ()

    async def apply(self, handler: OperationHandler) -> R:
        """Carry the operation out on ``handler`` (the supervisor, in its task)."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class StartChild(Operation["ChildRef | None"]):
    """Add a child after the existing ones and start it (OTP ``start_child``).

    None: the child ignored its start (`supervise.Ignore`), OTP's ``{ok, undefined}``.
    """

    arg: StartArg

    async def apply(self, handler: OperationHandler) -> ChildRef | None:
        return await handler.op_start_child(self.arg)


@dataclass(frozen=True, slots=True)
class TerminateChild(Operation[None]):
    """Stop a child, not as a restart (OTP ``terminate_child``)."""

    key: ChildKey

    async def apply(self, handler: OperationHandler) -> None:
        await handler.op_terminate_child(self.key)


@dataclass(frozen=True, slots=True)
class RestartChild(Operation["ChildRef | None"]):
    """Start a stopped child again (OTP ``restart_child``); None if it ignored its start."""

    key: ChildKey

    async def apply(self, handler: OperationHandler) -> ChildRef | None:
        return await handler.op_restart_child(self.key)


@dataclass(frozen=True, slots=True)
class DeleteChild(Operation[None]):
    """Forget a stopped child's spec (OTP ``delete_child``)."""

    key: ChildKey

    async def apply(self, handler: OperationHandler) -> None:
        await handler.op_delete_child(self.key)


@dataclass(frozen=True, slots=True)
class WhichChildren(Operation["list[ChildInfo]"]):
    """The children in start order (OTP ``which_children``)."""

    async def apply(self, handler: OperationHandler) -> list[ChildInfo]:
        return await handler.op_which_children()


@dataclass(frozen=True, slots=True)
class CountChildren(Operation["ChildCounts"]):
    """Counts of specs, running children, supervisors and workers (OTP ``count_children``)."""

    async def apply(self, handler: OperationHandler) -> ChildCounts:
        return await handler.op_count_children()


@dataclass(frozen=True, slots=True)
class WhichChild(Operation["ChildInfo"]):
    """One child's ``which_children`` row (Elixir ``Supervisor.which_children`` filtered)."""

    key: ChildKey

    async def apply(self, handler: OperationHandler) -> ChildInfo:
        return await handler.op_which_child(self.key)


@dataclass(frozen=True, slots=True)
class GetChildSpec(Operation["AnyChildSpec"]):
    """The spec a child runs with (OTP ``get_childspec``)."""

    key: ChildKey

    async def apply(self, handler: OperationHandler) -> AnyChildSpec:
        return await handler.op_get_childspec(self.key)
