"""Embedding: run a supervision tree inside any asyncio application.

::

    async with open_tree(spec) as tree:
        counter = tree.whereis("root/counter")
        await counter.cast(Increment())

Entering starts the tree (children in order) and raises `StartError` if a
child fails to start. Leaving the block, or cancelling the task that runs it,
stops the tree in reverse order. If the root supervisor gives up (restart
intensity exceeded past the root), the block's body is cancelled and
`RestartIntensityExceeded` is raised from the ``async with``.

Works on asyncio, including under anyio's asyncio backend (trio is not supported:
the runtime is built on asyncio tasks for speed).
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, final

import anyio

from ._child import Child
from ._dead_letters import DeadLetters
from ._dynamic_supervisor import DynamicSupervisor
from ._errors import ActorExitedError
from ._process import Process
from ._reason import SHUTDOWN
from ._ref import ActorRef, SupervisorRef
from ._registry import Registry
from ._supervisor import Supervisor
from ._task import TaskRef
from .spec import DynamicSupervisorSpec, SupervisorSpec


@final
class Tree:
    """A running supervision tree; get one from `open_tree`.

    Attributes:
        spec: the root's spec.
        registry: find actors by tree path or registered name.
        dead_letters: undelivered messages, counted and logged.

    .. versionadded:: 0.1
    """

    def __init__(self, spec: SupervisorSpec | DynamicSupervisorSpec) -> None:
        self.spec = spec
        self.registry = Registry()
        self.dead_letters = DeadLetters()
        self._root = Child(spec, spec.name, None, self.registry, self.dead_letters)
        self._process: Supervisor | None = None
        self._failure: BaseException | None = None
        self._ended: asyncio.Event | None = None
        self._scope: anyio.CancelScope | None = None

    @property
    def root(self) -> SupervisorRef:
        """The root supervisor's ref (dynamic children, inspection)."""
        ref = self._root.ref
        assert isinstance(ref, SupervisorRef)
        return ref

    def whereis(self, name: str) -> ActorRef[Any] | SupervisorRef | TaskRef:
        """The ref at tree path ``name`` (``"root/db"``) or registered as ``name``.

        Raises:
            NameNotFoundError: nothing is there.
        """
        return self.registry.whereis(name)

    @property
    def running(self) -> bool:
        """Whether the root supervisor runs."""
        return self._process is not None and self._process.reason is None

    async def start(self) -> None:
        """Start the tree: every child in order. Prefer ``async with open_tree(...)``.

        Raises:
            StartError: a child failed to start; the started ones were stopped.
        """
        if self._process is not None:
            raise RuntimeError(f"tree {self.spec.name!r} was started already")
        self._ended = asyncio.Event()
        self.registry._add(self._root)
        process = (
            DynamicSupervisor(self._root)
            if isinstance(self.spec, DynamicSupervisorSpec)
            else Supervisor(self._root)
        )
        process.on_exit = self._root_exited
        self._process = process
        self._root.process = process
        process.start()
        await process.started
        self._root.incarnation = 1

    def _root_exited(self, process: Process) -> None:
        self._root.process = None
        reason = process.reason
        assert reason is not None
        if not reason.is_normal or reason.exception is not None:
            # Escalation past the root (a crash, or giving up): the tree is over;
            # tell the embedding code.
            self._failure = reason.exception or ActorExitedError(process.path, reason)
            if self._scope is not None:
                self._scope.cancel()
        if self._ended is not None:
            self._ended.set()

    async def wait(self) -> None:
        """Wait until the tree ends.

        Raises:
            RestartIntensityExceeded: the root supervisor gave up.
        """
        assert self._ended is not None, "start the tree first"
        await self._ended.wait()
        if self._failure is not None:
            raise self._failure

    async def stop(self) -> None:
        """Stop the tree in reverse start order and wait until it has ended (idempotent)."""
        process = self._process
        if process is None:
            return
        if process.reason is None:
            process.request_stop(SHUTDOWN)
            await process.wait(None)

    async def __aenter__(self) -> Tree:
        await self.start()
        scope = anyio.CancelScope()
        scope.__enter__()
        self._scope = scope
        if self._failure is not None:  # it gave up before we got here
            scope.cancel()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        scope, self._scope = self._scope, None
        swallowed = False
        try:
            if scope is not None:
                swallowed = bool(scope.__exit__(exc_type, exc, tb))
        finally:
            # Stop in order even when the host task is being cancelled.
            with anyio.CancelScope(shield=True):
                await self.stop()
        if self._failure is not None and (exc is None or swallowed):
            raise self._failure
        return swallowed


def open_tree(spec: SupervisorSpec | DynamicSupervisorSpec | dict[str, Any]) -> Tree:
    """Open a supervision tree for ``async with``.

    Args:
        spec: the root supervisor's spec, or a dict that validates as one.

    Returns:
        A `Tree`; entering it starts the tree, leaving it stops it.

    .. versionadded:: 0.1
    """
    if isinstance(spec, dict):
        kind = spec.get("kind", "supervisor")
        spec = (
            DynamicSupervisorSpec.model_validate(spec)
            if kind == "dynamic_supervisor"
            else SupervisorSpec.model_validate(spec)
        )
    return Tree(spec)
