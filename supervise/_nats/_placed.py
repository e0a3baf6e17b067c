"""Placed children: a child of a local supervisor that runs on another node.

A child whose spec has a ``placement`` (in a tree with a ``cluster``) is started
as a `PlacedProcess`. To its parent it is one child like any other: it starts,
is ready, ends exactly once with an `ExitReason`, can be stopped and killed.
Its code runs on another node, under that node's `SubtreeHost`
(`supervise._subtree_host`), which reports its end back:

1. **Start.** The `Placer` picks a node (`Placement`: a pin, labels, a
   preference list; ``on_nodedown: wait`` first waits for the node the last
   incarnation lost), takes the placement's **lease** in the cluster's
   key-value bucket (create, or a compare-and-set over a holder that is down),
   and sends `StartSubtree` to that node. The reply comes once the subtree has
   started there (or failed to: a start failure here too).
2. **Run.** The hosting node renews the lease every heartbeat. Messages for a
   placed actor go to it through the node connection.
3. **End.** The host sends `SubtreeExited` with the reason (normal, shutdown,
   crash, killed); or the owner's node connection declares the node down and the
   process ends with reason ``nodedown`` (abnormal). Either way, once.

Stop and kill are `StopSubtree` requests; when the node cannot be reached, the
parent's shutdown protocol bounds the wait and abandons the process.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import _log
from .._errors import (
    CallDroppedError,
    NodeDownError,
    NotServedError,
    PlacementError,
    RemoteError,
    RemoteExitError,
    UsageError,
)
from .._mailbox import MailboxClosed, MailboxStatistics
from .._process import Call, Process
from .._reason import ExitKind, ExitReason, crash, killed, nodedown, shutdown
from ..events import Event
from ..spec import ChildSpec, OnNodedown, Placement
from ._remote import NodeOperation

if TYPE_CHECKING:
    from ._node import NodeConnection, NodeInfo
    from ._remote import RemoteActorRef

if TYPE_CHECKING:
    from collections.abc import Mapping

    from nats.js.kv import KeyValue

    from .._child import Child
    from ..spec import AnyChildSpec, ClusterSpec

#: Seconds a node may take to start a placed subtree (its ``on_start`` hooks) before
#: the start fails.
START_TIMEOUT: Final = 30.0

#: Seconds a stop request to a hosting node may take to be answered.
_REQUEST_TIMEOUT: Final = 5.0


def lease_bucket(cluster: str) -> str:
    """The key-value bucket holding a cluster's placement leases."""
    return f"sup_{cluster}_placements"


def lease_key(owner: str, path: str) -> str:
    """The lease key of the child at ``path`` of the tree on node ``owner``."""
    return f"{owner}/{path}"


async def open_leases(conn: NodeConnection, ttl: float) -> KeyValue:
    """The cluster's lease bucket, created if it does not exist yet.

    ``ttl``: how long a lease lives without renewal; a holder that died leaves
    its lease for that long at most (a takeover does not wait for it: it
    compare-and-sets over a holder that is down).
    """
    from nats.js.api import KeyValueConfig
    from nats.js.errors import BucketNotFoundError

    js = conn.nats.jetstream()
    bucket = lease_bucket(conn.cluster)
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        return await js.create_key_value(KeyValueConfig(bucket=bucket, ttl=ttl, history=1))


