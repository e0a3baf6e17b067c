"""The control endpoint: a running tree's snapshot and a few safe operations on a Unix socket.

``open_tree(spec, control="/run/app/tree.sock")`` (or ``supervise run --control
PATH``) listens on a Unix domain socket that only the tree's user may use: the
socket file is created with mode 0600 (the process umask is narrowed around
the bind) and each connecting peer's uid is checked (``SO_PEERCRED``) where the
platform tells it. There is no TCP listener.

The protocol is line-delimited JSON, one request per line, one reply per
request::

    {"op": "snapshot"}
    {"op": "which_children", "supervisor": "root"}
    {"op": "restart_child", "supervisor": "root", "child": "db"}
    {"op": "terminate_child", "supervisor": "root", "child": "db"}

Replies are ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``.
Requests are validated with pydantic; the operations go through the typed
supervisor operations (`SupervisorRef`), so they are queued and answered by
the supervisor like any other caller's. A request that is not JSON, not a
known operation, longer than `MAX_REQUEST_BYTES`, cut off by a half-close, or
not finished within `READ_TIMEOUT` seconds gets an error reply and never
touches the tree; connections beyond `MAX_CONNECTIONS` are refused with one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from ._errors import SuperviseError, UsageError
from ._snapshot import snapshot_json

if TYPE_CHECKING:
    from ._tree import Tree

#: The longest request line accepted, in bytes (newline included).
MAX_REQUEST_BYTES: Final[int] = 64 * 1024
#: Connections served at once; more are refused with an error reply.
MAX_CONNECTIONS: Final[int] = 16
#: Seconds a connection may take to send a whole request line.
READ_TIMEOUT: Final[float] = 30.0


class SnapshotRequest(BaseModel, frozen=True, extra="forbid"):
    """The whole tree as a `TreeSnapshot`."""

    op: Literal["snapshot"]


class WhichChildrenRequest(BaseModel, frozen=True, extra="forbid"):
    """A supervisor's children (``which_children``)."""

    op: Literal["which_children"]
    supervisor: str = Field(max_length=4096)


class RestartChildRequest(BaseModel, frozen=True, extra="forbid"):
    """Start a stopped child again (``restart_child``)."""

    op: Literal["restart_child"]
    supervisor: str = Field(max_length=4096)
    child: str = Field(max_length=4096)


class TerminateChildRequest(BaseModel, frozen=True, extra="forbid"):
    """Stop a child, not as a restart (``terminate_child``)."""

    op: Literal["terminate_child"]
    supervisor: str = Field(max_length=4096)
    child: str = Field(max_length=4096)


ControlRequest = Annotated[
    SnapshotRequest | WhichChildrenRequest | RestartChildRequest | TerminateChildRequest,
    Field(discriminator="op"),
]
_request_adapter: TypeAdapter[ControlRequest] = TypeAdapter(ControlRequest)


def _reply(ok: bool, payload: object) -> bytes:
    body = {"ok": True, "result": payload} if ok else {"ok": False, "error": payload}
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def _error(message: str) -> bytes:
    return _reply(False, message)


async def _snapshot_reply(tree: Tree) -> list[bytes]:
    # Read and encoded in chunks between which the loop runs, and written piece by
    # piece: 100,000 nodes are tens of megabytes of JSON.
    pieces = await snapshot_json(tree.spec.name, tree._root, tree.dead_letters, tree._rates)
    return [b'{"ok":true,"result":', *pieces, b"}\n"]


