"""DynamicSupervisor: children started at run time, from any spec or from a template.

Elixir's DynamicSupervisor (OTP's ``simple_one_for_one`` when every child comes
from the template): one_for_one only; each child is named ``<spec name>-<n>``,
so one spec can be started many times; children are forgotten once they end
for good, and stopped all at once on shutdown, each within its own shutdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from ._child import Child
from ._errors import ChildError, SpecError, StartError
from ._process import Process
from ._reason import SHUTDOWN
from ._supervisor import Launch, Supervisor
from .spec import AnyChildSpec, ChildSpec, DynamicSupervisorSpec, SupervisorSpec, TaskSpec

if TYPE_CHECKING:
    from ._operations import ChildKey, ChildRef, StartArg

#: The longest child name a spec accepts (``spec.Name``).
_NAME_MAX_LENGTH: Final[int] = next(
    m.max_length for m in ChildSpec.model_fields["name"].metadata if hasattr(m, "max_length")
)


class DynamicSupervisor(Supervisor):
    """Children started at run time (Elixir's DynamicSupervisor).

    one_for_one; children are named ``<spec name>-<n>``; shutdown signals all
    children at once and waits for them together, each within its own
    shutdown (Elixir does the same).
    """

    __slots__ = ("_next_id",)

    spec: DynamicSupervisorSpec

    def __init__(self, child: Child, launch: Launch) -> None:
        super().__init__(child, launch)
        self._next_id = 0

    def _initial_specs(self) -> Sequence[AnyChildSpec]:
        return self.spec.children

    def _initial_name(self, spec: AnyChildSpec) -> str:
        # Listed children are named as start_child names them: ``<name>-<n>``.
        return self._next_name(spec)

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
        *cannot suspend* (a plain task, or an actor without ``on_start``, ready
        as soon as its task exists). The caller then runs exactly the code the
        supervisor would run for the request, at the point where the supervisor
        would run it (nothing is queued before it), and nothing can interleave
        with it, since it never yields. Anything else (a message already
        queued, an operation in progress, an ``on_start`` or a subtree to wait
        for) goes through the inbox, in order.
        """
        if self._inbox.parked is None or self._inbox.items:  # not idle, or work queued
            return None
        spec = self._spec_for(arg)
        if not (
            isinstance(spec, TaskSpec)
            or (isinstance(spec, ChildSpec) and not spec.actor._has_on_start)
        ):
            return None
        child = self._add_new_child(spec, self._name_for(spec))
        try:
            self._start_now(child)
        except StartError:
            self._remove(child)
            raise
        return child.ref

    async def op_get_childspec(self, key: ChildKey) -> AnyChildSpec:
        # Children share the spec they were started from; each is shown under its own name.
        child = self._find(key)
        spec = child.spec
        return spec if spec.name == child.name else spec.model_copy(update={"name": child.name})

    async def op_start_child(self, arg: StartArg) -> ChildRef | None:
        spec = self._spec_for(arg)
        return await self._start_new_child(spec, self._name_for(spec))

    def _next_name(self, spec: AnyChildSpec) -> str:
        """``<spec name>-<n>``, n counting every child this incarnation named."""
        self._next_id += 1
        name = f"{spec.name}-{self._next_id}"
        if len(name) > _NAME_MAX_LENGTH:
            raise SpecError(
                f"start_child on {self.path}",
                f"name: the child name {name[:40]}... would be {len(name)} characters, "
                f"at most {_NAME_MAX_LENGTH} characters allowed; use a shorter spec name",
            )
        return name

    def _spec_for(self, arg: StartArg) -> AnyChildSpec:
        """The spec ``start_child(arg)`` starts; raises what start_child raises."""
        template = self.spec.child
        if isinstance(arg, ChildSpec | TaskSpec | SupervisorSpec | DynamicSupervisorSpec):
            # The spec as it is: every child started from it shares it (a validated
            # copy per child would cost about 1 KB and 10 µs each).
            return arg
        if template is not None:
            return template if arg is None else self._from_template(template, arg)
        if arg is None or isinstance(arg, list | tuple):
            raise SpecError(
                f"start_child on {self.path}",
                "this dynamic supervisor has no child template; pass a child spec "
                "(ChildSpec, TaskSpec, SupervisorSpec or DynamicSupervisorSpec, or its "
                "fields as a dict)",
            )
        return self._validate_child_spec(arg)

    def _name_for(self, spec: AnyChildSpec) -> str:
        """The next child's name, if there is room for one more child."""
        limit = self.spec.max_children
        # Children that ended for good are forgotten, so every child here is
        # running or about to restart.
        if limit is not None and len(self._children) >= limit:
            raise ChildError(
                self.path,
                spec.name,
                f"max_children ({limit}) reached; stop a child first or raise max_children",
                code="max_children",
            )
        return self._next_name(spec)

    def _from_template(self, template: AnyChildSpec, arg: object) -> AnyChildSpec:
        """The template with ``arg`` in place of its args (a task's: kwargs or args)."""
        fields = dict(template)
        if isinstance(template, TaskSpec) and isinstance(arg, list | tuple):
            fields["args"] = list(arg)  # a task template: a list is its positional args
        elif not isinstance(arg, dict) or not isinstance(template, ChildSpec | TaskSpec):
            what = "a dict of args" if isinstance(template, ChildSpec | TaskSpec) else "nothing"
            raise SpecError(
                f"start_child on {self.path}",
                f"expected {what} for template {template.name}, got {type(arg).__name__}",
            )
        else:
            fields["kwargs" if isinstance(template, TaskSpec) else "args"] = arg
        try:
            return type(template)(**fields)
        except SpecError as exc:
            raise SpecError(f"start_child on {self.path}", exc.problem) from None

    async def _stop_children(self) -> None:
        pairs: list[tuple[Child, Process]] = []
        for child in reversed(list(self._children.values())):
            child.restarting = False
            if child.process is not None:
                pairs.append((child, child.process))
                child.process = None
        if pairs:
            # All at once, each within its own shutdown (Elixir's DynamicSupervisor).
            await self._terminate_processes(pairs, None, SHUTDOWN)
