"""Isolated actors: a whole actor in an OS process of its own, behind the `Process` seam.

``execution: isolated`` starts, for each incarnation, a Python process that
imports the actor's class, builds it from its config and runs it on an event
loop of its own: ``on_start``, ``handle``, ``on_stop`` and its timers all run
there (`supervise._isolated_child`). On Linux it is forked from the fork
server of the child's supervisor (`_Forkserver`: started once, with supervise
and its libraries imported); elsewhere it is a new interpreter
(``sys.executable``). On the tree's side
an `IsolatedProcess` stands in for it: refs put messages in its mailbox as for
any actor, and its task forwards them, in order, over a Unix socket pair.

The channel carries frames: a 4-byte big-endian length, then a JSON header
and, after a newline, an optional payload (a model's JSON). Messages cross as
their pydantic model's JSON and the child validates them against the types
the actor declares; replies cross as JSON data or as a model's JSON that this
side validates again. Nothing is ever unpickled from the child: an exception
there comes back as its type, message and traceback text
(`IsolatedActorError`).

A second socket pair, the tree channel (`_TreeChannel`), carries the other
way the actor's own casts and calls to the tree's other actors
(`supervise._isolated_child.TreeLink`): each is validated against the
callee's declared types and delivered by the real ref, in order; a call's
answer (its reply, or its error's type and fields) goes back when its future is
done, so nothing here waits on it. It is a channel of its own so that those
answers never wait behind messages the child holds for a full mailbox.

The supervisor really can kill it: ``kill`` is SIGKILL (after SIGTERM and a
short grace if a graceful stop was asked for first, as at a shutdown
timeout), ``on_stop`` does not run, and the end is reported once the process
has been reaped. A death the tree did not cause (an exception, ``os._exit``,
a signal) is a crash with the exit code or signal in the reason's detail.
Nothing is left behind: the child is reaped here (a pidfd on Linux, else a
thread in ``waitpid``), or by its fork server, which reports its exit status;
if this side's task is cancelled or its loop closed, the child is killed on
the spot; and if this whole process dies, the child (and its fork server) gets
SIGKILL from the kernel (``PR_SET_PDEATHSIG``) and end-of-file on its channel.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel

from ._errors import (
    ActorExitedError,
    ActorNotRunningError,
    CallFailedError,
    CallingSelfError,
    CallTimeoutError,
    ChildKindError,
    IsolatedActorError,
    IsolatedProcessDiedError,
    IsolationError,
    MailboxFull,
    NameNotFoundError,
    SuperviseError,
)
from ._imports import import_path_of
from ._link import link, unlink
from ._mailbox import MailboxClosed
from ._monitor import start_monitor
from ._process import ActorProcess, Call, LoopProcess, Process, _Stop, new_call
from ._reason import ExitKind, ExitReason, crash, killed
from ._ref import accepted_messages, child_of, queue_call

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._child import Child
    from ._mailbox import Mailbox
    from ._monitor import Down, Monitor
    from ._ref import ActorRef
    from .spec import ChildSpec

#: Seconds between SIGTERM and SIGKILL when a graceful stop ran out of time.
#: Under the supervisor's grace after a kill (1 s), so the end is seen, not abandoned.
TERM_GRACE_SECONDS: Final = 0.5

#: The largest frame either side accepts; a bigger one ends the channel.
MAX_FRAME: Final = 64 * 1024 * 1024

#: Bytes of a frame's length prefix (big-endian).
LENGTH: Final = 4

#: Calls from one isolated actor to the tree's actors in flight at once; past it, the
#: tree stops reading its requests until one is answered.
MAX_TREE_CALLS: Final = 1024

# The child's command: the parent's import path first, so both import the same code.
_CHILD_CODE: Final = (
    "import sys, json; sys.path[:] = json.loads(sys.argv[4]); "
    "from supervise._isolated_child import main; main()"
)

# The fork server's command (`_Forkserver`): the same import path, then everything an
# isolated actor's process imports, once.
_FORKSERVER_CODE: Final = (
    "import sys, json; sys.path[:] = json.loads(sys.argv[3]); "
    "from supervise._isolated_child import forkserver; forkserver()"
)

#: Whether isolated actors' processes are forked from a fork server (Linux: a pidfd to
#: signal them without a pid-reuse race, and file descriptors passed over a socket).
FORKSERVER: Final = (
    sys.platform.startswith("linux")
    and hasattr(os, "pidfd_open")
    and hasattr(signal, "pidfd_send_signal")
    and hasattr(socket, "send_fds")
)

#: The largest message between the tree and its fork server (the environment, sys.path).
MAX_FORK_REQUEST: Final = 1024 * 1024


# -- frames ----------------------------------------------------------------------------


def frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    """One frame: the length, the header's JSON and, after a newline, the payload."""
    body = json.dumps(header, separators=(",", ":")).encode()
    if payload:
        body += b"\n" + payload
    return len(body).to_bytes(LENGTH, "big") + body


class FrameTooLarge(Exception):
    """Internal: a length prefix over `MAX_FRAME`: the other side does not speak the channel."""


def frames(buffer: bytearray) -> Iterator[tuple[bytes, int]]:
    """The bodies of the whole frames at the start of ``buffer``, each with the offset after it.

    Stops at the first frame not yet all there. The reader may stop taking
    frames early; it then drops what it took, ``del buffer[:offset]`` with the
    last offset it was given.

    Raises:
        FrameTooLarge: a frame's length is over `MAX_FRAME`.
    """
    offset, size = 0, len(buffer)
    while size - offset >= LENGTH:
        length = int.from_bytes(buffer[offset : offset + LENGTH], "big")
        if length > MAX_FRAME:
            raise FrameTooLarge(length)
        end = offset + LENGTH + length
        if end > size:
            return
        yield bytes(buffer[offset + LENGTH : end]), end
        offset = end


