"""The node agent behind ``supervise node``: one node of a cluster, with a tree to serve.

``supervise node --name worker-b --nats nats://10.0.0.5:4222 --labels gpu=1`` connects to
the NATS server as node ``worker-b`` (`open_node`: heartbeats, the failure detector, the
request server), runs the tree of ``--tree FILE`` if given and serves its actors to the
other nodes by name, then waits for a stop signal and leaves in order: the tree stops
(children in reverse start order) before the connection closes.

What else a node serves is added by extensions: each function in `EXTENSIONS` is awaited
with the `NodeAgent` once the node is connected and its tree runs, and registers its node
operations (``conn.add_operation``) or callbacks there. Starting placed subtrees on
request is such an extension.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._nats._node import NodeConnection, open_node
from ._tree import Tree, open_tree

if TYPE_CHECKING:
    from .spec import DynamicSupervisorSpec, SupervisorSpec


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
        UsageError: the NATS server cannot be reached.
        RestartIntensityExceeded: the tree's root gave up.
    """
    async with open_node(
        servers, name=name, labels=labels, cluster=cluster, heartbeat=heartbeat, misses=misses
    ) as conn:
        tree_context = open_tree(spec) if spec is not None else contextlib.nullcontext(None)
        async with tree_context as tree:
            if tree is not None:
                conn.serve(tree.registry, tree.spec.name)
            agent = NodeAgent(conn, tree)
            for extension in EXTENSIONS:
                await extension(agent)
            if ready is not None:
                ready(agent)
            waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(stop.wait())}
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