async def _answer(
    tree: Tree, request: WhichChildrenRequest | RestartChildRequest | TerminateChildRequest
) -> object:
    supervisor = tree.supervisor(request.supervisor)
    if isinstance(request, WhichChildrenRequest):
        return [
            {
                "name": info.name,
                "path": info.path,
                "state": info.state.value,
                "kind": info.kind,
                "restart": info.restart.value,
                "incarnation": info.incarnation,
                "restart_count": info.restart_count,
            }
            for info in await supervisor.which_children()
        ]
    if isinstance(request, RestartChildRequest):
        ref = await supervisor.restart_child(request.child)
        if ref is None:  # it raised Ignore: nothing runs
            return {"path": f"{supervisor.path}/{request.child}", "ignored": True}
        return {"path": ref.path}
    await supervisor.terminate_child(request.child)
    return None


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    """The connecting process's uid, where the platform says (Linux: SO_PEERCRED)."""
    sock = writer.get_extra_info("socket")
    peercred = getattr(socket, "SO_PEERCRED", None)
    if sock is None or peercred is None:
        return None
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, peercred, struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class ControlServer:
    """Serves one tree's control socket; `start` it, `close` it."""

    def __init__(self, tree: Tree, path: str | os.PathLike[str]) -> None:
        self._tree = tree
        self.path = Path(path)
        self._server: asyncio.Server | None = None
        #: The connections served now, each by its task.
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    async def start(self) -> None:
        """Listen on the socket (mode 0600).

        Raises:
            UsageError: the path is taken by something that is not a stale socket,
                or cannot be bound.
        """
        path = self.path
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISSOCK(mode) or _in_use(path):
                raise UsageError(
                    f"control socket {str(path)!r}",
                    "the path exists and is not a stale socket; remove it or choose another",
                )
            path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket file is created 0600, never wider
        try:
            sock.bind(str(path))
        except OSError as exc:
            sock.close()
            raise UsageError(
                f"control socket {str(path)!r}",
                f"cannot bind it ({exc.strerror or exc}); check that its directory exists "
                "and is writable, and that the path is short enough (about 100 bytes)",
            ) from exc
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        self._server = await asyncio.start_unix_server(
            self._connected, sock=sock, limit=MAX_REQUEST_BYTES
        )

    async def close(self) -> None:
        """Stop listening, end the connections, remove the socket file."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        # Closing a connection ends its task at its next read (a request being
        # answered is answered first; the reply is dropped).
        for writer in self._connections.values():
            writer.close()
        if self._connections:
            await asyncio.wait(list(self._connections))
        await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            if len(self._connections) >= MAX_CONNECTIONS:
                writer.write(_error(f"too many connections (at most {MAX_CONNECTIONS})"))
                await writer.drain()
                return
            uid = _peer_uid(writer)
            if uid is not None and uid != os.getuid():
                writer.write(_error("refused: the control socket serves its owner only"))
                await writer.drain()
                return
            self._connections[task] = writer
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError):
            pass  # the peer went away or stalled; the tree is not concerned
        finally:
            self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                async with asyncio.timeout(READ_TIMEOUT):
                    line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                if exc.partial.strip():
                    writer.write(
                        _error("incomplete request: the connection closed before a newline")
                    )
                    await writer.drain()
                return
            except asyncio.LimitOverrunError:
                writer.write(_error(f"request too long (at most {MAX_REQUEST_BYTES} bytes)"))
                await writer.drain()
                return
            except TimeoutError:
                writer.write(_error(f"no whole request within {READ_TIMEOUT:g} seconds"))
                await writer.drain()
                return
            reply = await self._handle(line)
            if isinstance(reply, bytes):
                writer.write(reply)
            else:  # a snapshot, in pieces: written one by one as the peer reads them
                for piece in reply:
                    writer.write(piece)
                    await writer.drain()
            await writer.drain()

    async def _handle(self, line: bytes) -> bytes | list[bytes]:
        try:
            request = _request_adapter.validate_json(line)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}"
                for e in exc.errors(include_url=False)[:5]
            )
            return _error(f"invalid request: {problems}")
        try:
            if isinstance(request, SnapshotRequest):
                return await _snapshot_reply(self._tree)
            return _reply(True, await _answer(self._tree, request))
        except SuperviseError as exc:
            return _error(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # never let a request take the endpoint (or the tree) down
            return _error(f"internal error answering {request.op}: {type(exc).__name__}: {exc}")


def _in_use(path: Path) -> bool:
    """Whether something listens on the socket at ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def request(path: str | os.PathLike[str], body: dict[str, Any], timeout: float = 10.0) -> Any:
    """Send one request to a control socket and return its result (a blocking client).

    Raises:
        UsageError: nothing listens at ``path``, or the endpoint replied with an error.
    """
    where = f"control socket {os.fspath(path)!r}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
            sock.sendall(json.dumps(body).encode() + b"\n")
            chunks: list[bytes] = []
            while not chunks or not chunks[-1].endswith(b"\n"):
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError as exc:
            raise UsageError(
                where,
                f"cannot talk to it ({exc.strerror or exc}); is the tree running with "
                "--control (or open_tree(..., control=PATH)) and are you its user?",
            ) from exc
    try:
        reply = json.loads(b"".join(chunks))
    except ValueError:
        raise UsageError(
            where, "the reply is not JSON; is this a supervise control socket?"
        ) from None
    if not isinstance(reply, dict) or not reply.get("ok"):
        error = reply.get("error") if isinstance(reply, dict) else reply
        raise UsageError(where, f"the request failed: {error}")
    return reply.get("result")
