"""Launching: the one place a child slot becomes a running process.

A supervisor never builds its children's processes itself: it calls the
`Launch` it was given (`launch`, here) with the child slot, and gets back a
`Process` to start, stop, kill and wait for. Everything else (refs, monitors,
links, the supervisor's restart and shutdown logic) talks to that `Process`
only, so where a child runs is decided here and nowhere else: today every
child runs as a task on the tree's event loop, or on another node when its
spec has a ``placement`` and the tree a cluster (`supervise._nats._placed`); a
thread or a worker process plugs in as another `Process` picked here too.

This module sits above every kind of process, supervisors included, so the
supervisor modules need not import one another (a supervisor's children may
be supervisors).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, cast

from ._dynamic_supervisor import DynamicSupervisor
from ._isolated import IsolatedProcess
from ._mailbox import Mailbox
from ._offload import execution_of, offload_handler
from ._process import ActorProcess, Process
from ._registry import placer_of
from ._shutdown import shutdown_seconds
from ._supervisor import Supervisor
from ._task import TaskProcess
from .spec import ChildSpec, DynamicSupervisorSpec, Execution, TaskSpec

if TYPE_CHECKING:
    from ._actor import Actor
    from ._child import Child


class _ActorPlan:
    """What every incarnation of one actor spec is made from, read from the spec once.

    A restart (W5) otherwise reads the spec's config, mailbox, shutdown and
    execution every time, about 0.5 µs of a 10 µs restart.
    """

    __slots__ = ("actor", "capacity", "config", "copy_config", "execution", "spec", "stop_bound")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        # A spec holds an actor class's declarations (`Behaviour`); `Actor` is its one subclass.
        self.actor = cast("type[Actor[Any]]", spec.actor)
        self.config = spec.config
        # Each incarnation gets its own config unless the model is immutable.
        self.copy_config = self.config is not None and not type(self.config).model_config.get(
            "frozen", False
        )
        self.capacity = spec.mailbox.capacity
        self.stop_bound = shutdown_seconds(spec)
        self.execution = execution_of(spec.execution, self.actor)


# Globals: an enum member read through its class costs about 0.1 µs on CPython 3.11.
_LOOP: Final = Execution.LOOP
_ISOLATED: Final = Execution.ISOLATED

# The plans of the specs launched lately, by identity (a plan holds its spec, so an
# id is not reused while it is here). Bounded: a tree with more distinct actor
# specs than this only rebuilds plans.
_plans: dict[int, _ActorPlan] = {}
_PLANS_KEPT: Final = 256


def _plan(spec: ChildSpec) -> _ActorPlan:
    plan = _plans.get(id(spec))
    if plan is None or plan.spec is not spec:
        if len(_plans) >= _PLANS_KEPT:
            _plans.clear()
        plan = _plans[id(spec)] = _ActorPlan(spec)
    return plan


def launch(child: Child) -> Process:
    """The next incarnation of ``child``, created (not started) on this event loop.

    Raises:
        Exception: whatever the actor's constructor raises (a start failure).
    """
    spec = child.spec
    placement = getattr(spec, "placement", None)
    if placement is not None:
        placer = placer_of(child.registry)
        if placer is not None and child.supervisor is not None:
            return placer.launch(child, placement)
    if isinstance(spec, ChildSpec):
        plan = _plans.get(id(spec))  # `_plan`, its common case inline: every restart asks
        if plan is None or plan.spec is not spec:
            plan = _plan(spec)
        if plan.execution is _ISOLATED:  # the actor is built in its own process
            return IsolatedProcess(child, spec, Mailbox(child.path, plan.capacity), plan.stop_bound)
        actor = plan.actor()
        config = plan.config
        if config is not None:
            actor.config = config.model_copy(deep=True) if plan.copy_config else config  # type: ignore[attr-defined]
        mailbox: Mailbox[object] = Mailbox(child.path, plan.capacity)
        process = ActorProcess(child, actor, mailbox, plan.stop_bound)
        if plan.execution is not _LOOP:
            offload_handler(process, actor, plan.execution, spec.switch_interval)
        return process
    if isinstance(spec, TaskSpec):
        return TaskProcess(child, spec)
    if isinstance(spec, DynamicSupervisorSpec):
        return DynamicSupervisor(child, launch)
    return Supervisor(child, launch)
