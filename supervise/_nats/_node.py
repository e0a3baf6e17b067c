"""`NodeConnection`: one node's place in a cluster of processes joined by a NATS server.

A node is one OS process with one connection, a name (unique in its cluster) and labels.
From its own event loop it publishes a heartbeat every ``heartbeat`` seconds, so a node
whose loop is frozen (SIGSTOP, a blocking call) stops heartbeating and counts as down,
like a dead one. It watches every other node and declares one down on the first of:

- ``disconnect``: the server's advisory that the node's connection closed, confirmed by
  a `Ping` that nothing answers (milliseconds after a crash);
- ``heartbeat``: no heartbeat for ``misses`` x its interval (a frozen or cut-off node);
- ``no_responders``: a request to it found nothing subscribed, and a `Ping` confirms;
- ``restarted``: a heartbeat from a new incarnation of the same name.

Declaring a node down fails every request pending to it at once with `NodeDownError`,
delivers ``Down(reason="nodedown")`` to every monitor on its actors, runs the
``on_node_down`` callbacks and logs ``node_down``. While this node has lost the server
itself it declares nobody down; once reconnected, every node gets a fresh grace period.
After that grace (``misses`` x interval, two reconnection waits and `RECONNECT_GRACE`),
a node still silent is declared down. If this node loses the server, or its own loop
stalls, for ``misses`` x ``heartbeat``, it logs ``node_isolated`` and runs the
``on_isolated`` callbacks (the others will have declared it down: a node holding placed
work stops it there).

The node serves the registered names of a tree (`serve`): calls and casts from other
nodes enter the actors' mailboxes in the order they arrive, and replies go back as JSON.
Anything on its subjects that is oversized or not a valid envelope is logged
(``message_rejected``) and dropped; the node carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import nats.errors
from nats.aio.client import Client as NatsClient
from pydantic import BaseModel, ValidationError

from .. import _log
from .._deadlines import Expired, call_timeouts
from .._errors import (
    ArgumentError,
    CallTimeoutError,
    MessageTypeError,
    NodeDownError,
    NotServedError,
    RemoteError,
    UsageError,
    WireError,
)
from ..events import Event
from ._remote import (
    DemonitorAck,
    DemonitorRequest,
    MonitorAck,
    MonitorRequest,
    NodeOperation,
    Ping,
    Pong,
    RemoteActorRef,
    RemoteMonitor,
    reply_adapter,
)
from ._serving import Serving
from ._wire import (
    MAX_MESSAGE_BYTES,
    DownNotice,
    Failure,
    Heartbeat,
    Here,
    OpReply,
    OpRequest,
    Reply,
    SendOut,
    Whereis,
    check_name,
    encode,
    token,
    type_name,
)

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

    from .._dead_letters import DeadLetters
    from .._monitor import Down

ResultT = TypeVar("ResultT", bound=BaseModel)
OpT = TypeVar("OpT", bound=NodeOperation)

_NO_RESPONDERS = "503"
#: Seconds added to every node's deadline once this node is back (reconnected, or its
#: loop running again), beyond misses x interval: time for the others to reconnect.
RECONNECT_GRACE = 1.0
#: Ways of going down that say its connection is gone: a heartbeat alone does not bring
#: such a node back (it may have been published before), an answer to a ping does.
_CONNECTION_LOST = frozenset({"disconnect", "no_responders"})
#: The disconnect advisory's payload is the server's; bounded all the same.
_ADVISORY_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class NodeInfo:
    """What this node knows of another node.

    Attributes:
        name: its node name.
        labels: the labels it advertises in its heartbeats.
        incarnation: the id of its current (or last) process.
        up: whether it is up now.
        down_how: how it was last found down (``disconnect``, ``heartbeat``,
            ``no_responders``, ``restarted``), or None if never.
    """

    name: str
    labels: Mapping[str, str]
    incarnation: str
    up: bool
    down_how: str | None


class _Peer:
    """Another node, as this node follows it."""

    __slots__ = (
        "deadline",
        "down_how",
        "incarnation",
        "interval",
        "labels",
        "name",
        "pending",
        "reviving",
        "up",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.labels: dict[str, str] = {}
        self.incarnation = ""
        self.interval = 0.0
        self.deadline = 0.0
        self.up = False
        self.down_how: str | None = None
        #: A ping is checking whether it is back (after its connection was seen gone).
        self.reviving = False
        #: Requests waiting for its answer, with what they were for.
        self.pending: dict[asyncio.Future[Msg], str] = {}

    def info(self) -> NodeInfo:
        return NodeInfo(self.name, dict(self.labels), self.incarnation, self.up, self.down_how)


class NodeConnection(Serving):
    """One node's connection to the cluster (see the module docs); from `open_node`."""

    def __init__(
        self,
        *,
        name: str,
        cluster: str,
        labels: Mapping[str, str],
        heartbeat: float,
        misses: int,
        max_message_bytes: int,
        tree: str = "-",
    ) -> None:
        super().__init__(name=name, cluster=cluster, tree=tree, max_message_bytes=max_message_bytes)
        self.cluster = cluster
        self.labels = dict(labels)
        self.heartbeat = heartbeat
        self.misses = misses
        #: A fresh id for this process: a restarted node is a new incarnation.
        self.incarnation = secrets.token_hex(8)
        self._client_prefix = f"supervise:{cluster}:"
        self._peers: dict[str, _Peer] = {}
        self._inbox = ""
        self._replies: dict[str, asyncio.Future[Msg]] = {}
        self._ids = itertools.count(1)
        self._monitors: dict[int, RemoteMonitor] = {}
        self._up_callbacks: list[Callable[[NodeInfo], object]] = []
        self._down_callbacks: list[Callable[[NodeInfo, str], object]] = []
        self._isolated_callbacks: list[Callable[[str], object]] = []
        self._up_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._connected = True
        self._lost_at: float | None = None
        self._isolated = False
        self._background: list[asyncio.Task[None]] = []
        self._beating: asyncio.Task[None] | None = None
        #: This node's own subjects (op, at, down), dropped if it must leave its name.
        self._own_subs: list[Subscription] = []
        #: Where casts to a node that is down are counted (the tree's, set when a tree
        #: joins its cluster); None: they are only logged.
        self.dead_letters: DeadLetters | None = None
        #: Set if another process holds the name and this one left it (`_name_clash`).
        self._refused: asyncio.Future[UsageError] = asyncio.get_running_loop().create_future()
        self.add_operation(Ping, self._on_ping)
        self.add_operation(MonitorRequest, self._on_monitor_request)
        self.add_operation(DemonitorRequest, self._on_demonitor_request)

    # -- the connection ---------------------------------------------------------------

    @property
    def reconnect_wait(self) -> float:
        """Seconds between reconnection attempts to the server."""
        return min(2.0, max(0.05, self.heartbeat))

    async def _connect(
        self, servers: str | Sequence[str], connect_timeout: float, announce: bool
    ) -> None:
        # The first connection is tried twice per server (and bounded in time); once
        # connected, reconnection is tried for ever (nats-py reads the option then).
        nc = NatsClient()
        try:
            async with asyncio.timeout(connect_timeout):
                await nc.connect(
                    servers=servers if isinstance(servers, str) else list(servers),
                    name=f"{self._client_prefix}{self.name}",
                    connect_timeout=max(1, round(connect_timeout)),
                    reconnect_time_wait=self.reconnect_wait,  # type: ignore[arg-type]
                    max_reconnect_attempts=1,
                    allow_reconnect=True,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    error_cb=self._on_error,
                    # Every subject is built here from checked names and escaped tokens.
                    skip_subject_validation=True,
                )
        except Exception as exc:
            with contextlib.suppress(Exception):
                await nc.close()
            problem = "no answer in time" if isinstance(exc, TimeoutError) else str(exc) or "-"
            raise UsageError(
                f"node {self.name!r}",
                f"cannot connect to NATS at {servers!r} ({type(exc).__name__}: {problem}); "
                f"start nats-server there or pass the right URL",
            ) from exc
        nc.options["max_reconnect_attempts"] = -1
        self._nats = nc
        nc = self._nats
        prefix, me = self._prefix, self.name
        self._inbox = f"_INBOX.{secrets.token_hex(10)}."
        await nc.subscribe(f"{self._inbox}*", cb=self._on_reply)
        await self._check_name_free(connect_timeout)
        await nc.subscribe(f"{prefix}hb.*", cb=self._on_heartbeat)
        self._own_subs = [
            await nc.subscribe(f"{prefix}op.{me}", cb=self._on_op),
            await nc.subscribe(f"{prefix}at.{me}.>", cb=self._on_send),
            await nc.subscribe(f"{prefix}down.{me}", cb=self._on_down_notice),
        ]
        await nc.subscribe("$SYS.ACCOUNT.*.DISCONNECT", cb=self._on_disconnect_advisory)
        await self._settle(connect_timeout)
        loop = asyncio.get_running_loop()
        self._background = [
            loop.create_task(self._send_outbox(), name=f"supervise node {me}: outbox"),
            loop.create_task(self._follow_names(), name=f"supervise node {me}: names"),
        ]
        if announce:
            self.announce()

    async def _check_name_free(self, timeout: float) -> None:
        """Refuse to join as a second node of this name, as Erlang's epmd refuses a node
        name in use: two processes would share its subjects (and its heartbeats would
        alternate between incarnations). A node of the name answers a ping on its
        subjects; nothing subscribed there is a no-responders answer.

        Raises:
            UsageError: a node of this name answered, or something subscribed to its
                subjects kept silent for ``timeout`` (a frozen process, or a connection
                the server has not yet seen closed).
        """
        subject = f"{self._prefix}op.{self.name}"
        payload = encode(subject, OpRequest(op=Ping.op_name, sender=self.name, body={}))
        where = f"node {self.name!r}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                msg = await self._request(
                    None, subject, payload, f"ping {self.name}", self.misses * self.heartbeat, None
                )
            except CallTimeoutError:
                if loop.time() < deadline:
                    continue  # a process killed just now: the server may not have seen it yet
                raise UsageError(
                    where,
                    f"something holds this node name in cluster {self.cluster!r} but did not "
                    f"answer a ping in {timeout:g} s (a frozen node, or one whose connection "
                    f"the server has not seen closed yet); stop that process, or give this "
                    f"node another name",
                ) from None
            if self._no_responders(msg):
                return
            held_by = "unknown"
            with contextlib.suppress(WireError, ValidationError):
                answer = self._answer(subject, msg)
                if isinstance(answer, OpReply):
                    held_by = Pong.model_validate(answer.body).incarnation
            raise UsageError(
                where,
                f"a node of that name is running already in cluster {self.cluster!r} "
                f"(incarnation {held_by}); stop it first, or give this node another name",
            )

    async def _settle(self, timeout: float) -> None:
        """Return once the server has read every command this connection sent so far
        (see `settle`).

        Raises:
            UsageError: not within ``timeout`` (an overloaded server).
        """
        try:
            await settle(self.nats, timeout)
        except TimeoutError:
            raise UsageError(
                f"node {self.name!r}",
                f"the NATS server did not confirm this node's subscriptions in {timeout:g} s; "
                f"check that the server is not overloaded",
            ) from None

    def announce(self) -> None:
        """Start heartbeating (the others see this node up) and watching the other nodes.

        `open_node` does it at once unless given ``announce=False``: then register the
        node operations first (`add_operation`), so that no node that sees this one up
        finds them missing, and call this.
        """
        if self._beating is None:
            self._beating = asyncio.get_running_loop().create_task(
                self._beat(), name=f"supervise node {self.name}: heartbeat"
            )
            self._background.append(self._beating)

    async def _close(self) -> None:
        self._closing = True
        for task in [*self._background, *self._tasks]:
            task.cancel()
        for task in [*self._background, *self._tasks]:
            with contextlib.suppress(BaseException):
                await task
        if self._unwatch is not None:
            self._unwatch()
        closed = UsageError(f"node {self.name!r}", "the node's connection was closed")
        for future in self._replies.values():
            if not future.done():
                future.set_exception(closed)
        nc, self._nats = self._nats, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.flush(), 1.0)
            await nc.close()

    async def _on_disconnected(self) -> None:
        self._connected = False
        self._lost_at = asyncio.get_running_loop().time()

    async def _on_reconnected(self) -> None:
        self._connected = True
        self._lost_at = None
        self._isolated = False
        self._grace_everyone()

    async def _on_error(self, exc: Exception) -> None:
        # Reconnects report here too; the detector and the callbacks above say what matters.
        pass

    def _grace_everyone(self) -> None:
        """Give every node a fresh deadline: after this node was cut off or frozen, their
        missing heartbeats say nothing about them. The others reconnect on their own
        schedule (and machine), hence the reconnection waits and `RECONNECT_GRACE`."""
        now = asyncio.get_running_loop().time()
        extra = 2 * self.reconnect_wait + RECONNECT_GRACE
        for peer in self._peers.values():
            if peer.up:
                peer.deadline = now + self.misses * peer.interval + extra

    # -- heartbeats and the failure detector --------------------------------------------

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.heartbeat
        tick = interval / 2
        stall = self.misses * interval
        subject = f"{self._prefix}hb.{self.name}"
        next_beat = last = loop.time()
        for seq in itertools.count():
            now = loop.time()
            if now - last > stall:
                # This loop did not run for misses x heartbeat: the others have declared
                # this node down, and their heartbeats went unread meanwhile.
                self._isolate("frozen", now - last)
                self._grace_everyone()
            last = now
            if now >= next_beat:
                beat = Heartbeat(
                    node=self.name,
                    incarnation=self.incarnation,
                    seq=seq,
                    interval=interval,
                    labels=self.labels,
                )
                try:
                    await self.nats.publish(subject, encode(subject, beat))
                except (nats.errors.Error, OSError):
                    pass  # cut off: the reconnect buffer is full; the detector knows
                next_beat = now + interval
            if self._connected:
                for peer in list(self._peers.values()):
                    if peer.up and now > peer.deadline:
                        self._declare_down(peer, "heartbeat")
            elif self._lost_at is not None and now - self._lost_at > stall:
                self._isolate("disconnected", now - self._lost_at)
            await asyncio.sleep(tick)

    def _isolate(self, how: str, seconds: float) -> None:
        if how == "disconnected" and self._isolated:
            return
        self._isolated = how == "disconnected"
        self._node_event(Event.NODE_ISOLATED, how=how, seconds=round(seconds, 3))
        for callback in list(self._isolated_callbacks):
            callback(how)

    def _name_clash(self, other: str) -> None:
        """Another process heartbeats under this node's name: the two joined within one
        round trip, so neither start check saw the other. Both see it; the one with the
        greater incarnation leaves the name to the other (so one keeps it, as Erlang's
        global keeps one of two clashing names): it logs ``node_isolated`` (how
        ``name_taken``) and runs the ``on_isolated`` callbacks (its placed work stops),
        stops heartbeating and answering on the name's subjects, and `wait_refused`
        returns the error once the server has dropped them."""
        if self.incarnation < other or not self._named:
            return
        error = UsageError(
            f"node {self.name!r}",
            f"another process joined cluster {self.cluster!r} as this node at the same "
            f"moment (incarnation {other}) and keeps the name; this one left it: stop "
            f"one of them, or give each its own name",
        )
        if self._beating is not None:
            self._beating.cancel()
        self._named = False
        subs, self._own_subs = self._own_subs, []
        subs.extend(self._name_subs.values())
        self._name_subs.clear()
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        self._spawn(self._leave_name(subs, error))
        self._isolate("name_taken", 0.0)

    async def _leave_name(self, subs: list[Subscription], error: UsageError) -> None:
        try:
            for sub in subs:
                with contextlib.suppress(nats.errors.Error):
                    await sub.unsubscribe()
            with contextlib.suppress(UsageError):
                await self._settle(self.misses * self.heartbeat + RECONNECT_GRACE)
        finally:
            self._refused.set_result(error)

    async def wait_serving(self, timeout: float = 5.0) -> None:
        """Return once the names registered so far in the tree it serves are served:
        subscribed, and read by the server, so that `whereis` from any node finds them.

        Raises:
            UsageError: not within ``timeout`` (an overloaded server).
        """
        try:
            async with asyncio.timeout(timeout):
                await self._name_changes.join()
        except TimeoutError:
            raise UsageError(
                f"node {self.name!r}",
                f"its registered names were not subscribed in {timeout:g} s; "
                f"check that the NATS server is not overloaded",
            ) from None
        await self._settle(timeout)

    async def wait_refused(self) -> UsageError:
        """Wait until this node has left its name to another process that joined under
        it at the same moment (see `_name_clash`) and no longer answers on it; the error
        says what to do."""
        return await asyncio.shield(self._refused)

    async def _on_heartbeat(self, msg: Msg) -> None:
        beat = self._decode(msg)
        if not isinstance(beat, Heartbeat):
            return
        if beat.node == self.name:
            if beat.incarnation != self.incarnation:
                self._name_clash(beat.incarnation)
            return
        now = asyncio.get_running_loop().time()
        peer = self._peers.get(beat.node)
        if peer is None:
            peer = self._peers[beat.node] = _Peer(beat.node)
        elif peer.up and peer.incarnation != beat.incarnation:
            self._declare_down(peer, "restarted")
        peer.labels = beat.labels
        peer.interval = beat.interval
        peer.deadline = now + self.misses * beat.interval
        if peer.up:
            return
        if peer.incarnation == beat.incarnation and peer.down_how in _CONNECTION_LOST:
            # Its connection was seen gone: this may be a heartbeat published before that
            # and read late (heartbeats and advisories come on different subscriptions).
            # Only an answer from it now brings it back.
            if not peer.reviving:
                peer.reviving = True
                self._spawn(self._revive(peer))
            return
        self._mark_up(peer, beat.incarnation)

    async def _revive(self, peer: _Peer) -> None:
        # A ping outside the node's pending requests (it is down: those fail at once).
        subject = f"{self._prefix}op.{peer.name}"
        payload = encode(subject, OpRequest(op=Ping.op_name, sender=self.name, body={}))
        try:
            msg = await self._request(
                None, subject, payload, f"ping {peer.name}", self.misses * peer.interval, None
            )
            if self._no_responders(msg):
                return  # still gone: its late heartbeats change nothing
            answer = self._answer(subject, msg)
            if not isinstance(answer, OpReply):
                return
            pong = Pong.model_validate(answer.body)
        except (CallTimeoutError, WireError, ValidationError):
            return
        finally:
            peer.reviving = False
        if not peer.up and pong.incarnation == peer.incarnation:
            peer.deadline = asyncio.get_running_loop().time() + self.misses * peer.interval
            self._mark_up(peer, pong.incarnation)

    def _mark_up(self, peer: _Peer, incarnation: str) -> None:
        peer.up = True
        peer.incarnation = incarnation
        self._node_event(
            Event.NODE_UP,
            peer=peer.name,
            incarnation=peer.incarnation,
            labels=dict(peer.labels),
        )
        info = peer.info()
        for callback in list(self._up_callbacks):
            callback(info)
        for waiter in self._up_waiters.pop(peer.name, ()):
            if not waiter.done():
                waiter.set_result(None)

    def _declare_down(self, peer: _Peer, how: str) -> None:
        if not peer.up:
            return
        peer.up = False
        peer.down_how = how
        self._node_event(Event.NODE_DOWN, peer=peer.name, how=how)
        for future, target in list(peer.pending.items()):
            if not future.done():
                future.set_exception(NodeDownError(peer.name, how, target))
        peer.pending.clear()
        for monitor in [m for m in self._monitors.values() if m.node == peer.name]:
            del self._monitors[monitor.id]
            monitor.fire("nodedown", f"{peer.name}: {how}")
        self._forget_watcher(peer.name)
        info = peer.info()
        for callback in list(self._down_callbacks):
            callback(info, how)

    async def _on_disconnect_advisory(self, msg: Msg) -> None:
        if len(msg.data) > _ADVISORY_MAX_BYTES:
            return
        try:
            client = json.loads(msg.data).get("client") or {}
            name = client.get("name") or ""
        except (ValueError, AttributeError):
            return
        if not isinstance(name, str) or not name.startswith(self._client_prefix):
            return
        peer = self._peers.get(name[len(self._client_prefix) :])
        if peer is not None and peer.up:
            self._spawn(self._confirm_down(peer, "disconnect"))

    async def _confirm_down(self, peer: _Peer, how: str) -> bool:
        """Ping ``peer``; declare it down (``how``) if nothing is subscribed to answer."""
        try:
            await self.request_op(peer.name, Ping(), Pong, timeout=self.misses * self.heartbeat)
        except NodeDownError:
            return True
        except NotServedError:
            self._declare_down(peer, how)
            return True
        except (CallTimeoutError, UsageError, nats.errors.Error, OSError):
            return False  # alive but slow or frozen (heartbeats decide), or we are closing
        return False

    # -- requests -------------------------------------------------------------------------

    def _peer(self, node: str) -> _Peer:
        peer = self._peers.get(node)
        if peer is None:
            peer = self._peers[node] = _Peer(node)
        return peer

    async def _request(
        self,
        node: str | None,
        subject: str,
        payload: bytes,
        target: str,
        timeout: float,
        message: object,
    ) -> Msg:
        """Send a request and wait for the answer; the answer may be a no-responders status.

        Raises:
            NodeDownError: ``node`` is down, or is declared down before the answer.
            CallTimeoutError: no answer within ``timeout`` (``target@node``, ``message``).
        """
        peer = None
        if node is not None:
            peer = self._peers.get(node) or self._peer(node)
            if not peer.up and peer.down_how is not None:
                raise NodeDownError(node, peer.down_how, target)
        key = str(next(self._ids))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Msg] = loop.create_future()
        self._replies[key] = future
        if peer is not None:
            peer.pending[future] = target
        # One timer per timeout value, not one per request (see supervise._deadlines).
        where = target if node is None else f"{target}@{node}"
        bucket = call_timeouts(loop).add(loop, future, timeout)
        try:
            await self.nats.publish(subject, payload, reply=self._inbox + key)
            return await future
        except Expired:
            raise CallTimeoutError(where, message, timeout) from None
        finally:
            del self._replies[key]
            bucket.discard(future, None)
            if peer is not None:
                peer.pending.pop(future, None)

    async def _on_reply(self, msg: Msg) -> None:
        future = self._replies.get(msg.subject[len(self._inbox) :])
        if future is not None and not future.done():
            future.set_result(msg)

    @staticmethod
    def _no_responders(msg: Msg) -> bool:
        headers = msg.headers
        return bool(headers) and headers.get("Status") == _NO_RESPONDERS and not msg.data  # type: ignore[union-attr]

    def _answer(self, subject: str, msg: Msg) -> Reply | OpReply | Here | Failure:
        envelope = self._decode(msg, raise_=True)
        if not isinstance(envelope, Reply | OpReply | Here | Failure):
            raise WireError(subject, f"a {envelope.kind!r} envelope where an answer was due")
        return envelope

    async def request_op(
        self, node: str, op: NodeOperation, result: type[ResultT], timeout: float = 5.0
    ) -> ResultT:
        """Run node operation ``op`` on ``node`` and return its result as ``result``.

        Raises:
            NodeDownError: ``node`` is down, or was declared down before it answered.
            NotServedError: no node ``node`` is connected (NATS: no responders).
            CallTimeoutError: no answer within ``timeout``.
            RemoteError: the operation is unknown there or failed (``unknown_op``,
                ``bad_message``, ``op_failed``), or its result did not validate here.
        """
        subject = f"{self._prefix}op.{node}"
        request = OpRequest(op=op.op_name, sender=self.name, body=op.model_dump(mode="json"))
        target = f"operation {op.op_name}"
        payload = encode(subject, request, self.max_message_bytes)
        msg = await self._request(node, subject, payload, target, timeout, op)
        if self._no_responders(msg):
            raise NotServedError(f"node {node}", self.cluster, node)
        answer = self._answer(subject, msg)
        if isinstance(answer, Failure):
            raise RemoteError(answer.node, target, answer.error, answer.message)
        if not isinstance(answer, OpReply):
            raise WireError(subject, f"a {answer.kind!r} envelope where an op_reply was due")
        try:
            return result.model_validate(answer.body)
        except ValidationError as exc:
            raise RemoteError(node, target, "bad_reply", str(exc)) from None

    async def ping(self, node: str, timeout: float = 5.0) -> Pong:
        """Ask ``node`` whether it is there (see `request_op` for the errors)."""
        return await self.request_op(node, Ping(), Pong, timeout)

    def remote_ref(self, name: str, node: str) -> RemoteActorRef:
        """A ref to the actor registered as ``name`` (or at tree path ``name``) on ``node``."""
        check_name("remote_ref node", node)
        return RemoteActorRef(self, name, node, f"{self._prefix}at.{node}.{token(name)}")

    async def whereis(self, name: str, timeout: float = 5.0) -> RemoteActorRef:
        """The ref of the actor registered as ``name`` on whichever node serves it.

        Raises:
            NotServedError: no node serves that name (at once: NATS has no responders).
            CallTimeoutError: no answer within ``timeout``.
        """
        subject = f"{self._prefix}name.{token(name)}"
        payload = encode(subject, Whereis(name=name), self.max_message_bytes)
        msg = await self._request(None, subject, payload, f"whereis {name}", timeout, name)
        if self._no_responders(msg):
            raise NotServedError(name, self.cluster)
        answer = self._answer(subject, msg)
        if isinstance(answer, Failure):
            raise NotServedError(name, self.cluster, answer.node)
        if not isinstance(answer, Here):
            raise WireError(subject, f"a {answer.kind!r} envelope where 'here' was due")
        return self.remote_ref(name, answer.node)

    def _send_payload(
        self, kind: Literal["call", "cast"], ref: RemoteActorRef, msg: BaseModel
    ) -> bytes:
        """A `Send` envelope's JSON: a head cached per ref, kind and message type, then the
        message's own JSON (what `SendOut` would serialise, without building it)."""
        model = type(msg)
        heads = ref._heads
        head = heads.get((kind, model))
        if head is None:
            if not isinstance(msg, BaseModel):
                raise MessageTypeError(f"{ref.name}@{ref.node}", msg, ())
            empty = SendOut(kind=kind, to=ref.name, sender=self.name, type=type_name(model), body=0)
            head = heads[(kind, model)] = encode(ref._subject, empty)[: -len(b"0}")]
        try:
            payload = head + msg.__pydantic_serializer__.to_json(msg) + b"}"
        except Exception as exc:  # PydanticSerializationError: a value with no JSON form
            raise WireError(ref._subject, f"cannot be sent as JSON ({exc})") from exc
        if len(payload) > self.max_message_bytes:
            raise WireError(
                ref._subject,
                f"{len(payload)} bytes, over the limit of {self.max_message_bytes}",
            )
        return payload

    async def _send_cast(self, ref: RemoteActorRef, msg: BaseModel) -> None:
        payload = self._send_payload("cast", ref, msg)
        peer = self._peers.get(ref.node)
        if peer is not None and not peer.up and peer.down_how is not None:
            where = f"{ref.name}@{ref.node}"
            if self.dead_letters is not None:
                self.dead_letters.add(where, msg, "nodedown", tree=self._tree)
            else:
                _log.emit(
                    Event.MESSAGE_DEAD_LETTERED,
                    tree=self._tree,
                    actor=where,
                    message_type=type(msg).__qualname__,
                    cause="nodedown",
                )
            return
        await self.nats.publish(ref._subject, payload)

    async def _send_call(self, ref: RemoteActorRef, msg: BaseModel, timeout: float) -> Any:
        payload = self._send_payload("call", ref, msg)
        target = ref.name
        answer = await self._request(ref.node, ref._subject, payload, target, timeout, msg)
        if self._no_responders(answer):
            # Nothing subscribed to the node's subjects: it is gone, or not there yet.
            peer = self._peer(ref.node)
            if peer.up:
                await self._confirm_down(peer, "no_responders")
            raise NodeDownError(ref.node, peer.down_how or "no_responders", target)
        envelope = self._answer(ref._subject, answer)
        if isinstance(envelope, Failure):
            if envelope.error == "noproc":
                raise NotServedError(target, self.cluster, ref.node)
            raise RemoteError(envelope.node, target, envelope.error, envelope.message)
        if not isinstance(envelope, Reply):
            raise WireError(ref._subject, f"a {envelope.kind!r} envelope where a reply was due")
        adapter = reply_adapter(type(msg))
        if adapter is None:
            return envelope.body
        try:
            return adapter.validate_python(envelope.body)
        except ValidationError as exc:
            raise RemoteError(ref.node, target, "bad_reply", str(exc)) from None

    async def _monitor(
        self, ref: RemoteActorRef, callback: Callable[[Down], object] | None, timeout: float
    ) -> RemoteMonitor:
        monitor = RemoteMonitor(self, next(self._ids), ref.name, ref.node, callback)
        peer = self._peer(ref.node)
        if not peer.up and peer.down_how is not None:
            monitor.fire("nodedown", f"{ref.node}: {peer.down_how}")
            return monitor
        self._monitors[monitor.id] = monitor
        request = MonitorRequest(name=ref.name, monitor_id=monitor.id, watcher=self.name)
        try:
            ack = await self.request_op(ref.node, request, MonitorAck, timeout)
        except NodeDownError as exc:
            self._monitors.pop(monitor.id, None)
            monitor.fire("nodedown", f"{ref.node}: {exc.how}")
            return monitor
        except BaseException:
            self._monitors.pop(monitor.id, None)
            raise
        if not ack.found:
            self._monitors.pop(monitor.id, None)
            monitor.fire("noproc", None)
        return monitor

    async def _on_ping(self, op: Ping) -> Pong:
        return Pong(node=self.name, incarnation=self.incarnation)

    def _drop_monitor(self, monitor: RemoteMonitor) -> None:
        if self._monitors.pop(monitor.id, None) is not None and self.is_up(monitor.node):
            self._spawn(self._demonitor(monitor))

    async def _demonitor(self, monitor: RemoteMonitor) -> None:
        request = DemonitorRequest(monitor_id=monitor.id, watcher=self.name)
        with contextlib.suppress(NodeDownError, NotServedError, CallTimeoutError, RemoteError):
            # Lost, it costs a Down for it sent here and ignored, or nothing once the
            # node is down (it forgets the monitors of a watcher it sees go down).
            await self.request_op(monitor.node, request, DemonitorAck, self.misses * self.heartbeat)

    async def _on_down_notice(self, msg: Msg) -> None:
        notice = self._decode(msg)
        if not isinstance(notice, DownNotice):
            return
        monitor = self._monitors.pop(notice.monitor_id, None)
        if monitor is None or monitor.node != notice.node:
            return
        try:
            monitor.fire(notice.reason, notice.detail, notice.name)
        except ValidationError as exc:
            self._reject(msg.subject, WireError(msg.subject, f"bad Down: {exc.errors()[0]}"), msg)

    # -- what this node knows -------------------------------------------------------------

    def nodes(self) -> dict[str, NodeInfo]:
        """Every other node seen, up or down, by name."""
        return {name: peer.info() for name, peer in self._peers.items() if peer.incarnation}

    def is_up(self, node: str) -> bool:
        """Whether ``node`` is up now (its heartbeats arrive)."""
        peer = self._peers.get(node)
        return peer is not None and peer.up

    async def wait_node_up(self, node: str, timeout: float = 5.0) -> NodeInfo:
        """Wait until ``node``'s heartbeats arrive (at once if they do).

        Raises:
            TimeoutError: not within ``timeout``.
        """
        if not self.is_up(node):
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._up_waiters.setdefault(node, []).append(waiter)
            async with asyncio.timeout(timeout):
                await waiter
        return self._peers[node].info()

    def on_node_up(self, callback: Callable[[NodeInfo], object]) -> Callable[[], None]:
        """Call ``callback(info)`` each time a node comes up (on this loop); returns the
        function that removes the callback."""
        return _add(self._up_callbacks, callback)

    def on_node_down(self, callback: Callable[[NodeInfo, str], object]) -> Callable[[], None]:
        """Call ``callback(info, how)`` each time a node is declared down (on this loop);
        returns the function that removes the callback."""
        return _add(self._down_callbacks, callback)

    def on_isolated(self, callback: Callable[[str], object]) -> Callable[[], None]:
        """Call ``callback(how)`` when this node was cut off (``disconnected``) or its loop
        stalled (``frozen``) for ``misses`` x ``heartbeat``: the others count it down.
        Returns the function that removes the callback."""
        return _add(self._isolated_callbacks, callback)


