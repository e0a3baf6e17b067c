"""Lifecycle logging: a broken log sink never breaks supervision."""

from __future__ import annotations

import contextvars
from collections.abc import MutableMapping
from typing import Any

import pytest
import structlog
from _support import Crash, Ping, until, worker

import supervise._log
from supervise import ActorRef, SupervisorSpec, open_tree
from supervise._registry import slot_at


def exploding(logger: object, method: str, event_dict: MutableMapping[str, Any]) -> Any:
    raise OSError("disk full")


async def test_failing_sink_is_reported_once_and_the_tree_carries_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every event fails to log, yet children start, crash, restart and stop as usual."""
    monkeypatch.setattr(supervise._log, "_sink_failed", False)
    old = structlog.get_config()
    structlog.configure(processors=[exploding], cache_logger_on_first_use=False)
    try:
        async with open_tree(SupervisorSpec(name="root", children=[worker("w")])) as tree:
            w = tree.whereis("root/w")
            assert isinstance(w, ActorRef)
            await w.cast(Crash())
            await until(lambda: slot_at(tree.registry, "root/w").incarnation == 2)  # type: ignore[union-attr]
            assert await w.call(Ping()) == "pong"
    finally:
        structlog.configure(**old)
    err = capsys.readouterr().err
    assert err == (
        "supervise: logging the 'actor_started' event failed (OSError: disk full); "
        "further logging failures are not reported\n"
    )


def test_level_answers_follow_the_logger_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached logger's answers are kept; a new logger, or one configured afresh, is asked again.

    `_log.enabled` keeps what a logger cached on first use answered (its
    configuration can no longer change), and must not answer for another one.
    """
    from logging import ERROR, INFO

    from supervise.events import Event

    old = structlog.get_config()
    try:
        for level, kept in ((ERROR, False), (INFO, True), (ERROR, False)):
            structlog.configure(
                wrapper_class=structlog.make_filtering_bound_logger(level),
                cache_logger_on_first_use=True,
            )
            monkeypatch.setattr(supervise._log, "_logger", structlog.get_logger("supervise"))
            assert supervise._log.enabled(Event.ACTOR_STARTED) is kept
            assert supervise._log.enabled(Event.ACTOR_STARTED) is kept  # the kept answer
            assert supervise._log.enabled(Event.ACTOR_CRASHED) is True
        # Not cached on first use: every call asks the configuration of the moment.
        structlog.configure(
            wrapper_class=structlog.make_filtering_bound_logger(ERROR),
            cache_logger_on_first_use=False,
        )
        monkeypatch.setattr(supervise._log, "_logger", structlog.get_logger("supervise"))
        assert supervise._log.enabled(Event.ACTOR_STARTED) is False
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(INFO))
        assert supervise._log.enabled(Event.ACTOR_STARTED) is True
    finally:
        structlog.configure(**old)


def _bound(context: contextvars.Context) -> dict[str, Any]:
    return context.run(structlog.contextvars.get_contextvars)


def test_a_context_made_ahead_is_taken_only_for_its_incarnation_and_context() -> None:
    """prepare_context makes what incarnation_context would make then; take_context hands
    it over once, for that incarnation, and only while the current context is unchanged."""
    app = contextvars.ContextVar[str]("app")

    def scenario() -> None:
        app.set("before")
        supervise._log.prepare_context("t/a", 3)
        assert supervise._log.take_context("t/a", 4) is None  # another incarnation: dropped
        assert supervise._log.take_context("t/a", 3) is None  # taken once at most

        supervise._log.prepare_context("t/a", 3)
        taken = supervise._log.take_context("t/a", 3)
        assert taken is not None
        made = supervise._log.incarnation_context("t/a", 3)
        assert _bound(taken) == _bound(made) == {"actor": "t/a", "incarnation": 3, "tree": "t"}
        assert taken[app] == made[app] == "before"

        supervise._log.prepare_context("t/a", 4)
        app.set("after")  # the creator's context changed since: make a fresh one
        assert supervise._log.take_context("t/a", 4) is None

    contextvars.copy_context().run(scenario)
