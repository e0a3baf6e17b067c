"""DynamicSupervisor.start_child: inline when the supervisor is idle, queued otherwise, in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _support import Crash, Ping
from pydantic import BaseModel

from supervise import (
    Actor,
    ActorRef,
    CallFailedError,
    ChildSpec,
    DynamicSupervisorSpec,
    SpecError,
    SupervisorRef,
    open_tree,
)
from supervise.testing import EventLog


class Fragile(Actor[Ping | Crash]):
    """No on_start: ready as soon as its task exists; crashes on Crash."""

    async def handle(self, msg: Ping | Crash) -> str:
        if isinstance(msg, Crash):
            raise ValueError(msg.message)
        return "pong"


class Slow(Actor[Ping]):
    """Has an on_start: its start must be waited for."""

    async def on_start(self) -> None:
        await asyncio.sleep(0)

    async def handle(self, msg: Ping) -> str:
        return "pong"


class Setting(BaseModel, frozen=True):
    value: int = 1


class Configured(Actor[Ping]):
    config: Setting

    async def handle(self, msg: Ping) -> int:
        return self.config.value


def pool(actor: type[Actor[Any]], name: str = "a", **fields: Any) -> DynamicSupervisorSpec:
    return DynamicSupervisorSpec(
        name="pool", max_restarts=10, child=ChildSpec(name=name, actor=actor, **fields)
    )


def actor_ref(ref: ActorRef[Any] | SupervisorRef | object) -> ActorRef[Any]:
    assert isinstance(ref, ActorRef)
    return ref


async def test_idle_pool_starts_children_in_the_callers_task() -> None:
    """Without on_start, start_child on an idle pool returns at once, without yielding."""
    async with open_tree(pool(Fragile)) as tree:
        ran = asyncio.Event()
        other = asyncio.ensure_future(asyncio.sleep(0))
        other.add_done_callback(lambda _: ran.set())
        refs = [actor_ref(await tree.root.start_child()) for _ in range(3)]
        assert not ran.is_set()  # the loop never ran anything else meanwhile
        assert [r.path for r in refs] == ["pool/a-1", "pool/a-2", "pool/a-3"]
        assert all(r.is_running for r in refs)
        assert [await r.call(Ping()) for r in refs] == ["pong"] * 3
        await other


async def test_on_start_goes_through_the_inbox() -> None:
    """A template with on_start is started by the supervisor, and the caller waits for it."""
    async with open_tree(pool(Slow)) as tree:
        ran = asyncio.Event()
        other = asyncio.ensure_future(asyncio.sleep(0))
        other.add_done_callback(lambda _: ran.set())
        ref = actor_ref(await tree.root.start_child())
        assert ran.is_set()
        assert await ref.call(Ping()) == "pong"


async def test_a_queued_exit_is_handled_before_a_later_start(events: EventLog) -> None:
    """An exit already in the inbox is handled first: the restart precedes the new start."""
    async with open_tree(pool(Fragile)) as tree:
        one = actor_ref(await tree.root.start_child())
        with pytest.raises(CallFailedError):
            await one.call(Crash())
        # one's exit is queued and the supervisor has not run yet: this start must wait.
        two = actor_ref(await tree.root.start_child())
        assert two.path == "pool/a-2"
        assert events.sequence("actor_restarted", "actor_started") == [
            ("actor_started", "pool/a-1"),
            ("actor_restarted", "pool/a-1"),
            ("actor_started", "pool/a-1"),
            ("actor_started", "pool/a-2"),
        ]


async def test_children_share_the_template_but_keep_their_names() -> None:
    """Rows, restarts and args behave as if each child had its own spec."""
    async with open_tree(pool(Configured)) as tree:
        plain = actor_ref(await tree.root.start_child())
        tuned = actor_ref(await tree.root.start_child({"value": 7}))
        assert (await plain.call(Ping()), await tuned.call(Ping())) == (1, 7)
        rows = await tree.root.which_children()
        assert [(r.name, r.path, r.ref) for r in rows] == [
            ("a-1", "pool/a-1", plain),
            ("a-2", "pool/a-2", tuned),
        ]
        with pytest.raises(SpecError, match="value"):
            await tree.root.start_child({"value": "many"})
        await tree.root.terminate_child(plain)
        assert [r.name for r in await tree.root.which_children()] == ["a-2"]


async def test_a_generated_name_past_the_limit_is_still_refused() -> None:
    """The template's name plus ``-n`` must still fit the 200-character name limit."""
    async with open_tree(pool(Fragile, name="x" * 199)) as tree:
        with pytest.raises(SpecError, match="at most 200 characters"):
            await tree.root.start_child()
