"""Hosting placed subtrees: the node side of placement, and joining a cluster.

Every process of a cluster (a tree with a ``cluster`` block, ``supervise
node``) hosts the children other nodes place on it. `SubtreeHost` serves two
node operations:

- `StartSubtree`: validate the child spec (importing its actor classes here),
  start it as the root of a small tree of its own, under the owner's path, and
  reply once it runs (a start failure is the reply's error). Nothing here
  restarts it: its owner's supervisor decides that.
- `StopSubtree`: stop it (its ``shutdown``, then a kill and abandonment, as a
  supervisor would) or kill it, and reply once it has ended.

When a copy ends, for whatever reason, the host deletes its lease and sends
`SubtreeExited` to the owner. It also stops copies on its own:

- **fencing**: this node lost the servers (or its loop froze) for
  ``misses * heartbeat``: every copy is killed, since the owners will have
  placed them elsewhere by now;
- **lost lease**: renewing a copy's lease failed its compare-and-set (another
  node holds it now): that copy is killed;
- **orphans**: the owner's node is down: its copies are stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from pydantic import TypeAdapter, ValidationError

from . import _log
from ._child import Child
from ._dead_letters import DeadLetters
from ._errors import ActorExitedError, SpecError, StartError, UsageError
from ._launch import launch
from ._nats._node import NodeConnection, open_node
from ._nats._placed import (
    Lease,
    Noted,
    Placer,
    StartSubtree,
    StopSubtree,
    SubtreeExited,
    SubtreeStarted,
    SubtreeStopped,
    exit_notice,
    open_leases,
)
from ._reason import ExitReason, killed, nodedown, shutdown
from ._registry import Registry, register, slot_at, unregister
from ._shutdown import KILL_GRACE_SECONDS, emit_exit, shutdown_seconds
from .events import Event
from .spec import AnyChildSpec, ClusterSpec, _spec_error

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

    from ._nats._node import NodeInfo
    from ._process import Process

#: Seconds an exit report to the owner may take, and how often it is tried.
_REPORT_TIMEOUT: Final = 2.0
_REPORT_TRIES: Final = 3

#: How long a lease outlives its last renewal (the bucket's TTL). Takeovers do not
#: wait for it (they compare-and-set over a holder that is down); it clears leases
#: whose holder and owner are both gone.
LEASE_TTL: Final = 30.0

_CHILD_SPEC: TypeAdapter[AnyChildSpec] = TypeAdapter(AnyChildSpec)


def _parent(path: str) -> str:
    """The path of the supervisor a placed child belongs to, on its owner's node."""
    return path.rpartition("/")[0] or "-"


