"""Reading JSON-lines logs: sources, parsing, times and filters, one line at a time.

Nothing here holds more than one line: a log of any size streams through in
flat memory. Lines that are not events are counted in `Stats`, never fatal:

- *malformed*: starts like a JSON object but does not parse;
- *foreign*: anything else that is not a JSON object with a string ``event``
  (another logger's plain text, a stray JSON value);
- *truncated*: a file's last line without its newline that does not parse
  (the writer was cut off), or a ``.gz`` file that ends early.

orjson parses when it is installed (``pip install 'supervise[logs]'``; about
3x faster on these lines), else the stdlib's ``json``.
"""

from __future__ import annotations

import fnmatch
import gzip
import importlib
import json
import os
import re
import sys
import time
import zlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from .._errors import SuperviseError

Record = dict[str, Any]

_loads: Callable[[bytes], Any]
try:
    # Imported by name, so that type-checking never depends on the optional extra.
    orjson = importlib.import_module("orjson")

    _loads = orjson.loads
    _DecodeError: tuple[type[Exception], ...] = (orjson.JSONDecodeError,)
except ImportError:  # the optional extra is absent: the stdlib parses
    _loads = json.loads
    _DecodeError = (ValueError,)

PARSER = "orjson" if _loads is not json.loads else "json"

#: Bytes read at a time when lines are screened for an event name.
BLOCK = 1 << 20

#: Level names in order; structlog writes ``level`` (``add_log_level``).
LEVELS = ("debug", "info", "warning", "error", "critical")
_LEVEL_RANK = {name: rank for rank, name in enumerate(LEVELS)}
_LEVEL_RANK.update({"warn": 2, "exception": 3, "fatal": 4})


class LogsError(SuperviseError):
    """A ``supervise logs`` argument is wrong (a time, a pattern, a file)."""


@dataclass
class Stats:
    """What the readers saw, reported at the end."""

    lines: int = 0
    events: int = 0
    malformed: int = 0
    foreign: int = 0
    truncated: int = 0
    #: Lines not parsed because they cannot hold a wanted event (``--event``).
    screened: int = 0
    #: Files that could not be read at all: (name, why).
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "events": self.events,
            "malformed": self.malformed,
            "foreign": self.foreign,
            "truncated": self.truncated,
            "screened": self.screened,
            "unreadable": [{"file": f, "error": e} for f, e in self.unreadable],
        }

    def problems(self) -> str | None:
        """One line naming the skipped lines and files, or None if there were none."""
        parts = [
            f"{count} {what}"
            for count, what in (
                (self.malformed, "malformed"),
                (self.foreign, "foreign"),
                (self.truncated, "truncated"),
            )
            if count
        ]
        parts += [f"{name}: {why}" for name, why in self.unreadable]
        if not parts:
            return None
        screened = f" ({self.screened} not parsed: no wanted event)" if self.screened else ""
        return f"{self.lines} lines{screened}, {self.events} events; skipped: " + ", ".join(parts)


# -- times ---------------------------------------------------------------------------------

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)$")
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def canonical(moment: datetime) -> str:
    """``moment`` as structlog's UTC ISO stamp (``2026-11-30T08:11:21.311329Z``): these
    compare as strings in time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str, now: datetime | None = None) -> str:
    """``--since``/``--until``/``--at``: an ISO time (naive means UTC) or ``10m`` ago.

    Returns the canonical stamp.

    Raises:
        LogsError: neither form.
    """
    relative = _RELATIVE.match(text.strip())
    if relative:
        seconds = float(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
        return canonical((now or datetime.now(UTC)) - timedelta(seconds=seconds))
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LogsError(
            f"time {text!r}: use an ISO time (2026-11-30T08:11:21, UTC unless it has an "
            f"offset) or a duration ago (30s, 10m, 2h, 1d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return canonical(moment)


def stamp(record: Record) -> str | None:
    """The record's time as a canonical stamp (None if it has none or it does not parse)."""
    value = record.get("timestamp")
    if type(value) is not str:
        return None
    if len(value) == 27 and value[-1] == "Z":  # already canonical: the common case
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return canonical(moment)


def seconds(canonical_stamp: str) -> float:
    """Seconds since the epoch of a canonical stamp."""
    return datetime.fromisoformat(canonical_stamp).timestamp()


# -- reading -------------------------------------------------------------------------------


