"""The child's side of an isolated actor: its own process, its own loop, one actor.

`supervise._isolated` starts ``python -c ... main()`` with one end of a socket
pair. `main` ties the process's life to its parent's (``PR_SET_PDEATHSIG`` on
Linux, and end-of-file on the channel: either ends it at once), reads the
``init`` frame, builds the actor from its class and validated config, and
runs it as an `ActorProcess` on a loop of its own, so ``on_start``,
``handle``, ``on_stop`` and timers behave as in the tree. Frames from the
parent become messages in its mailbox, validated against the types the actor
declares; a call's reply (or its failure) is written back when its handler
returns; when the actor ends, one ``exit`` frame reports the reason, and the
process exits with status 0. Any other exit status, or a signal, is a death
the parent reports as a crash.

Inside, the actor's context is its own process: ``self.ref`` reaches only
itself and ``self.registry`` holds only itself; other actors of the tree are
not reachable from here.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from ._child import Child
from ._dead_letters import DeadLetters
from ._errors import MailboxFull
from ._imports import import_path_of
from ._isolated import LENGTH, MAX_FRAME, error_fields, frame, reply_frame, split
from ._mailbox import Mailbox, MailboxClosed
from ._offload import execution_of, offload_handler
from ._process import ActorProcess
from ._reason import ExitKind, ExitReason
from ._registry import Registry, register
from .spec import ChildSpec, Execution

if TYPE_CHECKING:
    from ._actor import Actor

_PR_SET_PDEATHSIG: Final = 1


class _RemoteCall:
    """A call from the tree in the local mailbox: its id and message."""

    __slots__ = ("id", "message")

    def __init__(self, call_id: int, message: object) -> None:
        self.id = call_id
        self.message = message


def main() -> None:
    """The child process's entry point: ``argv`` is the socket's fd and the parent's pid."""
    fd, parent = int(sys.argv[1]), int(sys.argv[2])
    _die_with(parent)
    sock = socket.socket(fileno=fd)
    sock.set_inheritable(False)  # its own children must not hold the channel open
    asyncio.run(_serve(sock))
    sys.stdout.flush()
    sys.stderr.flush()
    # Not a normal interpreter exit: a thread the actor left running must not keep
    # the process (and its supervisor's shutdown) waiting.
    os._exit(0)


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
        while len(buffer) - offset >= LENGTH and not (self._held and self.init.done()):
            length = int.from_bytes(buffer[offset : offset + LENGTH], "big")
            if length > MAX_FRAME:
                os._exit(1)  # not our parent speaking: nobody to serve
            end = offset + LENGTH + length
            if end > len(buffer):
                break
            header, payload = split(bytes(buffer[offset + LENGTH : end]))
            offset = end
            if not self.init.done():
                self.init.set_result(header)
                continue
            assert self._deliver is not None
            waiting = self._deliver(header, payload)
            if waiting is not None:
                self._hold(waiting)
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


async def _serve(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    _, channel = await loop.create_unix_connection(_Channel, sock=sock)
    init = await channel.init
    try:
        process = _build(init, channel)
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


def _build(init: dict[str, Any], channel: _Channel) -> ActorProcess:
    """The actor and its incarnation, as the tree's `launch` builds one, on this loop."""
    spec = ChildSpec(
        name=init["name"],
        actor=init["actor"],
        args=init["config"] or {},
        shutdown=init["shutdown"],
        mailbox={"capacity": init["capacity"]},
    )
    path = init["path"]
    registry = Registry()
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
