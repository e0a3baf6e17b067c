"""Supervised tasks with results: async_/async_nolink and async_stream on a dynamic supervisor.

Modelled on Elixir's lib/elixir/test/elixir/task/supervisor_test.exs; each test
names the case it follows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _support import until
from pydantic import BaseModel

from supervise import (
    Actor,
    ArgumentError,
    AsyncTask,
    ChildError,
    ChildSpec,
    DynamicSupervisorSpec,
    LinkedExit,
    SpecError,
    SupervisorRef,
    SupervisorSpec,
    TaskExitedError,
    TaskResult,
    TaskTimeoutError,
    UsageError,
    open_tree,
)

TASKS = DynamicSupervisorSpec(name="tasks")


async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


async def wait_and_return(gate: asyncio.Event, value: str) -> str:
    await gate.wait()
    return value


async def fail(message: str) -> None:
    await asyncio.sleep(0)
    raise ValueError(message)


async def forever() -> None:
    await asyncio.Event().wait()


async def test_async_spawns_a_task_under_the_supervisor() -> None:
    """Elixir: "async/1 spawns tasks under the supervisor" and "async/3": the task is a
    child (named after the function) until it returns, and await gives its value."""
    gate = asyncio.Event()
    async with open_tree(TASKS) as tree:
        task = await tree.root.async_(wait_and_return, gate, "done")
        assert isinstance(task, AsyncTask)
        assert task.ref.path == "tasks/wait_and_return-1"
        rows = await tree.root.which_children()
        assert [(r.name, r.kind, r.restart) for r in rows] == [
            ("wait_and_return-1", "task", "temporary")
        ]
        assert not task.done()
        gate.set()
        assert await task == "done"
        assert await task == "done"  # awaited again: the same value
        await until(lambda: not task.ref.is_running)
        assert await tree.root.which_children() == []


async def test_await_raises_on_task_error() -> None:
    """Elixir: await/1 "exits on task error": the crash reaches the awaiting caller."""
    async with open_tree(TASKS) as tree:
        task = await tree.root.async_nolink(fail, "oops")
        with pytest.raises(TaskExitedError) as info:
            await task
        assert info.value.task == task.ref.path
        assert info.value.reason.kind == "crash"
        assert isinstance(info.value.__cause__, ValueError)
        assert str(info.value.__cause__) == "oops"


async def test_await_raises_when_the_task_is_stopped() -> None:
    """Elixir: await/1 "exits on task exit": a task stopped before it returned."""
    async with open_tree(TASKS) as tree:
        task = await tree.root.async_(forever)
        await tree.root.terminate_child(task.ref)
        with pytest.raises(TaskExitedError) as info:
            await task
        assert info.value.reason.kind == "shutdown"
        assert info.value.__cause__ is None


async def test_async_with_custom_shutdown() -> None:
    """Elixir: async/1 "with custom shutdown": brutal_kill at the supervisor's shutdown."""
    async with open_tree(SupervisorSpec(name="root", children=[TASKS])) as tree:
        tasks = tree.supervisor("root/tasks")
        task = await tasks.async_(forever, shutdown="brutal_kill")
        assert task.ref.shutdown == "brutal_kill"
        await tree.root.terminate_child("tasks")
        with pytest.raises(TaskExitedError) as info:
            await task
        assert (info.value.reason.kind, info.value.reason.detail) == ("killed", "brutal_kill")


async def test_async_raises_when_max_children_is_reached() -> None:
    """Elixir: async/1 "raises when :max_children is reached"."""
    async with open_tree(DynamicSupervisorSpec(name="tasks", max_children=1)) as tree:
        await tree.root.async_(forever)
        with pytest.raises(ChildError) as full:
            await tree.root.async_nolink(double, 1)
        assert full.value.code == "max_children"
        with pytest.raises(ChildError):
            [r async for r in tree.root.async_stream(double, [1])]


async def test_a_timed_out_await_leaves_the_task_running() -> None:
    """Elixir: await/1 "demonitors and unalias on timeout": the waiting stops, not the task."""
    gate = asyncio.Event()
    async with open_tree(TASKS) as tree:
        task = await tree.root.async_(wait_and_return, gate, "late")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):
                await task
        assert task.ref.is_running
        gate.set()
        assert await task == "late"


