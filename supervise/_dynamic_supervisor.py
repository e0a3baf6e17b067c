"""DynamicSupervisor: many children of one template, started at run time.

Elixir's DynamicSupervisor, OTP's ``simple_one_for_one``: one_for_one only;
children are named ``<template>-<n>``, forgotten once they end for good, and
stopped all at once on shutdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from ._child import Child
from ._errors import ChildError, SpecError, StartError
from ._process import Process
from ._reason import SHUTDOWN
from ._supervisor import Launch, Supervisor
from .spec import AnyChildSpec, ChildSpec, DynamicSupervisorSpec, TaskSpec

if TYPE_CHECKING:
    from ._operations import ChildKey, ChildRef, StartArg

#: The longest child name a spec accepts (``spec.Name``).
_NAME_MAX_LENGTH: Final[int] = next(
    m.max_length for m in ChildSpec.model_fields["name"].metadata if hasattr(m, "max_length")
)


class DynamicSupervisor(Supervisor):
    """Many children of one template, started at run time (Elixir's DynamicSupervisor).

    one_for_one; children are named ``<template>-<n>``; shutdown signals all
    children at once and waits for them together (OTP does the same for
    ``simple_one_for_one``).
    """

    __slots__ = ("_next_id",)

    spec: DynamicSupervisorSpec

    def __init__(self, child: Child, launch: Launch) -> None:
        super().__init__(child, launch)
        self._next_id = 0

    def _initial_specs(self) -> Sequence[AnyChildSpec]:
        return ()

    def _forget_if_stopped(self, child: Child) -> None:
        # As OTP's simple_one_for_one and Elixir's DynamicSupervisor: a child that
        # ended for good (terminated, or exited and not restarted) is removed, so
        # a long-running server does not keep one stopped slot per past client.
        if child.process is None and not child.restarting:
            self._remove(child)

    def _drop_ignored(self, child: Child) -> None:
        # OTP's simple_one_for_one and Elixir: an ignored child is not kept, whatever
        # its restart type (start_child answers None, a restart drops it).
        child.restarting = False
        self._remove(child)

    async def _on_child_exit(self, process: Process) -> None:
        await super()._on_child_exit(process)
        self._forget_if_stopped(process.child)

    async def op_terminate_child(self, key: ChildKey) -> None:
        child = self._find(key)
        await super().op_terminate_child(key)
        self._forget_if_stopped(child)

    def start_child_now(self, arg: StartArg) -> ChildRef | None:
        """start_child handled in the caller's task, or None: queue the request.

        The invariant that makes this OTP's start_child, only without the round
        trip through the inbox: the supervisor is *idle* (parked on an empty
        inbox, in the middle of no restart, start or shutdown) and the start
        *cannot suspend* (the template is a plain task, or an actor without
        ``on_start``, ready as soon as its task exists). The caller then runs
        exactly the code the supervisor would run for the request, at the point
        where the supervisor would run it (nothing is queued before it), and
        nothing can interleave with it, since it never yields. Anything else
        (a message already queued, an operation in progress, an ``on_start`` to
        wait for) goes through the inbox, in order.
        """
        template = self.spec.child
        if (
            not self._idle
            or len(self._inbox)
            or (isinstance(template, ChildSpec) and template.actor._has_on_start)
        ):
            return None
        spec, name = self._next_child(arg)
        child = self._add_new_child(spec, name)
        try:
            self._start_now(child)
        except StartError:
            self._remove(child)
            raise
        return child.ref

    async def op_start_child(self, arg: StartArg) -> ChildRef | None:
        spec, name = self._next_child(arg)
        return await self._start_new_child(spec, name)

    def _next_child(self, arg: StartArg) -> tuple[ChildSpec | TaskSpec, str]:
        """The spec and name of the next child; raises what start_child raises."""
        spec = self.spec
        # Children that ended for good are forgotten, so every child here is
        # running or about to restart.
        if spec.max_children is not None and len(self._children) >= spec.max_children:
            raise ChildError(
                self.path,
                spec.child.name,
                f"max_children ({spec.max_children}) reached; stop a child first "
                f"or raise max_children",
                code="max_children",
            )
        self._next_id += 1
        template = spec.child
        name = f"{template.name}-{self._next_id}"
        if arg is None and len(name) <= _NAME_MAX_LENGTH:
            # The template as it is: every such child shares it (a validated
            # copy per child would cost about 1 KB and 10 µs each).
            return template, name
        fields = dict(template)
        fields["name"] = name
        if arg is not None:
            if isinstance(template, TaskSpec) and isinstance(arg, list | tuple):
                fields["args"] = list(arg)  # a task template: a list is its positional args
            elif not isinstance(arg, dict):
                raise SpecError(
                    f"start_child on {self.path}",
                    f"expected a dict of args for {template.name}, got {type(arg).__name__}",
                )
            else:
                fields["kwargs" if isinstance(template, TaskSpec) else "args"] = arg
        try:
            child_spec = type(template)(**fields)
        except SpecError as exc:
            raise SpecError(f"start_child on {self.path}", exc.problem) from None
        return child_spec, name

    async def _stop_children(self) -> None:
        pairs: list[tuple[Child, Process]] = []
        for child in reversed(list(self._children.values())):
            child.restarting = False
            if child.process is not None:
                pairs.append((child, child.process))
                child.process = None
        if pairs:
            await self._terminate_processes(pairs, self.spec.child.shutdown, SHUTDOWN)
