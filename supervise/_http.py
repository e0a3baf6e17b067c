"""The HTTP endpoint: a running tree's Prometheus metrics and snapshot, on the loopback only.

``open_tree(spec, http="127.0.0.1:9464")`` (or ``supervise run --http
127.0.0.1:9464``) serves, while the tree runs:

- ``GET /metrics``: prometheus-client's default registry in the Prometheus text
  format, this tree's metrics included (see `supervise._prometheus`);
- ``GET /snapshot``: `Tree.snapshot` as JSON.

It binds 127.0.0.1 or ::1 only: anything else is refused when the tree is
opened (put a reverse proxy in front to expose it further). Each connection
carries one request (``Connection: close``). A request whose head is longer
than `MAX_REQUEST_BYTES`, not finished within `READ_TIMEOUT` seconds, cut off,
malformed, of another method than GET or HEAD, or for another path gets an
error response and never touches the tree; beyond `MAX_CONNECTIONS`
connections at once, the next get 503. The metrics are rendered in a worker
thread while the tree is read on the loop in chunks, so a scrape of a big tree
does not hold the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from typing import TYPE_CHECKING, Any, Final

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import REGISTRY

from ._errors import ArgumentError, UsageError

if TYPE_CHECKING:
    from ._tree import Tree

#: The longest request head accepted (request line and headers), in bytes.
MAX_REQUEST_BYTES: Final[int] = 8 * 1024
#: Connections served at once; more get 503.
MAX_CONNECTIONS: Final[int] = 16
#: Seconds a connection may take to send its whole request head.
READ_TIMEOUT: Final[float] = 10.0
#: Seconds a connection over the bound is given to send its request before its 503.
REFUSE_TIMEOUT: Final[float] = 1.0

_REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def parse_address(address: str) -> tuple[str, int]:
    """``"127.0.0.1:9464"`` or ``"[::1]:9464"`` as (host, port); port 0 picks a free one.

    Raises:
        ArgumentError: not ``HOST:PORT``, or the host is not 127.0.0.1 or ::1.
    """
    where = f"http address {address!r}"
    host, sep, port_text = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ArgumentError(
            where, "expected HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:9464"
        )
    if host == "localhost":
        host = "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host) in (
            ipaddress.ip_address("127.0.0.1"),
            ipaddress.ip_address("::1"),
        )
    except ValueError:
        loopback = False
    if not loopback:
        raise ArgumentError(
            where,
            f"the endpoint binds the loopback only (127.0.0.1 or [::1]), not {host!r}; "
            "to reach it from elsewhere, put a reverse proxy in front",
        )
    return host, int(port_text)


def _response(status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n"
    )
    if status == 405:
        head += "Allow: GET, HEAD\r\n"
    return head.encode("ascii") + b"\r\n" + body


def _error(status: int, message: str) -> bytes:
    return _response(status, message.encode() + b"\n")


class HttpServer:
    """Serves one tree's HTTP endpoint; `start` it, `close` it."""

    def __init__(self, tree: Tree, host: str, port: int) -> None:
        self._tree = tree
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        #: The connections served now, and those being refused (over the bound).
        self._connections: set[asyncio.Task[Any]] = set()
        self._refused: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` with the bound port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Listen.

        Raises:
            UsageError: the address cannot be bound (the port is taken).
        """
        try:
            self._server = await asyncio.start_server(
                self._connected, self.host, self.port, limit=MAX_REQUEST_BYTES
            )
        except OSError as exc:
            raise UsageError(
                f"http endpoint {self.host}:{self.port}",
                f"cannot bind it ({exc.strerror or exc}); pick a free port, or 0 for any",
            ) from exc
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and end the connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = self._connections | self._refused
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await server.wait_closed()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            if len(self._connections) >= MAX_CONNECTIONS:
                self._refused.add(task)
                # Its request is read first (briefly): closing with it unread would
                # reset the connection, and the client might never see the 503.
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(REFUSE_TIMEOUT):
                        await reader.readuntil(b"\r\n\r\n")
                writer.write(_error(503, f"too many connections (at most {MAX_CONNECTIONS})"))
            else:
                self._connections.add(task)
                writer.write(await self._answer(reader))
            await writer.drain()
        except (ConnectionError, TimeoutError):
            pass  # the peer went away; the tree is not concerned
        finally:
            self._connections.discard(task)
            self._refused.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> bytes:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return _error(400, "incomplete request: the connection closed before the head ended")
        except asyncio.LimitOverrunError:
            return _error(431, f"request head too long (at most {MAX_REQUEST_BYTES} bytes)")
        except TimeoutError:
            return _error(408, f"no whole request within {READ_TIMEOUT:g} seconds")
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return _error(400, "malformed request line; expected e.g. GET /metrics HTTP/1.1")
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            return _error(405, "only GET and HEAD are served")
        try:
            response = await self._route(target)
        except Exception as exc:  # never let a request take the endpoint (or the tree) down
            response = _error(500, f"internal error: {type(exc).__name__}: {exc}")
        if method == b"HEAD":
            response = response[: response.index(b"\r\n\r\n") + 4]
        return response

    async def _route(self, target: bytes) -> bytes:
        if target == b"/metrics":
            body = await asyncio.to_thread(generate_latest, REGISTRY)
            return _response(200, body, CONTENT_TYPE_LATEST)
        if target == b"/snapshot":
            snapshot = await self._tree.snapshot()
            body = (await asyncio.to_thread(snapshot.model_dump_json)).encode()
            return _response(200, body, "application/json")
        if target == b"/":
            return _response(200, b"supervise: /metrics (Prometheus), /snapshot (JSON)\n")
        return _error(404, "not found; the endpoint serves /metrics and /snapshot")
