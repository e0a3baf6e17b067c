"""A TCP echo server: one Session actor per client, under a dynamic supervisor.

The Listener owns the listening socket and, for each client, a small
connection task that only moves lines between the socket and the client's
Session. The Session holds the per-client state and logic, so a bug there
(here: the line "crash") crashes only that session: the supervisor restarts it
with fresh state, and the connection task keeps the socket open. That split,
I/O at the edge and state in supervised actors, is what lets one client's
crash leave every other client, and its own connection, untouched.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from pydantic import BaseModel, Field

from supervise import (
    Actor,
    ActorNotRunningError,
    ActorRef,
    CallFailedError,
    ChildError,
    ExitReason,
    SupervisorRef,
)

log = structlog.get_logger("examples.echo")


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


class Listener(Actor[Address]):
    """Accepts clients and gives each one a Session."""

    config: ListenerConfig

    async def on_start(self) -> None:
        # A failure here (say, the port is taken) is a start failure: the tree
        # does not start, and `supervise run` says why.
        self.connections: set[asyncio.Task[None]] = set()
        self.server = await asyncio.start_server(self._serve, self.config.host, self.config.port)
        self.address: tuple[str, int] = self.server.sockets[0].getsockname()[:2]
        log.info("echo_listening", host=self.address[0], port=self.address[1])

    async def handle(self, msg: Address) -> tuple[str, int]:
        return self.address

    async def on_stop(self, reason: ExitReason) -> None:
        self.server.close()
        # asyncio does not own the connection tasks' fate; we do: end them now
        # so that each one removes its session before the tree goes on stopping.
        for task in self.connections:
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        host, port = writer.get_extra_info("peername")[:2]
        sessions = self.registry.whereis(self.config.sessions)
        assert isinstance(sessions, SupervisorRef)
        session = await sessions.start_child({"peer": f"{host}:{port}"})
        assert isinstance(session, ActorRef)
        try:
            while line := await reader.readline():
                reply = await self._ask(session, line.decode(errors="replace").rstrip("\r\n"))
                writer.write(reply.encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass  # the client went away mid-write; nothing to tell it
        finally:
            self.connections.discard(task)
            writer.close()
            # The client left: stop its session for good (a transient child
            # that is terminated is not restarted, and is forgotten).
            with contextlib.suppress(ActorNotRunningError, ChildError):
                await sessions.terminate_child(session)

    @staticmethod
    async def _ask(session: ActorRef[Line], text: str) -> str:
        try:
            reply: str = await session.call(Line(text=text))
        except CallFailedError:
            # The session crashed on this very line; its supervisor restarts it.
            return "your session crashed and was restarted"
        except ActorNotRunningError:
            return "your session is restarting; send that again"
        return reply
