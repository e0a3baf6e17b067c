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

from typing import TYPE_CHECKING, Any, cast

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
        if spec.execution is Execution.ISOLATED:  # the actor is built in its own process
            return IsolatedProcess(
                child, spec, Mailbox(child.path, spec.mailbox.capacity), shutdown_seconds(spec)
            )
        # A spec holds an actor class's declarations (`Behaviour`); `Actor` is its one subclass.
        actor = cast("Actor[Any]", spec.actor())
        config = spec.config
        if config is not None:
            # Each incarnation gets its own config unless the model is immutable.
            frozen = type(config).model_config.get("frozen", False)
            actor.config = config if frozen else config.model_copy(deep=True)  # type: ignore[attr-defined]
        mailbox: Mailbox[object] = Mailbox(child.path, spec.mailbox.capacity)
        process = ActorProcess(child, actor, mailbox, shutdown_seconds(spec))
        execution = execution_of(spec.execution, actor)
        if execution is not Execution.LOOP:
            offload_handler(process, actor, execution)
        return process
    if isinstance(spec, TaskSpec):
        return TaskProcess(child, spec)
    if isinstance(spec, DynamicSupervisorSpec):
        return DynamicSupervisor(child, launch)
    return Supervisor(child, launch)
