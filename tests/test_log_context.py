"""Log lines from inside an incarnation carry its actor, incarnation and tree; configure_logging."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from _support import Crash, Ping, until

from supervise import (
    Actor,
    ActorRef,
    ChildSpec,
    ExitReason,
    SupervisorSpec,
    TaskSpec,
    configure_logging,
    open_tree,
)
from supervise._registry import slot_at
from supervise.events import CATALOGUE, Event

log = structlog.get_logger("app")


class Chatty(Actor[Ping | Crash]):
    """Logs from every callback, and from a task it creates."""

    async def on_start(self) -> None:
        log.info("app_on_start")

    async def handle(self, msg: Ping | Crash) -> str:
        if isinstance(msg, Crash):
            raise ValueError(msg.message)
        log.info("app_handled")
        logging.getLogger("app.stdlib").warning("stdlib_handled")

        async def helper() -> None:
            log.info("app_helper")

        await asyncio.create_task(helper())
        return "pong"

    async def on_stop(self, reason: ExitReason) -> None:
        log.info("app_on_stop")


async def ticker() -> None:
    log.info("app_task")
    await asyncio.Event().wait()


SPEC = SupervisorSpec(
    name="shop",
    children=[
        SupervisorSpec(name="front", children=[ChildSpec(name="chatty", actor=Chatty)]),
        TaskSpec(name="ticker", task=ticker),
    ],
)


async def _exercise() -> None:
    async with open_tree(SPEC) as tree:
        chatty = tree.whereis("shop/front/chatty")
        assert isinstance(chatty, ActorRef)
        assert await chatty.call(Ping()) == "pong"
        await chatty.cast(Crash())
        for _ in range(1000):  # the restart: until the second incarnation answers
            if slot_at(tree.registry, "shop/front/chatty").incarnation == 2:  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.001)
        assert await chatty.call(Ping()) == "pong"


def _context(entry: Mapping[str, Any]) -> tuple[object, ...]:
    return entry["event"], entry.get("actor"), entry.get("incarnation"), entry.get("tree")


async def test_logs_from_callbacks_tasks_and_their_tasks_carry_the_actor(
    fresh_logging: None,
) -> None:
    """on_start, handlers, tasks they create, on_stop and supervised tasks log with their
    actor path, incarnation and tree; a restart's lines name the new incarnation."""
    capture = structlog.testing.LogCapture()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, capture])
    await _exercise()
    ours = [_context(e) for e in capture.entries if str(e["event"]).startswith("app_")]
    chatty = "shop/front/chatty"
    assert sorted(ours, key=str) == sorted(
        [
            ("app_on_start", chatty, 1, "shop"),
            ("app_task", "shop/ticker", 1, "shop"),
            ("app_handled", chatty, 1, "shop"),
            ("app_helper", chatty, 1, "shop"),
            ("app_on_stop", chatty, 1, "shop"),  # after the crash, best effort
            ("app_on_start", chatty, 2, "shop"),
            ("app_handled", chatty, 2, "shop"),
            ("app_helper", chatty, 2, "shop"),
            ("app_on_stop", chatty, 2, "shop"),
        ],
        key=str,
    )
    # Lifecycle events keep exactly their own fields: no emitter's context leaks in.
    for entry in capture.entries:
        if entry["event"] in {e.value for e in Event}:
            spec = CATALOGUE[Event(entry["event"])]
            assert set(entry) - {"event", "log_level"} <= spec.fields | spec.optional, entry
    # Outside the tree, nothing is bound.
    assert structlog.contextvars.get_contextvars() == {}


async def test_each_restart_logs_with_its_own_incarnation(fresh_logging: None) -> None:
    """From the second restart on, an incarnation's context is made ahead of its restart
    (`_log.prepare_context`): its lines still carry its own number."""
    capture = structlog.testing.LogCapture()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, capture])
    async with open_tree(SPEC) as tree:
        chatty = tree.whereis("shop/front/chatty")
        assert isinstance(chatty, ActorRef)
        slot = slot_at(tree.registry, "shop/front/chatty")
        assert slot is not None
        for incarnation in (2, 3, 4):
            await chatty.cast(Crash())
            await until(lambda n=incarnation: slot.incarnation == n)
            assert await chatty.call(Ping()) == "pong"
    starts = [e for e in capture.entries if e["event"] == "app_on_start"]
    assert [(e["actor"], e["incarnation"], e["tree"]) for e in starts] == [
        ("shop/front/chatty", n, "shop") for n in (1, 2, 3, 4)
    ]


async def test_configure_logging_json_lines_and_stdlib_records(fresh_logging: None) -> None:
    """configure_logging(stdlib=True): structlog and stdlib lines are JSON with an ISO
    timestamp, level and tree; a stdlib record from a handler carries its actor."""
    logging.getLogger().handlers.clear()  # pytest's capture handlers: we are the application
    stream = io.StringIO()
    assert configure_logging(stream, format="json", stdlib=True) is True
    await _exercise()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines, "nothing was logged"
    for line in lines:
        datetime.fromisoformat(line["timestamp"])
        assert line["level"] in {"info", "warning", "error"}
        assert line["tree"] == "shop", line
    stdlib = [(x["actor"], x["incarnation"]) for x in lines if x["event"] == "stdlib_handled"]
    assert stdlib == [("shop/front/chatty", 1), ("shop/front/chatty", 2)]
    crashed = [x for x in lines if x["event"] == "actor_crashed"]
    assert [x["exc_type"] for x in crashed] == ["ValueError"]
    assert "ValueError: boom" in crashed[0]["exception"]  # the traceback, as text


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_configure_logging_leaves_the_applications_setup_alone(
    fresh_logging: None,
) -> None:
    """An application that configured structlog keeps its configuration; one with its own
    stdlib handlers gets supervise's events through them, fields as record attributes."""
    structlog.configure(processors=[structlog.processors.JSONRenderer()])
    before = structlog.get_config()
    assert configure_logging(io.StringIO(), format="json") is False
    assert structlog.get_config() == before

    structlog.reset_defaults()
    handler = _Records()
    records = handler.records
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    assert configure_logging(format="json", stdlib=True) is True
    assert root.handlers == [handler]  # none added
    async with open_tree(SPEC):
        pass
    started = [r for r in records if r.getMessage() == "supervisor_started"]
    assert [(r.supervisor, r.tree) for r in started] == [  # type: ignore[attr-defined]
        ("shop/front", "shop"),
        ("shop", "shop"),
    ]
