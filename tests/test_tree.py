"""Embedding a tree in an asyncio (or anyio) application."""

from __future__ import annotations

import asyncio

import anyio
import pytest
from _support import Crash, Ping, worker

from supervise import ActorRef, RestartIntensityExceeded, SupervisorSpec, open_tree
from supervise.testing import EventLog

SPEC = SupervisorSpec(name="root", children=[worker("a"), worker("b")])


async def test_cancelling_the_host_task_stops_the_tree_in_order(events: EventLog) -> None:
    """Cancelling the task inside `async with` stops the children in reverse order."""
    started = asyncio.Event()

    async def host() -> None:
        async with open_tree(SPEC):
            started.set()
            await asyncio.sleep(60)

    task = asyncio.ensure_future(host())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events.sequence("actor_stopped") == [
        ("actor_stopped", "root/b"),
        ("actor_stopped", "root/a"),
    ]
    assert events.names()[-1] == "supervisor_stopped"


async def test_body_exception_stops_the_tree_and_propagates(events: EventLog) -> None:
    """An exception in the body stops the tree and comes out unchanged."""
    with pytest.raises(KeyError):
        async with open_tree(SPEC):
            raise KeyError("app bug")
    assert len(events.of("actor_stopped")) == 2


async def test_runs_inside_anyio_task_groups(events: EventLog) -> None:
    """The tree works under anyio's asyncio backend, and its cancel scopes."""
    async with anyio.create_task_group() as tg:

        async def user() -> None:
            async with open_tree(SPEC) as tree:
                ref = tree.whereis("root/a")
                assert isinstance(ref, ActorRef)
                assert await ref.call(Ping()) == "pong"
                await anyio.sleep_forever()

        tg.start_soon(user)
        await events.wait_for("supervisor_started")
        tg.cancel_scope.cancel()
    assert events.names()[-1] == "supervisor_stopped"


async def test_root_giving_up_cancels_the_body_under_anyio() -> None:
    """Escalation past the root cancels the body and raises from `async with`."""
    spec = SupervisorSpec(name="root", max_restarts=0, children=[worker("a")])
    with pytest.raises(RestartIntensityExceeded):
        async with open_tree(spec) as tree:
            ref = tree.whereis("root/a")
            assert isinstance(ref, ActorRef)
            await ref.cast(Crash())
            await anyio.sleep_forever()


async def test_open_tree_accepts_a_dict_and_wait_returns_after_stop() -> None:
    """open_tree takes a dict spec; wait() returns once stop() ended the tree."""
    tree = open_tree({"name": "root", "children": [{"name": "p", "actor": "_support:Plain"}]})
    async with tree:
        waiter = asyncio.ensure_future(tree.wait())
        await tree.stop()
        await waiter
        assert not tree.running
