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
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel

from ._child import Child
from ._dead_letters import DeadLetters
from ._imports import import_path_of
from ._isolated import MAX_FRAME, error_fields, frame, reply_frame, split
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


async def _read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
    length = int.from_bytes(await reader.readexactly(4), "big")
    if length > MAX_FRAME:
        raise ValueError(f"a frame of {length} bytes from the parent")
    return split(await reader.readexactly(length))


async def _serve(sock: socket.socket) -> None:
    reader, writer = await asyncio.open_unix_connection(sock=sock, limit=1 << 20)
    try:
        init, _ = await _read_frame(reader)
    except (asyncio.IncompleteReadError, ConnectionError):
        return  # the parent is gone already
    try:
        process = _build(init, writer)
    except Exception as exc:
        writer.write(frame({"op": "exit", "kind": "crash", **error_fields(exc)}))
        await writer.drain()
        return
    types = {import_path_of(t): t for t in process.child.accepts}
    requested: list[ExitReason] = []  # the stop the parent asked for, if any
    process.start()
    reading = asyncio.ensure_future(_read(reader, writer, process, types, requested))
    started = process.pending_start()
    if started is not None:
        try:
            await started
        except BaseException:  # the end reports it
            pass
        else:
            writer.write(frame({"op": "started"}))
    else:
        writer.write(frame({"op": "started"}))
    await process.wait(None)
    reading.cancel()
    writer.write(frame(_exit_header(process, requested)))
    await writer.drain()
    writer.close()


def _build(init: dict[str, Any], writer: asyncio.StreamWriter) -> ActorProcess:
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
    _answer_calls(actor, writer)
    child.process = process
    return process


def _answer_calls(actor: Actor[Any], writer: asyncio.StreamWriter) -> None:
    """Wrap ``handle`` so that a call from the tree is answered when its handler returns."""
    handle = actor.handle

    async def handle_remote(item: object) -> Any:
        if type(item) is not _RemoteCall:
            return await handle(item)
        try:
            data = reply_frame(item.id, await handle(item.message))
        except Exception as exc:
            # The caller learns of the crash now, before on_stop runs.
            writer.write(frame({"op": "failed", "id": item.id, **error_fields(exc)}))
            raise
        writer.write(data)
        return None

    actor.handle = handle_remote  # type: ignore[method-assign,assignment]


async def _read(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    process: ActorProcess,
    types: dict[str, type[BaseModel]],
    requested: list[ExitReason],
) -> None:
    """Frames from the parent into the mailbox, in order; end-of-file ends the process."""
    mailbox = process.mailbox
    while True:
        try:
            header, payload = await _read_frame(reader)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            os._exit(1)  # the parent is gone (or broke the channel): nobody to serve
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
            continue
        model = types.get(header["type"])
        try:
            if model is None:
                raise ValueError(f"the actor does not accept {header['type']}")
            message = model.model_validate_json(payload)
        except ValueError as exc:
            rejected = {"op": "rejected", "id": header.get("id"), "type": header["type"]}
            writer.write(frame({**rejected, "error": str(exc)}, payload))
            continue
        item = message if op == "cast" else _RemoteCall(header["id"], message)
        try:
            await mailbox.put(item)
        except MailboxClosed:
            pass  # the actor is ending; the parent fails what is unanswered


def _exit_header(process: ActorProcess, requested: list[ExitReason]) -> dict[str, Any]:
    reason = process.reason
    assert reason is not None
    header: dict[str, Any] = {"op": "exit", "kind": reason.kind.value, "detail": reason.detail}
    if any(reason is r for r in requested):
        header["requested"] = True
    if reason.exception is not None:
        header.update(error_fields(reason.exception))
    return header
