"""Tests for supervise._virtual_clock.

The async tests in this module run on a VirtualClockLoop through the
pytest-asyncio recipe documented in the module under test: the
``event_loop_policy`` fixture below returns a VirtualClockPolicy. Each test
gets a fresh loop (function loop scope), so virtual time starts at 0.0.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.metadata
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from supervise._virtual_clock import (
    VirtualClockLoop,
    VirtualClockPolicy,
    virtual_clock_loop_factory,
)

_T = TypeVar("_T")

# pytest-asyncio >= 1.4 deprecates overriding event_loop_policy in favour of
# the pytest_asyncio_loop_factories hook (tested below in a subprocess, since
# a hook cannot live in a test module); the override still works.
pytestmark = pytest.mark.filterwarnings(
    'ignore:Overriding the "event_loop_policy" fixture:pytest.PytestDeprecationWarning'
)

# Generous: a broken autojump sleeps in real time and blows far past this.
REAL_SECONDS_BOUND = 30.0


@pytest.fixture(scope="module")
def event_loop_policy() -> VirtualClockPolicy:
    """Run this module's async tests on virtual-clock loops."""
    return VirtualClockPolicy()


def running_loop() -> VirtualClockLoop:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualClockLoop)
    return loop


def run_virtual(coro_fn: Callable[[], Any], **factory_kwargs: Any) -> Any:
    """Run ``coro_fn()`` on a fresh VirtualClockLoop built with the given settings."""
    with asyncio.Runner(loop_factory=virtual_clock_loop_factory(**factory_kwargs)) as runner:
        return runner.run(coro_fn())


