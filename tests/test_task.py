"""Supervised plain tasks: a TaskSpec child runs an async function under the actors' rules."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from _support import worker

from supervise import (
    ActorRef,
    Backoff,
    ChildState,
    DynamicSupervisorSpec,
    RestartIntensityExceeded,
    SupervisorRef,
    SupervisorSpec,
    TaskRef,
    TaskSpec,
    UsageError,
    load_tree_text,
    open_tree,
)
from supervise.testing import EventLog, wait_for_event

#: What the task functions below saw, per test (cleared by the fixture).
CALLS: list[tuple[str, Any]] = []


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


async def forever(label: str, *, every: float = 3600.0) -> None:
    CALLS.append(("run", label))
    while True:
        await asyncio.sleep(every)


async def crash_until(times: int) -> None:
    """Crash the first ``times`` incarnations, then run for ever."""
    CALLS.append(("run", asyncio.get_running_loop().time()))
    if sum(1 for kind, _ in CALLS if kind == "run") <= times:
        raise ConnectionError(f"attempt {len(CALLS)} failed")
    await asyncio.sleep(3600)


async def return_once() -> str:
    """Return at once the first time (reason normal), then run for ever."""
    CALLS.append(("run", None))
    if len(CALLS) == 1:
        return "done"
    await asyncio.sleep(3600)
    return "never"


async def cleans_up() -> None:
    try:
        await asyncio.sleep(3600)
    finally:
        CALLS.append(("cleanup", None))


def task_ref(ref: object) -> TaskRef:
    assert isinstance(ref, TaskRef)
    return ref


def one(*children: Any, **sup: Any) -> SupervisorSpec:
    return SupervisorSpec(name="root", children=list(children), **sup)


async def test_a_task_runs_with_its_arguments_and_has_a_task_ref() -> None:
    """args and kwargs reach the function; the slot's ref is a TaskRef and reports the kind."""
    spec = one(TaskSpec(name="t", task=forever, args=["hello"], kwargs={"every": 60}))
    async with open_tree(spec) as tree:
        ref = task_ref(tree.whereis("root/t"))
        await asyncio.sleep(0)
        assert CALLS == [("run", "hello")]
        assert (ref.path, ref.state, ref.is_running) == ("root/t", ChildState.RUNNING, True)
        assert repr(ref) == "<TaskRef root/t incarnation=1>"
        [row] = await tree.root.which_children()
        assert (row.kind, row.ref) == ("task", ref)
        counts = await tree.root.count_children()
        assert (counts.workers, counts.supervisors) == (1, 0)


async def test_returning_is_a_normal_end_and_a_permanent_task_starts_again(
    events: EventLog,
) -> None:
    """A permanent task that returns is stopped with reason normal, then restarted (as OTP)."""
    async with open_tree(one(TaskSpec(name="t", task=return_once))):
        await wait_for_event(events, "actor_started", actor="root/t", incarnation=2)
    assert events.sequence("actor_stopped", "actor_restarted", "actor_started")[:3] == [
        ("actor_started", "root/t"),
        ("actor_stopped", "root/t"),
        ("actor_restarted", "root/t"),
    ]
    assert events.of("actor_stopped")[0]["reason"] == "normal"
    assert CALLS == [("run", None), ("run", None)]


async def test_a_transient_task_that_returns_stays_stopped(events: EventLog) -> None:
    """transient: finishing is success, so the job is not run again."""
    async with open_tree(one(TaskSpec(name="t", task=return_once, restart="transient"))) as tree:
        await wait_for_event(events, "actor_stopped", actor="root/t", reason="normal")
        rows = await tree.root.which_children()
        assert rows[0].state is ChildState.STOPPED
    assert not events.of("actor_restarted")


