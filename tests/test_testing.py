"""The testing kit: virtual clock, wait_for_event, inject_crash, capture_events."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
import structlog
from _support import STOPS, Ping, Sleep, until, worker

from supervise import (
    ActorExitedError,
    ActorNotRunningError,
    ActorRef,
    NameNotFoundError,
    SupervisorSpec,
    TaskSpec,
    _virtual_clock,
    open_tree,
    testing,
)
from supervise.testing import (
    EventLog,
    InjectedCrash,
    VirtualClockLoop,
    capture_events,
    inject_crash,
    wait_for_event,
)


def tree_of(*children: object) -> SupervisorSpec:
    return SupervisorSpec(name="root", children=list(children))


def test_the_virtual_clock_is_re_exported() -> None:
    """supervise.testing offers the loop, its factory and its policy."""
    assert testing.VirtualClockLoop is _virtual_clock.VirtualClockLoop
    assert testing.VirtualClockPolicy is _virtual_clock.VirtualClockPolicy
    assert testing.virtual_clock_loop_factory is _virtual_clock.virtual_clock_loop_factory
    assert sorted(testing.__all__) == testing.__all__


@pytest.mark.virtual_clock
async def test_the_virtual_clock_marker_runs_the_test_on_virtual_time() -> None:
    """Marked tests run on a VirtualClockLoop: an hour of sleep takes no real time."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualClockLoop)
    real = time.monotonic()
    await asyncio.sleep(3600)
    assert loop.time() == 3600.0
    assert time.monotonic() - real < 5


async def test_unmarked_tests_keep_the_stock_loop() -> None:
    """Only the marker switches clocks."""
    assert not isinstance(asyncio.get_running_loop(), VirtualClockLoop)


async def test_wait_for_event_returns_the_matching_event(events: EventLog) -> None:
    """It counts events logged before the call and filters on fields."""
    async with open_tree(tree_of(worker("a"), worker("b"))):
        got = await wait_for_event(events, "actor_started", actor="root/b")
        assert (got["event"], got["actor"], got["incarnation"]) == ("actor_started", "root/b", 1)
        second = await wait_for_event(events, "actor_started", count=2)
        assert second["actor"] == "root/b"
        # The count-th match, not the latest: both have started, count=1 is root/a.
        first = await wait_for_event(events, "actor_started")
        assert first["actor"] == "root/a"


@pytest.mark.virtual_clock
async def test_wait_for_event_times_out_listing_what_came(events: EventLog) -> None:
    """On the virtual clock the timeout costs no real time; the error lists the events."""
    async with open_tree(tree_of(worker("a"))):
        with pytest.raises(TimeoutError) as info:
            await wait_for_event(events, "actor_crashed", timeout=30, actor="root/a")
        assert str(info.value) == (
            "waited 30 s for 1 x actor_crashed {'actor': 'root/a'}; "
            "events so far: ['actor_started', 'supervisor_started']"
        )
        assert asyncio.get_running_loop().time() == 30.0


async def test_inject_crash_crashes_as_a_handler_would(events: EventLog) -> None:
    """The actor ends with a crash carrying InjectedCrash; on_stop sees it; it is restarted."""
    async with open_tree(tree_of(worker("a"))) as tree:
        await inject_crash(tree, "root/a")
        crashed = events.of("actor_crashed", actor="root/a")
        assert [(e["reason"], e["exc_type"]) for e in crashed] == [("crash", "InjectedCrash")]
        assert crashed[0]["exc_message"] == "crash injected into 'root/a' by supervise.testing"
        assert STOPS == [
            ("root/a", "crash: InjectedCrash: crash injected into 'root/a' by supervise.testing")
        ]
        await wait_for_event(events, "actor_started", actor="root/a", incarnation=2)
        a = tree.whereis("root/a")
        assert isinstance(a, ActorRef)
        assert await a.call(Ping()) == "pong"