async def test_only_a_dynamic_supervisor_runs_async_tasks() -> None:
    async with open_tree(SupervisorSpec(name="root")) as tree:
        with pytest.raises(UsageError, match="dynamic supervisor"):
            await tree.root.async_(double, 1)
        with pytest.raises(SpecError, match="not an async function"):
            await tree.root.async_(print, 1)  # type: ignore[arg-type]


async def test_bad_arguments_are_refused_before_anything_starts() -> None:
    async with open_tree(TASKS) as tree:
        with pytest.raises(SpecError, match="do not fit"):
            await tree.root.async_(double, 1, 2)
        for options in ({"max_concurrency": 0}, {"timeout": 0}, {"on_timeout": "later"}):
            with pytest.raises(ArgumentError):
                tree.root.async_stream(double, [1], **options)
        assert await tree.root.which_children() == []


# -- links: an actor calling -------------------------------------------------------------


class Spawn(BaseModel, frozen=True):
    linked: bool
    message: str


class Caller(Actor[Spawn]):
    """Starts a task that fails once `gate` is set, and answers at once."""

    gate: asyncio.Event | None = None

    async def handle(self, msg: Spawn) -> str:
        tasks = self.registry.supervisor("root/tasks")
        assert Caller.gate is not None
        start = tasks.async_ if msg.linked else tasks.async_nolink
        task = await start(_fail_when, Caller.gate, msg.message)
        return task.ref.path


async def _fail_when(gate: asyncio.Event, message: str) -> None:
    await gate.wait()
    raise ValueError(message)


CALLER_TREE = SupervisorSpec(name="root", children=[TASKS, ChildSpec(name="caller", actor=Caller)])


@pytest.mark.parametrize("linked", [True, False])
async def test_a_linked_task_crash_crashes_the_calling_actor(linked: bool) -> None:
    """Elixir: async/1 "assert the link" and async_nolink/1 "refute the link": a linked
    task that crashes takes its calling actor with it (LinkedExit); unlinked, it does not."""
    Caller.gate = asyncio.Event()
    async with open_tree(CALLER_TREE) as tree:
        caller = tree.actor("root/caller", Caller)
        path = await caller.call(Spawn(linked=linked, message="boom"))
        task = tree.task(path)
        with caller.monitor() as caller_down, task.monitor() as task_down:
            Caller.gate.set()
            assert (await task_down).reason == "crash"
            if linked:
                down = await caller_down
                assert down.reason == "crash"
                assert isinstance(down.exception, LinkedExit)
                await caller.wait_running()
                assert (await tree.root.which_child("caller")).incarnation == 2
            else:
                assert await caller.call(Spawn(linked=False, message="again")) != path
                assert caller_down.down is None
                assert (await tree.root.which_child("caller")).incarnation == 1


async def test_a_crashing_caller_stops_its_linked_task() -> None:
    """The other direction of the link: the calling actor crashes, its linked task ends."""

    class Crash(BaseModel, frozen=True):
        pass

    class Owner(Actor[Spawn | Crash]):
        async def handle(self, msg: Spawn | Crash) -> str:
            if isinstance(msg, Crash):
                raise RuntimeError("owner fails")
            task = await self.registry.supervisor("root/tasks").async_(forever)
            return task.ref.path

    spec = SupervisorSpec(name="root", children=[TASKS, ChildSpec(name="owner", actor=Owner)])
    async with open_tree(spec) as tree:
        owner = tree.actor("root/owner", Owner)
        task = tree.task(await owner.call(Spawn(linked=True, message="")))
        with task.monitor() as task_down:
            with pytest.raises(Exception, match="owner fails"):
                await owner.call(Crash())
            down = await task_down
        assert down.reason == "crash"
        assert isinstance(down.exception, LinkedExit)


# -- async_stream ------------------------------------------------------------------------


async def test_async_stream_streams_an_enumerable() -> None:
    """Elixir: async_stream "streams an enumerable with fun", and "without leaking tasks"."""
    async with open_tree(TASKS) as tree:
        results = [r async for r in tree.root.async_stream(double, range(1, 5))]
        assert results == [TaskResult(2 * i, None, i) for i in range(1, 5)]
        assert all(r.ok for r in results)
        assert await tree.root.which_children() == []


