"""The child's side of an isolated actor: its own process, its own loop, one actor.

`supervise._isolated` starts ``python -c ... main()`` with one end of each
socket pair, or (on Linux) asks its fork server (`forkserver`, started once
per supervisor) to fork a child that does the same (`_forked`). Either ties
the process's life to its parent's (``PR_SET_PDEATHSIG`` on Linux, and
end-of-file on the channel: either ends it at once), reads the
``init`` frame, builds the actor from its class and validated config, and
runs it as an `ActorProcess` on a loop of its own, so ``on_start``,
``handle``, ``on_stop`` and timers behave as in the tree. Frames from the
parent become messages in its mailbox, validated against the types the actor
declares; a call's reply (or its failure) is written back when its handler
returns; when the actor ends, one ``exit`` frame reports the reason, and the
process exits with status 0. Any other exit status, or a signal, is a death
the parent reports as a crash.

Inside, ``self.ref`` reaches the actor itself; ``self.registry`` finds the
actor itself here and any other name in the tree's process: a `_TreeRef`
whose casts and calls cross a second socket pair (`TreeLink`), are validated
here against the callee's declared types (learnt from the tree on first use)
and again there, and are delivered by the real ref. A reply comes back as JSON
or a model's JSON; an error as the same `SuperviseError` type, its message
saying it was raised in the tree's process. Monitors and links of the tree's
actors are made in the tree's process (`_TreeIncarnation`), so are stop and
kill; what a ref reads of its slot (state, statistics) is refused from here
with a `UsageError` that says what to do instead.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import json
import os
import select
import signal
import socket
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar, cast, overload

from pydantic import BaseModel

from ._child import Child
from ._dead_letters import DeadLetters
from ._errors import (
    ActorExitedError,
    ActorNotRunningError,
    CallDroppedError,
    CallFailedError,
    CallingSelfError,
    CallTimeoutError,
    ChildKindError,
    IsolationError,
    MailboxFull,
    MessageTypeError,
    NameNotFoundError,
    SuperviseError,
    UsageError,
)
from ._imports import import_path_of, resolve_import_path
from ._isolated import (
    MAX_FORK_REQUEST,
    FrameTooLarge,
    WriteFlow,
    _loaded_model,
    error_fields,
    frame,
    frames,
    reply_frame,
    split,
)
from ._link import _LinkKey
from ._mailbox import Mailbox, MailboxClosed
from ._monitor import Monitor
from ._offload import execution_of, offload_handler
from ._process import ActorProcess, Exit
from ._reason import NORMAL, ExitKind, ExitReason
from ._ref import ActorRef
from ._registry import Registry, register
from .spec import ChildSpec, Execution

if TYPE_CHECKING:
    from ._actor import Actor
    from ._ref import SupervisorRef
    from ._task import TaskRef

MsgT = TypeVar("MsgT")

_PR_SET_PDEATHSIG: Final = 1


class _RemoteCall:
    """A call from the tree in the local mailbox: its id and message."""

    __slots__ = ("id", "message")

    def __init__(self, call_id: int, message: object) -> None:
        self.id = call_id
        self.message = message


def main() -> None:
    """The child process's entry point: ``argv`` is the channel's fd, the parent's pid and
    the tree channel's fd."""
    fd, parent, tree_fd = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    _die_with(parent)
    sock = socket.socket(fileno=fd)
    tree_sock = socket.socket(fileno=tree_fd)
    for each in (sock, tree_sock):
        each.set_inheritable(False)  # its own children must not hold the channels open
    asyncio.run(_serve(sock, tree_sock))
    sys.stdout.flush()
    sys.stderr.flush()
    # Not a normal interpreter exit: a thread the actor left running must not keep
    # the process (and its supervisor's shutdown) waiting.
    os._exit(0)