def _open(name: str) -> IO[bytes] | gzip.GzipFile:
    if name == "-":
        return sys.stdin.buffer
    path = Path(name)
    with path.open("rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    if gz:
        return gzip.open(path, "rb")
    return path.open("rb", buffering=1 << 20)


def read_lines(
    names: Sequence[str], stats: Stats, needles: Sequence[bytes] = ()
) -> Iterator[tuple[bytes, bool]]:
    """Each line of each source in turn, with whether it ended in a newline.

    With ``needles``, only the lines holding one of them (or a ``\\u`` escape,
    which could spell one) are yielded: the others are counted in
    ``stats.screened`` without being looked at one by one (see `_screened`).
    A file that cannot be opened or ends early (a cut-off ``.gz``) is counted
    in ``stats`` and the next one is read.
    """
    for name in names:
        try:
            stream = _open(name)
        except OSError as exc:
            stats.unreadable.append((name, exc.strerror or str(exc)))
            continue
        try:
            if needles:
                yield from _screened(stream, needles, stats)
            else:
                for line in stream:
                    yield line, line.endswith(b"\n")
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            stats.truncated += 1
            stats.unreadable.append((name, f"compressed data ends early ({exc})"))
        except OSError as exc:
            stats.unreadable.append((name, exc.strerror or str(exc)))
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()


def _screened(
    stream: IO[bytes] | gzip.GzipFile, needles: Sequence[bytes], stats: Stats
) -> Iterator[tuple[bytes, bool]]:
    """The lines holding a needle (without their newline): each block is split and tested
    in one comprehension, with no Python step per line beyond the test itself."""
    escape = b"\\u"  # a \\u escape could spell a wanted name: such lines are parsed too
    search = re.compile(b"|".join(re.escape(n) for n in (*needles, escape))).search
    single = needles[0] if len(needles) == 1 else None
    rest = b""
    while True:
        chunk = stream.read(BLOCK)
        if not chunk:
            if rest:  # a last line without its newline
                if search(rest):
                    yield rest, False
                else:
                    stats.lines += 1
                    stats.screened += 1
            return
        lines = chunk.split(b"\n")
        lines[0] = rest + lines[0]
        rest = lines.pop()  # the start of a line the next block ends
        if single is not None and escape not in chunk and escape not in lines[0]:
            kept = [line for line in lines if single in line]
        else:
            kept = [line for line in lines if search(line)]
        stats.lines += len(lines) - len(kept)
        stats.screened += len(lines) - len(kept)
        for line in kept:
            yield line, True


def follow_lines(
    name: str, stats: Stats, poll: float = 0.2
) -> Generator[tuple[bytes, bool], None, None]:
    """``tail -F``: the file's lines, then new ones as they are written, for ever.

    A partial last line is held until its newline arrives. A file that shrinks
    (truncated, or rotated by copy) is read again from its start; one that is
    replaced (rotated by rename) is opened again once the new file exists.
    """
    path = Path(name)
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise LogsError(f"--follow {name}: {exc.strerror or exc}") from None
    pending = b""
    try:
        while True:
            chunk = stream.readline()
            if chunk:
                pending += chunk
                if pending.endswith(b"\n"):
                    yield pending, True
                    pending = b""
                continue
            try:
                now = path.stat()
            except OSError:  # between a rename and the new file: wait for it
                time.sleep(poll)
                continue
            if now.st_ino != os.fstat(stream.fileno()).st_ino:
                stream.close()
                stream = path.open("rb")
                pending = b""
            elif now.st_size < stream.tell():
                stream.seek(0)
                pending = b""
            else:
                time.sleep(poll)
    finally:
        stream.close()


def parse(line: bytes, complete: bool, stats: Stats) -> Record | None:
    """The event on ``line``, or None (counted in ``stats``) if it is not one."""
    stats.lines += 1
    try:
        value = _loads(line)
    except _DecodeError:
        if not line.strip():
            return None  # a blank line is not worth a mention
        if not complete:
            stats.truncated += 1
        elif line.lstrip()[:1] == b"{":
            stats.malformed += 1
        else:
            stats.foreign += 1
        return None
    if type(value) is not dict or type(value.get("event")) is not str:
        stats.foreign += 1
        return None
    stats.events += 1
    return value


def level_rank(record: Record) -> int:
    level = record.get("level", record.get("log_level"))
    return _LEVEL_RANK.get(level, 1) if type(level) is str else 1


# -- filters -------------------------------------------------------------------------------


@dataclass
class Filter:
    """Which events to keep; every condition given must hold."""

    actors: Sequence[str] = ()
    events: Sequence[str] = ()
    level: str | None = None
    since: str | None = None
    until: str | None = None
    grep: str | None = None

    def __post_init__(self) -> None:
        self._actors = [re.compile(fnmatch.translate(glob)) for glob in self.actors]
        self._events = frozenset(self.events)
        self._level = _LEVEL_RANK[self.level] if self.level else 0
        try:
            self._grep = re.compile(self.grep) if self.grep else None
        except re.error as exc:
            raise LogsError(f"--grep {self.grep!r}: {exc}") from None
        # A line can only hold an event named X if it contains "X" (JSON escapes
        # aside), so lines are screened before they are parsed.
        self.needles = tuple(f'"{name}"'.encode() for name in self._events)
        self.timed = self.since is not None or self.until is not None

    @property
    def everything(self) -> bool:
        return not (self._actors or self._events or self._level or self._grep or self.timed)

    def __call__(self, record: Record) -> bool:
        if self._events and record["event"] not in self._events:
            return False
        if self._actors:
            paths = [p for p in (record.get("actor"), record.get("supervisor")) if type(p) is str]
            if not any(glob.match(p) for glob in self._actors for p in paths):
                return False
        if self._level and level_rank(record) < self._level:
            return False
        if self.timed:
            moment = stamp(record)
            if moment is None:
                return False
            if self.since is not None and moment < self.since:
                return False
            if self.until is not None and moment > self.until:
                return False
        if self._grep is not None:
            text = " ".join(str(record[key]) for key in ("event", "exc_message") if key in record)
            if not self._grep.search(text):
                return False
        return True


def records(
    lines: Iterator[tuple[bytes, bool]], keep: Filter, stats: Stats
) -> Iterator[tuple[Record, bytes]]:
    """The events on ``lines`` that ``keep`` keeps, each with its line."""
    everything = keep.everything
    for line, complete in lines:
        record = parse(line, complete, stats)
        if record is not None and (everything or keep(record)):
            yield record, line
