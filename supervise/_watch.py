"""`supervise inspect` (and `supervise top`): a running tree, seen through its control socket.

Both talk to the endpoint `supervise run --control PATH` (or
``open_tree(..., control=PATH)``) serves; they never import the runtime.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._control import request
from ._errors import UsageError
from ._snapshot import TreeSnapshot


def fetch_snapshot(path: Path) -> TreeSnapshot:
    """One snapshot from the control socket at ``path``.

    Raises:
        UsageError: nothing answers there, or it answered with an error.
    """
    return TreeSnapshot.model_validate(request(path, {"op": "snapshot"}))


def _table(snapshot: TreeSnapshot) -> str:
    rows = [f"{'path':<40} {'kind':<18} {'state':<10} {'inc':>4} {'restarts':>8} {'mailbox':>8}"]
    for node in snapshot.nodes:
        depth = "" if node.mailbox_depth is None else str(node.mailbox_depth)
        rows.append(
            f"{'  ' * node.depth + node.path.rsplit('/', 1)[-1]:<40} {node.kind:<18} "
            f"{node.state.value:<10} {node.incarnation:>4} {node.restart_count:>8} {depth:>8}"
        )
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