def forkserver() -> None:
    """The fork server's entry point (`supervise._isolated._Forkserver`): ``argv`` is its
    control socket's fd and the tree's pid.

    Everything an isolated actor's process imports is imported by now. For each request
    (the tree's environment, working directory and import path, and the two channels'
    fds) it forks a child that serves one actor (`_forked`), and answers its pid and a
    pidfd; it reaps each child and reports its exit status. It dies with the tree (the
    parent-death signal, or end-of-file on its control socket), its children with it.
    """
    fd, parent = int(sys.argv[1]), int(sys.argv[2])
    _die_with(parent)
    control = socket.socket(fileno=fd)
    control.set_inheritable(False)
    wake_read, wake_write = os.pipe()  # SIGCHLD wakes the select below
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda number, stack: None)
    zygote = os.getpid()
    _tell(control, {"ready": True})
    while True:
        readable, _, _ = select.select([control.fileno(), wake_read], [], [])
        if wake_read in readable:
            while len(os.read(wake_read, 512)) == 512:
                pass
            _report_ended(control)
        if control.fileno() not in readable:
            continue
        data, fds, _, _ = socket.recv_fds(control, MAX_FORK_REQUEST, 2)
        if not data:
            os._exit(0)  # the tree has closed it: nothing more to start
        try:
            pid = os.fork()
        except OSError as exc:
            _tell(control, {"error": str(exc)})
            pid = -1
        if pid == 0:
            control.close()
            os.close(wake_read)
            os.close(wake_write)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _forked(json.loads(data), fds, zygote)
        for each in fds:
            os.close(each)
        if pid > 0:
            pidfd = os.pidfd_open(pid)
            try:
                socket.send_fds(control, [json.dumps({"pid": pid}).encode()], [pidfd])
            finally:
                os.close(pidfd)


def _tell(control: socket.socket, message: dict[str, Any]) -> None:
    control.sendall(json.dumps(message).encode())


def _report_ended(control: socket.socket) -> None:
    """Reap every child that has ended, and report its exit status to the tree."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _tell(control, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def _forked(request: dict[str, Any], fds: list[int], zygote: int) -> NoReturn:
    """A fork server's child: the tree's process context, then one actor, as `main`."""
    code = 0
    try:
        os.setsid()  # its own session, as a spawned child
        _die_with(zygote)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.path[:] = request["path"]
        sock, tree_sock = (socket.socket(fileno=fd) for fd in fds)
        asyncio.run(_serve(sock, tree_sock))
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _die_with(parent: int) -> None:
    """Get SIGKILL from the kernel when the parent dies (Linux), and check it still lives."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # end-of-file on the channel still ends it
    if os.getppid() != parent:  # it died before the signal was asked for
        os._exit(1)