CallbackT = TypeVar("CallbackT")


def _add(callbacks: list[CallbackT], callback: CallbackT) -> Callable[[], None]:
    callbacks.append(callback)

    def remove() -> None:
        if callback in callbacks:
            callbacks.remove(callback)

    return remove


async def settle(nc: NatsClient, timeout: float) -> None:
    """Return once the NATS server has read every command ``nc`` sent so far.

    nats-py's ``flush()`` does not promise it: it writes its PING straight to the socket,
    ahead of the commands still queued for its flusher task (the SUBs just made), so the
    server may answer it before it has read them, and a client that went on would not yet
    receive what is sent to it. A message to an inbox of its own is queued behind them,
    and the server handles a connection's commands in order: once it is back, every
    subscription made before it is in place.

    Raises:
        TimeoutError: the message was not back within ``timeout`` seconds.
    """
    back: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, future=back, max_msgs=1)
    try:
        await nc.publish(inbox, b"")
        async with asyncio.timeout(timeout):
            await back
    finally:
        with contextlib.suppress(nats.errors.Error):
            await sub.unsubscribe()


@contextlib.asynccontextmanager
async def open_node(
    servers: str | Sequence[str],
    *,
    name: str,
    labels: Mapping[str, str] | None = None,
    cluster: str = "supervise",
    heartbeat: float = 0.2,
    misses: int = 3,
    connect_timeout: float = 5.0,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    announce: bool = True,
    tree: str = "-",
) -> AsyncIterator[NodeConnection]:
    """Connect this process to the cluster as node ``name``; leave it at the end.

    Args:
        servers: the NATS server URL(s), ``nats://host:4222``.
        name: this node's name, unique in the cluster.
        labels: what this node advertises (placement matches on them).
        cluster: separates clusters sharing one NATS server.
        heartbeat: seconds between heartbeats; a node is down after ``misses`` missed.
        misses: heartbeats missed before a node is declared down.
        connect_timeout: seconds to wait for the server at first.
        max_message_bytes: the largest payload sent or accepted.
        announce: start heartbeating at once; with False, call
            `NodeConnection.announce` once the node operations are registered.
        tree: the name of the tree this process runs, for the node's events
            (``tree`` and ``supervisor``, its root) from the first one on.

    Raises:
        ArgumentError: a name, heartbeat or limit out of range.
        UsageError: the server cannot be reached.
    """
    check_name("open_node name", name)
    check_name("open_node cluster", cluster)
    if not 0.01 <= heartbeat <= 60:
        raise ArgumentError("open_node heartbeat", f"{heartbeat!r} s; use 0.01 to 60 seconds")
    if misses < 1:
        raise ArgumentError("open_node misses", f"{misses!r}; use 1 or more")
    if max_message_bytes < 1024:
        raise ArgumentError(
            "open_node max_message_bytes", f"{max_message_bytes!r}; use 1024 or more"
        )
    conn = NodeConnection(
        name=name,
        cluster=cluster,
        labels=labels or {},
        heartbeat=heartbeat,
        misses=misses,
        max_message_bytes=max_message_bytes,
        tree=tree,
    )
    try:
        await conn._connect(servers, connect_timeout, announce)
        yield conn
    finally:
        await conn._close()
