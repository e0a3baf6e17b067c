"""The serving side of a node: what other nodes ask of it, and what it sends back.

`Serving` is the part of `NodeConnection` that answers: calls and casts to the actors of
the tree it serves (`serve`), ``whereis`` for their registered names, typed node
operations (`add_operation`), and remote monitors; and the plumbing every answer goes
through: decoding with ``message_rejected`` for what does not decode, and the outbox
task that publishes answers made in callbacks.

A call from another node enters its actor's mailbox at once, in the order the node
received it (after the casts before it), through `queue_call`; its reply is published
when the actor's future completes, without a task per call. A mailbox that is full makes
the message wait in a task, per the actor's overflow policy, as for a local sender.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import nats.errors
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json

from .. import _log
from .._errors import (
    ActorExitedError,
    ActorNotRunningError,
    ArgumentError,
    CallFailedError,
    ChildKindError,
    MailboxFull,
    NameNotFoundError,
    UsageError,
    WireError,
)
from .._ref import accepted_messages, queue_call
from .._registry import watch_names
from ..events import Event
from ._remote import DemonitorAck, DemonitorRequest, MonitorAck, MonitorRequest, NodeOperation
from ._wire import (
    DownNotice,
    Failure,
    Here,
    OpReply,
    OpRequest,
    ReplyOut,
    Send,
    Whereis,
    decode,
    encode,
    token,
    type_name,
)

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

    from .._monitor import Down, Monitor
    from .._registry import Registry

OpT = TypeVar("OpT", bound=NodeOperation)


class Serving:
    """The answering half of `NodeConnection` (see the module docs)."""

    def __init__(self, *, name: str, cluster: str, tree: str, max_message_bytes: int) -> None:
        self.name = name
        self.max_message_bytes = max_message_bytes
        self._prefix = f"sup.{cluster}."
        self._nats: Client | None = None
        # What `ReplyOut` would serialise before the body (which follows, then "}").
        self._reply_head = ReplyOut(node=name, body=0).model_dump_json().encode()[: -len(b"0}")]
        self._ops: dict[str, tuple[type[NodeOperation], Callable[[Any], Awaitable[BaseModel]]]] = {}
        self._registry: Registry | None = None
        #: The tree this node runs (its root's name), ``-`` if none: its events carry it.
        self._tree = tree
        self._unwatch: Callable[[], None] | None = None
        self._name_subs: dict[str, Subscription] = {}
        self._name_changes: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._outbox_ready = asyncio.Event()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._closing = False
        #: False once this node left its name to another process: serve no more names.
        self._named = True
        #: The monitors other nodes set on the actors served here, by (watcher, id).
        self._served_monitors: dict[tuple[str, int], Monitor] = {}

    @property
    def nats(self) -> Client:
        """The nats-py client (for JetStream, the key-value store)."""
        if self._nats is None:
            raise UsageError(f"node {self.name!r}", "not connected; use `async with open_node()`")
        return self._nats

    # -- serving ------------------------------------------------------------------------

    def _node_event(self, event: Event, **fields: object) -> None:
        """Log one of the node's own events, as an event of the tree it runs (if any):
        ``tree``, and ``supervisor`` (the tree's root), so that ``supervise logs``
        filters and views find it beside the tree's other events."""
        if self._tree != "-":
            fields["supervisor"] = self._tree
        _log.emit(event, tree=self._tree, node=self.name, **fields)

    def serve(self, registry: Registry, tree: str) -> None:
        """Serve the actors of a tree to the other nodes: its registered names (followed as
        they come and go) for `whereis`, and every name or path for calls and casts."""
        if self._registry is not None:
            raise UsageError(f"node {self.name!r}", "serves one tree; it serves one already")
        self._registry = registry
        self._tree = tree
        self._unwatch = watch_names(
            registry, lambda name, added: self._name_changes.put_nowait((name, added))
        )

    async def _follow_names(self) -> None:
        while True:
            name, added = await self._name_changes.get()
            try:
                subject = f"{self._prefix}name.{token(name)}"
                old = self._name_subs.pop(name, None)
                if old is not None:
                    with contextlib.suppress(nats.errors.Error):
                        await old.unsubscribe()
                if added and self._named:
                    self._name_subs[name] = await self.nats.subscribe(
                        subject, queue="sup", cb=self._on_whereis
                    )
            finally:
                self._name_changes.task_done()  # see NodeConnection.wait_serving

    async def _on_whereis(self, msg: Msg) -> None:
        request = self._decode(msg)
        if not isinstance(request, Whereis) or not msg.reply:
            return
        answer: Here | Failure
        if request.name in self._name_subs:
            answer = Here(node=self.name, name=request.name)
        else:
            answer = Failure(node=self.name, error="noproc", message=request.name)
        self._outbox_put(msg.reply, answer)

    async def _on_send(self, msg: Msg) -> None:
        send = self._decode(msg)
        if send is None:
            return
        if not isinstance(send, Send):
            self._reject(msg.subject, WireError(msg.subject, f"a {send.kind!r} envelope"), msg)
            return
        reply = msg.reply if send.kind == "call" else ""
        failure = self._deliver(send, reply, msg)
        if failure is not None and reply:
            self._outbox_put(reply, failure)

    def _deliver(self, send: Send, reply: str, msg: Msg) -> Failure | None:
        """Put the message in its actor's mailbox; a `Failure` if it cannot go there."""
        me = self.name
        registry = self._registry
        try:
            if registry is None:
                raise NameNotFoundError(send.to)
            ref = registry.actor(send.to)
        except (NameNotFoundError, ChildKindError) as exc:
            return Failure(node=me, error="noproc", message=str(exc))
        model = _model_named(accepted_messages(ref), send.type)
        if model is None:
            problem = f"{send.to!r} does not accept {send.type}"
            self._reject(msg.subject, WireError(msg.subject, problem), msg)
            return Failure(node=me, error="bad_message", message=problem)
        try:
            message = model.model_validate(send.body)
        except ValidationError as exc:
            problem = f"invalid {send.type}: {exc.errors(include_url=False)[0]['msg']}"
            self._reject(msg.subject, WireError(msg.subject, problem), msg)
            return Failure(node=me, error="bad_message", message=problem)
        try:
            if not reply:
                ref.cast_nowait(message)
                return None
            future = queue_call(ref, message)
        except ActorNotRunningError as exc:
            return Failure(node=me, error="not_running", message=str(exc))
        except MailboxFull:
            # The actor's overflow policy decides, as for a local sender: wait for room
            # (in a task; later messages queue behind it) or fail.
            waiting = asyncio.ensure_future(
                ref.call(message, timeout=None) if reply else ref.cast(message)
            )
            self._tasks.add(waiting)
            waiting.add_done_callback(self._task_done)
            future = waiting
            if not reply:
                waiting.add_done_callback(lambda done: self._cast_done(ref.path, model, done))
                return None
        future.add_done_callback(lambda done: self._replied(reply, send.to, done))
        return None

    def _cast_done(self, path: str, model: type[BaseModel], done: asyncio.Future[Any]) -> None:
        if not done.cancelled() and isinstance(done.exception(), MailboxFull):
            _log.emit(
                Event.MESSAGE_DEAD_LETTERED,
                tree=self._tree,
                actor=path,
                message_type=model.__qualname__,
                cause="mailbox_full",
            )

    def _replied(self, reply: str, target: str, done: asyncio.Future[Any]) -> None:
        me = self.name
        answer: ReplyOut | Failure
        if done.cancelled():
            answer = Failure(node=me, error="actor_exited", message=f"{target!r}: cancelled")
        elif (exc := done.exception()) is not None:
            if isinstance(exc, CallFailedError):
                cause = exc.__cause__ or exc
                detail = f"{type(cause).__qualname__}: {cause}"
                answer = Failure(node=me, error="call_failed", message=detail)
            elif isinstance(exc, ActorExitedError):
                answer = Failure(node=me, error="actor_exited", message=str(exc))
            elif isinstance(exc, MailboxFull):
                answer = Failure(node=me, error="mailbox_full", message=str(exc))
            elif isinstance(exc, ActorNotRunningError):
                answer = Failure(node=me, error="not_running", message=str(exc))
            else:
                detail = f"{type(exc).__name__}: {exc}"
                answer = Failure(node=me, error="call_failed", message=detail)
        else:
            result = done.result()
            try:
                payload = self._reply_head + to_json(result) + b"}"
            except Exception as exc:  # PydanticSerializationError: no JSON form
                answer = Failure(node=me, error="bad_reply", message=f"not JSON: {exc}")
            else:
                if len(payload) <= self.max_message_bytes:
                    self._outbox.append((reply, payload))
                    self._outbox_ready.set()
                    return
                problem = f"{len(payload)} bytes, over the limit of {self.max_message_bytes}"
                answer = Failure(node=me, error="bad_reply", message=problem)
        self._outbox_put(reply, answer)

    async def _on_op(self, msg: Msg) -> None:
        request = self._decode(msg)
        if request is None:
            return
        if not isinstance(request, OpRequest) or not msg.reply:
            what = f"a {request.kind!r} envelope" + (
                "" if msg.reply else " without a reply subject"
            )
            self._reject(msg.subject, WireError(msg.subject, what), msg)
            return
        entry = self._ops.get(request.op)
        if entry is None:
            problem = f"no operation {request.op!r} on node {self.name!r}"
            answer = Failure(node=self.name, error="unknown_op", message=problem)
            self._outbox_put(msg.reply, answer)
            return
        model, handler = entry
        try:
            op = model.model_validate(request.body)
        except ValidationError as exc:
            problem = f"invalid {request.op}: {exc.errors(include_url=False)[0]['msg']}"
            self._reject(msg.subject, WireError(msg.subject, problem), msg)
            answer = Failure(node=self.name, error="bad_message", message=problem)
            self._outbox_put(msg.reply, answer)
            return
        self._spawn(self._run_op(handler, op, msg.reply))

    async def _run_op(
        self, handler: Callable[[Any], Awaitable[BaseModel]], op: NodeOperation, reply: str
    ) -> None:
        try:
            result = await handler(op)
            answer: OpReply | Failure = OpReply(node=self.name, body=result.model_dump(mode="json"))
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"
            answer = Failure(node=self.name, error="op_failed", message=detail)
        self._outbox_put(reply, answer)

    def add_operation(self, op: type[OpT], handler: Callable[[OpT], Awaitable[BaseModel]]) -> None:
        """Serve node operation ``op`` (by its ``op_name``) with ``handler``.

        The handler runs in a task of its own per request; its result model is the
        answer, an exception it raises becomes a `RemoteError` (``op_failed``) there.
        """
        if op.op_name in self._ops and op is not self._ops[op.op_name][0]:
            raise ArgumentError("add_operation", f"operation {op.op_name!r} is served already")
        self._ops[op.op_name] = (op, handler)

    async def _on_monitor_request(self, op: MonitorRequest) -> MonitorAck:
        registry = self._registry
        try:
            if registry is None:
                raise NameNotFoundError(op.name)
            ref = registry.actor(op.name)
        except (NameNotFoundError, ChildKindError):
            return MonitorAck(found=False)
        subject = f"{self._prefix}down.{op.watcher}"
        key = (op.watcher, op.monitor_id)

        def notify(down: Down) -> None:
            self._served_monitors.pop(key, None)
            notice = DownNotice(
                node=self.name,
                monitor_id=op.monitor_id,
                name=down.path,
                reason=down.reason,
                detail=down.detail,
            )
            self._outbox_put(subject, notice)

        monitor = ref.monitor(notify)
        if monitor.active:  # else its Down (noproc) is on its way
            self._served_monitors[key] = monitor
        return MonitorAck(found=True)

    async def _on_demonitor_request(self, op: DemonitorRequest) -> DemonitorAck:
        monitor = self._served_monitors.pop((op.watcher, op.monitor_id), None)
        return DemonitorAck(removed=monitor is not None and monitor.demonitor())

    def _forget_watcher(self, node: str) -> None:
        """Drop the monitors ``node`` set here: it is down, nobody is left to tell."""
        for key in [key for key in self._served_monitors if key[0] == node]:
            self._served_monitors.pop(key).demonitor()

    @property
    def monitors_served(self) -> int:
        """How many monitors other nodes hold on the actors served here."""
        return len(self._served_monitors)

    # -- plumbing -------------------------------------------------------------------------

    def _decode(self, msg: Msg, *, raise_: bool = False) -> Any:
        try:
            return decode(msg.subject, msg.data, self.max_message_bytes)
        except WireError as exc:
            if raise_:
                raise
            self._reject(msg.subject, exc, msg)
            return None

    def _reject(self, subject: str, exc: WireError, msg: Msg) -> None:
        _log.emit(
            Event.MESSAGE_REJECTED,
            tree=self._tree,
            node=self.name,
            subject=subject,
            size=len(msg.data),
            problem=exc.problem,
        )

    def _outbox_put(self, subject: str, envelope: Any) -> None:
        self._outbox.append((subject, encode(subject, envelope, self.max_message_bytes)))
        self._outbox_ready.set()

    async def _send_outbox(self) -> None:
        outbox, ready = self._outbox, self._outbox_ready
        while True:
            await ready.wait()
            ready.clear()
            nc = self.nats
            while outbox:
                subject, payload = outbox.popleft()
                try:
                    await nc.publish(subject, payload)
                except (nats.errors.Error, OSError):
                    pass  # cut off from the server: the caller times out, as with a lost reply

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        if self._closing:
            task.cancel()
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # seen: a node's own requests report their errors elsewhere


_models_by_name: dict[tuple[type[BaseModel], ...], dict[str, type[BaseModel]]] = {}


def _model_named(accepts: tuple[type[BaseModel], ...], name: str) -> type[BaseModel] | None:
    """The model among an actor's declared messages whose wire name is ``name``."""
    models = _models_by_name.get(accepts)
    if models is None:
        models = _models_by_name[accepts] = {type_name(m): m for m in accepts}
    return models.get(name)
