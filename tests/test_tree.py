"""Embedding a tree in an asyncio (or anyio) application."""

from __future__ import annotations

import asyncio
import re

import anyio
import pytest
from _support import Crash, Ping, worker

from supervise import (
    ActorRef,
    RestartIntensityExceeded,
    SuperviseError,
    SupervisorSpec,
    Tree,
    TreeFileError,
    UnsupportedEventLoopError,
    UsageError,
    open_tree,
)
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


def crash_root_a_past_the_limit() -> SupervisorSpec:
    return SupervisorSpec(name="root", max_restarts=0, children=[worker("a"), worker("b")])


async def crash(tree: Tree, path: str) -> None:
    ref = tree.whereis(path)
    assert isinstance(ref, ActorRef)
    await ref.cast(Crash())


async def test_on_give_up_is_called_once_after_the_tree_stopped(events: EventLog) -> None:
    """The hook gets the RestartIntensityExceeded once the root has stopped, then the body ends."""
    seen: list[tuple[BaseException, list[str]]] = []

    def on_give_up(exc: BaseException) -> None:
        seen.append((exc, events.names()))

    with pytest.raises(RestartIntensityExceeded) as info:
        async with open_tree(crash_root_a_past_the_limit(), on_give_up=on_give_up) as tree:
            await crash(tree, "root/a")
            await anyio.sleep_forever()
    assert len(seen) == 1
    exc, names_then = seen[0]
    assert exc is info.value
    assert names_then[-1] == "supervisor_stopped"  # the whole tree had stopped
    assert events.names()[-1] == "supervisor_stopped"  # and nothing ran after the hook


async def test_on_give_up_without_async_with_calls_the_hook_and_cancels_nothing() -> None:
    """start()/stop() (the aiohttp recipe): the hook and wait() tell of the give-up; no cancel."""
    seen: list[BaseException] = []
    tree = open_tree(crash_root_a_past_the_limit(), on_give_up=seen.append)
    await tree.start()
    try:
        await crash(tree, "root/a")
        with pytest.raises(RestartIntensityExceeded) as info:
            await tree.wait()  # this task was not cancelled: it hears of it here
        assert seen == [info.value]
        assert not tree.running
    finally:
        await tree.stop()  # idempotent after the give-up
    assert seen == [info.value]


async def test_on_give_up_is_not_called_on_an_orderly_stop() -> None:
    """Leaving the block, or stop(), is not giving up."""
    seen: list[BaseException] = []
    async with open_tree(SPEC, on_give_up=seen.append) as tree:
        await tree.stop()
    async with open_tree(SPEC, on_give_up=seen.append):
        pass
    assert seen == []


async def test_a_failing_on_give_up_hook_is_reported_and_the_give_up_goes_on() -> None:
    """The hook's own error goes to the loop's exception handler; the body is still cancelled."""
    reported: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, context: reported.append(context))

    def broken(exc: BaseException) -> None:
        raise ValueError("hook bug")

    try:
        with pytest.raises(RestartIntensityExceeded):
            async with open_tree(crash_root_a_past_the_limit(), on_give_up=broken) as tree:
                await crash(tree, "root/a")
                await anyio.sleep_forever()
    finally:
        loop.set_exception_handler(None)
    assert len(reported) == 1
    assert str(reported[0]["message"]).startswith("open_tree on_give_up hook")
    assert isinstance(reported[0]["exception"], ValueError)


TRIO_MESSAGE = (
    "open_tree('root') needs a running asyncio event loop, but it runs under trio, which is "
    "not supported; supervise runs on asyncio only: start it with asyncio.run(), or "
    "anyio.run(..., backend='asyncio')"
)


def test_entering_a_tree_under_trio_says_trio_is_not_supported() -> None:
    """Under anyio's trio backend, open_tree raises UnsupportedEventLoopError, not deep inside."""
    pytest.importorskip("trio")

    async def main() -> None:
        async with open_tree(SPEC):
            pass  # pragma: no cover - never entered

    with pytest.raises(UnsupportedEventLoopError, match=f"^{re.escape(TRIO_MESSAGE)}$") as info:
        anyio.run(main, backend="trio")
    assert info.value.library == "trio"
    assert isinstance(info.value, SuperviseError)


def test_starting_a_tree_without_an_event_loop_says_so() -> None:
    """No loop at all (the coroutine driven by hand): the same error, naming no library."""
    coro = open_tree(SPEC).start()
    with pytest.raises(UnsupportedEventLoopError, match="no asyncio event loop is running") as info:
        coro.send(None)
    assert info.value.library is None


async def test_a_tree_runs_once_and_is_waited_for_after_it_started() -> None:
    """Starting a Tree twice, or waiting before it started, is a UsageError saying what to do."""
    tree = open_tree({"name": "root", "children": []})
    with pytest.raises(UsageError) as info:
        await tree.wait()
    assert str(info.value) == (
        "tree 'root': wait() was called before the tree started; enter `async with "
        "open_tree(...)` (or await tree.start()) first"
    )
    async with tree:
        with pytest.raises(UsageError) as info:
            await tree.start()
        assert str(info.value) == (
            "tree 'root': it was started already; a Tree runs once: open a new one with "
            "open_tree(spec)"
        )
        assert isinstance(info.value, RuntimeError)  # as before it was a SuperviseError


def test_a_bad_dict_is_a_tree_file_error_listing_every_problem() -> None:
    """open_tree(dict) reads the dict as load_tree does: a TreeFileError with each field."""
    with pytest.raises(TreeFileError) as info:
        open_tree({"name": "root", "strategy": "one_for_none", "children": [{"name": "a/b"}]})
    assert [p.path for p in info.value.problems] == [
        "strategy",
        "children[0].name",
        "children[0].actor",
    ]
    assert str(info.value.problems[0]) == (
        'strategy: expected "one_for_one", "one_for_all" or "rest_for_one", found '
        '"one_for_none"; did you mean "one_for_one"?'
    )
