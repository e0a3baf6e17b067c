"""A TCP echo server: one Session actor per client, under a dynamic supervisor.

The Listener owns the listening socket and, for each client, a small
connection task that only moves lines between the socket and the client's
Session. The Session holds the per-client state and logic, so a bug there
(here: the line "crash") crashes only that session: the supervisor restarts it
with fresh state, and the connection task keeps the socket open. That split,
I/O at the edge and state in supervised actors, is what lets one client's
crash leave every other client, and its own connection, untouched.

Unless too many crash at once: past its restart intensity the sessions
supervisor gives up, its parent restarts it, and it starts empty, as OTP's
would. Every session is gone then. The listener monitors the sessions
supervisor, so it hears of that at once and tells each client whose session is
gone, then closes its connection (the client reconnects for a new one), rather
than leaving it to be answered "restarting" for ever. Everything that happens
at the edge, a line over the 64 KiB limit included, goes into the structured log.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from pydantic import BaseModel, Field

from supervise import (
    Actor,
    ActorExitedError,
    ActorNotRunningError,
    ActorRef,
    CallFailedError,
    ChildError,
    Down,
    ExitReason,
    StartError,
    SupervisorRef,
)

log = structlog.get_logger("examples.echo")

#: The longest line a client may send: asyncio's default StreamReader limit.
LINE_LIMIT = 64 * 1024


class Line(BaseModel, frozen=True):
    """One line a client sent; a call whose reply is the line to send back."""

    text: str


class SessionConfig(BaseModel, frozen=True):
    # The listener passes the real peer to start_child; the default lets the
    # template in the tree file validate without one.
    peer: str = "unknown"


class Session(Actor[Line]):
    """Echoes lines with a counter; the line "crash" crashes it (let it crash)."""

    config: SessionConfig

    async def on_start(self) -> None:
        self.lines = 0  # state starts afresh in every incarnation

    async def handle(self, msg: Line) -> str:
        if msg.text.strip() == "crash":
            raise RuntimeError(f"client {self.config.peer} asked its session to crash")
        self.lines += 1
        return f"{self.lines}: {msg.text}"


class Address(BaseModel, frozen=True):
    """Ask the listener where it listens (a call; the reply is ``(host, port)``)."""


class ListenerConfig(BaseModel, frozen=True):
    host: str = "127.0.0.1"
    port: int = Field(default=7007, ge=0, le=65535)
    #: Tree path of the dynamic supervisor that holds the sessions.
    sessions: str = "echo/sessions"


class Listener(Actor[Address | Down]):
    """Accepts clients and gives each one a Session."""

    config: ListenerConfig

    async def on_start(self) -> None:
        # A failure here (say, the port is taken) is a start failure: the tree
        # does not start, and `supervise run` says why.
        self.connections: set[asyncio.Task[None]] = set()
        #: Each open connection's writer, and its session once it has one.
        self.clients: dict[asyncio.StreamWriter, ActorRef[Line] | None] = {}
        sessions = self.registry.whereis(self.config.sessions)
        assert isinstance(sessions, SupervisorRef)
        self.sessions = sessions
        # Told when the sessions supervisor ends: see handle(Down).
        self.monitor(sessions)
        self.server = await asyncio.start_server(
            self._serve, self.config.host, self.config.port, limit=LINE_LIMIT
        )
        self.address: tuple[str, int] = self.server.sockets[0].getsockname()[:2]
        log.info("echo_listening", host=self.address[0], port=self.address[1])

    async def handle(self, msg: Address | Down) -> tuple[str, int] | None:
        match msg:
            case Address():
                return self.address
            case Down():
                # The sessions supervisor ended (it gave up) and its parent
                # restarts it empty: once it runs again, tell every client whose
                # session is gone, and close, without waiting for its next line.
                await self.sessions.wait_running(timeout=10)
                self.monitor(self.sessions)
                alive = {id(child.ref) for child in await self.sessions.which_children()}
                for writer, session in list(self.clients.items()):
                    if session is not None and id(session) not in alive:
                        self._lost(writer, session)
        return None

    async def on_stop(self, reason: ExitReason) -> None:
        self.server.close()
        # asyncio does not own the connection tasks' fate; we do: end them now so
        # that each one removes its session before the tree goes on stopping.
        # Closing a connection ends its task as a client leaving does (the reader
        # sees EOF); only a task stuck past that is cancelled.
        for writer in self.clients:
            writer.close()
        if self.connections:
            _, stuck = await asyncio.wait(self.connections, timeout=1.0)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        self.clients[writer] = None
        host, port = writer.get_extra_info("peername")[:2]
        peer = f"{host}:{port}"
        sessions = self.sessions
        session: ActorRef[Line] | None = None
        try:
            try:
                started = await sessions.start_child({"peer": peer})
            except (ActorNotRunningError, ChildError, StartError) as exc:
                # The sessions supervisor is restarting, full, or the session failed to start.
                log.warning("echo_session_refused", peer=peer, error=str(exc))
                _say_last(writer, "the server cannot take you now; try again later")
                return
            assert isinstance(started, ActorRef)
            session = self.clients[writer] = started
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # a line over the reader's limit (LimitOverrunError)
                    log.warning("echo_line_too_long", peer=peer, limit=LINE_LIMIT)
                    _say_last(writer, f"line too long (over {LINE_LIMIT} bytes); closing")
                    return
                if not line:
                    return  # the client closed its side, or we closed it
                reply = await self._ask(session, line.decode(errors="replace"))
                if reply is None:
                    self._lost(writer, session)
                    return
                writer.write(reply.encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass  # the client went away mid-write; nothing to tell it
        except Exception:
            # Outside supervision (asyncio runs this callback): log it, in the
            # structured log, rather than leave it to asyncio's plain text.
            log.exception("echo_connection_failed", peer=peer)
        finally:
            self.connections.discard(task)
            self.clients.pop(writer, None)
            writer.close()
            if session is not None:
                # The client left: stop its session for good (a transient child
                # that is terminated is not restarted, and is forgotten).
                with contextlib.suppress(ActorNotRunningError, ChildError):
                    await sessions.terminate_child(session)

    def _lost(self, writer: asyncio.StreamWriter, session: ActorRef[Line]) -> None:
        """Tell a client its session is gone for good, and close (once, whoever sees it first)."""
        if self.clients.pop(writer, None) is None:
            return  # told already, or leaving
        host, port = writer.get_extra_info("peername")[:2]
        log.info("echo_session_lost", peer=f"{host}:{port}", session=session.path)
        _say_last(writer, "your session was lost (too many sessions crashed at once); reconnect")

    async def _ask(self, session: ActorRef[Line], text: str) -> str | None:
        """The reply to send back, or None if the session is gone for good."""
        try:
            reply: str = await session.call(Line(text=text.rstrip("\r\n")))
        except CallFailedError:
            # The session crashed on this very line; its supervisor restarts it.
            if await _gone(self.sessions, session):
                return None
            return "your session crashed and was restarted"
        except (ActorExitedError, ActorNotRunningError):
            if await _gone(self.sessions, session):
                return None
            return "your session is restarting; send that again"
        return reply


def _say_last(writer: asyncio.StreamWriter, text: str) -> None:
    """Send a last line and close; the client reads it, then EOF."""
    if not writer.is_closing():
        writer.write(text.encode() + b"\n")
        writer.close()  # after the buffered line is flushed


async def _gone(sessions: SupervisorRef, session: ActorRef[Line]) -> bool:
    """Whether ``session`` ended for good: its supervisor no longer has it.

    Asked through the supervisor, so the answer comes after every exit it has
    been told of. A dynamic supervisor that gave up starts again empty: the
    sessions of its previous incarnation are never restarted (the new ones may
    even reuse their names, hence the comparison by ref).
    """
    try:
        children = await sessions.which_children()
    except ActorNotRunningError:
        return True  # between giving up and its restart: it will start empty
    return all(child.ref is not session for child in children)