async def test_async_stream_keeps_input_order_with_slowest_first() -> None:
    """Elixir: async_stream "streams an enumerable with slowest first": results come in
    input order though the calls finish in reverse (each waits for the next one's end)."""
    done: dict[int, asyncio.Event] = {i: asyncio.Event() for i in range(5)}
    finished: list[int] = []

    async def staggered(i: int) -> int:
        if i < 4:
            await done[i + 1].wait()
        finished.append(i)
        done[i].set()
        return i

    async with open_tree(TASKS) as tree:
        stream = tree.root.async_stream(staggered, range(5), max_concurrency=5)
        assert [r.value async for r in stream] == [0, 1, 2, 3, 4]
        assert finished == [4, 3, 2, 1, 0]
        unordered = tree.root.async_stream(staggered, range(5), max_concurrency=5, ordered=False)
        for event in done.values():
            event.clear()
        finished.clear()
        assert [r.value async for r in unordered] == [4, 3, 2, 1, 0]


async def test_async_stream_nolink_streams_exits() -> None:
    """Elixir: async_stream_nolink "streams an enumerable with exits": each failing call
    is a result with its exit, and the stream goes on."""
    async with open_tree(TASKS) as tree:
        results = [r async for r in tree.root.async_stream_nolink(fail, ["1", "2", "3"])]
        assert [(r.ok, r.item, r.exit and r.exit.kind) for r in results] == [
            (False, "1", "crash"),
            (False, "2", "crash"),
            (False, "3", "crash"),
        ]
        assert [str(r.exit.exception) for r in results if r.exit] == ["1", "2", "3"]


async def test_async_stream_crashes_with_a_failing_call() -> None:
    """Elixir: async_stream "streams an enumerable with exits" (linked: the caller exits):
    the stream's child crashes with the call's exception and the iteration raises."""
    async with open_tree(TASKS) as tree:
        seen: list[TaskResult[None]] = []
        with pytest.raises(TaskExitedError) as info:
            seen.extend([result async for result in tree.root.async_stream(fail, ["x"])])
        assert seen == []
        assert info.value.reason.kind == "crash"
        assert str(info.value.__cause__) == "x"