async def test_inject_crash_with_a_given_exception_after_the_message_in_hand(
    events: EventLog,
) -> None:
    """The crash lands after the message being handled; calls queued behind it fail."""
    async with open_tree(tree_of(worker("a"))) as tree:
        a = tree.whereis("root/a")
        assert isinstance(a, ActorRef)
        busy = asyncio.ensure_future(a.call(Sleep(seconds=0.01)))
        queued = asyncio.ensure_future(a.call(Ping()))
        process = a._child.process
        await until(lambda: getattr(getattr(process, "actor", None), "handled", 0) == 1)
        await inject_crash(tree, "root/a", OSError("disk full"))
        assert await busy == "slept"
        with pytest.raises(ActorExitedError):
            await queued
        assert events.of("actor_crashed")[0]["exc_message"] == "disk full"


async def task_forever() -> None:
    await asyncio.sleep(3600)


async def test_inject_crash_into_a_task_and_a_supervisor(events: EventLog) -> None:
    """A task is cancelled and reported crashed; a supervisor stops its children first."""
    spec = tree_of(
        TaskSpec(name="t", task=task_forever),
        SupervisorSpec(name="sub", children=[worker("w")]),
    )
    async with open_tree(spec) as tree:
        await inject_crash(tree, "root/t")
        await inject_crash(tree, "root/sub", RuntimeError("sub down"))
        await wait_for_event(events, "actor_started", actor="root/sub", incarnation=2)
    crashed = [(e["actor"], e["exc_type"]) for e in events.of("actor_crashed")]
    assert crashed == [("root/t", "InjectedCrash"), ("root/sub", "RuntimeError")]
    assert events.sequence("actor_stopped", "actor_crashed")[1:3] == [
        ("actor_stopped", "root/sub/w"),  # the supervisor stopped its child first
        ("actor_crashed", "root/sub"),
    ]


async def test_inject_crash_needs_a_running_child() -> None:
    """Unknown paths and stopped children are refused."""
    async with open_tree(tree_of(worker("a"))) as tree:
        with pytest.raises(NameNotFoundError):
            await inject_crash(tree, "root/nobody")
        await tree.root.terminate_child("a")
        with pytest.raises(ActorNotRunningError, match=r"^actor 'root/a' is not running"):
            await inject_crash(tree, "root/a")
    assert issubclass(InjectedCrash, Exception)


def test_capture_events_restores_the_structlog_configuration() -> None:
    """Leaving the block puts the previous configuration back."""
    before = structlog.get_config()
    with capture_events() as log:
        structlog.get_logger("app").info("hello", n=1)
    assert structlog.get_config() == before
    assert log.of("hello") == [{"event": "hello", "n": 1, "log_level": "info", "level": "info"}]


@pytest.mark.parametrize("form", ["file", "text", "dict", "spec"])
async def test_open_test_tree_takes_a_file_text_dict_or_spec(
    tmp_path: Path, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same tree opens from a YAML file (actors beside it), YAML text, a dict or a spec."""
    from supervise import load_tree, load_tree_text
    from supervise.testing import open_test_tree

    monkeypatch.setattr(sys, "path", list(sys.path))  # restored after the test
    monkeypatch.delitem(sys.modules, "beside_actors", raising=False)

    (tmp_path / "beside_actors.py").write_text(
        "from pydantic import BaseModel\n"
        "from supervise import Actor\n\n"
        "class Hi(BaseModel, frozen=True):\n    pass\n\n"
        "class Greeter(Actor[Hi]):\n"
        "    async def handle(self, msg: Hi) -> str:\n        return 'hello'\n"
    )
    text = "name: root\nchildren:\n  - {name: g, actor: 'beside_actors:Greeter'}\n"
    (tmp_path / "tree.yaml").write_text(text)
    sources: dict[str, object] = {"file": tmp_path / "tree.yaml"}
    if form != "file":
        # the module is importable now that the file form put its directory on sys.path
        load_tree(tmp_path / "tree.yaml", extra_sys_path=[tmp_path])
    sources["text"] = text
    sources["dict"] = {
        "name": "root",
        "children": [{"name": "g", "actor": "beside_actors:Greeter"}],
    }
    if form == "spec":
        sources["spec"] = load_tree_text(text)
    async with open_test_tree(sources[form]) as tree:  # type: ignore[arg-type]
        greeter = tree.whereis("root/g")
        assert isinstance(greeter, ActorRef)
        import beside_actors  # type: ignore[import-not-found]

        assert await greeter.call(beside_actors.Hi()) == "hello"
    del sys.modules["beside_actors"]