@dataclass(eq=False)
class _Copy:
    """One placed child running here."""

    key: str
    owner: str
    path: str
    incarnation: int
    revision: int
    child: Child
    process: Process | None = None
    #: Its exit report, once it has ended.
    notice: SubtreeExited | None = None
    #: Resolved once it has ended here and its end was reported (or could not be).
    ended: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class SubtreeHost:
    """Runs the children other nodes place on this node (see the module docs)."""

    def __init__(
        self, conn: NodeConnection, leases: KeyValue, heartbeat: float, registry: Registry
    ) -> None:
        self.conn = conn
        self.leases = leases
        self.heartbeat = heartbeat
        #: Where the copies' children are found: the registry the node serves, so that
        #: other nodes reach them by path or registered name.
        self.registry = registry
        self.dead_letters = DeadLetters()
        #: The copies running here, by lease key.
        self.copies: dict[str, _Copy] = {}
        self._closed = False
        self._renewer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def open(self) -> None:
        conn = self.conn
        conn.add_operation(StartSubtree, self._start)
        conn.add_operation(StopSubtree, self._stop)
        conn.on_node_down(self._owner_down)
        conn.on_isolated(self._fence)
        self._renewer = asyncio.get_running_loop().create_task(
            self._renew(), name=f"lease renewal on {conn.name}"
        )

    async def close(self) -> None:
        """Stop every copy (each within its shutdown) and stop renewing."""
        self._closed = True
        await asyncio.gather(
            *(self._end(copy, shutdown(), kill=False) for copy in list(self.copies.values()))
        )
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=_REPORT_TIMEOUT * _REPORT_TRIES)
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer

    # -- start and stop ---------------------------------------------------------------

    async def _start(self, op: StartSubtree) -> SubtreeStarted:
        if self._closed:
            raise UsageError(f"node {self.conn.name}", "it is shutting down")
        old = self.copies.get(op.key)
        if old is not None:
            await self._end(old, killed("replaced by a newer placement"), kill=True)
        try:
            spec = _CHILD_SPEC.validate_python(op.spec)
        except (ValidationError, SpecError) as exc:
            # Each bad field by its path, as for a spec built in Python (pydantic's own
            # text names the union's internals: "tagged-union[function-after[...]]").
            if isinstance(exc, ValidationError):
                exc = _spec_error("spec", op.spec, exc)
            raise UsageError(
                f"placing {op.path!r} on node {self.conn.name}",
                f"its spec is not valid here ({exc.problem}); install the same code on every node",
            ) from None
        registry = self.registry
        child = Child(spec, op.path, None, registry, self.dead_letters)
        register(registry, child)
        copy = _Copy(op.key, op.owner, op.path, op.incarnation, op.revision, child)
        self.copies[op.key] = copy
        process = launch(child)
        copy.process = child.process = process
        process.add_exit_callback(self, lambda p: self._exited(copy, p))
        process.start()
        pending = process.pending_start()
        if pending is not None:
            try:
                await pending
            except ActorExitedError:
                raise  # stopped while it started: the stop's reply says so
            except StartError as exc:
                raise UsageError(f"starting {exc.actor!r}", str(exc.cause)) from exc
        child.incarnation = op.incarnation
        _log.emit(
            Event.ACTOR_STARTED,
            actor=op.path,
            supervisor=_parent(op.path),
            incarnation=op.incarnation,
            restart_count=child.restart_count,
        )
        return SubtreeStarted(node=self.conn.name)

    async def _stop(self, op: StopSubtree) -> SubtreeStopped:
        copy = self.copies.get(op.key)
        if copy is None or (op.incarnation is not None and op.incarnation != copy.incarnation):
            return SubtreeStopped(running=False)
        reason = killed(op.detail or "stop_subtree") if op.kill else shutdown(op.detail)
        await self._end(copy, reason, kill=op.kill)
        return SubtreeStopped(running=True, exited=copy.notice)

    async def _end(self, copy: _Copy, reason: ExitReason, *, kill: bool) -> None:
        """Stop (or kill) a copy and wait for its end, in bounded time unless ``infinity``."""
        process = copy.process
        if process is not None and process.reason is None:
            if kill:
                process.kill(reason.detail or "killed")
            else:
                process.request_stop(reason)
                if not await process.wait(shutdown_seconds(copy.child.spec)):
                    process.kill("shutdown timeout ran out")
            if not await process.wait(KILL_GRACE_SECONDS):
                process.abandon()
        await copy.ended

    # -- ends -------------------------------------------------------------------------

    def _exited(self, copy: _Copy, process: Process) -> None:
        reason = process.reason
        assert reason is not None
        if copy.child.process is process:
            copy.child.process = None
        if self.copies.get(copy.key) is copy:
            del self.copies[copy.key]
        # Its slots leave the served registry: this node no longer answers for its names.
        prefix = copy.path + "/"
        for path in self.registry.paths():
            if path == copy.path or path.startswith(prefix):
                slot = slot_at(self.registry, path)
                if slot is not None:
                    unregister(self.registry, slot)
        # Logged here too, where it ran: its owner logs the same end from its side.
        emit_exit(copy.child, reason, _parent(copy.path))
        if self._closed:
            # This node is leaving: for the owner that is the loss of a node (as
            # Erlang's links fire noconnection), not an orderly stop of its child.
            reason = nodedown(self.conn.name, "stopped")
        copy.notice = exit_notice(copy.key, copy.incarnation, self.conn.name, reason)
        self._spawn(self._report(copy, copy.notice))

    async def _report(self, copy: _Copy, notice: SubtreeExited) -> None:
        """Free the lease, then tell the owner (a few tries; it may be gone)."""
        try:
            try:
                await self.leases.delete(copy.key, last=copy.revision)
            except Exception:
                pass  # taken over, expired, or no server: the next taker compare-and-sets
            for _ in range(_REPORT_TRIES):
                try:
                    await self.conn.request_op(copy.owner, notice, Noted, timeout=_REPORT_TIMEOUT)
                    break
                except Exception:  # the owner is gone or slow: it learns by other means
                    if not self.conn.is_up(copy.owner):
                        break
        finally:
            if not copy.ended.done():
                copy.ended.set_result(None)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- stopping copies on our own ---------------------------------------------------

    def _fence(self, why: str) -> None:
        if self._closed:
            return
        for copy in list(self.copies.values()):
            self._spawn(self._end(copy, killed(f"fenced: {why}"), kill=True))

    def _owner_down(self, info: NodeInfo, how: str) -> None:
        if self._closed:
            return
        for copy in list(self.copies.values()):
            if copy.owner == info.name:
                self._spawn(self._end(copy, shutdown(f"owner {info.name} down"), kill=False))

    async def _renew(self) -> None:
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

        while True:
            await asyncio.sleep(self.heartbeat)
            for copy in list(self.copies.values()):
                if copy.process is None or copy.process.reason is not None:
                    continue
                value = Lease(
                    node=self.conn.name,
                    node_incarnation=self.conn.incarnation,
                    owner=copy.owner,
                    since=time.time(),
                )
                try:
                    copy.revision = int(
                        await self.leases.update(
                            copy.key, value.model_dump_json().encode(), last=copy.revision
                        )
                    )
                except (KeyWrongLastSequenceError, KeyNotFoundError):
                    # Another node holds it now: this copy must not go on.
                    self._spawn(self._end(copy, killed("lost its lease"), kill=True))
                except Exception:
                    pass  # no server now: fencing covers a long cut-off


