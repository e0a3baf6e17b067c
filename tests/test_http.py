"""The HTTP endpoint: /metrics and /snapshot on the loopback, bad requests refused."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from _support import Ping, until, worker

from supervise import ArgumentError, SupervisorSpec, Tree, TreeSnapshot, UsageError, open_tree

pytest.importorskip("prometheus_client")

from _scrape import exchange, get

from supervise import _http


async def test_the_snapshot_is_served_as_json() -> None:
    """GET /snapshot is `Tree.snapshot()` as JSON; HEAD gets the headers only."""
    spec = SupervisorSpec(name="m-snap", children=[worker("a")])
    async with open_tree(spec, http="127.0.0.1:0") as tree:
        status, body = await get(tree, "/snapshot?pretty=no")
        head_status, head_body = await exchange(tree, b"HEAD /metrics HTTP/1.1\r\n\r\n")
    assert status == 200
    snapshot = TreeSnapshot.model_validate_json(body)
    assert [n.path for n in snapshot.nodes] == ["m-snap", "m-snap/a"]
    assert (head_status, head_body) == (200, b"")


@pytest.fixture
async def served() -> AsyncIterator[Tree]:
    spec = SupervisorSpec(name="m-bad", children=[worker("a")])
    tree = open_tree(spec, http="127.0.0.1:0")
    await tree.start()
    try:
        yield tree
    finally:
        await tree.stop()


@pytest.mark.parametrize(
    ("request_bytes", "status", "message"),
    [
        (b"garbage\r\n\r\n", 400, b"malformed request line; expected e.g. GET /metrics HTTP/1.1\n"),
        (b"GET /metrics SMTP/1.0\r\n\r\n", 400, b"malformed request line"),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 405, b"only GET and HEAD"),
        (b"GET /admin HTTP/1.1\r\n\r\n", 404, b"not found; the endpoint serves /metrics and"),
        (b"\x00\xff\xfe\r\n\r\n", 400, b"malformed request line"),
        (
            b"GET /metrics HTTP/1.1\r\nX: " + b"y" * (_http.MAX_REQUEST_BYTES + 10),
            431,
            b"request head too long (at most 8192 bytes)\n",
        ),
    ],
    ids=["garbage", "not-http", "post", "unknown-path", "binary", "oversized"],
)
async def test_bad_requests_get_an_error_and_leave_the_tree_alone(
    served: Tree, request_bytes: bytes, status: int, message: bytes
) -> None:
    """Each bad request gets its error status; the tree and the endpoint go on."""
    got_status, body = await exchange(served, request_bytes)
    assert got_status == status
    assert body.startswith(message)
    assert await served.actor("m-bad/a").call(Ping()) == "pong"
    assert (await get(served, "/metrics"))[0] == 200


async def test_a_half_closed_request_gets_an_error(served: Tree) -> None:
    """The client shuts its side down before the head ends: 400, and nothing else."""
    status, body = await exchange(served, b"GET /metrics HTTP/1.1\r\n", half_close=True)
    assert (status, body) == (
        400,
        b"incomplete request: the connection closed before the head ended\n",
    )


async def test_a_slow_request_times_out(served: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    """A head not finished within READ_TIMEOUT gets 408."""
    monkeypatch.setattr(_http, "READ_TIMEOUT", 0.2)
    status, body = await exchange(served, b"GET /metrics HTTP/1.1\r\n")
    assert (status, body) == (408, b"no whole request within 0.2 seconds\n")


async def test_connections_are_bounded(served: Tree) -> None:
    """Past MAX_CONNECTIONS open at once, the next one gets 503; the others are served."""
    assert served.http_url is not None
    url = urlsplit(served.http_url)
    assert url.hostname is not None
    assert url.port is not None
    idle = [await asyncio.open_connection(url.hostname, url.port) for _ in range(16)]
    server = served._http
    assert server is not None
    await until(lambda: len(server._connections) == _http.MAX_CONNECTIONS)
    try:
        status, body = await get(served, "/metrics")
        assert (status, body) == (503, b"too many connections (at most 16)\n")
    finally:
        for _, writer in idle:
            writer.close()
            with contextlib.suppress(ConnectionError):  # the server may answer 400 first
                await writer.wait_closed()
    await until(lambda: not server._connections)
    assert (await get(served, "/metrics"))[0] == 200


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        (
            "0.0.0.0:9464",
            "the endpoint binds the loopback only (127.0.0.1 or [::1]), not '0.0.0.0'; "
            "to reach it from elsewhere, put a reverse proxy in front",
        ),
        (
            "example.com:80",
            "the endpoint binds the loopback only (127.0.0.1 or [::1]), not 'example.com'; "
            "to reach it from elsewhere, put a reverse proxy in front",
        ),
        ("127.0.0.1", "expected HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:9464"),
        ("127.0.0.1:99999", "expected HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:9464"),
    ],
)
def test_only_the_loopback_is_served(address: str, problem: str) -> None:
    """Any other host (or no port) is refused when the tree is opened."""
    spec = SupervisorSpec(name="m-host", children=[worker("a")])
    with pytest.raises(ArgumentError) as caught:
        open_tree(spec, http=address)
    assert caught.value.problem == problem
    assert str(caught.value) == f"http address {address!r}: {problem}"


async def test_the_ipv6_loopback_is_served() -> None:
    """[::1]:0 binds the IPv6 loopback, where the machine has one."""
    spec = SupervisorSpec(name="m-v6", children=[worker("a")])
    tree = open_tree(spec, http="[::1]:0")
    try:
        await tree.start()
    except UsageError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        assert tree.http_url is not None
        assert tree.http_url.startswith("http://[::1]:")
        assert (await get(tree, "/metrics"))[0] == 200
    finally:
        await tree.stop()
    assert tree.http_url is None


async def test_a_taken_port_is_a_usage_error_and_the_tree_is_stopped() -> None:
    """The address cannot be bound: entering fails with UsageError, nothing keeps running."""
    first = open_tree(SupervisorSpec(name="m-port1", children=[worker("a")]), http="127.0.0.1:0")
    async with first:
        assert first.http_url is not None
        port = urlsplit(first.http_url).port
        second = open_tree(
            SupervisorSpec(name="m-port2", children=[worker("a")]), http=f"127.0.0.1:{port}"
        )
        with pytest.raises(UsageError, match=r"^http endpoint 127\.0\.0\.1:\d+: cannot bind it"):
            await second.start()
        assert not second.running


def test_supervise_run_serves_metrics_over_http(tmp_path: Path) -> None:
    """`supervise run --http 127.0.0.1:0` prints the address and serves the tree there."""
    tree_file = tmp_path / "tree.yaml"
    tree_file.write_text(
        "name: m-cli\nchildren:\n  - name: a\n    actor: _support:Worker\n", encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    with subprocess.Popen(
        [sys.executable, "-m", "supervise", "run", str(tree_file), "--http", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    ) as proc:
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            assert line.startswith("supervise: http://127.0.0.1:"), line
            url = line.split()[1]
            with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
                text = response.read().decode()
            assert 'supervise_restarts_total{path="m-cli/a"} 0.0' in text.splitlines()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert proc.returncode == 0


def test_supervise_run_refuses_another_host(tmp_path: Path) -> None:
    """--http 0.0.0.0:PORT is a usage error (exit 2) before anything starts."""
    tree_file = tmp_path / "tree.yaml"
    tree_file.write_text("name: r\nchildren: []\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "supervise", "run", str(tree_file), "--http", "0.0.0.0:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "the endpoint binds the loopback only" in out.stderr
