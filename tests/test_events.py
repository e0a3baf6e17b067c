"""The event catalogue is exact: what the runtime logs, `supervise.events` and the docs agree."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
from _support import Crash, Ping, until, worker

from supervise import (
    Actor,
    ActorRef,
    ChildSpec,
    ExitReason,
    Ignore,
    StartError,
    SupervisorRef,
    SupervisorSpec,
    open_tree,
)
from supervise.events import CATALOGUE, NODE_EVENTS, Event
from supervise.testing import EventLog

DOCS = Path(__file__).parent.parent / "docs" / "concepts.md"

#: structlog adds these; they are not fields of the event.
_STRUCTLOG_KEYS = {"event", "level", "log_level"}


class FailingStop(Actor[Ping]):
    """An actor whose on_stop raises."""

    async def handle(self, msg: Ping) -> str:
        return "pong"

    async def on_stop(self, reason: ExitReason) -> None:
        raise OSError("cannot flush")


class Disabled(Actor[Ping]):
    """An actor that ignores its start (OTP's init returning ignore)."""

    async def on_start(self) -> None:
        raise Ignore("disabled in config")

    async def handle(self, msg: Ping) -> str:
        return "pong"


class BlocksLoop(Actor[Ping]):
    """An actor whose handler blocks the event loop (what the loop watchdog reports)."""

    async def handle(self, msg: Ping) -> str:
        time.sleep(0.15)  # noqa: ASYNC251  # the blocking the watchdog must see
        return "pong"


def _documented() -> dict[str, tuple[str, set[str], set[str]]]:
    """The events table of docs/concepts.md: name -> (level, fields, optional fields)."""
    table: dict[str, tuple[str, set[str], set[str]]] = {}
    section = DOCS.read_text(encoding="utf-8").split("\n## Events\n")[1].split("\n## ")[0]
    for line in section.splitlines():
        row = re.match(r"^\| `(\w+)` \| (\w+) \| (.*) \|$", line)
        if row is None:
            continue
        name, level, cells = row.groups()
        fields: set[str] = set()
        optional: set[str] = set()
        # "reason (`normal`/...), reason_detail?, exc_info? (the exception: ...)"
        for item in re.sub(r"\([^)]*\)", "", cells).split(","):
            field = re.match(r"\s*(\w+)(\?)?", item)
            assert field is not None, (name, item)
            (optional if field.group(2) else fields).add(field.group(1))
        table[name] = (level, fields, optional)
    return table


def test_docs_table_matches_the_catalogue() -> None:
    """Every catalogued event is in the docs' table with the same level and fields, and no other."""
    documented = _documented()
    assert set(documented) == {e.value for e in Event}
    for event, spec in CATALOGUE.items():
        assert documented[event.value] == (spec.level, set(spec.fields), set(spec.optional)), event


async def _every_event(events: EventLog) -> None:
    spec = SupervisorSpec(
        name="app",
        max_restarts=10,
        children=[
            worker("w"),
            ChildSpec(name="off", actor=Disabled),  # actor_ignored
            ChildSpec(name="closer", actor=FailingStop),
            worker("slow", stop_seconds=0.5, shutdown=0.05),
            worker("stubborn", stop_seconds=0.5, swallow_cancel=True, shutdown=0.05),
            SupervisorSpec(name="group", max_restarts=0, children=[worker("leaf")]),
            ChildSpec(name="blocker", actor=BlocksLoop, block_threshold=0.05),
        ],
    )
    async with open_tree(spec, watchdog=True) as tree:
        w = tree.whereis("app/w")
        leaf = tree.whereis("app/group/leaf")
        assert isinstance(w, ActorRef)
        assert isinstance(leaf, ActorRef)
        await w.cast(Crash())  # actor_crashed, actor_restarted, actor_started
        await events.wait_for("actor_started", actor="app/w", incarnation=2)
        await leaf.cast(Crash())  # group gives up: restart_intensity_exceeded; app restarts it
        await events.wait_for("actor_started", actor="app/group", incarnation=2)
        # event_loop_blocked, event_loop_unblocked
        await tree.actor("app/blocker").call(Ping())
        await events.wait_for("event_loop_unblocked", actor="app/blocker")
        root = tree.root
        assert isinstance(root, SupervisorRef)
        with pytest.raises(StartError):
            await root.start_child(worker("bad", fail_start=True))  # start_failed
        await root.terminate_child("w")  # actor_stopped
        await w.cast(Ping())  # message_dead_lettered: nothing runs there
    # Stopping: closer's on_stop raises (on_stop_failed), slow is killed (actor_killed),
    # stubborn ignores the kill (actor_abandoned).
    stubborn = [t for t in asyncio.all_tasks() if t.get_name() == "app/stubborn"]
    await until(lambda: all(t.done() for t in stubborn))


async def test_runtime_emits_exactly_the_catalogue(
    events: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tree that goes through every lifecycle step logs each catalogued event, each with
    all its fields, the optional ones only where catalogued, and nothing else."""
    monkeypatch.setattr("supervise._shutdown.KILL_GRACE_SECONDS", 0.05)
    await _every_event(events)
    seen: set[str] = set()
    for entry in events.entries:
        name = entry["event"]
        assert name in {e.value for e in Event}, f"uncatalogued event {entry}"
        spec = CATALOGUE[Event(name)]
        keys = set(entry) - _STRUCTLOG_KEYS
        assert spec.fields <= keys, f"{name} lacks {spec.fields - keys}: {entry}"
        assert keys <= spec.fields | spec.optional, f"{name}: extra {keys - spec.fields}"
        assert entry["level"] == spec.level, entry
        assert entry["tree"] == "app"
        seen.add(name)
    # Node events need a NATS server and other nodes: tests/test_nats_node.py checks them.
    expected = {e.value for e in Event} - NODE_EVENTS
    assert seen == expected, f"never emitted: {expected - seen}"
