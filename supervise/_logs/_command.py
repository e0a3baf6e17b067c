"""``supervise logs FILE...``: read a tree's JSON-lines logs (``-`` is standard input).

::

    supervise logs app.log                          # the timeline, one aligned line per event
    supervise logs app.log --actor 'app/db*' --level warning --since 10m
    supervise logs app.log --summary                # per actor: starts, restarts, crashes...
    supervise logs app.log --tree --at 08:11:21     # the tree as it stood then
    supervise logs app.log --explain                # why did a supervisor give up?
    supervise logs app.log --follow                 # like tail -f
    supervise logs app.log.gz --event actor_crashed --json | jq ...
    supervise logs app.log --html report.html       # one file to open in a browser
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ._records import (
    LEVELS,
    Filter,
    LogsError,
    Record,
    Stats,
    follow_lines,
    parse_time,
    read_lines,
    records,
)
from ._views import Explain, Summary, TreeView, subject

_LEVEL_COLOURS = {"error": "red", "critical": "red", "warning": "yellow", "info": "green"}
#: Keys the timeline shows in its own columns (or leaves to --json).
_COLUMNS = frozenset({"timestamp", "level", "log_level", "event", "tree", "exception"})


def _value(value: object) -> str:
    if type(value) is str and value and " " not in value and '"' not in value:
        return value
    return json.dumps(value, default=str)


def timeline_line(record: Record, colour: bool) -> str:
    """One aligned line: time, level, event, actor, then the other fields as key=value."""
    moment = str(record.get("timestamp", "-")).replace("T", " ").removesuffix("Z")
    level = str(record.get("level", record.get("log_level", "-")))
    event = str(record["event"])
    path = subject(record) or "-"
    shown = "actor" if record.get("actor") == path else "supervisor"
    rest = " ".join(
        f"{key}={_value(value)}"
        for key, value in record.items()
        if key not in _COLUMNS and key != shown
    )
    level_text = f"{level:<8}"
    event_text = f"{event:<27}"
    if colour:
        level_text = click.style(level_text, fg=_LEVEL_COLOURS.get(level))
        event_text = click.style(event_text, bold=level in ("error", "critical"))
    return f"{moment:<26}  {level_text} {event_text} {path:<24} {rest}".rstrip()


def _short(text: str, width: int = 72) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _summary_text(rows: list[dict[str, Any]]) -> list[str]:
    header = ("ACTOR", "STARTS", "RESTARTS", "CRASHES", "KILLS", "DEAD", "LAST CRASH", "LAST EXIT")
    table = [header]
    for row in rows:
        crashes = ", ".join(f"{kind} x{n}" for kind, n in row["crashes_by_type"].items())
        path = row["actor"] + ("/" if row["kind"] == "supervisor" else "")
        table.append(
            (
                path,
                str(row["starts"]),
                str(row["restarts"]),
                crashes or "0",
                str(row["kills"]),
                str(row["dead_letters"]),
                row["last_crash"] or "-",
                _short(row["last_exit"] or "-"),
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    gave_up = [row for row in rows if row["intensity_exceeded"]]
    if gave_up:
        lines.append("")
        for row in gave_up:
            times = ", ".join(row["intensity_exceeded_at"])
            lines.append(
                f"supervisor {row['actor']} exceeded its restart intensity "
                f"{_counted(row['intensity_exceeded'], 'time')}: {times}"
            )
    return lines


def _counted(count: int, noun: str) -> str:
    """``1 restart``, ``2 restarts``, ``3 crashes``."""
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun}es" if noun.endswith("sh") else f"{count} {noun}s"


def _tree_text(nodes: list[dict[str, Any]], lines: list[str], prefix: str = "") -> None:
    for index, node in enumerate(nodes):
        last = index == len(nodes) - 1
        branch = "" if not prefix and len(lines) == 0 else ("└── " if last else "├── ")
        label = node["path"] if not prefix and not branch else node["name"]
        details = [node["state"]]
        if node["kind"] == "supervisor":
            details.insert(0, "supervisor")
        if node["incarnation"]:
            details.append(f"incarnation {node['incarnation']}")
        if node.get("node"):
            details.append(f"on node {node['node']}")
        details.append(_counted(node["restart_count"], "restart"))
        if node["crashes"]:
            details.append(_counted(node["crashes"], "crash"))
        if node["last_exit"] and node["state"] != "running":
            details.append(f"last exit: {_short(node['last_exit'], 60)}")
        lines.append(f"{prefix}{branch}{label} ({', '.join(details)})")
        below = prefix + ("" if not branch else ("    " if last else "│   "))
        _tree_text(node["children"], lines, below)


def _explain_text(answer: dict[str, Any]) -> list[str]:
    lines = [
        f"{answer['timestamp']}  {answer['supervisor']} gave up: more than "
        f"{_counted(answer['max_restarts'], 'restart')} in {answer['max_seconds']} s "
        f"(last exit: {answer['last_exit']})",
        f"  {len(answer['exits'])} exits inside the window:",
    ]
    for e in answer["exits"]:
        cause = f"  {e['exc_type']}: {e['exc_message']}" if e["exc_type"] else ""
        lines.append(f"    {e['timestamp']}  {e['actor']}  {e['reason']}{cause}")
    if answer["cut_short"]:
        lines.append("    (older exits in the window were not kept)")
    return lines


def _explain(stream: Iterator[tuple[Record, bytes]], as_json: bool, stats: Stats) -> None:
    """Each answer is printed as soon as it is found: nothing piles up."""

    def show(answer: dict[str, Any]) -> None:
        first = explain.count == 1
        if as_json:
            sys.stdout.write(("" if first else ",\n") + json.dumps(answer, indent=2))
        else:
            _out(("" if first else "\n") + "\n".join(_explain_text(answer)))

    explain = Explain(on_answer=show)
    if as_json:
        sys.stdout.write('{"explain": [\n')
    for record, _ in stream:
        explain.feed(record)
    if as_json:
        _out(f'\n], "stats": {json.dumps(stats.as_dict())}}}')
    elif not explain.count:
        _out("no supervisor exceeded its restart intensity in this log")


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _timeline(
    stream: Iterator[tuple[Record, bytes]], as_json: bool, colour: bool, following: bool
) -> None:
    if as_json:  # the lines as they were: nothing is re-encoded
        write = sys.stdout.buffer.write
        for _, line in stream:
            write(line)
            if line[-1:] != b"\n":
                write(b"\n")
            if following:
                sys.stdout.buffer.flush()
        return
    for record, _ in stream:
        sys.stdout.write(timeline_line(record, colour) + "\n")
        if following:
            sys.stdout.flush()


def _view(view: str, stream: Iterator[tuple[Record, bytes]], as_json: bool, stats: Stats) -> None:
    if view == "explain":
        _explain(stream, as_json, stats)
        return
    builder = Summary() if view == "summary" else TreeView()
    for record, _ in stream:
        builder.feed(record)
    result = builder.result()
    if as_json:
        document: dict[str, Any] = {view: result, "stats": stats.as_dict()}
        if isinstance(builder, TreeView):
            document["at"] = builder.last
        _out(json.dumps(document, indent=2))
    elif isinstance(builder, Summary):
        _out("\n".join(_summary_text(result)))
    else:
        lines: list[str] = []
        _tree_text(result, lines)
        _out("\n".join(lines) if lines else "no tree in this log")


def _lines(
    files: tuple[str, ...], follow: bool, keep: Filter, stats: Stats
) -> Iterator[tuple[bytes, bool]]:
    if not follow or files == ("-",):
        return read_lines(files, stats, keep.needles)
    if len(files) != 1:
        raise LogsError("--follow reads one file")
    return follow_lines(files[0], stats)


@click.command("logs")
@click.argument("files", nargs=-1, required=True)
@click.option("--actor", "actors", multiple=True, metavar="GLOB", help="Tree paths (app/db*).")
@click.option("--event", "events", multiple=True, metavar="NAME", help="Event names.")
@click.option("--level", type=click.Choice(LEVELS), help="Events at this level or above.")
@click.option("--since", metavar="TIME", help="From TIME: ISO (UTC) or ago (30s, 10m, 2h, 1d).")
@click.option("--until", metavar="TIME", help="Up to TIME, as --since.")
@click.option("--grep", metavar="REGEX", help="Events whose name or exc_message match.")
@click.option("--summary", "view", flag_value="summary", help="Per actor and supervisor counts.")
@click.option("--tree", "view", flag_value="tree", help="The tree at the end (or --at).")
@click.option("--explain", "view", flag_value="explain", help="Why each supervisor gave up.")
@click.option("--at", metavar="TIME", help="With --tree: the tree as it stood at TIME.")
@click.option("-f", "--follow", is_flag=True, help="Keep reading as the file grows.")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts (events: JSON lines).")
@click.option("--html", type=click.Path(dir_okay=False, path_type=Path), help="Write a report.")
@click.option("--color/--no-color", default=None, help="Colour the timeline (default: on a tty).")
def logs(
    files: tuple[str, ...],
    actors: tuple[str, ...],
    events: tuple[str, ...],
    level: str | None,
    since: str | None,
    until: str | None,
    grep: str | None,
    view: str | None,
    at: str | None,
    follow: bool,
    as_json: bool,
    html: Path | None,
    color: bool | None,
) -> None:
    """Read a tree's JSON-lines logs (FILES; - for standard input; .gz too).

    Without a view option, prints the timeline: one aligned line per event.
    Filters apply to every view. Lines that are not events (malformed, from
    other loggers, a cut-off last line) are counted and reported on standard
    error at the end. Exits 2 if a file could not be read.
    """
    stats = Stats()
    try:
        if at is not None and view != "tree":
            raise LogsError("--at goes with --tree")
        if follow and (view is not None or html is not None):
            raise LogsError("--follow shows the timeline; it goes with no other view")
        until_stamp = parse_time(until) if until else None
        if at is not None:
            at_stamp = parse_time(at)
            until_stamp = at_stamp if until_stamp is None else min(at_stamp, until_stamp)
        keep = Filter(
            actors=actors,
            events=events,
            level=level,
            since=parse_time(since) if since else None,
            until=until_stamp,
            grep=grep,
        )
        stream = records(_lines(files, follow, keep, stats), keep, stats)
    except LogsError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        if html is not None:
            from ._html import write_report

            write_report(html, stream, stats)
            click.echo(f"supervise logs: wrote {html}", err=True)
        elif view is None:
            colour = sys.stdout.isatty() if color is None else color
            _timeline(stream, as_json, colour, follow)
        else:
            _view(view, stream, as_json, stats)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, as a tool killed by SIGPIPE would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except KeyboardInterrupt:  # --follow ends with Ctrl-C
        sys.exit(130)
    problems = stats.problems()
    if problems:
        click.echo(f"supervise logs: {problems}", err=True)
    sys.exit(2 if stats.unreadable else 0)