async def test_raising_is_a_crash_logged_with_the_exception_and_restarted(
    events: EventLog,
) -> None:
    """An exception escaping the function is a crash; the supervisor restarts the task."""
    async with open_tree(one(TaskSpec(name="t", task=crash_until, args=[1]))):
        await wait_for_event(events, "actor_started", actor="root/t", incarnation=2)
    crashed = events.of("actor_crashed", actor="root/t")
    assert [(e["exc_type"], e["exc_message"]) for e in crashed] == [
        ("ConnectionError", "attempt 1 failed")
    ]
    assert events.sequence("actor_crashed", "actor_restarted") == [
        ("actor_crashed", "root/t"),
        ("actor_restarted", "root/t"),
    ]


@pytest.mark.virtual_clock
async def test_backoff_delays_grow_between_task_restarts(events: EventLog) -> None:
    """With backoff 1 s, x2, no jitter: the restarts come 1, 2 and 4 virtual seconds apart."""
    spec = one(
        TaskSpec(name="t", task=crash_until, args=[3]),
        max_restarts=10,
        max_seconds=60,
        backoff=Backoff(min_seconds=1, max_seconds=30, jitter=0),
    )
    async with open_tree(spec):
        await wait_for_event(events, "actor_started", actor="root/t", incarnation=4)
    starts = [t for kind, t in CALLS if kind == "run"]
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(starts)]
    assert gaps == [1.0, 2.0, 4.0]


@pytest.mark.virtual_clock
async def test_a_task_crashing_too_often_exceeds_the_intensity(events: EventLog) -> None:
    """The fourth crash within max_seconds makes the supervisor give up, as for an actor."""
    with pytest.raises(RestartIntensityExceeded) as info:
        async with open_tree(one(TaskSpec(name="t", task=crash_until, args=[99]))) as tree:
            await tree.wait()
    assert info.value.last_child == "root/t"
    assert len(events.of("actor_crashed", actor="root/t")) == 4


async def test_shutdown_cancels_the_task_and_reports_shutdown(events: EventLog) -> None:
    """Cancellation is the stop signal: `finally` runs and the end is reported as shutdown."""
    async with open_tree(one(TaskSpec(name="t", task=cleans_up))):
        await asyncio.sleep(0)
    assert CALLS == [("cleanup", None)]
    [stopped] = events.of("actor_stopped", actor="root/t")
    assert stopped["reason"] == "shutdown"
    assert not events.of("actor_killed")


async def catches_cancellation_and_returns() -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        CALLS.append(("cancelled", None))
    # Returning instead of re-raising: still the supervisor's stop, not a normal end.


async def test_a_task_that_returns_when_cancelled_still_ends_with_shutdown(
    events: EventLog,
) -> None:
    """Swallowing the cancellation and returning counts as honouring the stop."""
    async with open_tree(one(TaskSpec(name="t", task=catches_cancellation_and_returns))):
        await asyncio.sleep(0)
    assert CALLS == [("cancelled", None)]
    assert events.of("actor_stopped", actor="root/t")[0]["reason"] == "shutdown"


async def slow_cleanup(seconds: float) -> None:
    try:
        await asyncio.sleep(3600)
    finally:
        loop = asyncio.get_running_loop()
        CALLS.append(("cleanup started", loop.time()))
        await asyncio.sleep(seconds)
        CALLS.append(("cleanup done", loop.time()))


@pytest.mark.virtual_clock
async def test_shutdown_seconds_bound_how_long_cleanup_may_take(events: EventLog) -> None:
    """Cleanup taking 10 s against shutdown=2: cancelled again at 2 s and reported killed."""
    async with open_tree(one(TaskSpec(name="t", task=slow_cleanup, args=[10], shutdown=2))):
        await asyncio.sleep(0)
    assert CALLS == [("cleanup started", 0.0)]  # the second cancellation cut it short
    assert events.sequence("actor_killed", "actor_crashed", "actor_stopped") == [
        ("actor_killed", "root/t"),
        ("actor_crashed", "root/t"),
    ]
    crashed = events.of("actor_crashed", actor="root/t")[0]
    assert (crashed["reason"], crashed["reason_detail"]) == (
        "killed",
        "shutdown timeout (2.0 s) ran out",
    )
    assert asyncio.get_running_loop().time() == 2.0