class _Channel(asyncio.Protocol):
    """The child's end of the socket pair: frames in, straight into the mailbox.

    No reader task: a frame's message is queued from the loop's callback, so
    the actor's task is the only one woken. When the mailbox is full, reading
    pauses (the parent's writes then wait, and its mailbox fills: backpressure
    end to end) until there is room; order is kept because nothing is read
    meanwhile.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        #: The first frame, ``init``; frames after it wait until `serve` is called.
        self.init: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._deliver: Callable[[dict[str, Any], bytes], Awaitable[None] | None] | None = None
        self._held = True  # until `serve`
        self._waiting: asyncio.Future[None] | None = None  # for room in the mailbox
        #: Set before this side closes the channel itself, after its exit frame.
        self.closing = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._parse()

    def serve(self, deliver: Callable[[dict[str, Any], bytes], Awaitable[None] | None]) -> None:
        """Hand each further frame to ``deliver``; an awaitable it returns holds reading."""
        self._deliver = deliver
        self._release()

    def _parse(self) -> None:
        buffer = self._buffer
        offset = 0
        try:
            for body, end in frames(buffer):
                if self._held and self.init.done():
                    break  # the rest waits for room in the mailbox
                header, payload = split(body)
                offset = end
                if not self.init.done():
                    self.init.set_result(header)
                    continue
                assert self._deliver is not None
                waiting = self._deliver(header, payload)
                if waiting is not None:
                    self._hold(waiting)
        except FrameTooLarge:
            os._exit(1)  # not our parent speaking: nobody to serve
        del buffer[:offset]

    def _hold(self, waiting: Awaitable[None]) -> None:
        self._held = True
        assert self.transport is not None
        self.transport.pause_reading()

        async def until_room() -> None:
            try:
                await waiting
            except MailboxClosed:
                pass  # the actor is ending; the parent fails what is unanswered
            self._release()

        self._waiting = asyncio.ensure_future(until_room())

    def _release(self) -> None:
        self._held = False
        assert self.transport is not None
        self.transport.resume_reading()
        self._parse()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            os._exit(1)  # the parent is gone: nobody to serve
        if not self.closed.done():
            self.closed.set_result(None)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)


async def _serve(sock: socket.socket, tree_sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    _, channel = await loop.create_unix_connection(_Channel, sock=sock)
    _, link = await loop.create_unix_connection(TreeLink, sock=tree_sock)
    init = await channel.init
    try:
        process = _build(init, channel, link)
    except Exception as exc:
        channel.write(frame({"op": "exit", "kind": "crash", **error_fields(exc)}))
        await _close(channel)
        return
    requested: list[ExitReason] = []  # the stop the parent asked for, if any
    process.start()
    channel.serve(_deliverer(process, channel, requested))
    started = process.pending_start()
    if started is not None:
        try:
            await started
        except BaseException:  # the end reports it
            pass
        else:
            channel.write(frame({"op": "started"}))
    else:
        channel.write(frame({"op": "started"}))
    await process.wait(None)
    channel.write(frame(_exit_header(process, requested)))
    await _close(channel)


async def _close(channel: _Channel) -> None:
    """Close this end once the frames written are sent (the parent reads them all)."""
    channel.closing = True
    assert channel.transport is not None
    channel.transport.close()  # sends what is buffered first
    await channel.closed


def _build(init: dict[str, Any], channel: _Channel, link: TreeLink) -> ActorProcess:
    """The actor and its incarnation, as the tree's `launch` builds one, on this loop."""
    spec = ChildSpec(
        name=init["name"],
        actor=init["actor"],
        args=init["config"] or {},
        shutdown=init["shutdown"],
        mailbox={"capacity": init["capacity"]},
        registered_name=init.get("registered_name"),
    )
    path = init["path"]
    link.caller = path
    registry = _TreeRegistry(link)
    child = Child(spec, path, None, registry, DeadLetters())
    child.incarnation = init["incarnation"] - 1
    register(registry, child)
    actor: Actor[Any] = spec.actor()  # type: ignore[assignment]
    if spec.config is not None:
        actor.config = spec.config  # type: ignore[attr-defined]
    stop_bound: float | None = init["stop_bound"]
    mailbox: Mailbox[object] = Mailbox(path, spec.mailbox.capacity)
    process = ActorProcess(child, actor, mailbox, stop_bound)
    execution = execution_of(Execution.LOOP, type(actor))
    if execution is not Execution.LOOP:
        offload_handler(process, actor, execution)
    _answer_calls(actor, channel)
    child.process = process
    return process


def _answer_calls(actor: Actor[Any], channel: _Channel) -> None:
    """Wrap ``handle`` so that a call from the tree is answered when its handler returns."""
    handle = actor.handle

    async def handle_remote(item: object) -> Any:
        if type(item) is not _RemoteCall:
            return await handle(item)
        try:
            data = reply_frame(item.id, await handle(item.message))
        except Exit:
            raise  # a stop, not a failure: the call fails with the actor's end (`_release`)
        except Exception as exc:
            # The caller learns of the crash now, before on_stop runs.
            channel.write(frame({"op": "failed", "id": item.id, **error_fields(exc)}))
            raise
        channel.write(data)
        return None

    actor.handle = handle_remote  # type: ignore[method-assign,assignment]


def _deliverer(
    process: ActorProcess, channel: _Channel, requested: list[ExitReason]
) -> Callable[[dict[str, Any], bytes], Awaitable[None] | None]:
    """What to do with each frame from the parent: validate its message and queue it."""
    types = {import_path_of(t): t for t in process.child.accepts}
    mailbox = process.mailbox

    def deliver(header: dict[str, Any], payload: bytes) -> Awaitable[None] | None:
        op = header["op"]
        if op == "stop":
            reason = ExitReason(ExitKind(header["kind"]), header["detail"])
            requested.append(reason)
            try:
                if header["queued"]:
                    process.stop_after_queued(reason)
                else:
                    process.request_stop(reason)
            except MailboxClosed:
                pass
            return None
        model = types.get(header["type"])
        try:
            if model is None:
                raise ValueError(f"the actor does not accept {header['type']}")
            message = model.model_validate_json(payload)
        except ValueError as exc:
            rejected = {"op": "rejected", "id": header.get("id"), "type": header["type"]}
            channel.write(frame({**rejected, "error": str(exc)}, payload))
            return None
        item = message if op == "cast" else _RemoteCall(header["id"], message)
        try:
            mailbox.put_nowait(item)
        except MailboxFull:
            return mailbox.put(item)
        except MailboxClosed:
            pass  # the actor is ending; the parent fails what is unanswered
        return None

    return deliver