def start_thread(target: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


@contextlib.asynccontextmanager
async def resolved_later(
    future: asyncio.Future[_T], value: _T, delay: float
) -> AsyncIterator[None]:
    """From a plain (untracked) thread, resolve ``future`` after ``delay`` real
    seconds; the thread is joined on exit, whatever happened to the future."""
    loop = future.get_loop()

    def resolve() -> None:
        if not future.done():
            future.set_result(value)

    def work() -> None:
        time.sleep(delay)
        with contextlib.suppress(RuntimeError):  # the loop may be closed by now
            loop.call_soon_threadsafe(resolve)

    thread = start_thread(work)
    try:
        yield
    finally:
        await asyncio.to_thread(thread.join)


# --- the pytest-asyncio recipe -------------------------------------------


async def test_policy_fixture_recipe_runs_tests_on_a_fresh_virtual_clock_loop() -> None:
    """Overriding event_loop_policy with VirtualClockPolicy gives each test a
    VirtualClockLoop whose clock starts at 0.0."""
    loop = running_loop()
    assert loop.time() == 0.0
    assert loop.autojump is True
    assert loop.autojump_threshold == 0.0


def test_policy_new_event_loop_builds_configured_loops() -> None:
    """VirtualClockPolicy.new_event_loop returns a new VirtualClockLoop with the
    policy's settings on every call."""
    policy = VirtualClockPolicy(start=50.0, autojump=False, autojump_threshold=0.25)
    first, second = policy.new_event_loop(), policy.new_event_loop()
    try:
        assert first is not second
        for loop in (first, second):
            assert isinstance(loop, VirtualClockLoop)
            assert loop.time() == 50.0
            assert loop.autojump is False
            assert loop.autojump_threshold == 0.25
    finally:
        first.close()
        second.close()


@pytest.mark.skipif(
    tuple(int(part) for part in importlib.metadata.version("pytest-asyncio").split(".")[:2])
    < (1, 4),
    reason="pytest_asyncio_loop_factories needs pytest-asyncio >= 1.4",
)
def test_loop_factories_hook_recipe_works_in_a_conftest(tmp_path: Path) -> None:
    """The conftest.py recipe from the module docstring (pytest_asyncio_loop_factories
    plus a marker) runs marked tests on a VirtualClockLoop and others on the stock
    loop, with warnings as errors."""
    (tmp_path / "pytest.ini").write_text(
        textwrap.dedent(
            """\
            [pytest]
            asyncio_mode = auto
            asyncio_default_fixture_loop_scope = function
            filterwarnings = error
            addopts = --strict-markers
            """
        )
    )
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            """\
            import asyncio
            from supervise._virtual_clock import virtual_clock_loop_factory

            def pytest_configure(config):
                config.addinivalue_line("markers", "virtual_clock: run on a VirtualClockLoop")

            def pytest_asyncio_loop_factories(config, item):
                if item.get_closest_marker("virtual_clock") is not None:
                    return {"virtual_clock": virtual_clock_loop_factory()}
                return {"asyncio": asyncio.new_event_loop}
            """
        )
    )
    (tmp_path / "test_recipe.py").write_text(
        textwrap.dedent(
            """\
            import asyncio
            import pytest
            from supervise._virtual_clock import VirtualClockLoop

            @pytest.mark.virtual_clock
            async def test_virtual():
                loop = asyncio.get_running_loop()
                assert isinstance(loop, VirtualClockLoop)
                await asyncio.sleep(3600)
                assert loop.time() == 3600.0

            async def test_stock():
                assert not isinstance(asyncio.get_running_loop(), VirtualClockLoop)
            """
        )
    )
    repo_root = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo_root), env.get("PYTHONPATH", "")) if p)
    env.pop("PYTEST_ADDOPTS", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


# --- autojump -------------------------------------------------------------


async def test_sleep_an_hour_advances_virtual_time_not_real_time() -> None:
    """asyncio.sleep(3600) returns with the virtual clock exactly 3600 s later,
    without waiting anywhere near that long in real time."""
    loop = running_loop()
    real_start = time.monotonic()
    await asyncio.sleep(3600)
    assert loop.time() == 3600.0
    assert time.monotonic() - real_start < REAL_SECONDS_BOUND


async def test_sleep_beyond_asyncio_select_cap_completes_exactly() -> None:
    """A sleep longer than asyncio's one-day cap on a single select() still ends at
    exactly its deadline (the loop jumps several times)."""
    loop = running_loop()
    await asyncio.sleep(10 * 86400 + 0.5)
    assert loop.time() == 10 * 86400 + 0.5


async def test_successive_backoff_sleeps_land_on_their_deadlines() -> None:
    """An exponential backoff of 25 sleeps (about 38 virtual days) ends at the exact
    sum of its delays."""
    loop = running_loop()
    delays = [0.1 * 2**attempt for attempt in range(25)]
    real_start = time.monotonic()
    for delay in delays:
        await asyncio.sleep(delay)
    assert loop.time() == pytest.approx(sum(delays), rel=1e-12)
    assert time.monotonic() - real_start < REAL_SECONDS_BOUND


async def test_call_later_callbacks_run_in_deadline_order_at_their_deadlines() -> None:
    """call_later/call_at callbacks run in order of deadline, each when the virtual
    clock reads its deadline, regardless of scheduling order."""
    loop = running_loop()
    fired: list[tuple[str, float]] = []
    done = loop.create_future()

    def record(name: str) -> None:
        fired.append((name, loop.time()))
        if len(fired) == 5:
            done.set_result(None)

    loop.call_later(30, record, "c")
    loop.call_later(10, record, "a")
    loop.call_at(loop.time() + 45.5, record, "d")
    loop.call_later(20, record, "b")
    loop.call_later(3600, record, "e")
    await done
    assert fired == [("a", 10.0), ("b", 20.0), ("c", 30.0), ("d", 45.5), ("e", 3600.0)]


async def test_many_concurrent_sleepers_each_wake_at_their_own_deadline() -> None:
    """With hundreds of overlapping timers, every sleeper wakes exactly at its own
    deadline: jumps go to the nearest timer, never past it."""
    loop = running_loop()
    woke: dict[int, float] = {}

    async def sleeper(index: int) -> None:
        await asyncio.sleep(index * 7 % 500 + 0.25)
        woke[index] = loop.time()

    async with asyncio.TaskGroup() as group:
        for index in range(500):
            group.create_task(sleeper(index))
    assert woke == {index: index * 7 % 500 + 0.25 for index in range(500)}


async def test_asyncio_timeout_fires_at_its_virtual_deadline() -> None:
    """asyncio.timeout(10) around a 100 s sleep raises TimeoutError when the
    virtual clock reads 10, not 100."""
    loop = running_loop()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(10):
            await asyncio.sleep(100)
    assert loop.time() == 10.0


async def test_wait_for_times_out_at_its_virtual_deadline() -> None:
    """wait_for on something that never happens times out exactly at its timeout."""
    loop = running_loop()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.Event().wait(), timeout=7.5)
    assert loop.time() == 7.5


async def test_wait_for_returns_when_the_inner_timer_comes_first() -> None:
    """wait_for returns the result of an awaitable that finishes before the
    timeout, at the awaitable's virtual finishing time."""
    loop = running_loop()

    async def slow() -> str:
        await asyncio.sleep(3)
        return "done"

    assert await asyncio.wait_for(slow(), timeout=5) == "done"
    assert loop.time() == 3.0


