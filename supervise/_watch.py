"""`supervise inspect` and `supervise top`: a running tree, seen through its control socket.

Both talk to the endpoint `supervise run --control PATH` (or
``open_tree(..., control=PATH)``) serves, in another process: they read
snapshots and never touch the tree. ``top`` draws with rich (the ``top`` extra).
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._child import ChildState
from ._control import request
from ._errors import UsageError
from ._snapshot import NodeSnapshot, TreeSnapshot

if TYPE_CHECKING:
    from rich.console import RenderableType


def fetch_snapshot(path: Path) -> TreeSnapshot:
    """One snapshot from the control socket at ``path``.

    Raises:
        UsageError: nothing answers there, or it answered with an error.
    """
    return TreeSnapshot.model_validate(request(path, {"op": "snapshot"}))


def _in_cluster(snapshot: TreeSnapshot) -> bool:
    """Whether the tree runs in a cluster: then views show where each node runs."""
    return any(node.runs_on is not None for node in snapshot.nodes)


def _table(snapshot: TreeSnapshot) -> str:
    where = _in_cluster(snapshot)
    rows = [f"{'path':<40} {'kind':<18} {'state':<10} {'inc':>4} {'restarts':>8} {'mailbox':>8}"]
    if where:
        rows[0] += " runs on"
    for node in snapshot.nodes:
        depth = "" if node.mailbox_depth is None else str(node.mailbox_depth)
        row = (
            f"{'  ' * node.depth + node.path.rsplit('/', 1)[-1]:<40} {node.kind:<18} "
            f"{node.state.value:<10} {node.incarnation:>4} {node.restart_count:>8} {depth:>8}"
        )
        rows.append(f"{row} {node.runs_on or ''}".rstrip() if where else row)
    rows.append(f"dead letters: {snapshot.dead_letters}")
    return "\n".join(rows)


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot as JSON, for scripts.")
def inspect(path: Path, as_json: bool) -> None:
    """Print one snapshot of the tree serving the control socket PATH.

    Start the tree with `supervise run FILE --control PATH`. Exits 1 if nothing
    answers at PATH.
    """
    try:
        snapshot = fetch_snapshot(path)
    except UsageError as exc:
        click.echo(f"supervise: {exc}", err=True)
        raise SystemExit(1) from None
    if as_json:
        click.echo(json.dumps(snapshot.model_dump(mode="json"), indent=2))
    else:
        click.echo(_table(snapshot))


# -- top -------------------------------------------------------------------------------

#: The columns `supervise top` sorts by (key ``s`` cycles through them).
SORTS: tuple[str, ...] = ("tree", "restarts", "mailbox", "rate", "crashes")
#: What key ``f`` cycles through: every node, or only the ones not running / that crashed.
FILTERS: tuple[str, ...] = ("all", "not running", "crashed")


class TopView:
    """What `supervise top` shows: rows from successive snapshots, sorted and filtered.

    Message rates are measured here, between this view's own snapshots, so
    several viewers of one tree do not disturb each other.
    """

    def __init__(self, match: str = "") -> None:
        self.sort = SORTS[0]
        self.reverse = False
        self.filter = FILTERS[0]
        self.match = match
        self.snapshot: TreeSnapshot | None = None
        self._rates: dict[str, float] = {}
        self._previous: dict[str, tuple[int, int]] = {}
        self._taken: float | None = None

    def update(self, snapshot: TreeSnapshot) -> None:
        taken = snapshot.taken_at.timestamp()
        elapsed = None if self._taken is None else taken - self._taken
        current: dict[str, tuple[int, int]] = {}
        for node in snapshot.nodes:
            if node.messages_handled is None:
                continue
            current[node.path] = (node.incarnation, node.messages_handled)
            before = self._previous.get(node.path)
            if elapsed and before is not None and before[0] == node.incarnation:
                self._rates[node.path] = (node.messages_handled - before[1]) / elapsed
            else:
                self._rates[node.path] = node.events_per_second or 0.0
        self._previous, self._taken, self.snapshot = current, taken, snapshot

    def key(self, key: str) -> bool:
        """Apply a key press; False for quit."""
        if key in ("q", "\x03"):
            return False
        if key == "s":
            self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        elif key == "r":
            self.reverse = not self.reverse
        elif key == "f":
            self.filter = FILTERS[(FILTERS.index(self.filter) + 1) % len(FILTERS)]
        return True

    def rows(self) -> list[NodeSnapshot]:
        if self.snapshot is None:
            return []
        nodes = [n for n in self.snapshot.nodes if self.match in n.path]
        if self.filter == "not running":
            nodes = [n for n in nodes if n.state is not ChildState.RUNNING]
        elif self.filter == "crashed":
            nodes = [n for n in nodes if n.crashes]
        if self.sort != "tree":
            sort_keys: dict[str, Callable[[NodeSnapshot], float]] = {
                "restarts": lambda n: n.restart_count,
                "mailbox": lambda n: n.mailbox_depth or 0,
                "rate": lambda n: self._rates.get(n.path, 0.0),
                "crashes": lambda n: n.crashes,
            }
            nodes.sort(key=sort_keys[self.sort], reverse=not self.reverse)
        elif self.reverse:
            nodes.reverse()
        return nodes

    def render(self, height: int = 40) -> RenderableType:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        snapshot = self.snapshot
        if snapshot is None:
            return Text("waiting for the first snapshot...")
        title = (
            f"{snapshot.tree}: {len(snapshot.nodes)} nodes, dead letters {snapshot.dead_letters}"
            f"  |  sort: {self.sort}{' (reversed)' if self.reverse else ''}"
            f"  filter: {self.filter}{f' ~{self.match!r}' if self.match else ''}"
            "  |  s sort  r reverse  f filter  q quit"
        )
        table = Table(title=title, title_justify="left", expand=True, box=None)
        where = _in_cluster(snapshot)
        for column, justify in (
            ("path", "left"),
            ("kind", "left"),
            ("state", "left"),
            *([("runs on", "left")] if where else []),
            ("inc", "right"),
            ("restarts", "right"),
            ("window", "right"),
            ("mailbox", "right"),
            ("high", "right"),
            ("msg/s", "right"),
            ("last crash", "left"),
        ):
            table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
        crashed = sorted(
            (n for n in snapshot.nodes if n.last_crash is not None),
            key=lambda n: n.last_crash.time if n.last_crash else 0,
            reverse=True,
        )[:5]
        rows = self.rows()[: max(1, height - 10 - len(crashed))]
        styles = {"running": "green", "restarting": "yellow", "stopped": "red"}
        for n in rows:
            window = "" if n.max_restarts is None else f"{n.restarts_in_window}/{n.max_restarts}"
            rate = self._rates.get(n.path)
            table.add_row(
                ("  " * n.depth if self.sort == "tree" else "") + n.path,
                n.kind,
                Text(n.state.value, style=styles.get(n.state.value, "")),
                *([n.runs_on or ""] if where else []),
                str(n.incarnation),
                str(n.restart_count),
                window,
                "" if n.mailbox_depth is None else str(n.mailbox_depth),
                "" if n.mailbox_high_water is None else str(n.mailbox_high_water),
                "" if rate is None else f"{rate:.1f}",
                "" if n.last_crash is None else n.last_crash.exc_type,
            )
        lines = [
            f"{c.last_crash.time:%H:%M:%S} {c.path}: {c.last_crash.exc_type}: "
            f"{c.last_crash.message}"
            for c in crashed
            if c.last_crash is not None
        ]
        crashes = Text("recent crashes:\n" + ("\n".join(lines) if lines else "(none)"))
        return Group(table, Text(""), crashes)


def _keys(timeout: float) -> str:
    """Keys pressed within ``timeout`` seconds (stdin in cbreak mode), or ``""``."""
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    if not ready:
        return ""
    return os.read(sys.stdin.fileno(), 32).decode(errors="ignore")


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=0.5,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between snapshots.",
)
@click.option("--match", default="", help="Show only nodes whose path contains this text.")
def top(path: Path, interval: float, match: str) -> None:
    """A live view of the tree serving the control socket PATH (like htop).

    Nodes with their state, restarts (and a supervisor's restarts in its
    intensity window), mailbox depth and high-water mark, messages per
    second and last crash; the most recent crashes at the bottom. Keys: s
    sorts by the next column (tree, restarts, mailbox, rate, crashes), r
    reverses, f filters (all, not running, crashed), q quits. Needs the
    `top` extra: pip install 'supervise[top]'.
    """
    try:
        from rich.console import Console
        from rich.live import Live
    except ImportError:
        click.echo("supervise: `top` needs rich: pip install 'supervise[top]'", err=True)
        raise SystemExit(2) from None
    import termios
    import tty

    view = TopView(match)
    console = Console()
    interactive = sys.stdin.isatty()
    saved = termios.tcgetattr(sys.stdin) if interactive else None
    try:
        if interactive:
            tty.setcbreak(sys.stdin)
        with Live(console=console, screen=True, auto_refresh=False) as live:
            running = True
            while running:
                try:
                    view.update(fetch_snapshot(path))
                except UsageError as exc:
                    live.stop()
                    click.echo(f"supervise: {exc}", err=True)
                    raise SystemExit(1) from None
                live.update(view.render(console.size.height), refresh=True)
                deadline = time.monotonic() + interval
                while running and (left := deadline - time.monotonic()) > 0:
                    if not interactive:
                        time.sleep(left)
                        break
                    for key in _keys(left):
                        running = view.key(key)
                        if not running:
                            break
                    live.update(view.render(console.size.height), refresh=True)
    except KeyboardInterrupt:
        pass
    finally:
        if saved is not None:
            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, saved)