def _exit_header(process: ActorProcess, requested: list[ExitReason]) -> dict[str, Any]:
    reason = process.reason
    assert reason is not None
    header: dict[str, Any] = {"op": "exit", "kind": reason.kind.value, "detail": reason.detail}
    if any(reason is r for r in requested):
        header["requested"] = True
    if reason.exception is not None:
        header.update(error_fields(reason.exception))
    return header


# -- the actor's requests to the tree's other actors -----------------------------------


class TreeLink(WriteFlow):
    """The child's end of the tree channel: its actor's casts and calls to the tree's
    other actors, and their answers (`supervise._isolated._TreeChannel` is the other end).

    Never paused by the actor's mailbox, so an answer never waits behind messages held
    for room. Writes wait while the tree is not reading (a callee's full mailbox, or too
    many calls in flight): backpressure to the sender.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._ids = itertools.count(1)
        #: Requests not answered yet: their future, the message (for a rebuilt error) and
        #: the name of the tree's actor they went to.
        self._pending: dict[int, tuple[asyncio.Future[Any], object, str]] = {}
        #: The isolated actor's path, named in the errors raised here.
        self.caller = ""
        #: Monitors of the tree's actors, by monitor id: the incarnation as seen here,
        #: and what to call when its Down comes.
        self._watched: dict[int, tuple[_TreeIncarnation, Callable[[Any], None]]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        offset = 0
        try:
            for body, offset in frames(buffer):  # noqa: B007  # the last offset is used below
                self._answered(*split(body))
        except FrameTooLarge:
            os._exit(1)  # not our parent speaking: nobody to serve
        del buffer[:offset]

    def connection_lost(self, exc: Exception | None) -> None:
        self._release_writer()
        pending, self._pending = self._pending, {}
        for future, _, _ in pending.values():
            if not future.done():
                future.set_exception(self._gone())

    def _gone(self) -> IsolationError:
        return IsolationError(self.caller, "a request to the tree", "the tree's process is gone")

    def write_nowait(self, name: str, data: bytes) -> None:
        """Write ``data`` now, unless the tree is not taking what was written already.

        Raises:
            MailboxFull: the tree is not reading (``name``'s mailbox is full, say).
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            raise self._gone()
        if self.paused:
            full = MailboxFull(name, 0)
            full.args = (
                f"isolated actor {self.caller!r} cannot send to {name!r} without waiting: the "
                f"tree is not taking its messages as fast as it sends them (a full mailbox); "
                f"use the waiting `cast`, or slow down",
            )
            raise full
        transport.write(data)

    async def write(self, data: bytes) -> None:
        """Write ``data``, then wait while the tree is not reading."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise self._gone()
        transport.write(data)
        if self.paused and not transport.is_closing():
            if self._drained is None:
                self._drained = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._drained)

    async def request(self, header: dict[str, Any], payload: bytes, message: object) -> Any:
        """Send a request and wait for its answer: the reply, or the error rebuilt here."""
        request = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request] = (future, message, header["to"])
        try:
            await self.write(frame({**header, "id": request}, payload))
            return await future
        finally:
            self._pending.pop(request, None)

    def _answered(self, header: dict[str, Any], payload: bytes) -> None:
        if header["op"] == "down":
            watched = self._watched.pop(header["monitor"], None)
            if watched is not None:
                incarnation, callback = watched
                if not header.get("noproc"):
                    incarnation.reason = ExitReason(ExitKind(header["kind"]), header["detail"])
                callback(incarnation)
            return
        entry = self._pending.pop(header["id"], None)
        if entry is None:  # the caller has gone (timed out, cancelled)
            return
        future, message, callee = entry
        if future.done():
            return
        op = header["op"]
        try:
            if op == "error":
                raise _rebuilt(header, message, self.caller)
            if op == "found":
                future.set_result(header)
            else:
                future.set_result(_reply(header, payload, message, callee))
        except SuperviseError as exc:
            future.set_exception(exc)

    def watch(self, incarnation: _TreeIncarnation, monitor: int, callback: Any) -> None:
        """Monitor the tree's actor there; ``callback(incarnation)`` once its Down comes."""
        self._watched[monitor] = (incarnation, callback)
        self.write_control({"op": "monitor", "to": incarnation.name, "monitor": monitor})

    def unwatch(self, monitor: int) -> None:
        if self._watched.pop(monitor, None) is not None:
            self.write_control({"op": "demonitor", "monitor": monitor})

    def write_control(self, header: dict[str, Any]) -> None:
        """Write a monitor's or a link's request now: never refused for a full channel
        (one each per monitor or link), nor when the tree is gone (so is this process)."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(frame(header))

    def refused(self, name: str, what: str) -> UsageError:
        """The error for what cannot be done from inside to the tree's actor ``name``."""
        return UsageError(
            f"isolated actor {self.caller!r}",
            f"{what} of {name!r} cannot be done from inside an isolated actor: {name!r} runs "
            f"in the tree's process, and only cast, call, wait_running, stop, kill, monitors "
            f"and links cross to it; ask an actor of the tree to do it for you",
        )


def _reply(header: dict[str, Any], payload: bytes, message: object, callee: str) -> Any:
    """A tree actor's reply: JSON data, or a model found (or imported) here by its path."""
    model_path = header.get("model")
    if model_path is None:
        return json.loads(payload)
    what = f"reply to {type(message).__qualname__}"
    model = _loaded_model(model_path)
    if model is None:
        try:
            found = resolve_import_path(model_path)
        except ValueError as exc:
            raise IsolationError(callee, what, str(exc)) from None
        if not (isinstance(found, type) and issubclass(found, BaseModel)):
            raise IsolationError(callee, what, f"{model_path} is not a pydantic model here")
        model = found
    try:
        return model.model_validate_json(payload)
    except ValueError as exc:
        raise IsolationError(callee, what, f"it does not validate as {model_path}: {exc}") from None


def _reason_of(header: dict[str, Any]) -> ExitReason:
    return ExitReason(ExitKind(header["kind"]), header.get("detail"))


#: How each error that may come back from the tree is rebuilt here, from its fields and
#: the message of the request.
_REBUILD: Final[dict[str, Callable[[dict[str, Any], object], SuperviseError]]] = {
    "CallTimeoutError": lambda h, m: CallTimeoutError(h["actor"], m, h["timeout"]),
    "ActorExitedError": lambda h, m: ActorExitedError(h["actor"], _reason_of(h)),
    "CallFailedError": lambda h, m: CallFailedError(h["actor"], _reason_of(h)),
    "CallDroppedError": lambda h, m: CallDroppedError(h["actor"], _reason_of(h)),
    "ActorNotRunningError": lambda h, m: ActorNotRunningError(
        h["actor"], h.get("waited"), stopped=h.get("stopped")
    ),
    "CallingSelfError": lambda h, m: CallingSelfError(h["actor"]),
    "MessageTypeError": lambda h, m: MessageTypeError(h["actor"], m, ()),
    "MailboxFull": lambda h, m: MailboxFull(h["actor"], h["capacity"]),
    "NameNotFoundError": lambda h, m: NameNotFoundError(h["name"]),
    "ChildKindError": lambda h, m: ChildKindError(h["name"], h["expected"], h["found"]),
    "IsolationError": lambda h, m: IsolationError(h["actor"], h["what"], h["problem"]),
}


def _rebuilt(header: dict[str, Any], message: object, caller: str) -> SuperviseError:
    """The error the tree answered a request with, as the same type here (any other as a
    `SuperviseError`), its message saying that it was raised there."""
    rebuild = _REBUILD.get(header["error"])
    try:
        error = SuperviseError() if rebuild is None else rebuild(header, message)
    except (KeyError, ValueError):  # fields missing: the type, and its text, still say it
        error = SuperviseError()
    error.args = (
        f"{header['text']} (raised in the tree's process, for isolated actor {caller!r})",
    )
    return error


class _TreeSlot:
    """What a ref from inside an isolated actor addresses: the tree's actor at a name."""

    __slots__ = ("accepts", "actor", "actor_path", "link", "name", "path", "ref", "resolved")

    def __init__(self, link: TreeLink, name: str, actor: type[Actor[Any]] | None) -> None:
        self.link = link
        self.name = name
        #: The tree path, once the tree has answered (the name until then).
        self.path = name
        self.actor = actor
        self.actor_path = None if actor is None else import_path_of(actor)
        #: The import paths of the message types it accepts, once known.
        self.accepts: frozenset[str] | None = None
        if actor is not None:
            self.accepts = frozenset(import_path_of(t) for t in actor.accepts)
        self.resolved = False
        self.ref = _TreeRef(self)  # type: ignore[arg-type]  # it stands in for a Child

    @property
    def process(self) -> Any:
        """The incarnation running there, as `Monitor` and `link` see it from here."""
        return _TreeIncarnation(self)

    def header(self, op: str, **fields: Any) -> dict[str, Any]:
        return {"op": op, "to": self.name, "actor": self.actor_path, **fields}

    async def resolve(self) -> None:
        """Ask the tree once what is at the name: the errors of a lookup are raised here."""
        if self.resolved:
            return
        found = await self.link.request(self.header("lookup"), b"", None)
        self.path = found["path"]
        self.accepts = frozenset(found["accepts"])
        self.resolved = True

    def encode(self, message: object) -> tuple[str, bytes]:
        """The message's type path and JSON, checked against the types the actor declares.

        Raises:
            MessageTypeError: it is not a model the actor declares.
            IsolationError: it has no JSON form.
        """
        type_path = import_path_of(type(message))
        accepts = self.accepts
        if not isinstance(message, BaseModel) or (accepts is not None and type_path not in accepts):
            known = self.actor.accepts if self.actor is not None else ()
            error = MessageTypeError(self.path, message, known)
            if self.actor is None and accepts is not None:
                names = " | ".join(sorted(p.partition(":")[2] for p in accepts))
                error.args = (
                    f"actor {self.path!r} does not accept {type(message).__qualname__} (it "
                    f"accepts {names}); send one of those types",
                )
            raise error
        try:
            return type_path, message.model_dump_json().encode()
        except Exception as exc:  # PydanticSerializationError: a value with no JSON form
            raise IsolationError(self.path, f"message {type_path}", str(exc)) from None


class _TreeIncarnation:
    """The incarnation behind a tree actor's name, as a monitor or a link from inside sees
    it: both are made in the tree's process. A monitor there watches the real incarnation
    and sends its Down here, where the monitor made here delivers it (to the mailbox, an
    awaiter or a callback). A link there ties the real incarnation and this actor's
    incarnation in the tree (its `IsolatedProcess`), so either's abnormal end reaches the
    other as for any link, even when this process dies; nothing of it runs here."""

    __slots__ = ("_link", "name", "path", "reason", "terminating")

    def __init__(self, slot: _TreeSlot) -> None:
        self._link = slot.link
        self.name = slot.name
        self.path = slot.path
        #: Its end once its Down has come (None until then, and for ``noproc``).
        self.reason: ExitReason | None = None
        self.terminating = False

    def add_exit_callback(self, key: object, callback: Callable[[Any], None]) -> None:
        if isinstance(key, Monitor):
            self._link.watch(self, key.id, callback)
        elif isinstance(key, _LinkKey):
            self._link.write_control({"op": "link", "to": self.name})

    def remove_exit_callback(self, key: object) -> None:
        if isinstance(key, Monitor):
            self._link.unwatch(key.id)
        elif isinstance(key, _LinkKey) and key.partner.reason is None:
            # Unlinked by this actor; not its own end, which the tree's side propagates.
            self._link.write_control({"op": "unlink", "to": self.name})

    def request_stop(self, reason: ExitReason) -> None:
        """This actor's end reached the link here: the tree's side propagates it."""


class _TreeRef(ActorRef[Any]):
    """A ref, from inside an isolated actor, to one of the tree's actors: casts and calls
    cross to the tree's process, where the real ref delivers them."""

    __slots__ = ()

    @property
    def _slot(self) -> _TreeSlot:
        return cast("_TreeSlot", self._child)

    def __repr__(self) -> str:
        return f"<ActorRef {self._slot.path} in the tree's process>"

    def _refused(self, what: str) -> UsageError:
        slot = self._slot
        return slot.link.refused(slot.name, what)

    @property
    def state(self) -> Any:
        raise self._refused("state")

    @property
    def restart(self) -> Any:
        raise self._refused("restart")

    @property
    def shutdown(self) -> Any:
        raise self._refused("shutdown")

    @property
    def is_running(self) -> bool:
        raise self._refused("is_running (use wait_running)")

    def statistics(self) -> Any:
        raise self._refused("statistics")

    async def stop(self, reason: ExitReason = NORMAL) -> None:
        slot = self._slot
        header = slot.header("stop", kind=reason.kind.value, detail=reason.detail)
        await slot.link.request(header, b"", None)

    def kill(self) -> None:
        slot = self._slot
        slot.link.write_control(slot.header("kill"))

    def cast_nowait(self, msg: Any) -> None:
        slot = self._slot
        type_path, data = slot.encode(msg)
        slot.link.write_nowait(slot.path, frame(slot.header("cast", type=type_path), data))

    async def cast(self, msg: Any) -> None:
        slot = self._slot
        await slot.resolve()
        type_path, data = slot.encode(msg)
        await slot.link.write(frame(slot.header("cast", type=type_path), data))

    async def call(
        self, msg: Any, timeout: float | None = 5.0, *, retry_while_restarting: bool = False
    ) -> Any:
        if retry_while_restarting:
            return await self._call_across_restarts(msg, timeout)
        slot = self._slot
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                await slot.resolve()
                type_path, data = slot.encode(msg)
                header = slot.header("call", type=type_path, timeout=timeout)
                return await slot.link.request(header, data, msg)
        except TimeoutError:
            if deadline.expired():
                assert timeout is not None
                raise CallTimeoutError(slot.path, msg, timeout) from None
            raise

    async def wait_running(self, timeout: float | None = 5.0) -> None:
        slot = self._slot
        await slot.link.request(slot.header("wait_running", timeout=timeout), b"", None)

    async def _call_across_restarts(self, msg: object, timeout: float | None) -> Any:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                return await self.call(msg, left)
            except (ActorNotRunningError, CallDroppedError):
                pass  # nothing of it ran: safe to send again once it runs
            except CallTimeoutError as exc:
                raise CallTimeoutError(
                    self._slot.path, exc.message, exc.timeout if timeout is None else timeout
                ) from None
            left = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                await self.wait_running(left)
            except ActorNotRunningError as exc:
                if exc.stopped is not None:
                    raise
                raise ActorNotRunningError(self._slot.path, waited=timeout) from None


class _TreeRegistry(Registry):
    """The registry an isolated actor sees: itself here, any other name in the tree's
    process (a ref whose casts and calls cross; its first one asks the tree what is
    there, so a name that is not found, or not an actor, is raised by it)."""

    __slots__ = ("_link", "_slots")

    def __init__(self, link: TreeLink) -> None:
        super().__init__()
        self._link = link
        self._slots: dict[tuple[str, type[Actor[Any]] | None], _TreeSlot] = {}

    def _here(self, name: str) -> bool:
        return name in self._by_name or name in self._by_path

    def _remote(self, name: str, actor: type[Actor[Any]] | None) -> ActorRef[Any]:
        slot = self._slots.get((name, actor))
        if slot is None:
            slot = self._slots[name, actor] = _TreeSlot(self._link, name, actor)
        return slot.ref

    def whereis(self, name: str) -> ActorRef[object] | SupervisorRef | TaskRef:
        if self._here(name):
            return super().whereis(name)
        return self._remote(name, None)

    @overload
    def actor(self, name: str) -> ActorRef[Any]: ...
    @overload
    def actor(self, name: str, actor: type[Actor[MsgT]]) -> ActorRef[MsgT]: ...
    def actor(self, name: str, actor: type[Actor[Any]] | None = None) -> ActorRef[Any]:
        if self._here(name):
            return super().actor(name, actor) if actor is not None else super().actor(name)
        return self._remote(name, actor)

    def supervisor(self, name: str) -> SupervisorRef:
        if self._here(name):
            return super().supervisor(name)
        raise self._link.refused(name, "registry.supervisor()")

    def task(self, name: str) -> TaskRef:
        if self._here(name):
            return super().task(name)
        raise self._link.refused(name, "registry.task()")