class Lease(BaseModel):
    """A lease's value: which node holds the placement, for which owner incarnation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node: str
    node_incarnation: str
    owner: str
    since: float


# -- node operations -----------------------------------------------------------------


class StartSubtree(NodeOperation):
    """Owner -> host: run this child spec (an actor or a subtree) and report its end."""

    op_name: ClassVar[str] = "start_subtree"
    #: The lease key (also the placement's identity).
    key: str = Field(max_length=1024)
    owner: str = Field(max_length=64)
    #: The child's path in the owner's tree, and its incarnation there.
    path: str = Field(max_length=1024)
    incarnation: int = Field(ge=1)
    #: The child's spec as JSON (without its placement).
    spec: dict[str, Any]
    #: The lease revision the owner wrote for this host; the host renews from it.
    revision: int = Field(ge=1)


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SubtreeStarted(_Result):
    """Host -> owner: the subtree runs (its start hooks returned)."""

    node: str


class StopSubtree(NodeOperation):
    """Owner -> host: stop (or kill) the copy of a placement, whatever its incarnation."""

    op_name: ClassVar[str] = "stop_subtree"
    key: str = Field(max_length=1024)
    #: Only this incarnation (None: whichever runs).
    incarnation: int | None = None
    kill: bool = False
    detail: str | None = Field(default=None, max_length=1024)


class SubtreeExited(NodeOperation):
    """Host -> owner: the placed child has ended there, with this reason."""

    op_name: ClassVar[str] = "subtree_exited"
    key: str = Field(max_length=1024)
    incarnation: int = Field(ge=1)
    node: str = Field(max_length=64)
    reason: Literal["normal", "shutdown", "crash", "killed", "nodedown"]
    detail: str | None = Field(default=None, max_length=4096)
    exc_type: str | None = Field(default=None, max_length=512)
    exc_message: str | None = Field(default=None, max_length=4096)


class SubtreeStopped(_Result):
    """Host -> owner: the copy has ended (``running`` False: none was running).

    ``exited`` repeats its exit report, so a stop never waits on that report alone.
    """

    running: bool
    exited: SubtreeExited | None = None


class Noted(_Result):
    """The owner took note of an exit."""


def exit_notice(key: str, incarnation: int, node: str, reason: ExitReason) -> SubtreeExited:
    """The `SubtreeExited` for an end on node ``node``."""
    exc = reason.exception
    return SubtreeExited(
        key=key,
        incarnation=incarnation,
        node=node,
        reason=reason.kind.value,
        detail=reason.detail,
        exc_type=None if exc is None else type(exc).__qualname__,
        exc_message=None if exc is None else str(exc)[:4096],
    )


def reason_of(notice: SubtreeExited, path: str) -> ExitReason:
    """The `ExitReason` a `SubtreeExited` reports; a remote exception becomes `RemoteExitError`."""
    exception: BaseException | None = None
    if notice.exc_type is not None:
        exception = RemoteExitError(path, notice.node, notice.exc_type, notice.exc_message or "")
    return ExitReason(ExitKind(notice.reason), notice.detail, exception)


# -- the owner's side ------------------------------------------------------------------


class Placer:
    """A tree's placements: picks nodes, holds leases, and ends processes whose node is lost.

    One per tree with a ``cluster``, reached by `supervise._launch` through the
    tree's registry (``registry.placer``).
    """

    def __init__(
        self, conn: NodeConnection, cluster: ClusterSpec, leases: KeyValue, tree: str
    ) -> None:
        self.conn = conn
        self.node: str = conn.name
        self.cluster = cluster
        self.leases = leases
        self.tree = tree
        #: The running placed processes, by lease key.
        self.running: dict[str, PlacedProcess] = {}
        #: The node each placed child last ran on, and whether it lost it, by path.
        self.last_node: dict[str, str] = {}
        self.lost: dict[str, str] = {}
        #: Nodes that said they are leaving (by the incarnation that said it).
        self.leaving: dict[str, str] = {}
        self._opened_at = time.monotonic()
        self._closed = False

    def open(self) -> None:
        """Serve `SubtreeExited` and watch for nodes going down."""
        self.conn.add_operation(SubtreeExited, self._on_exited)
        self.conn.on_node_down(self._on_node_down)
        self.conn.on_isolated(self._on_isolated)

    def close(self) -> None:
        """Stop following the cluster (the connection outlives the tree by a moment)."""
        self._closed = True

    def launch(self, child: Child, placement: Placement) -> Process:
        return PlacedProcess(child, self, placement)

    # -- exits ------------------------------------------------------------------------

    async def _on_exited(self, notice: SubtreeExited) -> Noted:
        process = self.running.get(notice.key)
        if process is not None and process.number == notice.incarnation:
            if notice.reason == "nodedown":  # its node is leaving: place nothing there
                self.lost[process.path] = notice.node
                info = self.conn.nodes().get(notice.node)
                if info is not None:
                    self.leaving[notice.node] = info.incarnation
            process.remote_ended(notice)
        return Noted()

    def _on_node_down(self, info: NodeInfo, how: str) -> None:
        if self._closed:
            return
        for process in list(self.running.values()):
            if process.node == info.name:
                self.lost[process.path] = info.name
                process.node_lost(nodedown(info.name, how))

    def _on_isolated(self, how: str) -> None:
        """This node was cut off (or frozen) for misses x heartbeat: the hosts have
        stopped its placed children as orphans by now, and their reports could not
        arrive; each ends with ``nodedown`` (detail: ``isolated``) and is restarted
        as its supervisor decides, once nodes can be reached again."""
        if self._closed:
            return
        for process in list(self.running.values()):
            if process.node is not None:
                process.node_lost(nodedown(process.node, f"isolated ({how})"))

    # -- choosing a node --------------------------------------------------------------

    def _up(self) -> dict[str, Mapping[str, str]]:
        """The nodes up now, this one included, with their labels (not those leaving)."""
        leaving = self.leaving
        up = {
            name: info.labels
            for name, info in self.conn.nodes().items()
            if info.up and leaving.get(name) != info.incarnation
        }
        up[self.node] = self.conn.labels
        return up

    def _eligible(self, placement: Placement) -> list[str]:
        """The nodes up now that the placement allows, best first."""
        up = self._up()
        if placement.node is not None:
            return [placement.node] if placement.node in up else []
        if placement.prefer is not None:
            return [name for name in placement.prefer if name in up]
        wanted = (placement.labels or {}).items()
        matching = [n for n, labels in up.items() if all(labels.get(k) == v for k, v in wanted)]
        load = dict.fromkeys(matching, 0)
        for process in self.running.values():
            if process.node in load:
                load[process.node] += 1
        return sorted(matching, key=lambda n: (load[n], n))

    def _ideal(self, placement: Placement) -> str | None:
        """The node this placement wants most, if a single one (a pin, prefer's first)."""
        if placement.node is not None:
            return placement.node
        if placement.prefer is not None:
            return placement.prefer[0]
        return None

    async def choose(self, path: str, placement: Placement) -> str:
        """The node to start the child at ``path`` on.

        Raises:
            PlacementError: no node the placement allows is up.
        """
        lost = self.lost.pop(path, None)
        waits = lost is not None and placement.policy is OnNodedown.WAIT
        if waits and lost is not None and await self._wait_back(lost, placement.grace):
            return lost
        eligible = self._eligible(placement)
        ideal = self._ideal(placement)
        settle = self._opened_at + self.cluster.nodedown_after - time.monotonic()
        if settle > 0 and (not eligible or eligible[0] != ideal):
            # Just connected, the node view may still be filling: until every live
            # node has had time to be heard from, wait for the ideal one if it was
            # never seen (one seen already and now down is not waited for), or for
            # any if none is eligible.
            if ideal is not None and ideal not in self.conn.nodes():
                await self._wait_up(ideal, settle)
            elif not eligible:
                await asyncio.sleep(settle)
            eligible = self._eligible(placement)
        if not eligible:
            up = sorted(self._up())
            raise PlacementError(
                path,
                f"no node its placement allows is up ({_describe(placement)}; nodes up: "
                f"{', '.join(up) or 'none'}); start one (supervise node --name NAME) or "
                f"widen the placement",
            )
        return eligible[0]

    async def start_on(self, node: str, op: StartSubtree) -> None:
        """Ask ``node`` to start a placed child; wait until it runs there.

        A node that has just come up heartbeats a moment before it hosts: an
        unknown operation is asked again, every heartbeat, for ``misses x
        heartbeat`` seconds.

        Raises:
            RemoteError: the node failed to start it (or does not host children).
            NodeDownError: the node was lost meanwhile.
        """
        deadline = time.monotonic() + self.cluster.nodedown_after
        while True:
            try:
                await self.conn.request_op(node, op, SubtreeStarted, timeout=START_TIMEOUT)
                return
            except RemoteError as exc:
                if exc.code != "unknown_op" or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(self.cluster.heartbeat)

    async def _wait_back(self, node: str, timeout: float) -> bool:
        """Wait up to ``timeout`` for ``node`` to be up and not leaving; whether it is."""
        deadline = time.monotonic() + timeout
        while node not in self._up():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if not self.conn.is_up(node):
                await self._wait_up(node, left)
            else:  # up, but leaving: its next incarnation is what we wait for
                await asyncio.sleep(min(left, self.cluster.heartbeat))
        return True

    async def _wait_up(self, node: str, timeout: float) -> bool:
        if node == self.node:
            return True
        try:
            await self.conn.wait_node_up(node, timeout)
        except TimeoutError:
            return False
        return True

    # -- leases -----------------------------------------------------------------------

    async def acquire(self, key: str, path: str, node: str) -> int:
        """Take the lease of ``key`` for ``node``; its revision.

        A lease held by a node that is down (or by an older incarnation of a
        node) is taken over by compare-and-set on the revision read; one held by
        a live copy is stopped first (a copy left from an earlier owner
        incarnation, or a stop that did not arrive).

        Raises:
            PlacementError: another owner took the lease meanwhile (the
                compare-and-set lost), or the live copy would not stop.
        """
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

        info = self.conn.nodes().get(node)
        lease = Lease(
            node=node,
            node_incarnation=self.conn.incarnation if info is None else info.incarnation,
            owner=self.node,
            since=time.time(),
        )
        value = lease.model_dump_json().encode()
        for attempt in range(2):
            try:
                entry = await self.leases.get(key)
            except KeyNotFoundError:
                try:
                    return int(await self.leases.create(key, value))
                except KeyWrongLastSequenceError:
                    raise PlacementError(path, _TAKEN) from None
            holder = _holder(entry.value)
            if attempt == 0 and holder is not None and self._alive(holder):
                # A live copy: one left by an earlier incarnation of this owner, or
                # whose stop did not arrive. Stopping it deletes its lease.
                try:
                    await self.conn.request_op(
                        holder.node,
                        StopSubtree(key=key, kill=True, detail="taken over"),
                        SubtreeStopped,
                        timeout=_REQUEST_TIMEOUT,
                    )
                except (NodeDownError, NotServedError):
                    pass  # it is gone after all: take the lease over below
                except Exception as exc:
                    raise PlacementError(
                        path,
                        f"node {holder.node} holds its lease and did not stop its copy "
                        f"({type(exc).__name__}: {exc}); the restart will try again",
                    ) from exc
                else:
                    continue
            # Its holder is down (or did not let go): compare-and-set over the
            # revision read. The old holder's next renewal fails, and it stops its copy.
            try:
                return int(await self.leases.update(key, value, last=entry.revision))
            except KeyWrongLastSequenceError:
                raise PlacementError(path, _TAKEN) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _alive(self, holder: Lease) -> bool:
        if holder.node == self.node:
            return holder.node_incarnation == self.conn.incarnation
        info = self.conn.nodes().get(holder.node)
        return info is not None and info.up and info.incarnation == holder.node_incarnation


_TAKEN: Final = (
    "its lease changed while it was being taken (another copy renewed or took it: the "
    "compare-and-set lost); the restart will try again"
)


def _holder(value: bytes | None) -> Lease | None:
    if not value:
        return None
    try:
        return Lease.model_validate_json(value)
    except ValueError:
        return None


def _describe(placement: Placement) -> str:
    if placement.node is not None:
        return f"node {placement.node}"
    if placement.prefer is not None:
        return f"prefer [{', '.join(placement.prefer)}]"
    labels = placement.labels or {}
    return "labels {" + ", ".join(f"{k}: {v}" for k, v in labels.items()) + "}"


def wire_spec(spec: AnyChildSpec) -> dict[str, Any]:
    """A child spec as JSON for its host: without its placement, restarted by nobody there."""
    data: dict[str, Any] = json.loads(spec.model_dump_json(exclude={"placement"}))
    return data


class RemoteMailbox:
    """What refs put a placed actor's messages in: each goes on to its node, in order.

    Casts are published (at most once); a call is a request whose outcome
    resolves the caller's future: the reply, or `NodeDownError`, `RemoteError`
    (the handler raised there) and the like. Until the actor runs on its node,
    messages wait here and are sent in order once it does.
    """

    __slots__ = ("_held", "_process", "_ref", "closed", "high_water", "parked", "plain_futures")

    def __init__(self, process: PlacedProcess) -> None:
        self._process = process
        self._ref: RemoteActorRef | None = None
        self._held: list[object] | None = []
        self.closed = False
        self.high_water = 0
        #: Never set: the consumer is on the actor's node, never a task calling here.
        self.parked: asyncio.Future[None] | None = None
        #: A caller makes its reply future with its loop's ``create_future()``.
        self.plain_futures: bool = False

    def __len__(self) -> int:
        return len(self._held or ())

    def open(self, ref: RemoteActorRef) -> None:
        """The actor runs at ``ref``: send what waited."""
        self._ref = ref
        held, self._held = self._held, None
        for item in held or ():
            self._send(item)

    def close(self, reason: ExitReason) -> None:
        """The incarnation ended: fail the calls that waited, refuse the rest.

        What waited here is dead-lettered (``actor_stopped``), as what is left in
        an in-process actor's mailbox when it ends.
        """
        self.closed = True
        held, self._held = self._held, None
        if not held:
            return
        path = self._process.path
        dead_letters = self._process.child.dead_letters
        for item in held:
            if isinstance(item, Call):
                if not item.future.done():
                    item.future.set_exception(CallDroppedError(path, reason))
                dead_letters.add(path, item.message, "actor_stopped")
            else:
                dead_letters.add(path, item, "actor_stopped")

    def put_nowait(self, item: object) -> None:
        if self.closed:
            raise MailboxClosed
        if self._held is not None:
            self._held.append(item)
            self.high_water = max(self.high_water, len(self._held))
            return
        self._send(item)

    async def put(self, item: object) -> None:
        self.put_nowait(item)

    def put_control(self, item: object) -> None:
        self.put_nowait(item)

    def statistics(self) -> MailboxStatistics:
        return MailboxStatistics(
            size=len(self), capacity=None, waiting_senders=0, closed=self.closed
        )

    def _send(self, item: object) -> None:
        ref = self._ref
        assert ref is not None
        if isinstance(item, Call):
            task = asyncio.get_running_loop().create_task(_forward_call(ref, item))
        else:
            task = asyncio.get_running_loop().create_task(ref.cast(item))  # type: ignore[arg-type]
        task.add_done_callback(_retrieve)


#: The longest a forwarded call waits for its node; the caller's own timeout is
#: usually shorter and ends its wait first.
_CALL_BOUND: Final = 3600.0


async def _forward_call(ref: RemoteActorRef, call: Call) -> None:
    future = call.future
    try:
        reply = await ref.call(call.message, timeout=_CALL_BOUND)  # type: ignore[call-overload]
    except Exception as exc:
        if not future.done():
            future.set_exception(exc)
        return
    if not future.done():
        future.set_result(reply)


class PlacedProcess(Process):
    """One incarnation of a placed child: it runs on another node.

    ``node`` is where (None until chosen). The process ends once: with the
    reason its host reports, with ``nodedown`` when that node is lost, or as
    abandoned when a stop or kill is not answered in time.
    """

    __slots__ = ("_driver", "_ended", "_placer", "key", "mailbox", "node", "number", "placement")

    def __init__(self, child: Child, placer: Placer, placement: Placement) -> None:
        super().__init__(child)
        self._placer = placer
        self.placement = placement
        self.key = lease_key(placer.node, child.path)
        #: The node it runs on, once chosen.
        self.node: str | None = None
        self._ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._driver: asyncio.Task[None] | None = None
        #: This incarnation's number (the slot counts it once it has started).
        self.number = child.incarnation + 1
        #: A placed actor's messages go on to its node from here (None for a subtree).
        self.mailbox: RemoteMailbox | None = (
            RemoteMailbox(self) if isinstance(child.spec, ChildSpec) else None
        )

    def start(self) -> None:
        self._driver = asyncio.get_running_loop().create_task(
            self._place(), name=f"place {self.path}"
        )

    async def _place(self) -> None:
        placer = self._placer
        incarnation = self.number
        try:
            node = await placer.choose(self.path, self.placement)
            revision = await placer.acquire(self.key, self.path, node)
            self.node = node
            placer.running[self.key] = self
            await placer.start_on(
                node,
                StartSubtree(
                    key=self.key,
                    owner=placer.node,
                    path=self.path,
                    incarnation=incarnation,
                    spec=wire_spec(self.child.spec),
                    revision=revision,
                ),
            )
        except asyncio.CancelledError:
            self._finish(self._kill_reason or shutdown())
            raise
        except Exception as exc:
            if self.reason is None:
                self._fail_started(exc)
                self._finish(crash(exc))
            return
        if self.reason is not None:
            return  # its node was lost, or it ended there, while it started
        previous = placer.last_node.get(self.path)
        placer.last_node[self.path] = node
        fields = {"actor": self.path, "supervisor": self._parent_path(), "node": node}
        if previous is not None and previous != node:
            _log.emit(Event.SUBTREE_RELOCATED, from_node=previous, **fields)
        _log.emit(Event.SUBTREE_PLACED, incarnation=incarnation, **fields)
        if self.mailbox is not None:
            self.mailbox.open(placer.conn.remote_ref(self.path, node))
        self._set_ready()

    def _parent_path(self) -> str:
        supervisor = self.child.supervisor
        return "-" if supervisor is None else supervisor.path

    # -- ends -------------------------------------------------------------------------

    # -- what a SupervisorRef asks of a supervisor ----------------------------------------

    def start_child_now(self, arg: object) -> None:
        """Never at once: `request` says why."""
        return None

    async def request(self, operation: object) -> Any:
        """Supervisor operations are not forwarded to a placed subtree's node.

        Raises:
            UsageError: always, naming the node and what to do instead.
        """
        raise UsageError(f"supervisor {self.path!r}", self._not_forwarded())

    def statistics(self) -> Any:
        """As `request`."""
        raise UsageError(f"supervisor {self.path!r}", self._not_forwarded())

    def _not_forwarded(self) -> str:
        return (
            f"it runs on node {self.node or '(being placed)'}, and supervisor operations "
            f"are not forwarded to a placed subtree; reach its actors by registered name, "
            f"or restart the whole subtree through its parent (restart_child)"
        )

    def stop_after_queued(self, reason: ExitReason) -> None:
        """``ActorRef.stop``: the stop goes to its node after the messages sent before it."""
        self.request_stop(reason)

    def _release(self, reason: ExitReason) -> None:
        if self.mailbox is not None:
            self.mailbox.close(reason)

    def remote_ended(self, notice: SubtreeExited) -> None:
        """Its host reported the end."""
        self._finish(reason_of(notice, self.path))

    def node_lost(self, reason: ExitReason) -> None:
        """Its node is down: the end, with reason ``nodedown``."""
        self._finish(reason)

    def _finish(self, reason: ExitReason) -> None:
        if self.reason is not None:
            return
        placer = self._placer
        if placer.running.get(self.key) is self:
            del placer.running[self.key]
        driver = self._driver
        if driver is not None and not driver.done() and driver is not asyncio.current_task():
            driver.cancel()
        super()._finish(reason)
        if not self._ended.done():
            self._ended.set_result(None)

    # -- stop and kill ----------------------------------------------------------------

    def request_stop(self, reason: ExitReason) -> None:
        self._ask(StopSubtree(key=self.key, detail=reason.detail))

    def kill(self, detail: str) -> None:
        if self._kill_reason is None:
            self._kill_reason = killed(detail)
        self._ask(StopSubtree(key=self.key, kill=True, detail=detail))

    def _ask(self, stop: StopSubtree) -> None:
        if self.reason is not None:
            return
        if self.node is None:
            # Still choosing a node or taking the lease: nothing runs anywhere yet.
            driver = self._driver
            if driver is not None and not driver.done():
                driver.cancel()
            else:
                self._finish(self._kill_reason or shutdown(stop.detail))
            return
        # The start request may still be on its way: its host stops a copy that is
        # starting, too.
        self._send_stop(stop)

    def _send_stop(self, stop: StopSubtree) -> None:
        node = self.node
        assert node is not None
        stop = stop.model_copy(update={"incarnation": self.number})
        task = asyncio.get_running_loop().create_task(self._request_stop(node, stop))
        task.add_done_callback(_retrieve)

    async def _request_stop(self, node: str, stop: StopSubtree) -> None:
        try:
            answer = await self._placer.conn.request_op(
                node, stop, SubtreeStopped, timeout=_REQUEST_TIMEOUT
            )
        except NodeDownError as exc:
            self.node_lost(nodedown(node, exc.how))
            return
        except Exception:
            return  # unanswered: the shutdown protocol's timeout decides
        exited = answer.exited
        if exited is not None and exited.incarnation == self.number:
            self.remote_ended(exited)
        elif not answer.running:
            # Nothing ran there any more: its exit report was lost or is under way.
            self._finish(self._kill_reason or shutdown(stop.detail))

    async def wait(self, timeout: float | None) -> bool:
        if self.reason is not None:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self._ended), timeout)
        except TimeoutError:
            return self.reason is not None
        return True


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