def split(body: bytes) -> tuple[dict[str, Any], bytes]:
    """A frame's body as its header and its payload (b"" if none)."""
    cut = body.find(b"\n")  # the header's compact JSON holds no raw newline
    if cut < 0:
        return json.loads(body), b""
    return json.loads(body[:cut]), body[cut + 1 :]


def error_fields(exc: BaseException) -> dict[str, str]:
    """An exception as text that may cross: its type, message and traceback."""
    return {
        "exc_type": type(exc).__qualname__,
        "exc_message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def reply_frame(call_id: int, reply: object) -> bytes:
    """The frame of a call's reply: a model's JSON and its type, or JSON data.

    Raises:
        TypeError: the reply is neither a pydantic model nor JSON data.
    """
    if isinstance(reply, BaseModel):
        return frame(
            {"op": "reply", "id": call_id, "model": import_path_of(type(reply))},
            reply.model_dump_json().encode(),
        )
    try:
        data = json.dumps(reply, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"the reply {reply!r} of an isolated actor must be a pydantic model or JSON data "
            f"(it crosses to the tree as JSON): {exc}"
        ) from None
    return frame({"op": "reply", "id": call_id}, data.encode())


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


# -- the tree's side -------------------------------------------------------------------


class WriteFlow(asyncio.Protocol):
    """A channel end's write flow control: while the transport's buffer is over its high
    mark (``paused``), a writer waits on ``_drained``, released when it drains or closes."""

    paused = False
    _drained: asyncio.Future[None] | None = None

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._release_writer()

    def _release_writer(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)


class _Channel(WriteFlow):
    """The tree's end of the socket pair: cuts frames and hands them to the process."""

    def __init__(self, process: IsolatedProcess) -> None:
        self._process = process
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        offset = 0
        try:
            for body, offset in frames(buffer):  # noqa: B007  # the last offset is used below
                try:
                    header, payload = split(body)
                    self._process._on_frame(header, payload)
                except Exception as exc:  # a child that speaks nonsense is killed
                    self._process._broken(f"a frame it could not read ({exc!r})")
                    return
        except FrameTooLarge as exc:
            self._process._broken(f"a frame of {exc.args[0]} bytes from the child")
            return
        del buffer[:offset]

    def connection_lost(self, exc: Exception | None) -> None:
        self._release_writer()
        self._process._on_channel_closed()

    async def drain(self) -> None:
        """Wait until the child has read enough that writing may go on (or it is gone)."""
        if self.paused and self.transport is not None and not self.transport.is_closing():
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained


# -- the isolated actor's requests to the tree's actors --------------------------------


def tree_error_fields(exc: BaseException) -> dict[str, Any]:
    """A refusal or failure of a request to the tree, as fields that may cross to the child:
    the error's type name, its message, and the attributes it is rebuilt from there."""
    fields: dict[str, Any] = {"error": type(exc).__name__, "text": str(exc)}
    for name in ("actor", "name", "expected", "found", "what", "problem", "stopped"):
        value = getattr(exc, name, None)
        if isinstance(value, str):
            fields[name] = value
    for name in ("timeout", "waited", "capacity"):
        value = getattr(exc, name, None)
        if isinstance(value, int | float):
            fields[name] = value
    reason = getattr(exc, "reason", None)
    if isinstance(reason, ExitReason):
        fields["kind"] = reason.kind.value
        fields["detail"] = reason.detail
        if reason.exception is not None:
            fields["detail"] = f"{type(reason.exception).__qualname__}: {reason.exception}"
    return fields


def _answer_frame(request: int, callee: str, message: object, reply: object) -> bytes:
    """The frame of a tree actor's reply to the isolated actor's call."""
    try:
        return reply_frame(request, reply)
    except TypeError:
        error = IsolationError(
            callee,
            f"reply to {type(message).__qualname__}",
            f"{reply!r} is neither a pydantic model nor JSON data",
        )
        return frame({"op": "error", "id": request, **tree_error_fields(error)})


def _expire(future: asyncio.Future[Any], callee: str, message: object, timeout: float) -> None:
    if not future.done():
        future.set_exception(CallTimeoutError(callee, message, timeout))


class _TreeChannel(asyncio.Protocol):
    """The tree's end of the second socket pair: the isolated actor's casts and calls to
    the tree's other actors (`supervise._isolated_child.TreeLink` is the other end).

    Each request names its actor as the registry knows it; the message is validated
    against that actor's declared types, then sent on the real ref, in the order the
    requests came. A call is queued at once and answered from its future's callback, so
    nothing here waits for a reply. When the callee's mailbox is full and its overflow
    policy is ``wait``, reading stops until there is room (the child's writes then wait:
    backpressure to the sender); the same when `MAX_TREE_CALLS` calls are in flight.
    """

    def __init__(self, process: IsolatedProcess) -> None:
        self._process = process
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self._holds = 0
        self._closed = False
        #: Calls in flight, by request id: the callee's reply future and its timer.
        self._calls: dict[int, tuple[asyncio.Future[Any], asyncio.TimerHandle | None]] = {}
        self._room: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        #: Monitors the isolated actor holds on the tree's actors, by its monitor ids.
        self._monitors: dict[int, Monitor] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._parse()

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()

    def _parse(self) -> None:
        buffer = self._buffer
        offset = 0
        while not self._holds and not self._closed and len(buffer) - offset >= LENGTH:
            length = int.from_bytes(buffer[offset : offset + LENGTH], "big")
            if length > MAX_FRAME:
                self._process._broken(f"a request of {length} bytes to the tree")
                return
            end = offset + LENGTH + length
            if end > len(buffer):
                break
            body = bytes(buffer[offset + LENGTH : end])
            offset = end
            try:
                header, payload = split(body)
                self._request(header, payload)
            except Exception as exc:  # a child that speaks nonsense is killed
                self._process._broken(f"a request to the tree it could not read ({exc!r})")
                return
        del buffer[:offset]

    def close(self) -> None:
        """The isolated actor has ended: drop its calls in flight and what waits for room."""
        if self._closed:
            return
        self._closed = True
        calls, self._calls = self._calls, {}
        for future, timer in calls.values():
            if timer is not None:
                timer.cancel()
            future.cancel()  # as for a caller that is gone: the callee drops its reply
        for task in list(self._tasks):
            task.cancel()
        monitors, self._monitors = self._monitors, {}
        for monitor in monitors.values():
            monitor.demonitor()  # they end with the isolated actor's incarnation
        transport = self.transport
        if transport is not None and not self._process._loop_closed():
            transport.close()

    def _send(self, data: bytes) -> None:
        transport = self.transport
        if not self._closed and transport is not None and not transport.is_closing():
            transport.write(data)

    def _hold(self, waiting: Awaitable[None]) -> None:
        """Read no further request until ``waiting`` is done."""
        self._holds += 1
        assert self.transport is not None
        self.transport.pause_reading()
        task = asyncio.ensure_future(self._until(waiting))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _until(self, waiting: Awaitable[None]) -> None:
        try:
            await waiting
        finally:
            self._holds -= 1
            if not self._holds and not self._closed:
                assert self.transport is not None
                self.transport.resume_reading()
                self._parse()

    # -- requests ---------------------------------------------------------------------

    def _request(self, header: dict[str, Any], payload: bytes) -> None:
        op = header["op"]
        if op in ("monitor", "demonitor", "link", "unlink"):
            self._watch(op, header)
            return
        if op == "kill":
            try:
                self._resolve(header["to"], header.get("actor")).kill()
            except SuperviseError:
                pass  # nothing there: nothing to kill, as for a ref with nothing behind it
            return
        request: int | None = header.get("id")
        try:
            ref = self._resolve(header["to"], header.get("actor"))
            if op == "lookup":
                accepts = [import_path_of(t) for t in accepted_messages(ref)]
                found = {"op": "found", "id": request, "path": ref.path, "accepts": accepts}
                self._send(frame(found))
                return
            if op == "wait_running":
                assert request is not None
                self._wait_running(request, ref, header.get("timeout"))
                return
            if op == "stop":
                assert request is not None
                reason = ExitReason(ExitKind(header["kind"]), header["detail"])
                self._track(request, asyncio.ensure_future(ref.stop(reason)), None, ref.path, None)
                return
            message = self._message(ref, header["type"], payload)
        except SuperviseError as exc:
            if op == "cast":
                letter = payload.decode(errors="replace")
                cause = "not_found" if isinstance(exc, NameNotFoundError) else "rejected"
                self._process.child.dead_letters.add(header["to"], letter, cause)
            else:
                self._send(frame({"op": "error", "id": request, **tree_error_fields(exc)}))
            return
        if op == "cast":
            self._cast(ref, message)
        elif op == "call":
            assert request is not None
            self._call(request, ref, message, header.get("timeout"))

    def _watch(self, op: str, header: dict[str, Any]) -> None:
        """A monitor or a link the isolated actor asked for, made here (see
        `supervise._isolated_child._TreeIncarnation`)."""
        if op == "demonitor":
            monitor = self._monitors.pop(header["monitor"], None)
            if monitor is not None:
                monitor.demonitor()
            return
        try:
            target = child_of(self._resolve(header["to"], None))
        except SuperviseError as exc:
            if op == "monitor":  # nothing to watch there: as a monitor of nothing running
                self._send(frame({"op": "down", "monitor": header["monitor"], "noproc": True}))
            elif op == "link":  # as a link to a process that is gone: noproc
                self._process.request_stop(crash(exc))
            return
        if op == "monitor":
            monitor_id = header["monitor"]
            self._monitors[monitor_id] = start_monitor(
                target, callback=lambda down: self._down(monitor_id, down)
            )
        elif op == "link":
            process = target.process
            if process is None or process.reason is not None:
                self._process.request_stop(crash(ActorNotRunningError(target.path)))
            else:
                link(self._process, process)
        elif target.process is not None:
            unlink(self._process, target.process)

    def _down(self, monitor_id: int, down: Down) -> None:
        if self._monitors.pop(monitor_id, None) is None:
            return
        if down.reason == "noproc":
            self._send(frame({"op": "down", "monitor": monitor_id, "noproc": True}))
        else:
            answer = {"kind": down.reason, "detail": down.detail}
            self._send(frame({"op": "down", "monitor": monitor_id, **answer}))

    def _resolve(self, name: str, actor: str | None) -> ActorRef[Any]:
        """The tree's ref at ``name``: an actor, and of class ``actor`` (an import path) if
        one is named.

        Raises:
            NameNotFoundError: nothing is there.
            ChildKindError: something else is.
        """
        ref = self._process.child.registry.actor(name)
        if actor is not None:
            found = child_of(ref).spec.actor  # type: ignore[union-attr]
            if actor not in {import_path_of(base) for base in found.__mro__}:
                qualname = actor.partition(":")[2]
                raise ChildKindError(
                    name, f"an actor of class {qualname}", f"an actor of class {found.__qualname__}"
                )
        return ref

    def _message(self, ref: ActorRef[Any], type_path: str, payload: bytes) -> object:
        """The message in ``payload``, validated as the declared type named ``type_path``."""
        for model in accepted_messages(ref):
            if import_path_of(model) == type_path:
                try:
                    return model.model_validate_json(payload)
                except ValueError as exc:
                    raise IsolationError(ref.path, f"message {type_path}", str(exc)) from None
        raise IsolationError(
            ref.path,
            f"message {type_path}",
            f"actor {ref.path!r} does not declare it among its messages",
        )

    def _cast(self, ref: ActorRef[Any], message: object) -> None:
        try:
            ref.cast_nowait(message)  # dead-lettered there if nothing runs
        except MailboxFull:
            if child_of(ref).fail_when_full:
                self._process.child.dead_letters.add(ref.path, message, "mailbox_full")
            else:
                self._hold(ref.cast(message))  # the next request waits for room

    def _call(
        self, request: int, ref: ActorRef[Any], message: object, timeout: float | None
    ) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any]
        try:
            if child_of(ref) is self._process.child:
                raise CallingSelfError(ref.path)
            future = queue_call(ref, message)
        except MailboxFull as exc:
            if child_of(ref).fail_when_full:
                self._send(frame({"op": "error", "id": request, **tree_error_fields(exc)}))
                return
            future = loop.create_future()
            self._hold(_queue_when_room(ref, message, future, timeout))
        except SuperviseError as exc:
            self._send(frame({"op": "error", "id": request, **tree_error_fields(exc)}))
            return
        timer = None
        if timeout is not None:
            timer = loop.call_later(timeout, _expire, future, ref.path, message, timeout)
        self._track(request, future, timer, ref.path, message)

    def _wait_running(self, request: int, ref: ActorRef[Any], timeout: float | None) -> None:
        self._track(request, asyncio.ensure_future(ref.wait_running(timeout)), None, ref.path, None)

    def _track(
        self,
        request: int,
        future: asyncio.Future[Any],
        timer: asyncio.TimerHandle | None,
        callee: str,
        message: object,
    ) -> None:
        """Answer ``request`` when ``future`` is done; past `MAX_TREE_CALLS` in flight, read
        no further request until one is answered."""
        self._calls[request] = (future, timer)
        future.add_done_callback(lambda done: self._answer(request, callee, message, done))
        if len(self._calls) >= MAX_TREE_CALLS and self._room is None:
            self._room = asyncio.get_running_loop().create_future()
            self._hold(self._room)

    def _answer(
        self, request: int, callee: str, message: object, future: asyncio.Future[Any]
    ) -> None:
        entry = self._calls.pop(request, None)
        if entry is None or self._closed:
            return
        if entry[1] is not None:
            entry[1].cancel()
        room = self._room
        if room is not None:
            self._room = None
            room.set_result(None)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            self._send(_answer_frame(request, callee, message, future.result()))
        else:
            self._send(frame({"op": "error", "id": request, **tree_error_fields(exc)}))


