"""Prometheus metrics and the HTTP endpoint: counts after crashes, aggregation, bad requests."""

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
from _support import Crash, Ping, Sleep, until, worker

from supervise import (
    ArgumentError,
    CallFailedError,
    DynamicSupervisorSpec,
    MetricsOptions,
    SupervisorSpec,
    Tree,
    TreeSnapshot,
    UsageError,
    _http,
    open_tree,
)
from supervise._metrics import TreeMetrics
from supervise.testing import inject_crash

parser = pytest.importorskip("prometheus_client.parser")

Samples = dict[tuple[str, str], float]


async def exchange(tree: Tree, data: bytes, *, half_close: bool = False) -> tuple[int, bytes]:
    """Send raw bytes to the tree's HTTP endpoint; the status and body of its response."""
    assert tree.http_url is not None
    url = urlsplit(tree.http_url)
    assert url.hostname is not None
    assert url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(data)
        await writer.drain()
        if half_close:
            writer.write_eof()
        async with asyncio.timeout(30):
            raw = await reader.read()  # the endpoint closes after one response
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def get(tree: Tree, target: str) -> tuple[int, bytes]:
    return await exchange(tree, f"GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())


async def scrape(tree: Tree) -> Samples:
    """``GET /metrics``, parsed: (sample name, path label) -> value (``le`` folded in)."""
    status, body = await get(tree, "/metrics")
    assert status == 200
    samples: Samples = {}
    for family in parser.text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if "path" not in sample.labels:
                continue
            name = sample.name
            if "le" in sample.labels:
                name += f"[{sample.labels['le']}]"
            samples[name, sample.labels["path"]] = sample.value
    return samples


def paths(samples: Samples, prefix: str) -> set[str]:
    return {path for _, path in samples if path.startswith(prefix)}


async def test_metrics_scraped_over_http_count_the_injected_crashes() -> None:
    """Crashes, restarts and answered calls of each actor, as scraped after the crashes."""
    spec = SupervisorSpec(name="m-crash", max_restarts=10, children=[worker("a"), worker("b")])
    async with open_tree(spec, http="127.0.0.1:0") as tree:
        a = tree.actor("m-crash/a")
        for _ in range(3):
            assert await a.call(Ping()) == "pong"
        for _ in range(2):
            await inject_crash(tree, "m-crash/a")
            await a.wait_running()
        with pytest.raises(CallFailedError):
            await a.call(Crash())
        await a.wait_running()
        assert await a.call(Ping()) == "pong"
        samples = await scrape(tree)
    assert samples["supervise_crashes_total", "m-crash/a"] == 3
    assert samples["supervise_restarts_total", "m-crash/a"] == 3
    assert samples["supervise_crashes_total", "m-crash/b"] == 0
    assert samples["supervise_restarts_total", "m-crash"] == 0
    assert samples["supervise_children", "m-crash"] == 2
    assert samples["supervise_mailbox_depth", "m-crash/a"] == 0
    # The answered calls: not the one whose handler crashed.
    assert samples["supervise_call_duration_seconds_count", "m-crash/a"] == 4
    assert samples["supervise_call_duration_seconds_bucket[+Inf]", "m-crash/a"] == 4
    assert samples["supervise_call_duration_seconds_count", "m-crash/b"] == 0
    assert 0 < samples["supervise_call_duration_seconds_sum", "m-crash/a"] < 30


async def test_mailbox_depth_is_read_when_scraped() -> None:
    """Messages queued behind a busy handler show as the actor's mailbox depth."""
    spec = SupervisorSpec(name="m-depth", children=[worker("slow")])
    async with open_tree(spec, metrics=True) as tree:
        slow = tree.actor("m-depth/slow")
        await slow.cast(Sleep(seconds=30))
        for _ in range(5):
            await slow.cast(Ping())
        process = tree.whereis("m-depth/slow")._child.process
        await until(lambda: process is not None and len(process.mailbox) == 5)  # type: ignore[attr-defined]
        reading = await tree_metrics(tree).read()
        await inject_crash(tree, "m-depth/slow")
    row = next(r for r in reading.rows if r.path == "m-depth/slow")
    assert (row.kind, row.mailbox_depth) == ("actor", 5)


def tree_metrics(tree: Tree) -> TreeMetrics:
    metrics = tree._metrics
    assert metrics is not None
    return metrics


async def test_the_children_of_a_dynamic_supervisor_are_counted_together() -> None:
    """One series for all the children, whose counts outlive the children that end."""
    pool = DynamicSupervisorSpec(name="pool", child=worker("w"), max_restarts=100)
    spec = SupervisorSpec(name="m-dyn", children=[pool])
    async with open_tree(spec, http="127.0.0.1:0") as tree:
        sup = tree.supervisor("m-dyn/pool")
        refs = [await sup.start_child() for _ in range(20)]
        for ref in refs:
            await ref.call(Ping())  # type: ignore[union-attr]
        for ref in refs[:5]:
            await inject_crash(tree, ref.path)
            await ref.wait_running()
        for ref in refs[:10]:  # the crashed ones among them: forgotten, not their counts
            await sup.terminate_child(ref)
        samples = await scrape(tree)
    assert paths(samples, "m-dyn/pool") == {"m-dyn/pool", "m-dyn/pool/*"}
    assert samples["supervise_crashes_total", "m-dyn/pool/*"] == 5
    assert samples["supervise_restarts_total", "m-dyn/pool/*"] == 5
    assert samples["supervise_call_duration_seconds_count", "m-dyn/pool/*"] == 20
    assert samples["supervise_mailbox_depth", "m-dyn/pool/*"] == 0
    assert samples["supervise_children", "m-dyn/pool"] == 10
    # The supervisor itself was not restarted.
    assert samples["supervise_restarts_total", "m-dyn/pool"] == 0


async def test_dynamic_children_can_be_counted_one_by_one() -> None:
    """MetricsOptions(aggregate_dynamic=False): a series per child, gone with the child."""
    pool = DynamicSupervisorSpec(name="pool", child=worker("w"))
    spec = SupervisorSpec(name="m-each", children=[pool])
    options = MetricsOptions(aggregate_dynamic=False)
    async with open_tree(spec, metrics=options, http="127.0.0.1:0") as tree:
        sup = tree.supervisor("m-each/pool")
        refs = [await sup.start_child() for _ in range(3)]
        await inject_crash(tree, refs[1].path)
        await refs[1].wait_running()
        await sup.terminate_child(refs[2])
        samples = await scrape(tree)
    assert paths(samples, "m-each/pool") == {"m-each/pool", "m-each/pool/w-1", "m-each/pool/w-2"}
    assert samples["supervise_crashes_total", "m-each/pool/w-2"] == 1
    assert samples["supervise_crashes_total", "m-each/pool/w-1"] == 0


async def test_dead_letters_are_counted_by_cause() -> None:
    """A cast to a stopped actor counts under not_running; the other causes show 0."""
    spec = SupervisorSpec(name="m-dead", children=[worker("a", restart="temporary")])
    async with open_tree(spec, http="127.0.0.1:0") as tree:
        a = tree.actor("m-dead/a")
        await tree.root.terminate_child("a")
        for _ in range(2):
            await a.cast(Ping())
        status, body = await get(tree, "/metrics")
    assert status == 200
    lines = set(body.decode().splitlines())
    assert 'supervise_dead_letters_total{cause="not_running",tree="m-dead"} 2.0' in lines
    assert 'supervise_dead_letters_total{cause="actor_stopped",tree="m-dead"} 0.0' in lines


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


async def test_a_scrape_on_the_loop_thread_reads_the_tree_at_once() -> None:
    """prometheus-client's registry read from inside the loop (no thread) still works."""
    from prometheus_client import REGISTRY, generate_latest

    spec = SupervisorSpec(name="m-inloop", children=[worker("a")])
    async with open_tree(spec, metrics=True):
        text = generate_latest(REGISTRY).decode()
    assert 'supervise_restarts_total{path="m-inloop/a"} 0.0' in text.splitlines()
    # Once the tree has stopped it is no longer reported.
    assert "m-inloop" not in generate_latest(REGISTRY).decode()


async def test_the_walk_of_a_big_tree_yields_to_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scrape reads the tree in chunks between which other tasks run."""
    from supervise import _metrics

    monkeypatch.setattr(_metrics, "CHUNK", 4)
    pool = DynamicSupervisorSpec(name="pool", child=worker("w"))
    spec = SupervisorSpec(name="m-chunks", children=[worker(f"a{i}") for i in range(10)] + [pool])
    async with open_tree(spec, metrics=True) as tree:
        sup = tree.supervisor("m-chunks/pool")
        for _ in range(10):
            await sup.start_child()
        passes = 0

        async def count() -> None:
            nonlocal passes
            while True:
                passes += 1
                await asyncio.sleep(0)

        counter = asyncio.create_task(count())
        await asyncio.sleep(0)
        before = passes
        reading = await tree_metrics(tree).read()
        counter.cancel()
    assert passes - before >= 4  # 12 nodes and 10 aggregated children, 4 at a time
    assert len(reading.rows) == 13  # root, 10 actors, pool, pool/*: nothing per child


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


async def test_two_running_trees_of_one_name_cannot_both_export() -> None:
    """Their paths would be the same: the second is refused on entering, and says why."""
    spec = SupervisorSpec(name="m-twin", children=[worker("a")])
    async with open_tree(spec, metrics=True):
        with pytest.raises(UsageError) as caught:
            async with open_tree(spec, metrics=True):
                pass
    assert str(caught.value) == (
        "open_tree('m-twin', metrics=...): a running tree named 'm-twin' exports metrics "
        "already, and the paths would be the same; give the root supervisors different names"
    )
    async with open_tree(spec, metrics=True):  # the first has ended: the name is free
        pass


def test_without_the_extra_metrics_are_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """prometheus-client missing: a UsageError that says which extra to install."""
    for name in list(sys.modules):
        if name.partition(".")[0] == "prometheus_client":
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "supervise._prometheus", raising=False)
    spec = SupervisorSpec(name="m-extra", children=[worker("a")])
    for option, kwargs in (("metrics", {"metrics": True}), ("http", {"http": "127.0.0.1:0"})):
        with pytest.raises(UsageError) as caught:
            open_tree(spec, **kwargs)
        assert str(caught.value) == (
            f"open_tree(..., {option}=...): Prometheus metrics need the prometheus-client "
            "package, which is not installed; pip install 'supervise[metrics]'"
        )


def test_a_tree_without_metrics_imports_no_prometheus_client() -> None:
    """Nothing of the extra is imported, nor the endpoint, unless metrics are asked for."""
    code = (
        "import asyncio, sys\n"
        "from supervise import SupervisorSpec, open_tree\n"
        "async def main():\n"
        "    async with open_tree(SupervisorSpec(name='r', children=[])):\n"
        "        pass\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if 'prometheus' in m or m == 'supervise._http'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.splitlines()[-1] == "[]"


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
