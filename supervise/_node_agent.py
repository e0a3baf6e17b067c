"""The node agent behind ``supervise node``: one node of a cluster, with a tree to serve.

``supervise node --name worker-b --nats nats://10.0.0.5:4222 --labels gpu=1`` connects to
the NATS server as node ``worker-b`` (`open_node`: heartbeats, the failure detector, the
request server), runs the tree of ``--tree FILE`` if given (else an empty root), serves
its actors to the other nodes by name and hosts the children other nodes place on it
(`supervise._subtree_host`), then waits for a stop signal and leaves in order: the tree
and the placed children stop (children in reverse start order) before the connection
closes. It is a tree whose root has a ``cluster`` block made of the options.

What else a node serves is added by extensions: each function in `EXTENSIONS` is awaited
with the `NodeAgent` once the node is connected and its tree runs, and registers its node
operations (``conn.add_operation``) or callbacks there. Starting placed subtrees on
request is such an extension.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._nats._node import NodeConnection
from ._tree import Tree, open_tree
from .spec import ClusterSpec, SupervisorSpec

if TYPE_CHECKING:
    from .spec import DynamicSupervisorSpec


@dataclass
class NodeAgent:
    """A running node: its connection, and the tree it serves (None without one).

    Attributes:
        conn: the node's `NodeConnection`.
        tree: the running `Tree` whose actors the node serves, or None.
    """

    conn: NodeConnection
    tree: Tree | None


#: Awaited in order with the agent once it runs: each adds what the node serves.
EXTENSIONS: list[Callable[[NodeAgent], Awaitable[None]]] = []


async def run_node(
    servers: str | Sequence[str],
    *,
    name: str,
    labels: Mapping[str, str] | None = None,
    cluster: str = "supervise",
    heartbeat: float = 0.2,
    misses: int = 3,
    spec: SupervisorSpec | DynamicSupervisorSpec | None = None,
    stop: asyncio.Event,
    ready: Callable[[NodeAgent], object] | None = None,
) -> None:
    """Run node ``name`` (and ``spec``'s tree, served by name) until ``stop`` is set or the
    tree ends; ``ready`` is called once everything runs.

    Raises:
        UsageError: the NATS server cannot be reached, or another process holds this
            node's name (or took it, joining at the same moment).
        RestartIntensityExceeded: the tree's root gave up.
    """
    # The node is a tree with a cluster block (the given one, or an empty root): joining
    # the cluster connects it, serves its actors by name, and hosts what others place here.
    joined = ClusterSpec(
        servers=list(servers) if not isinstance(servers, str) else servers,
        node=name,
        name=cluster,
        heartbeat=heartbeat,
        misses=misses,
        labels=dict(labels or {}),
    )
    root = spec if spec is not None else SupervisorSpec(name=f"node-{name}")
    async with open_tree(root.model_copy(update={"cluster": joined})) as running:
        membership = running._membership
        assert membership is not None
        conn = membership.conn
        tree = running if spec is not None else None
        agent = NodeAgent(conn, tree)
        for extension in EXTENSIONS:
            await extension(agent)
        await conn.wait_serving()  # "ready": any node's whereis finds the tree's names
        if ready is not None:
            ready(agent)
        refused = asyncio.ensure_future(conn.wait_refused())
        waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(stop.wait()), refused}
        if tree is not None:
            ended = asyncio.ensure_future(tree.wait())
            # Its failure is raised by the `async with` as well; mark it as seen here.
            ended.add_done_callback(lambda t: t.cancelled() or t.exception())
            waits.add(ended)
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        if refused.done() and not refused.cancelled():
            raise refused.result()  # another process keeps this node's name