@pytest.mark.virtual_clock
async def test_cleanup_within_the_shutdown_time_is_waited_for(events: EventLog) -> None:
    """Cleanup taking 1 s against shutdown=5 runs to its end; the stop is a clean shutdown."""
    async with open_tree(one(TaskSpec(name="t", task=slow_cleanup, args=[1]))):
        await asyncio.sleep(0)
    assert CALLS == [("cleanup started", 0.0), ("cleanup done", 1.0)]
    assert events.of("actor_stopped", actor="root/t")[0]["reason"] == "shutdown"


async def ignores_cancellation() -> None:
    while ("release", None) not in CALLS:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            CALLS.append(("ignored", None))


@pytest.mark.virtual_clock
async def test_a_task_ignoring_cancellation_is_abandoned_in_bounded_time(
    events: EventLog,
) -> None:
    """Shutdown still ends: killed at the timeout, abandoned after the grace period."""
    async with open_tree(one(TaskSpec(name="t", task=ignores_cancellation, shutdown=1))) as tree:
        ref = task_ref(tree.whereis("root/t"))
        await asyncio.sleep(0)
    assert events.sequence("actor_killed", "actor_abandoned", "actor_crashed") == [
        ("actor_killed", "root/t"),
        ("actor_abandoned", "root/t"),
        ("actor_crashed", "root/t"),
    ]
    assert CALLS == [("ignored", None), ("ignored", None)]
    assert not ref.is_running
    # Abandoned, it still runs: let it go so that the test leaves no task behind.
    [abandoned] = [t for t in asyncio.all_tasks() if t.get_name() == "root/t"]
    CALLS.append(("release", None))
    abandoned.cancel()
    await asyncio.wait([abandoned])


async def test_brutal_kill_cancels_at_once(events: EventLog) -> None:
    """shutdown=brutal_kill: cancelled without waiting, reported killed."""
    async with open_tree(one(TaskSpec(name="t", task=cleans_up, shutdown="brutal_kill"))):
        await asyncio.sleep(0)
    assert events.of("actor_killed", actor="root/t")[0]["shutdown"] == "brutal_kill"
    assert events.of("actor_crashed", actor="root/t")[0]["reason"] == "killed"
    assert CALLS == [("cleanup", None)]


async def test_ref_stop_and_kill(events: EventLog) -> None:
    """ref.stop() ends the call with reason normal (a permanent task restarts); kill() is killed."""
    async with open_tree(one(TaskSpec(name="t", task=cleans_up))) as tree:
        ref = task_ref(tree.whereis("root/t"))
        await asyncio.sleep(0)
        await ref.stop()
        assert events.of("actor_stopped", actor="root/t")[0]["reason"] == "normal"
        await wait_for_event(events, "actor_started", actor="root/t", incarnation=2)
        ref.kill()
        await wait_for_event(events, "actor_started", actor="root/t", incarnation=3)
        assert events.of("actor_crashed", actor="root/t")[0]["reason_detail"] == "ref.kill()"
        assert ref.is_running


async def stops_itself_through_its_ref() -> None:
    await asyncio.sleep(0)
    ref = CALLS[0][1]
    try:
        await ref.stop()
    except UsageError as exc:
        CALLS.append(("error", str(exc)))
    await asyncio.sleep(3600)


async def test_a_task_cannot_wait_for_its_own_stop() -> None:
    """ref.stop() from inside the task would wait for ever, so it raises at once."""
    async with open_tree(one(TaskSpec(name="t", task=stops_itself_through_its_ref))) as tree:
        CALLS.append(("ref", tree.whereis("root/t")))
        for _ in range(3):
            await asyncio.sleep(0)
        assert CALLS[1] == (
            "error",
            "task 'root/t': it called stop() on its own ref and would wait for ever for its own "
            "end; return from the function instead (or raise to crash it)",
        )


async def test_tasks_and_actors_share_a_strategy(events: EventLog) -> None:
    """rest_for_one: a crashing task restarts the actor started after it."""
    spec = one(
        TaskSpec(name="feed", task=crash_until, args=[1]),
        worker("consumer"),
        strategy="rest_for_one",
    )
    async with open_tree(spec):
        await wait_for_event(events, "actor_started", actor="root/consumer", incarnation=2)
    assert events.sequence("actor_crashed", "actor_stopped", "actor_started")[2:6] == [
        ("actor_crashed", "root/feed"),
        ("actor_stopped", "root/consumer"),
        ("actor_started", "root/feed"),
        ("actor_started", "root/consumer"),
    ]


