"""`supervise logs`: the escalation example's real log, read back by every view."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from supervise._cli import main
from supervise._logs import _records
from supervise.events import CATALOGUE, Event

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The JSON log of examples/escalation.yaml: flaky crashes until the root gives up."""
    log = tmp_path_factory.mktemp("logs") / "escalation.log"
    # No watchdog: on a loaded machine the loop may block at start-up, and its
    # event_loop_blocked would be one more warning than this incident has.
    command = [
        sys.executable,
        "-m",
        "supervise",
        "run",
        "examples/escalation.yaml",
        "--no-watchdog",
    ]
    done = subprocess.run(
        [*command, "--log-format", "json", "--log-file", str(log)],
        cwd=ROOT,
        env={**os.environ, "FLAKY_CRASH_AFTER": "0.02"},
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert done.returncode == 1, done.stderr  # the root gave up, as the example intends
    return log


def logs(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(main, ["logs", *args], input=input)


def as_json(*args: str) -> Any:
    result = logs(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write_log(path: Path, base: Mapping[str, object], records: list[dict[str, object]]) -> Path:
    """A JSON-lines log of ``records``, each over the fields of ``base``."""
    path.write_text("".join(json.dumps({**base, **r}) + "\n" for r in records))
    return path


def stamps(path: Path, event: str) -> list[str]:
    return [e["timestamp"] for e in events(path) if e["event"] == event]


def test_cli_lines_have_time_level_and_tree(incident: Path) -> None:
    """Every line `supervise run` writes is a catalogued event with an ISO UTC timestamp,
    its catalogued level and the tree's name."""
    for entry in events(incident):
        assert datetime.fromisoformat(entry["timestamp"]).utcoffset() == timedelta(0)
        assert entry["level"] == CATALOGUE[Event(entry["event"])].level
        assert entry["tree"] == "app"


def test_timeline_shows_each_event_in_order(incident: Path) -> None:
    """One aligned line per event, in log order: time, level, event, actor, fields."""
    result = logs(str(incident))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(events(incident))
    columns = [line.split()[2:5] for line in lines[:9]]
    assert columns == [
        ["info", "actor_started", "app/store"],
        ["info", "actor_started", "app/group/cache"],
        ["info", "actor_started", "app/group/flaky"],
        ["info", "supervisor_started", "app/group"],
        ["info", "actor_started", "app/group"],
        ["info", "supervisor_started", "app"],
        ["error", "actor_crashed", "app/group/flaky"],
        ["info", "actor_stopped", "app/group/cache"],
        ["info", "actor_restarted", "app/group/cache"],
    ]
    assert 'exc_type=RuntimeError exc_message="flaky crashed 0.02 s after its start"' in lines[6]
    assert lines[6].index("app/group/flaky") == lines[0].index("app/store")  # aligned
    last = [line.split()[3:5] for line in lines[-3:]]
    assert last == [
        ["restart_intensity_exceeded", "app/group"],
        ["actor_stopped", "app/store"],
        ["supervisor_stopped", "app"],
    ]
    assert "\x1b[" not in result.stdout  # not a terminal: no colour
    assert "\x1b[31m" in logs(str(incident), "--color").stdout


def test_summary_counts_what_happened(incident: Path) -> None:
    """Per actor: starts, restarts, crashes by type, last exit; supervisors' give-ups."""
    rows = {row["actor"]: row for row in as_json(str(incident), "--summary")["summary"]}
    picked = {
        path: (r["kind"], r["starts"], r["restarts"], r["crashes_by_type"], r["intensity_exceeded"])
        for path, r in rows.items()
    }
    assert picked == {
        "app": ("supervisor", 1, 0, {}, 1),
        "app/store": ("worker", 1, 0, {}, 0),
        "app/group": ("supervisor", 3, 2, {}, 3),  # it gave up: an escalation, not a crash
        "app/group/cache": ("worker", 9, 6, {}, 0),
        "app/group/flaky": ("worker", 9, 6, {"RuntimeError": 9}, 0),
    }
    assert rows["app/group/flaky"]["last_exit"] == (
        "crash RuntimeError: flaky crashed 0.02 s after its start"
    )
    assert rows["app/group/flaky"]["last_crash"] == stamps(incident, "actor_crashed")[-1]
    assert rows["app/store"]["last_exit"] == "shutdown"
    assert rows["app/group"]["intensity_exceeded_at"] == [
        e["timestamp"]
        for e in events(incident)
        if e["event"] == "restart_intensity_exceeded" and e["supervisor"] == "app/group"
    ]
    text = logs(str(incident), "--summary").stdout.splitlines()
    assert text[0].split() == [
        "ACTOR", "STARTS", "RESTARTS", "CRASHES", "KILLS", "DEAD", "LAST", "CRASH", "LAST", "EXIT"
    ]  # fmt: skip
    assert text[4].split()[:4] == ["app/group/flaky", "9", "6", "RuntimeError"]
    assert text[-1].startswith("supervisor app/group exceeded its restart intensity 3 times: ")


def _states(nodes: list[dict[str, Any]]) -> dict[str, tuple[str, int, int, int]]:
    found = {}
    for n in nodes:
        found[n["path"]] = (n["state"], n["incarnation"], n["restart_count"], n["crashes"])
        found.update(_states(n["children"]))
    return found


def test_tree_at_the_end_and_at_a_time(incident: Path) -> None:
    """--tree rebuilds each path's state; --at shows it as it stood at that moment."""
    end = as_json(str(incident), "--tree")
    assert _states(end["tree"]) == {
        "app": ("gone", 1, 0, 0),
        "app/store": ("stopped", 1, 0, 0),
        "app/group": ("gone", 3, 2, 0),
        "app/group/cache": ("stopped", 9, 6, 0),
        "app/group/flaky": ("gone", 9, 6, 9),
    }
    first_give_up = stamps(incident, "restart_intensity_exceeded")[0]
    then = as_json(str(incident), "--tree", "--at", first_give_up)
    assert then["at"] == first_give_up
    assert _states(then["tree"]) == {
        "app": ("running", 1, 0, 0),
        "app/store": ("running", 1, 0, 0),
        "app/group": ("running", 1, 0, 0),
        "app/group/cache": ("running", 3, 2, 0),
        "app/group/flaky": ("gone", 3, 2, 3),
    }
    text = logs(str(incident), "--tree", "--at", first_give_up).stdout.splitlines()
    assert text[:3] == [
        "app (supervisor, running, incarnation 1, 0 restarts)",
        "├── store (running, incarnation 1, 0 restarts)",
        "└── group (supervisor, running, incarnation 1, 0 restarts)",
    ]
    assert text[4].startswith(
        "    └── flaky (gone, incarnation 3, 2 restarts, 3 crashes, last exit:"
    )


def test_explain_names_the_exits_inside_each_window(incident: Path) -> None:
    """Each give-up lists the exits inside its window: flaky's crashes for the group,
    the group's escalations for the root."""
    answers = as_json(str(incident), "--explain")["explain"]
    assert [(a["supervisor"], a["max_restarts"], a["max_seconds"]) for a in answers] == [
        ("app/group", 2, 5.0),
        ("app/group", 2, 5.0),
        ("app/group", 2, 5.0),
        ("app", 2, 30.0),
    ]
    for answer in answers[:3]:
        assert [(e["actor"], e["exc_type"]) for e in answer["exits"]] == [
            ("app/group/flaky", "RuntimeError")
        ] * 3
    assert [(e["actor"], e["exc_type"]) for e in answers[3]["exits"]] == [
        ("app/group", "RestartIntensityExceeded")
    ] * 3
    text = logs(str(incident), "--explain").stdout.splitlines()
    assert text[0].endswith(
        "app/group gave up: more than 2 restarts in 5.0 s (last exit: app/group/flaky)"
    )
    assert text[1] == "  3 exits inside the window:"
    assert text[2].endswith(
        "app/group/flaky  crash  RuntimeError: flaky crashed 0.02 s after its start"
    )


def test_filters(incident: Path) -> None:
    """--actor globs paths, --event and --level pick events, --since/--until bound times
    (ISO or ago), --grep searches names and exception messages; --json keeps the lines."""
    lines = incident.read_text().splitlines()

    def picked(*args: str) -> list[dict[str, Any]]:
        result = logs(str(incident), "--json", *args)
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines()]

    crashed = picked("--event", "actor_crashed", "--actor", "app/group/*")
    assert [e["actor"] for e in crashed] == ["app/group/flaky"] * 9
    out = logs(str(incident), "--json", "--event", "actor_crashed").stdout.splitlines()
    assert out == [line for line in lines if '"actor_crashed"' in line]  # as they were
    assert {e["level"] for e in picked("--level", "warning")} == {"error"}
    escalations = picked("--grep", "^restart_intensity|gave up")
    # 4 give-ups; the group's 3 crashes and 3 stops, and the root's stop, for that reason
    assert len(escalations) == 4 + 3 + 3 + 1
    moments = [e["timestamp"] for e in events(incident)]
    middle = picked("--since", moments[10], "--until", moments[20])
    assert [e["timestamp"] for e in middle] == moments[10:21]
    assert len(picked("--since", "1d")) == len(lines)
    assert picked("--until", "1d") == []


def test_bad_arguments_are_usage_errors(incident: Path) -> None:
    """A wrong time, pattern or combination exits 2 and says what to write instead."""
    result = logs(str(incident), "--since", "yesterday")
    assert result.exit_code == 2
    assert (
        "time 'yesterday': use an ISO time (2026-11-30T08:11:21, UTC unless it has an "
        "offset) or a duration ago (30s, 10m, 2h, 1d)" in result.stderr
    )
    assert "--at goes with --tree" in logs(str(incident), "--at", "1m").stderr
    assert "--grep '(': " in logs(str(incident), "--grep", "(").stderr
    assert "--follow shows the timeline" in logs(str(incident), "-f", "--summary").stderr


GARBAGE = b"""\
not json at all: another logger's text
{"event": "half a line
[1, 2, 3]
{"no_event_key": true}

{"event": "app_own_event", "actor": "app/store", "level": "info"}
"""


@pytest.fixture
def messy(incident: Path, tmp_path: Path) -> Path:
    """The incident with garbage in the middle and a cut-off last line."""
    lines = incident.read_bytes().splitlines(keepends=True)
    path = tmp_path / "messy.log"
    path.write_bytes(b"".join(lines[:30]) + GARBAGE + b"".join(lines[30:]) + lines[5][:40])
    return path


def test_garbage_foreign_and_truncated_lines_are_counted(incident: Path, messy: Path) -> None:
    """Bad lines are skipped, counted and reported at the end; the views are unchanged."""
    clean = as_json(str(incident), "--summary")
    result = logs(str(messy), "--summary", "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    n = len(events(incident))
    assert document["summary"] == clean["summary"]
    assert document["stats"] == {
        "lines": n + 7,
        "events": n + 1,
        "malformed": 1,
        "foreign": 3,
        "truncated": 1,
        "screened": 0,
        "unreadable": [],
    }
    assert result.stderr == (
        f"supervise logs: {n + 7} lines, {n + 1} events; skipped: "
        "1 malformed, 3 foreign, 1 truncated\n"
    )
    timeline = logs(str(messy)).stdout
    assert "app_own_event" in timeline  # the application's events are events too


def test_event_filter_screens_lines_before_parsing(messy: Path, tmp_path: Path) -> None:
    """--event parses only the lines that name the event (or hold a \\u escape that could
    spell it): the rest are counted as lines, not parsed; the answer is the same."""
    lines = messy.read_bytes().splitlines(keepends=True)
    wanted = [line for line in lines if b'"actor_crashed"' in line]
    result = logs(str(messy), "--event", "actor_crashed", "--json")
    assert result.stdout.encode() == b"".join(wanted)
    stats = json.loads(logs(str(messy), "--event", "actor_crashed", "--summary", "--json").stdout)
    assert stats["stats"]["lines"] == len(lines)
    assert stats["stats"]["screened"] == len(lines) - len(wanted)
    escaped = tmp_path / "escaped.log"
    escaped.write_bytes(b'{"event": "actor_\\u0063rashed", "actor": "a/b"}\n' + lines[0])
    picked = logs(str(escaped), "--event", "actor_crashed", "--json").stdout.splitlines()
    assert [json.loads(line)["actor"] for line in picked] == ["a/b"]


def test_gzip_stdin_and_unreadable_files(incident: Path, tmp_path: Path) -> None:
    """.gz files and standard input read like files; a cut-off .gz and a missing file are
    reported (exit 2) and the rest is still read."""
    data = incident.read_bytes()
    packed = tmp_path / "a.log.gz"
    packed.write_bytes(gzip.compress(data))
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(gzip.compress(data)[:-30])
    whole = as_json(str(incident), "--summary")["summary"]
    assert as_json(str(packed), "--summary")["summary"] == whole
    piped = logs("-", "--summary", "--json", input=data)
    assert json.loads(piped.stdout)["summary"] == whole
    result = logs(str(tmp_path / "missing.log"), str(cut), str(packed), "--summary", "--json")
    assert result.exit_code == 2
    stats = json.loads(result.stdout)["stats"]
    assert [u["file"] for u in stats["unreadable"]] == [str(tmp_path / "missing.log"), str(cut)]
    assert stats["unreadable"][0]["error"] == "No such file or directory"
    assert stats["truncated"] == 1


@pytest.mark.parametrize("block", [7, 64, 1000])
def test_screening_across_block_boundaries(
    messy: Path, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines cut by the reader's block boundaries are screened whole, and counted once."""
    monkeypatch.setattr(_records, "BLOCK", block)
    lines = messy.read_bytes().splitlines(keepends=True)
    stats = _records.Stats()
    found = list(_records.read_lines([str(messy)], stats, [b'"actor_stopped"', b'"app_own']))
    wanted = [line for line in lines if b'"actor_stopped"' in line or b'"app_own' in line]
    assert [line.rstrip(b"\n") for line, _ in found] == [w.rstrip(b"\n") for w in wanted]
    assert stats.lines + len(found) == len(lines)


def test_stdlib_json_parser_gives_the_same_answers(
    messy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without orjson the stdlib parser reads the same events and counts the same lines."""
    fast = as_json(str(messy), "--summary")
    monkeypatch.setattr(_records, "_loads", json.loads)
    monkeypatch.setattr(_records, "_DecodeError", (ValueError,))
    assert as_json(str(messy), "--summary") == fast


def _read_line(stream: Any, deadline: float) -> bytes:
    """One line from a pipe, failing the test at the deadline instead of hanging."""
    import select

    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.1)
        if ready:
            return bytes(stream.readline())
    raise AssertionError("no line from supervise logs --follow")


@pytest.fixture
def follower(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    path = tmp_path / "live.log"
    path.write_bytes(b'{"event": "actor_started", "actor": "a/b", "level": "info"}\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervise", "logs", str(path), "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield path, proc
    finally:
        proc.kill()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_follow_prints_lines_as_they_are_written(
    follower: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    """--follow prints what is there, then each complete line appended later."""
    path, proc = follower
    deadline = time.monotonic() + 30
    assert json.loads(_read_line(proc.stdout, deadline))["actor"] == "a/b"
    with path.open("ab") as f:
        f.write(b'{"event": "actor_crashed", "actor": "a/c", "level": "error"')
        f.flush()
        f.write(b"}\n")  # the second half of the line: printed once whole
    assert json.loads(_read_line(proc.stdout, deadline))["actor"] == "a/c"
    assert proc.poll() is None  # still following


# -- the HTML report, in a real browser ----------------------------------------------------


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless browser: install Debian's chromium (.ci/run does) to check the report")


def _headless(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--disable-extensions",
            *args,
        ],
        capture_output=True,
        timeout=90,
    )


def _paeth(left: int, up: int, corner: int) -> int:
    p = left + up - corner
    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
    return left if pa <= pb and pa <= pc else up if pb <= pc else corner


def _pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit, non-interlaced PNG (what chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, bytes] = {}
    at = 8
    while at < len(png):
        length = int.from_bytes(png[at : at + 4], "big")
        kind = png[at + 4 : at + 8]
        chunks[kind] = chunks.get(kind, b"") + png[at + 8 : at + 8 + length]
        at += 12 + length
    header = chunks[b"IHDR"]
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    assert (header[8], header[9] in (2, 6), header[12]) == (8, True, 0), header
    size = 4 if header[9] == 6 else 3
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = width * size
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        method, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - size] if x >= size else 0
            corner = previous[x - size] if x >= size else 0
            add = (0, left, previous[x], (left + previous[x]) // 2, 0)[method]
            if method == 4:
                add = _paeth(left, previous[x], corner)
            line[x] = (line[x] + add) & 0xFF
        rows.append(
            bytes(line) if size == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3)
        )
        previous = line
    return width, height, rows


class _Dom(HTMLParser):
    """Counts what the report's script drew."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: Counter[str] = Counter()
        self.summary_rows = 0
        self.tree_items = 0
        self.rendered = False
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "body" and found.get("data-rendered") == "yes":
            self.rendered = True
        if tag == "circle" and (found.get("class") or "").startswith("mark "):
            self.marks[(found["class"] or "").split()[1]] += 1
        if tag in ("table", "ul") and found.get("id"):
            self._in.append(found["id"] or "")
        if tag == "tr" and "summary" in self._in:
            self.summary_rows += 1
        if tag == "li" and "tree" in self._in:
            self.tree_items += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and "summary" in self._in:
            self._in.remove("summary")


def test_html_report_is_self_contained_and_renders_in_a_browser(
    incident: Path, tmp_path: Path
) -> None:
    """--html writes one file with no external assets; a headless chromium draws its tree,
    its chart (a crash mark for each crashing actor, visible in a screenshot) and its table."""
    report = tmp_path / "report.html"
    result = logs(str(incident), "--html", str(report))
    assert result.exit_code == 0
    assert result.stderr == f"supervise logs: wrote {report}\n"
    page = report.read_text()
    for external in ("<link", " src=", "url(", "@import", "https://"):
        assert external not in page
    assert page.count("http://") == 1  # the SVG namespace name, never fetched
    browser = _browser()
    dom = _headless(browser, tmp_path / "profile", "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = _Dom()
    parsed.feed(dom.stdout.decode())
    assert parsed.rendered, "the report's script did not run"
    assert parsed.summary_rows == 1 + 5  # the heading and one row per path
    assert parsed.tree_items == 5
    assert min(parsed.marks[k] for k in ("crash", "gave_up", "restart")) >= 2, parsed.marks
    assert parsed.marks["start"] >= 5
    shot = tmp_path / "report.png"
    done = _headless(
        browser, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1300,900",
        "--hide-scrollbars", report.as_uri(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    width, height, rows = _pixels(shot.read_bytes())
    assert (width, height) == (1300, 900)
    colours: Counter[str] = Counter()
    for row in rows:
        for x in range(0, len(row), 3):
            r, g, b = row[x], row[x + 1], row[x + 2]
            if r > 190 and g < 120 and b < 120:
                colours["crash red"] += 1
            elif g > 140 and r < 120 and b < 120:
                colours["start green"] += 1
            elif b > 150 and r < 90:
                colours["restart blue"] += 1
    assert colours["crash red"] > 50, colours  # the chart's marks are drawn
    assert colours["start green"] > 50, colours
    assert colours["restart blue"] > 50, colours


_STAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\.\d{6}Z?")


def _shown_commands() -> list[tuple[list[str], list[str]]]:
    """docs/logs.md's `$ supervise logs app.log ...` commands (no pipes) and their output."""
    page = (ROOT / "docs" / "logs.md").read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```text\n(.*?)```", page, re.S):
        lines = block.splitlines()
        for index, line in enumerate(lines):
            if line.startswith("$ supervise logs app.log") and "|" not in line:
                output = []
                for shown in lines[index + 1 :]:
                    if shown.startswith("$ "):
                        break
                    output.append(shown)
                found.append((line.split()[4:], output))
    return found


def test_docs_page_shows_what_the_command_prints(incident: Path) -> None:
    """Each `supervise logs` output on docs/logs.md is what the command prints for the same
    incident (times aside; the page's run crashed flaky after 0.5 s, the test's after 0.02 s)."""
    commands = _shown_commands()
    assert len(commands) >= 5
    first_give_up = stamps(incident, "restart_intensity_exceeded")[0]
    for args, shown in commands:
        if "--html" in args:
            continue
        if "--at" in args:
            args[args.index("--at") + 1] = first_give_up
        result = logs(str(incident), *args)
        assert result.exit_code == 0, result.output
        printed = [_STAMP.sub("T", line) for line in result.stdout.splitlines()]
        printed = [line.replace("0.02 s", "0.5 s") for line in printed]
        at = 0
        for line in shown:
            if line == "...":
                continue
            line = _STAMP.sub("T", line)
            prefix = line.removesuffix("...")
            while at < len(printed) and not (
                printed[at] == line or (line.endswith("...") and printed[at].startswith(prefix))
            ):
                at += 1
            assert at < len(printed), f"docs/logs.md: `{' '.join(args)}` does not print {line!r}"
            at += 1


def test_chart_bins_widen_and_keep_every_count() -> None:
    """The report's chart keeps at most BINS bins per actor whatever the log's length:
    bins merge (twice as wide) as time goes on, and no event is lost."""
    from supervise._logs._html import BINS, Chart

    chart = Chart()
    start = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    for second in range(0, 100_000, 7):  # a day and more, one crash every 7 s
        moment = (start + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        chart.feed({"event": "actor_crashed", "actor": "a/b", "timestamp": moment,
                    "exc_type": "KeyError"})  # fmt: skip
    result = chart.result()
    (row,) = result["rows"]
    crashes = row["marks"]["crash"]
    assert sum(count for _, count in crashes) == len(range(0, 100_000, 7))
    assert max(index for index, _ in crashes) < BINS
    assert result["bins"] * result["bin_seconds"] >= 100_000 - 7
    assert set(row["causes"].values()) == {"KeyError"}


def test_follow_starts_again_when_the_file_is_truncated(tmp_path: Path) -> None:
    """A file truncated, or replaced by a new one (rotation), is read from its start."""
    path = tmp_path / "rotated.log"
    first = b'{"event": "actor_started", "actor": "a/first", "level": "info"}\n'
    path.write_bytes(first * 3)
    stats = _records.Stats()
    lines = _records.follow_lines(str(path), stats, poll=0.01)
    assert [next(lines)[0] for _ in range(3)] == [first] * 3
    path.write_bytes(b'{"event": "actor_started", "actor": "a/b"}\n')  # shorter: rotated
    assert json.loads(next(lines)[0])["actor"] == "a/b"
    path.rename(tmp_path / "rotated.log.1")  # rotated by rename: a new file takes its place
    path.write_bytes(b'{"event": "actor_started", "actor": "a/c"}\n' * 5)
    assert json.loads(next(lines)[0])["actor"] == "a/c"
    lines.close()


def test_tree_names_the_node_of_each_placed_child(tmp_path: Path) -> None:
    """--tree shows where a placed child runs, from its latest subtree_placed."""
    base = {"tree": "root", "level": "info", "timestamp": "2026-11-30T10:00:00Z"}
    records: list[dict[str, object]] = [
        {"event": "supervisor_started", "supervisor": "root", "strategy": "one_for_one"},
        {"event": "subtree_placed", "actor": "root/ingest", "supervisor": "root", "node": "b"},
        {"event": "actor_started", "actor": "root/ingest", "supervisor": "root",
         "incarnation": 1, "restart_count": 0},
        {"event": "actor_crashed", "actor": "root/ingest", "supervisor": "root",
         "reason": "nodedown", "reason_detail": "b: disconnect", "incarnation": 1,
         "restart_count": 0},
        {"event": "subtree_relocated", "actor": "root/ingest", "supervisor": "root",
         "from_node": "b", "node": "c"},
        {"event": "subtree_placed", "actor": "root/ingest", "supervisor": "root", "node": "c"},
        {"event": "actor_started", "actor": "root/ingest", "supervisor": "root",
         "incarnation": 2, "restart_count": 1},
    ]  # fmt: skip
    log = _write_log(tmp_path / "placed.log", base, records)
    assert logs(str(log), "--tree").stdout.splitlines() == [
        "root (supervisor, running, incarnation 1, 0 restarts)",
        "└── ingest (running, incarnation 2, on node c, 1 restart, 1 crash)",
    ]
    (root,) = as_json(str(log), "--tree")["tree"]
    assert (root["node"], root["children"][0]["node"]) == (None, "c")


def test_a_block_outside_the_trees_actors_is_no_path(tmp_path: Path) -> None:
    """The watchdog names whatever task ran when the loop blocked: a block in code outside
    any task ("-") or in a task of the application is listed, but is no node of --tree or
    row of --summary; a block in an actor is counted against it."""
    base = {"tree": "root", "level": "warning", "timestamp": "2026-11-30T10:00:00Z"}
    records: list[dict[str, object]] = [
        {"event": "supervisor_started", "supervisor": "root", "level": "info"},
        {"event": "actor_started", "actor": "root/a", "supervisor": "root", "level": "info",
         "incarnation": 1, "restart_count": 0},
        {"event": "event_loop_blocked", "actor": "-", "blocked_seconds": 0.2},
        {"event": "event_loop_unblocked", "actor": "-", "blocked_seconds": 0.3},
        {"event": "event_loop_blocked", "actor": "Task-7", "blocked_seconds": 0.2},
        {"event": "event_loop_blocked", "actor": "root/a", "blocked_seconds": 0.2},
    ]  # fmt: skip
    log = _write_log(tmp_path / "blocked.log", base, records)
    assert logs(str(log), "--tree").stdout.splitlines() == [
        "root (supervisor, running, incarnation 1, 0 restarts)",
        "└── a (running, incarnation 1, 0 restarts)",
    ]
    assert {row["actor"] for row in as_json(str(log), "--summary")["summary"]} == {"root", "root/a"}
    listed = logs(str(log), "--event", "event_loop_blocked", "--json").stdout.splitlines()
    assert [json.loads(line)["actor"] for line in listed] == ["-", "Task-7", "root/a"]