async def test_async_stream_respects_max_concurrency() -> None:
    """At most max_concurrency calls run at once, and all of them do."""
    running = 0
    peak = 0

    async def tracked(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        for _ in range(3):
            await asyncio.sleep(0)
        running -= 1
        return i

    async with open_tree(TASKS) as tree:
        stream = tree.root.async_stream(tracked, range(50), max_concurrency=4)
        assert [r.value async for r in stream] == list(range(50))
    assert peak == 4


async def test_async_stream_with_timeout_and_kill_task() -> None:
    """Elixir: async_stream "with timeout and :zip_input_on_exit set to true": the slow
    call is cancelled and its result is an exit (killed, timeout) with its item."""
    cancelled: list[int] = []

    async def slow(i: int) -> int:
        if i == 100:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(i)
                raise
        return i

    async with open_tree(TASKS) as tree:
        stream = tree.root.async_stream(slow, [1, 100], timeout=0.05, on_timeout="kill_task")
        results = [r async for r in stream]
    assert results[0] == TaskResult(1, None, 1)
    assert (results[1].ok, results[1].item) == (False, 100)
    assert results[1].exit is not None
    assert (results[1].exit.kind, results[1].exit.detail) == ("killed", "timeout")
    assert cancelled == [100]


async def test_async_stream_timeout_exits_by_default() -> None:
    """on_timeout="exit" (Elixir's default): the stream crashes with TaskTimeoutError."""
    async with open_tree(TASKS) as tree:
        with pytest.raises(TaskExitedError) as info:
            [r async for r in tree.root.async_stream_nolink(_sleep_forever, [7], timeout=0.05)]
    cause = info.value.__cause__
    assert isinstance(cause, TaskTimeoutError)
    assert (cause.item, cause.timeout) == (7, 0.05)


async def _sleep_forever(_: int) -> None:
    await asyncio.Event().wait()


async def test_async_stream_shuts_down_unused_tasks() -> None:
    """Elixir: async_stream "shuts down unused tasks": leaving after the first result
    stops the stream's child, cancels the calls in flight, and takes no more items."""
    cancelled: list[int] = []
    taken: list[int] = []

    async def sleep(seconds: float) -> float:
        try:
            if seconds:
                await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(len(cancelled))
            raise
        return seconds

    def items() -> Any:
        for seconds in [0, 1, 1, 1, 1, 1]:
            taken.append(1)
            yield seconds

    async with open_tree(TASKS) as tree:
        async with tree.root.async_stream(sleep, items(), max_concurrency=3) as stream:
            first = await anext(stream)
            child = stream.ref
        assert first.value == 0
        assert child is not None
        assert not child.is_running
        assert await tree.root.which_children() == []
        assert len(cancelled) == 3  # the three calls in flight
        assert len(taken) == 4  # the first, then one per worker: nothing after the stop


async def test_a_dropped_stream_is_stopped() -> None:
    """A stream left half-consumed without ``async with`` is stopped once dropped."""
    async with open_tree(TASKS) as tree:
        stream = tree.root.async_stream(_sleep_forever, range(10), timeout=None)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await anext(stream)  # cancelled: the stream is stopped
        child = stream.ref
        assert child is not None
        await child.wait_down()
        doubling = tree.root.async_stream(_double_slowly, range(10), timeout=None)
        await anext(doubling)
        child = doubling.ref
        assert child is not None
        with child.monitor() as down:
            del doubling
            assert (await down).reason == "shutdown"


async def _double_slowly(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


async def test_supervisor_shutdown_cancels_a_running_stream() -> None:
    """The same shutdown guarantees as other children: the supervisor's shutdown cancels
    the stream's calls within its shutdown, nothing is left running, the consumer fails."""
    started = asyncio.Event()
    ended: list[str] = []

    async def hold(i: int) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            ended.append(f"cancelled {i}")
            raise

    before = asyncio.all_tasks()
    async with open_tree(SupervisorSpec(name="root", children=[TASKS])) as tree:
        tasks: SupervisorRef = tree.supervisor("root/tasks")
        stream = tasks.async_stream(hold, range(100), max_concurrency=5, timeout=None)
        consumer = asyncio.create_task(_consume(stream))
        await started.wait()
        await tree.root.terminate_child("tasks")
        with pytest.raises(TaskExitedError) as info:
            await consumer
        assert info.value.reason.kind == "shutdown"
        assert sorted(ended) == [f"cancelled {i}" for i in range(5)]
    assert asyncio.all_tasks() - before <= {asyncio.current_task()}


async def _consume(stream: Any) -> list[Any]:
    return [r async for r in stream]


async def test_a_stream_whose_calls_overrun_its_shutdown_is_killed() -> None:
    """A call that ignores the first cancellation: at the end of the stream's shutdown the
    child is killed and the call is cancelled again; nothing is left running."""
    started = asyncio.Event()
    cancellations: list[int] = []

    async def stubborn(i: int) -> None:
        started.set()
        while True:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancellations.append(i)
                if len(cancellations) > 1:
                    raise

    before = asyncio.all_tasks()
    async with open_tree(TASKS) as tree:
        stream = tree.root.async_stream(
            stubborn, [1], max_concurrency=1, timeout=None, shutdown=0.05
        )
        consumer = asyncio.create_task(_consume(stream))
        await started.wait()
        assert stream.ref is not None
        await tree.root.terminate_child(stream.ref)
        with pytest.raises(TaskExitedError) as info:
            await consumer
    assert info.value.reason.kind == "killed"
    assert cancellations == [1, 1]
    assert asyncio.all_tasks() - before <= {asyncio.current_task()}


class Consume(BaseModel, frozen=True):
    linked: bool


class StreamCaller(Actor[Consume]):
    """Consumes a stream whose second call fails, and reports what it saw."""

    async def handle(self, msg: Consume) -> str:
        tasks = self.registry.supervisor("root/tasks")
        start = tasks.async_stream if msg.linked else tasks.async_stream_nolink
        try:
            results = [r async for r in start(_fail_on_two, [1, 2, 3], max_concurrency=1)]
        except TaskExitedError:
            return "stream crashed"
        return ",".join("ok" if r.ok else "exit" for r in results)


async def _fail_on_two(i: int) -> int:
    await asyncio.sleep(0)
    if i == 2:
        raise ValueError("two")
    return i


@pytest.mark.parametrize("linked", [True, False])
async def test_a_linked_stream_crash_crashes_the_consuming_actor(linked: bool) -> None:
    """Elixir: async_stream (linked: a failing task exits the caller) against
    async_stream_nolink (each failure is an exit result; the caller lives on)."""
    spec = SupervisorSpec(
        name="root", children=[TASKS, ChildSpec(name="caller", actor=StreamCaller)]
    )
    async with open_tree(spec) as tree:
        caller = tree.actor("root/caller", StreamCaller)
        with caller.monitor() as caller_down:
            answer = await caller.call(Consume(linked=linked))
            if linked:
                assert answer == "stream crashed"
                down = await caller_down
                assert down.reason == "crash"
                assert isinstance(down.exception, LinkedExit)
            else:
                assert answer == "ok,exit,ok"
                assert await caller.call(Consume(linked=False)) == "ok,exit,ok"
                assert caller_down.down is None


async def test_async_stream_times_out_only_the_calls_past_their_deadline() -> None:
    """Each call has its own deadline (one timer per worker, re-armed call after call):
    only the stuck calls are cancelled; the quick ones around them keep their values."""

    async def some_stuck(i: int) -> int:
        await asyncio.sleep(0)
        if i % 10 == 5:
            await asyncio.Event().wait()
        return i

    async with open_tree(TASKS) as tree:
        stream = tree.root.async_stream(
            some_stuck, range(30), max_concurrency=3, timeout=0.05, on_timeout="kill_task"
        )
        results = [r async for r in stream]
    assert [r.item for r in results if not r.ok] == [5, 15, 25]
    assert all(r.exit is not None and r.exit.detail == "timeout" for r in results if not r.ok)
    assert [r.value for r in results if r.ok] == [i for i in range(30) if i % 10 != 5]


async def test_a_calls_own_timeout_error_is_a_crash() -> None:
    """A TimeoutError the call raises itself is a crash like any other, not the deadline."""

    async def gives_up(_: int) -> None:
        raise TimeoutError("upstream took too long")

    async with open_tree(TASKS) as tree:
        [result] = [r async for r in tree.root.async_stream_nolink(gives_up, [1], timeout=10)]
    assert result.exit is not None
    assert result.exit.kind == "crash"
    assert str(result.exit.exception) == "upstream took too long"


# -- async_stream over an async iterable ------------------------------------------------


async def test_async_stream_reads_an_async_iterable_lazily() -> None:
    """An async generator is read as a sync iterable is: nothing before the first step, then
    never more than the window (64 here) ahead of the consumer, so an endless one works; at
    most max_concurrency calls at once; results in input order."""
    pulled: list[int] = []
    running = peak = 0

    async def numbers() -> AsyncIterator[int]:
        i = 0
        while True:
            await asyncio.sleep(0)  # an async source suspends between items
            pulled.append(i)
            yield i
            i += 1

    async def tracked(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        for _ in range(10):  # longer than a read: all workers get busy
            await asyncio.sleep(0)
        running -= 1
        return 2 * i

    async with open_tree(TASKS) as tree:
        stream = tree.root.async_stream(tracked, numbers(), max_concurrency=4)
        for _ in range(10):
            await asyncio.sleep(0)
        assert pulled == []
        values: list[int | None] = []
        async with stream:
            async for result in stream:
                values.append(result.value)
                assert len(pulled) <= len(values) + 64
                if len(values) == 200:
                    break
        assert values == [2 * i for i in range(200)]
        assert peak == 4
        assert await tree.root.which_children() == []


async def test_async_stream_unordered_over_an_async_iterable() -> None:
    """ordered=False with an async input: results as the calls finish, each with its item."""
    done: dict[int, asyncio.Event] = {i: asyncio.Event() for i in range(5)}

    async def staggered(i: int) -> int:
        if i < 4:
            await done[i + 1].wait()
        done[i].set()
        return i

    async def items() -> AsyncIterator[int]:
        for i in range(5):
            yield i

    async with open_tree(TASKS) as tree:
        stream = tree.root.async_stream_nolink(staggered, items(), max_concurrency=5, ordered=False)
        assert [(r.value, r.item) async for r in stream] == [(i, i) for i in (4, 3, 2, 1, 0)]


@pytest.mark.parametrize("linked", [True, False])
async def test_an_async_iterable_that_raises_crashes_the_stream(linked: bool) -> None:
    """A failure while reading the input is no item's result, linked or not: the results of
    the items read before it come first, then the stream's child crashes with it."""

    async def items() -> AsyncIterator[int]:
        for i in range(3):
            yield i
        raise ValueError("the source broke")

    async with open_tree(TASKS) as tree:
        start = tree.root.async_stream if linked else tree.root.async_stream_nolink
        seen: list[int | None] = []
        with pytest.raises(TaskExitedError) as info:
            async for result in start(double, items(), max_concurrency=1):
                seen.append(result.value)  # noqa: PERF401  # each result before the error
        assert seen == [0, 2, 4]
        assert info.value.reason.kind == "crash"
        assert str(info.value.__cause__) == "the source broke"
        assert await tree.root.which_children() == []