async def test_a_dynamic_supervisor_starts_tasks_from_a_template(events: EventLog) -> None:
    """A task template: a dict passed to start_child replaces kwargs, a list replaces args."""
    spec = one(
        DynamicSupervisorSpec(
            name="jobs", child=TaskSpec(name="job", task=forever, args=["template"])
        )
    )
    async with open_tree(spec) as tree:
        jobs = tree.whereis("root/jobs")
        assert isinstance(jobs, SupervisorRef)
        first = await jobs.start_child()
        second = await jobs.start_child(["second"])
        third = await jobs.start_child({"every": 5})
        assert [task_ref(r).path for r in (first, second, third)] == [
            "root/jobs/job-1",
            "root/jobs/job-2",
            "root/jobs/job-3",
        ]
        await asyncio.sleep(0)
        assert sorted(CALLS) == [("run", "second"), ("run", "template"), ("run", "template")]
        await jobs.terminate_child(task_ref(second))
        assert [c.name for c in await jobs.which_children()] == ["job-1", "job-3"]


def test_task_accepts_an_import_path_and_dumps_back_to_it() -> None:
    """`task: "module:function"` is resolved; dumping the spec gives the path back."""
    spec = TaskSpec(name="t", task=f"{__name__}:forever", args=["x"])
    assert spec.task is forever
    assert spec.model_dump(mode="json") == {
        "kind": "task",
        "name": "t",
        "task": f"{__name__}:forever",
        "args": ["x"],
        "kwargs": {},
        "restart": "permanent",
        "significant": False,
        "shutdown": 5.0,
    }


def test_a_tree_file_declares_tasks_with_or_without_kind() -> None:
    """In YAML a child with a `task` field is a task; `kind: task` may be written out."""
    spec = load_tree_text(
        f"""
name: root
backoff: {{min_seconds: 1, max_seconds: 30}}
children:
  - name: poller
    task: "{__name__}:forever"
    args: [poll]
    kwargs: {{every: 30}}
  - kind: task
    name: job
    task: "{__name__}:return_once"
    restart: transient
"""
    )
    assert isinstance(spec, SupervisorSpec)
    poller, job = spec.children
    assert isinstance(poller, TaskSpec)
    assert isinstance(job, TaskSpec)
    assert (poller.task, poller.args, poller.kwargs) == (forever, ["poll"], {"every": 30})
    assert (job.task, job.restart) == (return_once, "transient")


def sync_function() -> None:
    pass


def test_task_must_be_an_async_function() -> None:
    """A plain function is refused with the reason and the fix."""
    with pytest.raises(ValueError, match=r"test_task:sync_function is not an async function; "):
        TaskSpec(name="t", task=sync_function)


def test_arguments_are_checked_against_the_signature() -> None:
    """Missing or unknown arguments are a spec error, before anything runs."""
    with pytest.raises(
        ValueError,
        match=r"args/kwargs do not fit test_task:forever\(label: 'str', \*, every: 'float' = "
        r"3600\.0\) -> 'None': missing a required argument: 'label'; "
        r"pass the arguments it declares",
    ):
        TaskSpec(name="t", task=forever)
    with pytest.raises(ValueError, match=r"got an unexpected keyword argument 'evry'"):
        TaskSpec(name="t", task=forever, args=["x"], kwargs={"evry": 1})


async def test_an_actor_ref_is_not_a_task_ref() -> None:
    """Actors keep ActorRef (cast/call); tasks get TaskRef (no mailbox)."""
    async with open_tree(one(worker("w"), TaskSpec(name="t", task=forever, args=["x"]))) as tree:
        assert isinstance(tree.whereis("root/w"), ActorRef)
        assert isinstance(tree.whereis("root/t"), TaskRef)
