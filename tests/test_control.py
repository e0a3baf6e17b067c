"""The control endpoint: snapshots and safe operations on a Unix socket, for its owner only."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import stat
import sys
import tempfile
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from _support import worker

from supervise import ChildState, SupervisorSpec, Tree, UsageError, open_tree
from supervise._control import MAX_CONNECTIONS, MAX_REQUEST_BYTES

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")


def spec() -> SupervisorSpec:
    return SupervisorSpec(name="root", children=[worker("a"), worker("b")])


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # Short (Unix socket paths are ~100 bytes at most) and traversable by other users,
    # so that only the socket's own mode keeps them out.
    path = Path(tempfile.mkdtemp(prefix="sv-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def served(sock_dir: Path) -> AsyncIterator[tuple[Tree, Path]]:
    path = sock_dir / "tree.sock"
    tree = open_tree(spec(), control=path)
    await tree.start()
    try:
        yield tree, path
    finally:
        await tree.stop()
    assert not path.exists()  # removed when the tree stops


async def exchange(path: Path, data: bytes, *, half_close: bool = False) -> list[Any]:
    """Send raw bytes, read replies until the server closes (or one line if it stays open)."""
    reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 26)
    try:
        writer.write(data)
        await writer.drain()
        if half_close:
            writer.write_eof()
        replies: list[Any] = []
        expected = data.count(b"\n") or 1
        async with asyncio.timeout(10):
            while len(replies) < expected:
                line = await reader.readline()
                if not line:
                    break
                replies.append(json.loads(line))
        return replies
    finally:
        writer.close()


async def ask(path: Path, body: dict[str, Any]) -> Any:
    (reply,) = await exchange(path, json.dumps(body).encode() + b"\n")
    assert reply["ok"], reply
    return reply["result"]


async def test_snapshot_which_children_restart_and_terminate_over_the_socket(
    served: tuple[Tree, Path],
) -> None:
    tree, path = served
    snapshot = await ask(path, {"op": "snapshot"})
    assert [n["path"] for n in snapshot["nodes"]] == ["root", "root/a", "root/b"]
    await ask(path, {"op": "terminate_child", "supervisor": "root", "child": "a"})
    assert tree.actor("root/a")._child.state is ChildState.STOPPED
    children = await ask(path, {"op": "which_children", "supervisor": "root"})
    assert [(c["name"], c["state"]) for c in children] == [("a", "stopped"), ("b", "running")]
    assert await ask(path, {"op": "restart_child", "supervisor": "root", "child": "a"}) == {
        "path": "root/a"
    }
    node = (await tree.snapshot()).node("root/a")
    assert (node.state, node.incarnation, node.restart_count) == (ChildState.RUNNING, 2, 0)


async def test_the_socket_is_the_owners_only(served: tuple[Tree, Path]) -> None:
    _, path = served
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_uid == os.getuid()


@pytest.mark.skipif(
    not hasattr(os, "getuid") or os.getuid() != 0, reason="connecting as another user needs root"
)
async def test_another_user_is_refused_by_the_mode_and_by_the_peer_check(
    served: tuple[Tree, Path],
) -> None:
    _, path = served

    def connect_as_nobody() -> str:
        """In a forked child that became uid 65534: connect and read what the server says."""
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():  # the child makes only plain system calls
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover (the child)
            result = b"?"
            try:
                os.setgid(65534)
                os.setuid(65534)
                with socket.socket(socket.AF_UNIX) as s:
                    try:
                        s.connect(str(path))
                    except PermissionError:
                        result = b"EACCES"
                    else:  # refused at once, before any request
                        result = s.makefile("rb").readline().strip()
            except BaseException as exc:
                result = repr(exc).encode()
            finally:
                os.write(write_end, result)
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as f:
            out = f.read()
        os.waitpid(pid, 0)
        return out.decode()

    async def as_nobody() -> str:
        return await asyncio.to_thread(connect_as_nobody)

    assert await as_nobody() == "EACCES"  # the file's mode (0600)
    path.chmod(0o666)  # even if the mode were widened, the peer's uid is checked
    reply = json.loads(await as_nobody())
    assert reply == {"ok": False, "error": "refused: the control socket serves its owner only"}


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"not json\n", "invalid request"),
        (b"\xff\xfe\x00garbage\n", "invalid request"),
        (b'{"op": "format_disk"}\n', "invalid request"),
        (b'{"op": "snapshot", "extra": 1}\n', "invalid request"),
        (b"[1, 2, 3]\n", "invalid request"),
        (b'{"op": "terminate_child", "supervisor": "root"}\n', "child: Field required"),
        (b'{"op": "terminate_child", "supervisor": "nowhere", "child": "a"}\n', "NameNotFound"),
        (b'{"op": "terminate_child", "supervisor": "root", "child": "zz"}\n', "ChildNotFound"),
        (b'{"op": "restart_child", "supervisor": "root", "child": "a"}\n', "ChildError"),
        (b'{"op": "which_children", "supervisor": "root/a"}\n', "ChildKindError"),
    ],
)
async def test_bad_requests_get_an_error_reply_and_leave_the_tree_alone(
    served: tuple[Tree, Path], data: bytes, error: str
) -> None:
    tree, path = served
    before = (await tree.snapshot()).nodes
    (reply,) = await exchange(path, data)
    assert reply["ok"] is False
    assert error in reply["error"]
    after = (await tree.snapshot()).nodes
    assert [(n.path, n.state, n.incarnation) for n in after] == [
        (n.path, n.state, n.incarnation) for n in before
    ]
    assert await ask(path, {"op": "snapshot"})  # and it goes on serving


async def test_oversized_and_half_closed_requests_get_an_error_reply(
    served: tuple[Tree, Path],
) -> None:
    _, path = served
    (reply,) = await exchange(path, b"x" * (MAX_REQUEST_BYTES * 2))
    assert reply == {"ok": False, "error": f"request too long (at most {MAX_REQUEST_BYTES} bytes)"}
    (reply,) = await exchange(path, b'{"op": "snaps', half_close=True)
    assert reply["ok"] is False
    assert "incomplete request" in reply["error"]
    # Several requests on one connection are answered in order.
    replies = await exchange(path, b'{"op": "snapshot"}\nnope\n{"op": "snapshot"}\n')
    assert [r["ok"] for r in replies] == [True, False, True]


async def test_connections_are_bounded(served: tuple[Tree, Path]) -> None:
    _, path = served
    held = []
    for _ in range(MAX_CONNECTIONS):
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b'{"op": "snapshot"}\n')
        assert json.loads(await reader.readline())["ok"]  # served: it counts
        held.append(writer)
    try:
        (reply,) = await exchange(path, b'{"op": "snapshot"}\n')
        assert reply == {"ok": False, "error": f"too many connections (at most {MAX_CONNECTIONS})"}
    finally:
        for writer in held:
            writer.close()
    async with asyncio.timeout(10):  # freed once they close
        while True:
            (reply,) = await exchange(path, b'{"op": "snapshot"}\n')
            if reply["ok"]:
                break
            await asyncio.sleep(0.01)


async def test_a_path_taken_by_a_file_is_refused_and_the_tree_stopped(sock_dir: Path) -> None:
    path = sock_dir / "taken"
    path.write_text("not a socket")
    tree = open_tree(spec(), control=path)
    with pytest.raises(UsageError, match="not a stale socket"):
        await tree.__aenter__()
    assert not tree.running
    assert path.read_text() == "not a socket"


async def test_supervise_inspect_json_prints_one_snapshot(served: tuple[Tree, Path]) -> None:
    _, path = served
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "supervise",
        "inspect",
        str(path),
        "--json",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert [n["path"] for n in json.loads(out)["nodes"]] == ["root", "root/a", "root/b"]


async def test_supervise_inspect_says_when_nothing_answers(sock_dir: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "supervise",
        "inspect",
        str(sock_dir / "none.sock"),
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 1
    assert b"is the tree running with --control" in err


async def test_restart_child_of_a_child_that_ignores_says_so(sock_dir: Path) -> None:
    """A restart_child whose start raised `Ignore` answers the path and ``ignored``."""
    from test_ignore import maybe

    path = sock_dir / "tree.sock"
    spec = SupervisorSpec(name="root", children=[maybe("off", ignore=True)])
    async with open_tree(spec, control=path):
        reply = await ask(path, {"op": "restart_child", "supervisor": "root", "child": "off"})
        assert reply == {"path": "root/off", "ignored": True}