def test_start_sets_the_initial_virtual_time() -> None:
    """A loop built with start=1e6 reads 1e6 and its timers count from there."""

    async def main() -> tuple[float, float]:
        loop = running_loop()
        before = loop.time()
        await asyncio.sleep(2.5)
        return before, loop.time()

    before, after = run_virtual(main, start=1e6)
    assert before == 1e6
    assert after == pytest.approx(1e6 + 2.5, abs=1e-9)


# --- real I/O and thread wake-ups under the virtual clock -----------------


async def echo_upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo lines back upper-cased until EOF."""
    while data := await reader.readline():
        writer.write(data.upper())
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def tick_forever() -> None:
    """Keep a one-second timer pending at all times."""
    while True:
        await asyncio.sleep(1)


async def exchange_lines(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: int
) -> list[bytes]:
    replies = []
    for index in range(count):
        writer.write(b"line %d\n" % index)
        await writer.drain()
        replies.append(await reader.readline())
    writer.close()
    await writer.wait_closed()
    return replies


async def test_tcp_echo_works_while_timers_keep_the_clock_jumping() -> None:
    """A TCP server and client on 127.0.0.1 exchange 50 lines while a ticker keeps
    a one-second timer always pending, so every idle iteration is a candidate
    jump. The selector is polled before each jump, so loopback data is seen at
    once: the clock hardly moves (a loop that jumped without polling would
    spend about 2 virtual seconds per round trip)."""
    loop = running_loop()
    handled = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await echo_upper(reader, writer)
        handled.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tick = asyncio.create_task(tick_forever())
    try:
        async with asyncio.timeout(3600):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            replies = await exchange_lines(reader, writer, 50)
            await handled.wait()
    finally:
        tick.cancel()
        server.close()
        await server.wait_closed()
    assert replies == [b"LINE %d\n" % index for index in range(50)]
    assert loop.time() < 10


async def test_unix_stream_echo_never_needs_a_jump() -> None:
    """Over a Unix socketpair (where the kernel delivers data synchronously) an
    echo exchange with a timer always pending finishes without virtual time
    moving at all: every wait found its I/O on the non-blocking poll."""
    loop = running_loop()
    client_sock, server_sock = socket.socketpair()
    tick = asyncio.create_task(tick_forever())
    try:
        server_reader, server_writer = await asyncio.open_connection(sock=server_sock)
        echo_task = asyncio.create_task(echo_upper(server_reader, server_writer))
        reader, writer = await asyncio.open_connection(sock=client_sock)
        replies = await exchange_lines(reader, writer, 50)
        await echo_task
    finally:
        tick.cancel()
    assert replies == [b"LINE %d\n" % index for index in range(50)]
    assert loop.time() == 0.0


async def test_socketpair_data_from_a_thread_is_received_without_moving_the_clock() -> None:
    """With no timers pending the loop blocks on real I/O: data written to a
    socketpair by another thread after a real delay arrives, and virtual time
    does not move while waiting for it."""
    loop = running_loop()
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    try:

        def send_later() -> None:
            time.sleep(0.05)
            theirs.sendall(b"ping")

        thread = start_thread(send_later)
        try:
            data = await loop.sock_recv(ours, 16)
        finally:
            await asyncio.to_thread(thread.join)
    finally:
        ours.close()
        theirs.close()
    assert data == b"ping"
    assert loop.time() == 0.0


async def test_call_soon_threadsafe_wakes_a_loop_with_no_timers() -> None:
    """call_soon_threadsafe from another thread wakes a loop blocked with nothing
    scheduled, and the virtual clock stays put."""
    loop = running_loop()
    future: asyncio.Future[int] = loop.create_future()
    async with resolved_later(future, 42, delay=0.05):
        assert await future == 42
    assert loop.time() == 0.0


async def test_threshold_lets_a_thread_wake_up_cancel_the_jump() -> None:
    """With autojump_threshold set, a call_soon_threadsafe wake-up arriving within
    the threshold beats a pending one-hour timeout: no jump happens."""
    loop = running_loop()
    loop.autojump_threshold = 10.0
    future: asyncio.Future[str] = loop.create_future()
    async with resolved_later(future, "woken", delay=0.05):
        assert await asyncio.wait_for(future, timeout=3600) == "woken"
    assert loop.time() == 0.0


async def test_zero_threshold_jumps_past_an_untracked_thread() -> None:
    """With the default threshold 0, a plain thread gets no real time before a
    jump: a timeout around waiting for it fires at once (the documented
    trade-off, and proof that idle loops jump instead of sleeping)."""
    loop = running_loop()
    future: asyncio.Future[str] = loop.create_future()
    async with resolved_later(future, "too late", delay=0.5):
        real_start = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(future, timeout=3600)
        assert time.monotonic() - real_start < 0.5
        assert loop.time() == 3600.0


def test_threshold_is_validated() -> None:
    """Negative or non-finite thresholds and starts are rejected up front."""
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="autojump_threshold"):
            virtual_clock_loop_factory(autojump_threshold=bad)
        with pytest.raises(ValueError, match="autojump_threshold"):
            VirtualClockPolicy(autojump_threshold=bad)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="start"):
            VirtualClockLoop(start=bad)
    loop = VirtualClockLoop()
    try:
        with pytest.raises(ValueError, match="autojump_threshold"):
            loop.autojump_threshold = -0.5
        assert loop.autojump_threshold == 0.0
    finally:
        loop.close()


# --- work the loop tracks: executors and child processes ------------------


async def test_to_thread_work_does_not_trip_a_surrounding_timeout() -> None:
    """While an asyncio.to_thread job runs, the loop does not jump: a 5 s timeout
    around a 0.2 s thread job does not fire, and virtual time follows the real
    time the loop spends waiting for it (slightly under 0.2 s: the thread starts
    sleeping before the loop starts waiting)."""
    loop = running_loop()
    await asyncio.wait_for(asyncio.to_thread(time.sleep, 0.2), timeout=5)
    assert 0 < loop.time() < 5


async def test_thread_job_counts_until_its_result_reaches_the_loop() -> None:
    """A thread job stays in flight until its result is handed to the loop, not
    merely until the function returns; otherwise the loop could jump past the
    surrounding timeout in the gap (releasing on return timed out roughly one in
    six of these iterations)."""
    loop = running_loop()
    for _ in range(200):
        started = loop.time()
        await asyncio.wait_for(asyncio.to_thread(time.sleep, 0.0005), timeout=5)
        assert loop.time() - started < 5


async def test_to_thread_timeout_still_fires_after_real_time() -> None:
    """A timeout shorter than the thread job fires when (virtual = real) time
    reaches it, not before."""
    loop = running_loop()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.to_thread(time.sleep, 0.5), timeout=0.1)
    assert loop.time() == pytest.approx(0.1, abs=1e-9)


def test_untracked_executor_work_is_jumped_over() -> None:
    """With track_external_work=False a thread job gets no real time: the timeout
    around it fires at once (the mode exists for long-lived threads)."""

    async def main() -> float:
        loop = running_loop()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.to_thread(time.sleep, 0.5), timeout=5)
        return loop.time()

    real_start = time.monotonic()
    assert run_virtual(main, track_external_work=False) == 5.0
    # Runner.close() joins the still-sleeping worker, hence < 0.5 is not assured.
    assert time.monotonic() - real_start < REAL_SECONDS_BOUND


class _OneShotThreadExecutor(concurrent.futures.Executor):
    """An executor that is not a ThreadPoolExecutor (like a process pool)."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def submit(
        self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[_T]:
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:
                    future.set_exception(exc)

        self.threads.append(start_thread(run))
        return future