async def _queue_when_room(
    ref: ActorRef[Any], message: object, future: asyncio.Future[Any], timeout: float | None
) -> None:
    """Put a call in a full mailbox once there is room, within ``timeout``."""
    process = child_of(ref).process
    if not isinstance(process, ActorProcess):
        future.set_exception(ActorNotRunningError(ref.path))
        return
    try:
        async with asyncio.timeout(timeout):
            await process.mailbox.put(new_call(message, future))
    except MailboxClosed:
        if not future.done():
            future.set_exception(ActorNotRunningError(ref.path))
    except TimeoutError:
        assert timeout is not None
        if not future.done():
            future.set_exception(CallTimeoutError(ref.path, message, timeout))


# -- the fork server -------------------------------------------------------------------


class _Forkserver:
    """A process that has imported what isolated actors need, and forks their processes.

    Started (from the loop's thread, so that its parent-death signal is tied to the
    process, not to a worker thread) at the first start of an isolated child of a
    supervisor, and killed and reaped when that supervisor ends: a restart then costs a
    fork instead of a new interpreter and its imports. Each fork is asked for with the
    tree's environment, working directory and import path, and the two channels' file
    descriptors; the answer is the child's pid and a pidfd, by which the tree signals it
    (no pid-reuse race: the fork server reaps it). The fork server reports each child's
    exit status once it has reaped it. If the fork server dies, its children die with it
    (their parent-death signal) and are reported killed by SIGKILL.
    """

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.dead = False
        self._popen: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        #: Forks asked for and not answered yet, in order.
        self._forks: collections.deque[
            tuple[asyncio.Future[tuple[int, int]], Callable[[int], None]]
        ] = collections.deque()
        #: What to call with each running child's exit status, by pid.
        self._exits: dict[int, Callable[[int], None]] = {}

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._popen = subprocess.Popen(  # from the loop's thread
                [
                    sys.executable,
                    "-c",
                    _FORKSERVER_CODE,
                    str(theirs.fileno()),
                    str(os.getpid()),
                    json.dumps(sys.path),
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self._control = ours
        asyncio.get_running_loop().add_reader(ours.fileno(), self._readable)
        self.ready.add_done_callback(_retrieved)

    async def fork(self, fds: tuple[int, int], on_exit: Callable[[int], None]) -> tuple[int, int]:
        """Fork a child serving the channels ``fds``: its pid and a pidfd (ours to close).

        ``on_exit`` is called with its exit status once the fork server has reaped it.

        Raises:
            OSError: the fork server is gone, or could not fork.
        """
        control = self._control
        if self.dead or control is None:
            raise OSError("the fork server of isolated actors is gone")
        request = {"env": dict(os.environ), "cwd": os.getcwd(), "path": sys.path}
        data = [json.dumps(request).encode()]
        loop = asyncio.get_running_loop()
        while True:
            try:
                socket.send_fds(control, data, list(fds))
                break
            except BlockingIOError:  # many starts at once: wait until it reads
                writable: asyncio.Future[None] = loop.create_future()
                loop.add_writer(control.fileno(), writable.set_result, None)
                try:
                    await writable
                finally:
                    loop.remove_writer(control.fileno())
                if self.dead:
                    raise OSError("the fork server of isolated actors is gone") from None
        future: asyncio.Future[tuple[int, int]] = loop.create_future()
        self._forks.append((future, on_exit))
        return await future

    def forget(self, pid: int) -> None:
        """Nobody waits for ``pid``'s exit status any more (it was killed and waited for)."""
        self._exits.pop(pid, None)

    def _readable(self) -> None:
        control = self._control
        assert control is not None
        try:
            data, fds, _, _ = socket.recv_fds(control, MAX_FORK_REQUEST, 1)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, fds = b"", []
        try:
            if not data:
                raise OSError("the fork server of isolated actors ended")
            message = json.loads(data)
            if "exit" in message:
                on_exit = self._exits.pop(message["exit"], None)
                if on_exit is not None:
                    on_exit(message["code"])
            elif "pid" in message:
                (pidfd,) = fds
                fds = []
                future, on_exit = self._forks.popleft()
                if future.done():  # its incarnation was cancelled meanwhile: end it
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                    os.close(pidfd)
                else:
                    self._exits[message["pid"]] = on_exit
                    future.set_result((message["pid"], pidfd))
            elif "error" in message:
                future, _ = self._forks.popleft()
                if not future.done():
                    future.set_exception(
                        OSError(f"the fork server could not fork: {message['error']}")
                    )
            elif message.get("ready") and not self.ready.done():
                self.ready.set_result(None)
        except Exception as exc:  # it died, or spoke nonsense: it is ended
            self.close(exc)
        finally:
            for fd in fds:
                os.close(fd)

    def close(self, why: BaseException | None = None) -> None:
        """Kill and reap the fork server (its children die with it) and tell their waiters."""
        if self.dead:
            return
        self.dead = True
        gone = why if isinstance(why, OSError) else OSError("the fork server was closed")
        control, self._control = self._control, None
        if control is not None:
            try:
                asyncio.get_running_loop().remove_reader(control.fileno())
            except RuntimeError:  # no running loop (closing): the selector goes with it
                pass
            control.close()
        if not self.ready.done():
            self.ready.set_exception(gone)
        forks, self._forks = self._forks, collections.deque()
        for future, _ in forks:
            if not future.done():
                future.set_exception(gone)
        popen = self._popen
        if popen is not None and popen.returncode is None:
            popen.kill()
            popen.wait()  # bounded: SIGKILL cannot be caught
        exits, self._exits = self._exits, {}
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the loop is closing: its isolated processes end with it
            return
        for on_exit in exits.values():
            on_exit(-signal.SIGKILL)  # their parent-death signal


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


#: The fork servers of supervisors with isolated children, until each supervisor ends.
_forkservers: dict[Process, _Forkserver] = {}


async def _forkserver_of(child: Child) -> _Forkserver | None:
    """The fork server for ``child``'s supervisor, started if need be; None: spawn."""
    supervisor = child.supervisor
    if not FORKSERVER or supervisor is None or supervisor.reason is not None:
        return None
    server = _forkservers.get(supervisor)
    if server is None or server.dead:
        server = _Forkserver()
        try:
            server.start()
        except OSError:
            return None  # no fork server to be had: spawn
        _forkservers[supervisor] = server

        def ended(_: Process) -> None:
            if _forkservers.get(supervisor) is server:
                del _forkservers[supervisor]
            server.close()

        supervisor.add_exit_callback(server, ended)
    try:
        await asyncio.shield(server.ready)
    except OSError:
        return None  # it died before it was ready: spawn
    return server


class IsolatedProcess(ActorProcess):
    """An isolated actor's incarnation, seen from the tree: its mailbox and a forwarder.

    Refs, monitors, links and the supervisor use it as any `ActorProcess`:
    messages go into ``mailbox``; the task (`_main`) starts the child
    process, forwards the mailbox over the channel in order, and ends once
    the child is gone and reaped. The end's reason comes from the child's own
    report when it ended in order; from the kill when the supervisor killed
    it; else from its exit status.
    """

    __slots__ = (
        "_channel",
        "_channel_open",
        "_forkserver",
        "_gone",
        "_graceful",
        "_ids",
        "_pending",
        "_pid",
        "_pidfd",
        "_popen",
        "_reported",
        "_returncode",
        "_spec",
        "_stop_sent",
        "_term_timer",
        "_tree",
        "_waiter_thread",
    )

    def __init__(
        self, child: Child, spec: ChildSpec, mailbox: Mailbox[object], stop_bound: float | None
    ) -> None:
        Process.__init__(self, child)  # ready once the child reports that on_start is done
        self.actor = None  # the actor lives in the child process
        self.mailbox = mailbox
        self.stop_bound = stop_bound
        self._stop_reason: ExitReason | None = None
        self._current = None
        self.casts = 0
        self.calls = 0
        self.handling = None
        self._spec = spec
        self._popen: subprocess.Popen[bytes] | None = None
        #: The fork server it was forked from, if any (else spawned: ``_popen``).
        self._forkserver: _Forkserver | None = None
        self._pid = 0
        self._pidfd = -1
        self._waiter_thread: threading.Thread | None = None
        self._returncode: int | None = None
        self._channel: _Channel | None = None
        self._channel_open = False
        #: The isolated actor's requests to the tree's other actors.
        self._tree: _TreeChannel | None = None
        #: Resolved once the child is reaped and its channel closed.
        self._gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ids = itertools.count(1)
        #: Calls sent to the child and not answered yet, by id.
        self._pending: dict[int, Call] = {}
        self._reported: ExitReason | None = None
        self._graceful = False
        self._stop_sent = False
        self._term_timer: asyncio.TimerHandle | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id once it is started (and until it is reaped)."""
        return self._pid or None

    # -- lifecycle (the supervisor's side) ------------------------------------------------

    def request_stop(self, reason: ExitReason) -> None:
        self._graceful = True
        super().request_stop(reason)

    def stop_after_queued(self, reason: ExitReason) -> None:
        self._graceful = True
        super().stop_after_queued(reason)

    def kill(self, detail: str) -> None:
        """SIGKILL now; or SIGTERM, then SIGKILL after a grace, if a graceful stop ran out."""
        if self.reason is not None:
            return
        if self._kill_reason is None:
            self._kill_reason = killed(detail)
        if self._stop_reason is None:
            self._stop_reason = self._kill_reason
        if not self._alive():
            if self._pid == 0 and self.task is not None:
                self._cancel_task()  # not started yet: nothing to signal
            return
        if self._graceful and self._term_timer is None:
            self._signal(signal.SIGTERM)
            self._term_timer = asyncio.get_running_loop().call_later(
                TERM_GRACE_SECONDS, self._signal, signal.SIGKILL
            )
        else:
            self._signal(signal.SIGKILL)
        self.mailbox.wake()

    def abandon(self) -> None:
        self._reap_now()
        super().abandon()

    def _alive(self) -> bool:
        return self._pid != 0 and self._returncode is None

    def _signal(self, number: int) -> None:
        if not self._alive():
            return
        try:
            if self._forkserver is not None:
                # By its pidfd: the fork server reaps it, so its pid may be reused.
                signal.pidfd_send_signal(self._pidfd, number)
            else:
                # Safe by pid: it is not reaped yet (we reap it), so the pid is not reused.
                os.kill(self._pid, number)
        except ProcessLookupError:
            pass

    # -- the task -------------------------------------------------------------------------

    def start(self) -> None:
        """Create the task running `_main`: an in-loop actor's `ActorProcess._run` is not ours."""
        LoopProcess.start(self)

    def prepare_next(self) -> None:
        """Nothing: its task's context is made when it starts (`LoopProcess.start`)."""

    async def _main(self) -> None:
        reason: ExitReason | None = None
        try:
            await self._spawn()
            await self._forward()
            reason = self._end_reason()
        except BaseException as exc:
            if self._closing(exc):
                self._reap_now()
                if self._forkserver is not None:
                    self._forkserver.close()  # its supervisor's end is not seen any more
                reason = self._closed_reason()
                raise
            self._reap_now()
            if self._cancelled(exc):
                reason = self._kill_reason or killed("cancelled")
                return
            if not isinstance(exc, Exception):
                raise
            # The child could not be started or spoke nonsense: a crash like any other.
            reason = crash(exc)
            self._fail_started(exc)
        finally:
            self._close_channel()
            self._finish(reason or self._kill_reason or killed("cancelled"))

    async def _spawn(self) -> None:
        # Two socket pairs: the actor's messages, and its own requests to the tree's
        # actors (their answers must not wait behind messages held for a full mailbox).
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            tree_ours, tree_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        except BaseException:
            ours.close()
            theirs.close()
            raise
        try:
            forkserver = await _forkserver_of(self.child)
            if forkserver is not None:
                fds = (theirs.fileno(), tree_theirs.fileno())
                try:
                    self._pid, self._pidfd = await forkserver.fork(fds, self._collected)
                except OSError:
                    forkserver = None  # it is gone (a new one starts next time): spawn
                else:
                    self._forkserver = forkserver
            if forkserver is None:
                self._popen = self._spawned(theirs, tree_theirs)
                self._pid = self._popen.pid
                self._watch_exit()
        except BaseException:
            ours.close()
            tree_ours.close()
            raise
        finally:
            theirs.close()
            tree_theirs.close()
        loop = asyncio.get_running_loop()
        try:
            _, channel = await loop.create_unix_connection(lambda: _Channel(self), sock=ours)
        except BaseException:
            ours.close()
            tree_ours.close()
            raise
        self._channel = channel
        self._channel_open = True
        try:
            _, tree = await loop.create_unix_connection(lambda: _TreeChannel(self), sock=tree_ours)
        except BaseException:
            tree_ours.close()
            raise
        self._tree = tree
        spec = self._spec
        config = spec.config
        channel.transport.write(  # type: ignore[union-attr]
            frame(
                {
                    "op": "init",
                    "actor": import_path_of(spec.actor),
                    "name": spec.name,
                    "registered_name": spec.registered_name,
                    "path": self.path,
                    "incarnation": self.child.incarnation + 1,
                    "capacity": spec.mailbox.capacity,
                    "shutdown": spec.shutdown,
                    "stop_bound": self.stop_bound,
                    "config": None if config is None else config.model_dump(mode="json"),
                }
            )
        )

    @staticmethod
    def _spawned(theirs: socket.socket, tree_theirs: socket.socket) -> subprocess.Popen[bytes]:
        """A new interpreter serving the channels (where there is no fork server)."""
        # Spawned from the loop's thread, not a worker thread: a worker thread's
        # end would fire the child's parent-death signal. Measured: about 1 ms.
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CHILD_CODE,
                str(theirs.fileno()),
                str(os.getpid()),
                str(tree_theirs.fileno()),
                json.dumps(sys.path),
            ],
            pass_fds=(theirs.fileno(), tree_theirs.fileno()),
            stdin=subprocess.DEVNULL,
            # Its own session: the terminal's Ctrl-C is the tree's to handle.
            start_new_session=True,
        )

    def _watch_exit(self) -> None:
        """Learn of the child's end on this loop: a pidfd where there is one, else a thread."""
        loop = asyncio.get_running_loop()
        pid = self._pid
        try:
            self._pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            thread = threading.Thread(
                target=self._wait_in_thread, args=(loop,), name=f"waitpid {pid}", daemon=True
            )
            self._waiter_thread = thread
            thread.start()
            return
        loop.add_reader(self._pidfd, self._on_pidfd)

    def _on_pidfd(self) -> None:
        self._stop_watching()
        try:
            _, status = os.waitpid(self._pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: the status is lost
            status = 0
        self._collected(os.waitstatus_to_exitcode(status))

    def _wait_in_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            _, status = os.waitpid(self._pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            code = 0
        if self._returncode is None:
            self._returncode = code
        try:
            loop.call_soon_threadsafe(self._collected, code)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    def _stop_watching(self) -> None:
        fd, self._pidfd = self._pidfd, -1
        if fd >= 0:
            try:
                asyncio.get_running_loop().remove_reader(fd)
            except RuntimeError:  # no running loop (closing): the selector is gone with it
                pass
            os.close(fd)

    def _collected(self, code: int) -> None:
        """The child has been reaped with ``code`` (negative: the signal that ended it)."""
        if self._returncode is not None and self._forkserver is not None:
            return  # killed and waited for on the spot already (`_reap_now`)
        self._returncode = code
        self._stop_watching()
        if self._popen is not None:
            self._popen.returncode = code  # so that Popen does not try (and warn) later
        if self._term_timer is not None:
            self._term_timer.cancel()
        if self._channel_open:
            # Its frames are all in the socket by now; wait briefly for the end of
            # them (a grandchild holding the socket must not hold us up).
            asyncio.get_running_loop().call_later(1.0, self._close_channel)
        self._check_gone()

    def _reap_now(self) -> None:
        """Kill and reap the child on the spot, if it still runs (cancelled, closing)."""
        forkserver = self._forkserver
        if forkserver is not None:
            if self._alive():
                self._signal(signal.SIGKILL)
                # Its pidfd is readable once it has ended; the fork server reaps it.
                select.select([self._pidfd], [], [], TERM_GRACE_SECONDS * 10)
                self._returncode = -signal.SIGKILL
                forkserver.forget(self._pid)
            self._stop_watching()
            return
        self._stop_watching()
        if not self._alive():
            return
        self._signal(signal.SIGKILL)
        thread = self._waiter_thread
        if thread is not None:
            thread.join()
            code = self._returncode if self._returncode is not None else -signal.SIGKILL
        else:
            try:
                _, status = os.waitpid(self._pid, 0)  # bounded: SIGKILL cannot be caught
                code = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                code = -signal.SIGKILL
        self._returncode = code
        if self._popen is not None:
            self._popen.returncode = code

    def _close_channel(self) -> None:
        channel = self._channel
        self._channel_open = False
        if self._tree is not None:
            self._tree.close()
        if self._loop_closed():
            return  # nothing runs on that loop any more: the transport goes with it
        if channel is not None and channel.transport is not None:
            channel.transport.close()  # connection_lost follows on the loop
        elif channel is None:
            self._check_gone()

    def _on_channel_closed(self) -> None:
        self._channel_open = False
        if self._returncode is None and self._alive():
            # It closed its end but lives on: it cannot be reached any more.
            asyncio.get_running_loop().call_later(1.0, self._signal, signal.SIGKILL)
        self._check_gone()

    def _broken(self, what: str) -> None:
        self._kill_reason = self._kill_reason or killed(f"the child sent {what}")
        self._signal(signal.SIGKILL)
        self._close_channel()

    def _check_gone(self) -> None:
        if self._returncode is not None and not self._channel_open:
            gone = self._gone
            if not gone.done():
                gone.set_result(None)
            self.mailbox.wake()

    # -- messages -------------------------------------------------------------------------

    async def _forward(self) -> None:
        """Send the mailbox to the child in order, until a stop or the child's end."""
        channel = self._channel
        assert channel is not None
        assert channel.transport is not None
        write = channel.transport.write
        mailbox = self.mailbox
        gone = self._gone
        while self._stop_reason is None and not gone.done():
            item = await mailbox.take()
            if item is None:  # woken: look at the stop reason and the child again
                continue
            kind = type(item)
            if kind is Call:
                call: Call = item  # type: ignore[assignment]
                data = self._encode(call.message, call)
                if data is not None:
                    call_id = next(self._ids)
                    self._pending[call_id] = call
                    write(frame({"op": "call", "id": call_id, "type": data[0]}, data[1]))
            elif kind is _Stop:
                self._stop_reason = item.reason  # type: ignore[attr-defined]
                self._send_stop(queued=True)
            else:
                data = self._encode(item, None)
                if data is not None:
                    self.casts += 1
                    write(frame({"op": "cast", "type": data[0]}, data[1]))
            if channel.paused:
                await channel.drain()
        reason = self._stop_reason
        if reason is not None and reason is not self._kill_reason and not gone.done():
            self._send_stop(queued=False)
        await gone

    def _encode(self, message: object, call: Call | None) -> tuple[str, bytes] | None:
        try:
            if not isinstance(message, BaseModel):
                raise TypeError(f"{type(message).__qualname__} is not a pydantic model")
            return import_path_of(type(message)), message.model_dump_json().encode()
        except Exception as exc:
            error = IsolationError(self.path, f"message {type(message).__qualname__}", str(exc))
            if call is None:
                self.child.dead_letters.add(self.path, message, "unencodable")
            elif not call.future.done():
                call.future.set_exception(error)
            return None

    def _send_stop(self, *, queued: bool) -> None:
        if self._stop_sent or not self._channel_open:
            return
        self._stop_sent = True
        reason = self._stop_reason
        assert reason is not None
        detail = reason.detail
        if detail is None and reason.exception is not None:
            detail = f"{type(reason.exception).__qualname__}: {reason.exception}"
        header = {"op": "stop", "kind": reason.kind.value, "detail": detail, "queued": queued}
        assert self._channel is not None
        assert self._channel.transport is not None
        self._channel.transport.write(frame(header))

    def _on_frame(self, header: dict[str, Any], payload: bytes) -> None:
        op = header["op"]
        if op == "reply":
            call = self._pending.pop(header["id"], None)
            if call is None:
                return
            self.calls += 1
            future = call.future
            if future.done():  # the caller timed out: drop the reply
                return
            try:
                reply = self._decode_reply(header, payload, call)
            except IsolationError as exc:
                future.set_exception(exc)
            else:
                future.set_result(reply)
        elif op == "failed":
            call = self._pending.pop(header["id"], None)
            if call is not None and not call.future.done():
                # The handler of this call raised: its caller learns now, before on_stop.
                reason = crash(self._remote_error(header))
                error = CallFailedError(self.path, reason)
                error.__cause__ = reason.exception
                call.future.set_exception(error)
        elif op == "started":
            self._set_ready()
        elif op == "rejected":
            call = self._pending.pop(header["id"], None) if header.get("id") else None
            refused = IsolationError(self.path, f"message {header['type']}", header["error"])
            if call is not None:
                if not call.future.done():
                    call.future.set_exception(refused)
            else:
                self.child.dead_letters.add(self.path, payload.decode(), "rejected")
        elif op == "exit":
            self._reported = self._reported_reason(header)

    def _decode_reply(self, header: dict[str, Any], payload: bytes, call: Call) -> Any:
        model_path = header.get("model")
        what = f"reply to {type(call.message).__qualname__}"
        if model_path is None:
            try:
                return json.loads(payload)
            except ValueError as exc:
                raise IsolationError(self.path, what, f"it is not JSON ({exc})") from None
        model = _loaded_model(model_path)
        if model is None:
            raise IsolationError(
                self.path,
                what,
                f"its type {model_path} is not a pydantic model imported in the tree's process",
            )
        try:
            return model.model_validate_json(payload)
        except ValueError as exc:
            problem = f"it does not validate as {model_path}: {exc}"
            raise IsolationError(self.path, what, problem) from None

    def _remote_error(self, header: dict[str, Any]) -> IsolatedActorError:
        return IsolatedActorError(
            self.path, header["exc_type"], header["exc_message"], header["traceback"]
        )

    def _reported_reason(self, header: dict[str, Any]) -> ExitReason:
        """The reason the child reported for its end, rebuilt on this side."""
        if header.get("requested") and self._stop_reason is not None:
            return self._stop_reason
        kind = ExitKind(header["kind"])
        if "exc_type" in header:
            error = self._remote_error(header)
            if kind is ExitKind.CRASH and not self.ready:
                self._fail_started(error)  # on_start (or the actor's set-up) failed there
            return ExitReason(kind, header.get("detail"), error)
        return ExitReason(kind, header.get("detail"))

    def _end_reason(self) -> ExitReason:
        """Why the child ended: its report if it exited in order, else the kill or its status."""
        code = self._returncode
        if self._reported is not None and code == 0:
            return self._reported
        if self._kill_reason is not None:
            return self._kill_reason
        assert code is not None
        died = IsolatedProcessDiedError(
            self.path,
            self._pid,
            code if code >= 0 else None,
            signal_name(-code) if code < 0 else None,
        )
        error: BaseException = died
        if not self.ready:
            self._fail_started(died)
        return ExitReason(ExitKind.CRASH, died.detail, error)

    def _release(self, reason: ExitReason) -> None:
        if self._term_timer is not None:
            self._term_timer.cancel()
        pending, self._pending = self._pending, {}
        for call in pending.values():
            if not call.future.done():
                call.future.set_exception(ActorExitedError(self.path, reason))
        super()._release(reason)


def _loaded_model(path: str) -> type[BaseModel] | None:
    """The model class at ``path`` if its module is imported already (a child names no
    module for this process to import), else None."""
    module_name, _, qualname = path.partition(":")
    obj: object = sys.modules.get(module_name)
    for part in qualname.split("."):
        if obj is None:
            return None
        obj = getattr(obj, part, None)
    if isinstance(obj, type) and issubclass(obj, BaseModel):
        return obj
    return None


__all__ = ["IsolatedProcess", "error_fields", "frame", "reply_frame", "split"]
