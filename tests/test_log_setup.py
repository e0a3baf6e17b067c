"""configure_logging: the CLI's log format for an application that embeds a tree."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import structlog

from supervise import SpecError, configure_logging


class _Terminal(io.StringIO):
    """A text stream that says it is a terminal, as sys.stderr does in a shell."""

    def isatty(self) -> bool:
        return True


def _log(*events: tuple[str, str]) -> None:
    logger = structlog.get_logger("app")
    for level, event in events:
        getattr(logger, level)(event, answer=42)


@pytest.mark.usefixtures("fresh_logging")
def test_a_file_destination_gets_json_lines_appended(tmp_path: Path) -> None:
    """A path is opened for appending: what was there stays; each event is one JSON line."""
    target = tmp_path / "app.jsonl"
    target.write_text('{"event": "earlier"}\n')
    assert configure_logging(target) is True  # auto: a file is not a terminal, so JSON
    _log(("info", "hello"))
    # The file stays open as long as the process logs; this test ends that.
    structlog.get_config()["logger_factory"]._file.close()
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["earlier", "hello"]
    assert lines[1]["answer"] == 42
    assert lines[1]["level"] == "info"


@pytest.mark.usefixtures("fresh_logging")
def test_events_below_the_level_are_dropped() -> None:
    stream = io.StringIO()
    assert configure_logging(stream, format="json", level="warning") is True
    _log(("debug", "d"), ("info", "i"), ("warning", "w"), ("error", "e"))
    assert [json.loads(x)["event"] for x in stream.getvalue().splitlines()] == ["w", "e"]


@pytest.mark.usefixtures("fresh_logging")
def test_auto_is_console_on_a_terminal_with_colours() -> None:
    terminal = _Terminal()
    assert configure_logging(terminal) is True
    _log(("info", "hello"))
    text = terminal.getvalue()
    assert "hello" in text
    assert not text.startswith("{")
    assert "\x1b[" in text  # ANSI colour codes


@pytest.mark.usefixtures("fresh_logging")
def test_no_color_turns_the_console_colours_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """https://no-color.org: a non-empty NO_COLOR means no ANSI codes, even on a terminal."""
    monkeypatch.setenv("NO_COLOR", "1")
    terminal = _Terminal()
    assert configure_logging(terminal, format="console") is True
    _log(("info", "hello"))
    assert "hello" in terminal.getvalue()
    assert "\x1b[" not in terminal.getvalue()


def test_configure_logging_rejects_unknown_names() -> None:
    """A level or format outside the documented names is a SpecError naming the choices."""
    ch = "debug, info, warning, error"
    with pytest.raises(SpecError, match=rf"^configure_logging: level 'loud': use one of {ch}$"):
        configure_logging(level="loud")
    with pytest.raises(
        SpecError, match=r"^configure_logging: format 'xml': use one of auto, json, console$"
    ):
        configure_logging(format="xml")  # type: ignore[arg-type]


def _crash_with_a_secret() -> None:
    dsn = "postgresql://app:hunter2@db/shop"  # a local variable a traceback must not print
    raise ConnectionError(f"cannot reach {dsn.rsplit('@', 1)[1]}")


@pytest.mark.usefixtures("fresh_logging")
def test_console_tracebacks_are_plain_without_local_variables() -> None:
    """A crash's traceback names the frames and the exception, never the frames' local
    variables (rich's traceback, structlog's default when rich is installed, prints them)."""
    terminal = _Terminal()
    assert configure_logging(terminal, format="console") is True
    try:
        _crash_with_a_secret()
    except ConnectionError:
        structlog.get_logger("app").exception("actor_crashed")
    text = terminal.getvalue()
    assert "Traceback (most recent call last):" in text
    assert "in _crash_with_a_secret" in text
    assert "ConnectionError: cannot reach db/shop" in text
    assert "hunter2" not in text