async def test_other_executors_are_tracked_until_their_future_is_done() -> None:
    """Work in an executor that is not a thread pool also suspends jumping until
    its future resolves."""
    loop = running_loop()
    executor = _OneShotThreadExecutor()
    result = await asyncio.wait_for(loop.run_in_executor(executor, pow, 2, 10), timeout=5)
    assert result == 1024
    await asyncio.wait_for(loop.run_in_executor(executor, time.sleep, 0.2), timeout=5)
    assert loop.time() < 5
    for thread in executor.threads:
        await asyncio.to_thread(thread.join)


async def test_cancelled_queued_executor_job_does_not_stall_autojump() -> None:
    """A thread-pool job cancelled while still queued stops counting as work in
    flight, so the loop goes back to jumping (otherwise the hour-long sleep
    would take an hour)."""
    loop = running_loop()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        release = threading.Event()
        blocker = loop.run_in_executor(executor, release.wait, 30)
        queued = loop.run_in_executor(executor, time.sleep, 0)
        queued.cancel()
        await asyncio.sleep(0)
        release.set()
        assert await blocker is True
    real_start = time.monotonic()
    await asyncio.sleep(3600)
    assert time.monotonic() - real_start < REAL_SECONDS_BOUND


async def test_child_process_does_not_trip_a_surrounding_timeout() -> None:
    """While a child process started through the loop runs, the loop does not
    jump: a 10 s timeout around a slow child's output does not fire."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import time; time.sleep(0.3); print('child done')",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=10)
    assert out.strip() == b"child done"
    assert proc.returncode == 0
    real_start = time.monotonic()
    await asyncio.sleep(3600)
    assert time.monotonic() - real_start < REAL_SECONDS_BOUND


def test_runner_close_with_default_executor_emits_no_warning() -> None:
    """Closing an asyncio.Runner after using the default executor shuts it down
    cleanly (on 3.12+ its 300 s join timeout must not be jumped past)."""

    async def main() -> int:
        return await asyncio.to_thread(sum, [1, 2, 3])

    assert run_virtual(main) == 6


# --- manual time: autojump off --------------------------------------------


def test_advance_moves_time_and_runs_due_timers_with_autojump_off() -> None:
    """With autojump=False virtual time moves only through advance(); timers that
    become due run on the next loop iterations, others keep waiting."""

    async def main() -> None:
        loop = running_loop()
        fired: list[tuple[str, float]] = []
        loop.call_later(10, lambda: fired.append(("ten", loop.time())))
        loop.call_later(20, lambda: fired.append(("twenty", loop.time())))
        sleeper = asyncio.create_task(asyncio.sleep(15, result="slept"))

        for _ in range(5):
            await asyncio.sleep(0)
        assert loop.time() == 0.0
        assert fired == []

        loop.advance(9.5)
        for _ in range(5):
            await asyncio.sleep(0)
        assert fired == []

        loop.advance(0.5)
        for _ in range(5):
            await asyncio.sleep(0)
        assert fired == [("ten", 10.0)]
        assert not sleeper.done()

        loop.advance(5)
        assert await sleeper == "slept"
        assert loop.time() == 15.0
        assert fired == [("ten", 10.0)]

        loop.advance(5)
        for _ in range(5):
            await asyncio.sleep(0)
        assert fired == [("ten", 10.0), ("twenty", 20.0)]

    run_virtual(main, autojump=False)


def test_autojump_off_loop_waits_for_io_instead_of_moving_time() -> None:
    """With autojump=False and a timer pending, an idle loop neither jumps nor lets
    the timer fire on real time; a thread wake-up still gets through."""

    async def main() -> tuple[float, bool]:
        loop = running_loop()
        timer_fired = asyncio.Event()
        loop.call_later(0.01, timer_fired.set)
        future: asyncio.Future[str] = loop.create_future()
        async with resolved_later(future, "woken", delay=0.2):
            assert await future == "woken"
        return loop.time(), timer_fired.is_set()

    assert run_virtual(main, autojump=False) == (0.0, False)


def test_advance_rejects_negative_and_non_finite_durations() -> None:
    """advance() refuses to move time backwards or by a non-finite amount."""
    loop = VirtualClockLoop(start=5.0)
    try:
        for bad in (-1.0, float("nan"), float("inf")):
            with pytest.raises(ValueError, match="seconds"):
                loop.advance(bad)
        assert loop.time() == 5.0
        loop.advance(0)
        assert loop.time() == 5.0
    finally:
        loop.close()


async def test_autojump_can_be_toggled_on_a_running_loop() -> None:
    """Turning autojump off and advancing manually, then back on, keeps one
    consistent clock."""
    loop = running_loop()
    loop.autojump = False
    sleeper = asyncio.create_task(asyncio.sleep(30))
    await asyncio.sleep(0)  # let the sleeper arm its timer at t=0
    loop.advance(10)
    await asyncio.sleep(0)
    assert not sleeper.done()
    loop.autojump = True
    await sleeper
    assert loop.time() == 30.0


# --- loop_factory integrations --------------------------------------------


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run(loop_factory=) is 3.12+")
def test_asyncio_run_accepts_the_factory() -> None:
    """asyncio.run(..., loop_factory=virtual_clock_loop_factory()) runs on virtual time."""

    async def main() -> float:
        await asyncio.sleep(3600)
        return running_loop().time()

    run: Any = asyncio.run  # the 3.11 stubs lack loop_factory
    assert run(main(), loop_factory=virtual_clock_loop_factory()) == 3600.0


@pytest.fixture
def virtual_runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner(loop_factory=virtual_clock_loop_factory(start=100.0)) as runner:
        yield runner


def test_runner_loop_factory_gives_a_virtual_clock_loop(virtual_runner: asyncio.Runner) -> None:
    """asyncio.Runner(loop_factory=...) runs coroutines on a VirtualClockLoop with the
    requested start time, and time persists across run() calls."""
    loop = virtual_runner.get_loop()
    assert isinstance(loop, VirtualClockLoop)
    assert loop.time() == 100.0
    virtual_runner.run(asyncio.sleep(50))
    assert loop.time() == 150.0
    virtual_runner.run(asyncio.sleep(25))
    assert loop.time() == 175.0
