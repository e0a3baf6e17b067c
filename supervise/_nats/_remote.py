"""Handles to what runs on other nodes: `RemoteActorRef`, `RemoteMonitor`, node operations.

A `RemoteActorRef` names an actor by its registered name (or tree path) on one node, as
OTP's ``{Name, Node}``: ``cast`` publishes (at most once, like Erlang's send), ``call`` is a
request that ends in exactly one outcome: the reply, `CallTimeoutError`, `NodeDownError`
(at once when the node is declared down, even for a call already sent), `NotServedError`
(the node does not serve the name), or `RemoteError` (the handler crashed, the message was
refused there). Messages and replies cross as JSON and are validated on both sides: the
message against the actor's declared models on the serving node, the reply against
``T`` of a ``Request[T]`` message on the calling node.

Node operations are typed requests to a node itself (`NodeOperation` models, each with its
``op_name``), served by handlers a node registers with `NodeConnection.add_operation`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .._actor import Request
from .._monitor import Down
from ._wire import NodeName

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from ._node import NodeConnection

ReplyT = TypeVar("ReplyT")

_reply_adapters: dict[type, TypeAdapter[Any] | None] = {}


def reply_adapter(message: type) -> TypeAdapter[Any] | None:
    """The validator of ``T`` for a ``Request[T]`` message class (None for other messages)."""
    try:
        return _reply_adapters[message]
    except KeyError:
        pass
    adapter: TypeAdapter[Any] | None = None
    for base in message.__mro__:
        meta = getattr(base, "__pydantic_generic_metadata__", None)
        if meta and meta.get("origin") is Request and meta.get("args"):
            (reply,) = meta["args"]
            if not isinstance(reply, TypeVar) and reply is not Any:
                adapter = TypeAdapter(reply)
            break
    _reply_adapters[message] = adapter
    return adapter


class NodeOperation(BaseModel):
    """A typed request to a node: subclass it, set ``op_name``, add fields.

    ``class StartSubtree(NodeOperation): op_name: ClassVar[str] = "start_subtree"``; the
    node registers a handler for it with `NodeConnection.add_operation`, and any node
    sends it with `NodeConnection.request_op`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    op_name: ClassVar[str]


class Ping(NodeOperation):
    """Are you there? Answered with `Pong` by every node."""

    op_name: ClassVar[str] = "ping"


class Pong(BaseModel):
    """A node's answer to `Ping`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node: NodeName
    incarnation: str


class MonitorRequest(NodeOperation):
    """Watch the actor served as ``name``: send ``watcher`` a `DownNotice` when it ends."""

    op_name: ClassVar[str] = "monitor"

    name: str = Field(min_length=1, max_length=1024)
    monitor_id: int
    watcher: NodeName


class MonitorAck(BaseModel):
    """The monitor is set (a `DownNotice` will come, at once if nothing runs there)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    found: bool


class DemonitorRequest(NodeOperation):
    """Drop the monitor ``monitor_id`` that ``watcher`` set here: no `DownNotice` for it."""

    op_name: ClassVar[str] = "demonitor"

    monitor_id: int
    watcher: NodeName


class DemonitorAck(BaseModel):
    """Whether the monitor was still set (False: its `DownNotice` went out already)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    removed: bool


class RemoteMonitor:
    """A monitor on an actor on another node: one `Down` when its incarnation ends.

    ``reason`` is the remote exit reason, or ``nodedown`` (detail: the node and how it
    was found down) when the node is lost first, or ``noproc`` when nothing ran there.
    Await it for the `Down`, or pass a callback to `RemoteActorRef.monitor`.
    """

    __slots__ = ("_callback", "_conn", "_future", "id", "name", "node")

    def __init__(
        self,
        conn: NodeConnection,
        monitor_id: int,
        name: str,
        node: str,
        callback: Callable[[Down], object] | None,
    ) -> None:
        self._conn = conn
        self.id = monitor_id
        self.name = name
        self.node = node
        self._callback = callback
        self._future: asyncio.Future[Down] = asyncio.get_running_loop().create_future()

    def fire(self, reason: str, detail: str | None, path: str | None = None) -> None:
        """Deliver the `Down` (once)."""
        if self._future.done():
            return
        down = Down.model_validate(
            {
                "monitor_id": self.id,
                "path": path or self.name,
                "reason": reason,
                "detail": detail,
            }
        )
        self._future.set_result(down)
        if self._callback is not None:
            self._callback(down)

    def demonitor(self) -> bool:
        """Stop watching (OTP ``demonitor``); no `Down` is delivered after this. Idempotent.

        The node serving the actor is told to drop its monitor too (sent now, not
        awaited): it stops sending a Down for it, and a Down it sent meanwhile is
        ignored here.

        Returns:
            True if the monitor was active, False if the Down came already.
        """
        active = not self._future.done()
        self._conn._drop_monitor(self)
        self._future.cancel()
        return active

    @property
    def fired(self) -> bool:
        """True once the `Down` was delivered (or the monitor was dropped)."""
        return self._future.done()

    def __await__(self) -> Generator[Any, None, Down]:
        return self._future.__await__()


class RemoteActorRef:
    """An actor registered as ``name`` on node ``node``: ``cast``, ``call``, ``monitor``.

    From `NodeConnection.whereis` or `NodeConnection.remote_ref`, never a constructor.
    """

    __slots__ = ("_conn", "_heads", "_subject", "name", "node")

    def __init__(self, conn: NodeConnection, name: str, node: str, subject: str) -> None:
        self._conn = conn
        self.name = name
        self.node = node
        self._subject = subject
        # The JSON of a `Send` up to its body, per (kind, message type): built once.
        self._heads: dict[tuple[str, type], bytes] = {}

    def __repr__(self) -> str:
        return f"<RemoteActorRef {self.name}@{self.node}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RemoteActorRef):
            return NotImplemented
        return (self.name, self.node) == (other.name, other.node)

    def __hash__(self) -> int:
        return hash((self.name, self.node))

    async def cast(self, msg: BaseModel) -> None:
        """Send without waiting for anything (at most once, as Erlang's send).

        A message to a node known to be down is dropped and logged as dead-lettered.

        Raises:
            MessageTypeError: ``msg`` is not a pydantic model.
            WireError: it cannot be sent as JSON within the size limit.
        """
        await self._conn._send_cast(self, msg)

    @overload
    async def call(self, msg: Request[ReplyT], timeout: float = 5.0) -> ReplyT: ...
    @overload
    async def call(self, msg: BaseModel, timeout: float = 5.0) -> Any: ...
    async def call(self, msg: BaseModel, timeout: float = 5.0) -> Any:
        """Send and wait for the reply; for a ``Request[T]`` the reply is validated as ``T``.

        Raises:
            MessageTypeError: ``msg`` is not a pydantic model.
            WireError: it cannot be sent as JSON within the size limit.
            CallTimeoutError: no reply within ``timeout``.
            NodeDownError: the node is down, or was declared down before replying.
            NotServedError: nothing is registered as ``name`` on that node.
            RemoteError: the call failed there (``code``: the handler crashed, the
                message was refused, the actor was not running, ...) or the reply did
                not validate here (``bad_reply``).
        """
        return await self._conn._send_call(self, msg, timeout)

    async def monitor(
        self, callback: Callable[[Down], object] | None = None, timeout: float = 5.0
    ) -> RemoteMonitor:
        """Watch the incarnation running there now; await the result for its `Down`.

        Raises:
            CallTimeoutError: the node did not confirm the monitor within ``timeout``.
        """
        return await self._conn._monitor(self, callback, timeout)