@dataclass(eq=False)
class Membership:
    """A tree's part in its cluster: the node connection, its placements and its hosting."""

    conn: NodeConnection
    placer: Placer
    host: SubtreeHost
    _exit: contextlib.AsyncExitStack

    async def close(self) -> None:
        """Stop hosting (copies stopped in order), stop placing, leave the cluster."""
        try:
            await self.host.close()
            self.placer.close()
        finally:
            await self._exit.aclose()


async def join_cluster(
    cluster: ClusterSpec, tree: str, registry: Registry, dead_letters: DeadLetters
) -> Membership:
    """Connect this process as node ``cluster.node``, ready to place and host children.

    The node serves ``registry`` (the tree's, which hosted copies join) to the others,
    and counts casts to nodes that are down in ``dead_letters`` (the tree's).

    Raises:
        UsageError: no server could be reached.
    """
    stack = contextlib.AsyncExitStack()
    try:
        conn = await stack.enter_async_context(
            open_node(
                cluster.servers,
                name=cluster.node,
                labels=dict(cluster.labels),
                cluster=cluster.name,
                heartbeat=cluster.heartbeat,
                misses=cluster.misses,
                announce=False,
                tree=tree,
            )
        )
        conn.serve(registry, tree)
        conn.dead_letters = dead_letters
        leases = await open_leases(conn, LEASE_TTL)
        placer = Placer(conn, cluster, leases, tree)
        host = SubtreeHost(conn, leases, cluster.heartbeat, registry)
        placer.open()
        host.open()
        # Seen up by the others only now: whoever places a child here finds the operations.
        conn.announce()
    except BaseException:
        await stack.aclose()
        raise
    return Membership(conn, placer, host, stack)
