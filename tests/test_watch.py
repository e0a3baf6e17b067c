"""`supervise top`: driven in a real pseudo-terminal against a running tree."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _support import worker

from supervise import SupervisorSpec, open_tree
from supervise._snapshot import TreeSnapshot
from supervise._watch import TopView, _table
from supervise.testing import inject_crash

pty = pytest.importorskip("pty")
pytest.importorskip("rich")

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sv-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Screen:
    """What a program wrote to a pty, read as it comes (escape sequences dropped)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = b""
        self._changed = asyncio.Event()
        asyncio.get_running_loop().add_reader(fd, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.fd)
        self.text += ANSI.sub(b"", data)
        self._changed.set()

    async def wait_for(self, needle: bytes, after: int = 0, timeout: float = 10.0) -> int:
        """Wait until ``needle`` appears past offset ``after``; return where it ends."""
        async with asyncio.timeout(timeout):
            while (at := self.text.find(needle, after)) < 0:
                self._changed.clear()
                await self._changed.wait()
        return at + len(needle)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.fd)


async def test_top_shows_the_tree_and_a_crash_soon_after_it_happens(sock_dir: Path) -> None:
    path = sock_dir / "tree.sock"
    spec = SupervisorSpec(name="root", children=[worker("alpha"), worker("beta")])
    tree = open_tree(spec, control=path)
    await tree.start()
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "LINES": "40", "TERM": "xterm"}
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "supervise", "top", str(path), "--interval", "0.1"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    screen = Screen(master)
    try:
        seen = await screen.wait_for(b"root/beta")
        await screen.wait_for(b"(none)", 0)  # no crash yet
        loop = asyncio.get_running_loop()
        crashed_at = loop.time()
        await inject_crash(tree, "root/beta", RuntimeError("disk on fire"))
        await screen.wait_for(b"root/beta: RuntimeError: disk on fire", seen)
        shown_after = loop.time() - crashed_at
        # Keys: s sorts by restarts, the title says so.
        os.write(master, b"s")
        await screen.wait_for(b"sort: restarts", seen)
        os.write(master, b"q")
        async with asyncio.timeout(10):
            assert await proc.wait() == 0
    finally:
        screen.close()
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        os.close(master)
        await tree.stop()
    # Refreshed every 0.1 s: the crash shows well within a second (generous under load).
    assert shown_after < 5.0


def snapshot(handled: int, seconds: float, restarts: int = 0) -> TreeSnapshot:
    return TreeSnapshot.model_validate(
        {
            "tree": "root",
            "taken_at": 1_000_000 + seconds,
            "took_seconds": 0.001,
            "dead_letters": 0,
            "nodes": [
                {
                    "path": "root",
                    "parent": None,
                    "depth": 0,
                    "kind": "supervisor",
                    "state": "running",
                    "incarnation": 1,
                    "restart_count": 0,
                    "crashes": 0,
                },
                {
                    "path": "root/busy",
                    "parent": "root",
                    "depth": 1,
                    "kind": "actor",
                    "state": "running",
                    "incarnation": 1,
                    "restart_count": restarts,
                    "crashes": restarts,
                    "messages_handled": handled,
                },
                {
                    "path": "root/idle",
                    "parent": "root",
                    "depth": 1,
                    "kind": "actor",
                    "state": "stopped",
                    "incarnation": 1,
                    "restart_count": 0,
                    "crashes": 0,
                    "messages_handled": 0,
                },
            ],
        }
    )


def test_top_view_measures_rates_between_its_snapshots_and_sorts_and_filters() -> None:
    view = TopView()
    view.update(snapshot(100, 0.0))
    view.update(snapshot(400, 2.0, restarts=2))
    assert view._rates["root/busy"] == pytest.approx(150.0)
    assert [n.path for n in view.rows()] == ["root", "root/busy", "root/idle"]
    assert view.key("s")
    assert view.sort == "restarts"
    assert view.rows()[0].path == "root/busy"
    view.key("f")
    assert [n.path for n in view.rows()] == ["root/idle"]  # not running
    view.key("f")
    assert [n.path for n in view.rows()] == ["root/busy"]  # crashed
    assert not view.key("q")


def test_inspect_and_top_show_where_each_node_runs_in_a_cluster() -> None:
    """In a cluster (nodes with ``runs_on``), `supervise inspect` and `supervise top` add a
    "runs on" column: the node a placed child runs on, this process's node for the
    others, nothing while a child does not run; without a cluster there is no column."""
    plain = snapshot(0, 0.0)
    assert "runs on" not in _table(plain)
    data = plain.model_dump(mode="json")
    data["nodes"][0]["runs_on"] = "api-1"
    data["nodes"][1]["runs_on"] = "worker-b"
    placed = TreeSnapshot.model_validate(data)
    head, root, busy, idle, _ = _table(placed).splitlines()
    assert head.endswith(" mailbox runs on")
    assert root.endswith(" api-1")
    assert busy.endswith(" worker-b")
    assert idle.split()[2:] == ["stopped", "1", "0"]  # no node while it does not run
    from rich.console import Console

    view = TopView()
    view.update(placed)
    console = Console(record=True, width=200)
    console.print(view.render())
    rows = {line.split()[0]: line.split() for line in console.export_text().splitlines() if line}
    assert rows["path"][:4] == ["path", "kind", "state", "runs"]
    assert rows["root/busy"][:4] == ["root/busy", "actor", "running", "worker-b"]
    assert rows["root"][:4] == ["root", "supervisor", "running", "api-1"]
