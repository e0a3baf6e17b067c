"""The examples under examples/ run and do what their comments say."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from supervise import (
    ActorRef,
    RestartIntensityExceeded,
    SupervisorRef,
    Tree,
    load_tree,
    open_tree,
)
from supervise.testing import EventLog

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

pytestmark = pytest.mark.timeout(30)


def load(name: str, **env: str) -> object:
    # The CLI puts the tree file's directory on sys.path; do the same here.
    return load_tree(EXAMPLES / name, env=env, extra_sys_path=[EXAMPLES])


async def test_echo_session_crash_heals_without_dropping_clients(events: EventLog) -> None:
    """A client's "crash" restarts its own session only; both connections carry on."""
    spec = load("echo.yaml", ECHO_PORT="0")
    from echo.actors import Address  # type: ignore[import-not-found]  # on sys.path via load()

    async with open_tree(spec) as tree:  # type: ignore[arg-type]
        listener = tree.whereis("echo/listener")
        assert isinstance(listener, ActorRef)
        host, port = await listener.call(Address())

        async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_connection(host, port)

        async def say(client: tuple[asyncio.StreamReader, asyncio.StreamWriter], text: str) -> str:
            reader, writer = client
            writer.write(text.encode() + b"\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 10)
            return line.decode().rstrip("\n")

        alice = await connect()
        assert await say(alice, "hello") == "1: hello"  # alice's session is session-1
        bob = await connect()
        assert await say(bob, "hi") == "1: hi"
        assert await say(alice, "crash") == "your session crashed and was restarted"
        await events.wait_for("actor_restarted", actor="echo/sessions/session-1")
        assert await say(alice, "again") == "1: again"  # fresh state, same connection
        assert await say(bob, "still here") == "2: still here"  # untouched
        assert [e["actor"] for e in events.of("actor_crashed")] == ["echo/sessions/session-1"]

        # A client that leaves takes its session with it, for good.
        alice[1].close()
        await events.wait_for("actor_stopped", actor="echo/sessions/session-1")
        sessions = tree.whereis("echo/sessions")
        assert isinstance(sessions, SupervisorRef)
        assert [c.name for c in await sessions.which_children()] == ["session-2"]
        bob[1].close()
        await events.wait_for("actor_stopped", actor="echo/sessions/session-2")


Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]
LOST = "your session was lost (too many sessions crashed at once); reconnect"


async def echo_address(tree: Tree) -> tuple[str, int]:
    from echo.actors import Address  # on sys.path via load()

    listener = tree.whereis("echo/listener")
    assert isinstance(listener, ActorRef)
    address: tuple[str, int] = await listener.call(Address())
    return address


async def send(client: Client, data: bytes) -> None:
    client[1].write(data)
    await client[1].drain()


async def read_line(client: Client) -> str:
    return (await asyncio.wait_for(client[0].readline(), 10)).decode().rstrip("\n")


@contextlib.contextmanager
def loop_errors() -> Iterator[list[dict[str, object]]]:
    """What reaches the loop's exception handler (asyncio's plain-text "Unhandled exception")."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, object]] = []
    loop.set_exception_handler(lambda loop, context: seen.append(context))
    try:
        yield seen
    finally:
        loop.set_exception_handler(None)


class Clients:
    """Test-side connections to the echo server, all closed at the end."""

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self.opened: list[Client] = []

    async def connect(self) -> Client:
        client = await asyncio.open_connection(*self.address)
        self.opened.append(client)
        return client

    def close(self) -> None:
        for _, writer in self.opened:
            writer.close()


async def test_echo_a_burst_of_crashes_never_strands_the_other_clients(events: EventLog) -> None:
    """25 crashes at once exhaust the sessions supervisor: every client is told and disconnected.

    The restarted sessions supervisor starts empty, so no session of before
    survives. A client that never crashed must not be told "restarting" for
    ever: without sending anything more, it gets one clear line and EOF (the
    listener monitors the sessions supervisor); reconnecting works.
    """
    spec = load("echo.yaml", ECHO_PORT="0")
    with loop_errors() as errors:
        async with open_tree(spec) as tree:  # type: ignore[arg-type]
            clients = Clients(*await echo_address(tree))

            async def hello() -> Client:
                client = await clients.connect()
                await send(client, b"hello\n")
                assert await read_line(client) == "1: hello"
                return client

            async def rest(client: Client) -> list[str]:
                lines = []
                while line := await read_line(client):
                    lines.append(line)
                return lines  # up to EOF

            crashers = [await hello() for _ in range(25)]
            bystanders = [await hello() for _ in range(3)]
            await asyncio.gather(*(send(c, b"crash\n") for c in crashers))
            told = await asyncio.gather(*(rest(c) for c in [*crashers, *bystanders]))
            for lines in told[:25]:  # the reply to "crash" (unless lost already), then lost
                assert lines in (["your session crashed and was restarted", LOST], [LOST])
            assert told[25:] == [[LOST]] * 3  # never crashed, never sent: told and closed
            assert len(events.of("restart_intensity_exceeded", supervisor="echo/sessions")) == 1
            assert len(events.of("echo_session_lost")) == 28

            newcomer = await hello()  # the service goes on with fresh sessions
            await send(newcomer, b"again\n")
            assert await read_line(newcomer) == "2: again"
        # Left connected at shutdown: the listener closed it, in order.
        assert await read_line(newcomer) == ""
        clients.close()
    assert errors == []


async def test_echo_a_line_over_64_kib_is_refused_in_the_structured_log(events: EventLog) -> None:
    """An over-long line: the client is told and disconnected, logged as echo_line_too_long."""
    spec = load("echo.yaml", ECHO_PORT="0")
    with loop_errors() as errors:
        async with open_tree(spec) as tree:  # type: ignore[arg-type]
            clients = Clients(*await echo_address(tree))
            other = await clients.connect()
            await send(other, b"hi\n")
            assert await read_line(other) == "1: hi"
            flood = await clients.connect()
            await send(flood, b"x" * (70 * 1024) + b"\n")
            assert await read_line(flood) == "line too long (over 65536 bytes); closing"
            assert await read_line(flood) == ""
            await events.wait_for("actor_stopped", actor="echo/sessions/session-2")
            await send(other, b"still fine\n")
            assert await read_line(other) == "2: still fine"
            clients.close()
    assert errors == []
    [logged] = events.of("echo_line_too_long")
    assert logged["limit"] == 65536
    assert logged["log_level"] == "warning"
    assert str(logged["peer"]).startswith("127.0.0.1:")


async def test_pipeline_worker_crash_heals_and_rest_for_one_restarts_later_stages(
    events: EventLog,
) -> None:
    """A poison item restarts one worker; a sink crash restarts workers and producer too."""
    spec = load("pipeline.yaml", PRODUCER_INTERVAL="0.005", POISON_EVERY="7")
    async with open_tree(spec) as tree:  # type: ignore[arg-type]
        # Item 7 goes to square-2 (round-robin over two workers from item 0).
        crash = await events.wait_for("actor_crashed", actor="pipeline/workers/square-2")
        assert crash["exc_message"] == "poison item 7"
        await events.wait_for("actor_restarted", actor="pipeline/workers/square-2")
        progress = len(events.of("pipeline_progress"))
        await events.wait_for("pipeline_progress", count=progress + 1)  # still flowing

        mark = len(events.entries)
        sink = tree.whereis("pipeline/sink")
        assert isinstance(sink, ActorRef)
        sink.kill()
        await events.wait_for("actor_restarted", actor="pipeline/producer")
        stages = {"pipeline/sink", "pipeline/workers", "pipeline/producer"}
        after = [
            (e["event"], e["actor"])
            for e in events.entries[mark:]
            if e["event"] in ("actor_crashed", "actor_stopped", "actor_restarted")
            and e.get("actor") in stages
        ]
        assert after == [
            ("actor_crashed", "pipeline/sink"),
            ("actor_stopped", "pipeline/producer"),  # later children stop in reverse order
            ("actor_stopped", "pipeline/workers"),
            ("actor_restarted", "pipeline/sink"),  # then all start again in order
            ("actor_restarted", "pipeline/workers"),
            ("actor_restarted", "pipeline/producer"),
        ]
        # The new producer asked the new sink where to resume: from the start.
        assert events.of("pipeline_producer_started")[-1]["resume_at"] == 0


async def test_escalation_reaches_the_root(events: EventLog) -> None:
    """flaky exhausts its group; app restarts the group twice, then gives up itself."""
    spec = load("escalation.yaml", FLAKY_CRASH_AFTER="0.01")
    with pytest.raises(RestartIntensityExceeded) as info:
        async with open_tree(spec) as tree:  # type: ignore[arg-type]
            await tree.wait()
    assert (info.value.supervisor, info.value.last_child) == ("app", "app/group")
    gave_up = [e["supervisor"] for e in events.of("restart_intensity_exceeded")]
    assert gave_up == ["app/group", "app/group", "app/group", "app"]
    assert len(events.of("actor_restarted", actor="app/group")) == 2
    # one_for_one at the root: the store was never restarted, only stopped at the end.
    assert len(events.of("actor_started", actor="app/store")) == 1
    assert not events.of("actor_restarted", actor="app/store")
    # one_for_all in the group: each crash of flaky restarted cache as well.
    assert len(events.of("actor_restarted", actor="app/group/cache")) == len(
        events.of("actor_restarted", actor="app/group/flaky")
    )


class WebApp:
    """A server of examples/webapp as a subprocess, its output drained as it comes."""

    # How each command says where it listens: our JSON event, or uvicorn's log line.
    _LISTENING = re.compile(r'"port": (\d+)|Uvicorn running on http://127\.0\.0\.1:(\d+)')

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        assert process.stdout is not None
        assert process.stderr is not None
        self._drains = [
            asyncio.create_task(self._drain(process.stdout, self.stdout)),
            asyncio.create_task(self._drain(process.stderr, self.stderr)),
        ]
        self.port = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def serve(cls, *args: str) -> AsyncIterator[WebApp]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=EXAMPLES,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        app = cls(process)
        try:
            app.port = await asyncio.wait_for(app._port, 20)
            yield app
        finally:
            if process.returncode is None:
                process.kill()  # a failed test must not leave the server behind
            await asyncio.wait_for(process.wait(), 20)
            await asyncio.gather(*app._drains)

    async def _drain(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        while line := (await stream.readline()).decode():
            into.append(line)
            found = self._LISTENING.search(line)
            if found and not self._port.done():
                self._port.set_result(int(found.group(1) or found.group(2)))
        if into is self.stderr and not self._port.done():
            self._port.set_exception(AssertionError(f"ended before listening: {into}"))

    async def request(self, method: str, path: str) -> tuple[int, dict[str, object]]:
        """One real HTTP/1.1 request; the status and the JSON body."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(
                f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(), 20)
        finally:
            writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)

    async def crash_it_past_the_limit(self) -> None:
        """A crash is a 500 and the next request is served; the fourth crash in 5 s gives up."""
        assert await self.request("GET", "/count") == (200, {"count": 0})
        assert await self.request("POST", "/add?n=2") == (200, {"count": 2})
        crashed = (500, {"error": "the counter crashed; its supervisor restarts it"})
        assert await self.request("POST", "/crash") == crashed
        assert await self.request("GET", "/count") == (200, {"count": 0})  # fresh incarnation
        for _ in range(3):
            assert await self.request("POST", "/crash") == crashed


async def test_webapp_heals_a_crash_and_exits_1_when_the_root_gives_up() -> None:
    """python -m webapp over real HTTP: a crash heals; a give-up stops it gracefully, status 1."""
    async with WebApp.serve("-m", "webapp", "--port", "0") as app:
        await app.crash_it_past_the_limit()
        assert await asyncio.wait_for(app.process.wait(), 20) == 1
    events = [json.loads(line) for line in app.stdout if line.startswith("{")]
    assert [e["supervisor"] for e in events if e["event"] == "restart_intensity_exceeded"] == [
        "web"
    ]
    assert len([e for e in events if e["event"] == "actor_crashed"]) == 4
    assert app.stderr[-1] == (
        "webapp: the supervision tree gave up (supervisor 'web' gave up: more than 3 restarts "
        "within 5 s (last crash: 'web/counter'); fix the crashing child or raise "
        "max_restarts/max_seconds); exiting with status 1 so that systemd or Kubernetes "
        "starts a fresh process\n"
    )
    assert any("Finished server process" in line for line in app.stderr)  # a graceful stop


async def test_webapp_under_the_uvicorn_command_ends_by_sigterm_when_the_root_gives_up() -> None:
    """uvicorn webapp.asgi:app: the hook's SIGTERM stops uvicorn gracefully; it ends by SIGTERM."""
    command = ("-m", "uvicorn", "webapp.asgi:app", "--host", "127.0.0.1", "--port", "0")
    async with WebApp.serve(*command) as app:
        await app.crash_it_past_the_limit()
        assert await asyncio.wait_for(app.process.wait(), 20) == -signal.SIGTERM
    assert any("Finished server process" in line for line in app.stderr)
    assert any("RestartIntensityExceeded" in line for line in app.stderr)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervise", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=20,
    )


def test_pipeline_demo_runs_from_the_cli() -> None:
    """`supervise run examples/pipeline.yaml` logs a crash, then the restart, and exits 0."""
    result = run_cli(
        "run", "examples/pipeline.yaml", "--for", "1.5", env={"PRODUCER_INTERVAL": "0.02"}
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    crash = out.index('"event": "actor_crashed"')
    assert '"event": "actor_restarted"' in out[crash:]


def test_escalation_demo_exits_1_with_the_reason() -> None:
    """When the root gives up, `supervise run` says why on stderr and exits 1."""
    result = run_cli("run", "examples/escalation.yaml", env={"FLAKY_CRASH_AFTER": "0.01"})
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        "supervise: supervisor 'app' gave up: more than 2 restarts within 30 s "
        "(last exit: 'app/group', shutdown: reached_max_restart_intensity); "
        "fix why it exits or raise max_restarts/max_seconds\n"
    )


def test_every_example_tree_checks() -> None:
    """`supervise check` accepts every example tree."""
    files = sorted(str(p.relative_to(ROOT)) for p in EXAMPLES.glob("*.yaml"))
    result = run_cli("check", *files, env={})
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines() == [
        "examples/cluster.yaml: ok (2 supervisors, 3 workers)",
        "examples/echo.yaml: ok (2 supervisors, 2 workers)",
        "examples/escalation.yaml: ok (2 supervisors, 3 workers)",
        "examples/pipeline.yaml: ok (2 supervisors, 4 workers)",
    ]


def test_cluster_demo_moves_the_subtree_off_a_killed_node() -> None:
    """examples/cluster_demo.py: one command starts a NATS server and two nodes, the
    placed subtree runs on worker-a, then on worker-b once worker-a is killed; nothing
    it started is left running."""
    pytest.importorskip("nats")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "cluster_demo.py")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stdout.splitlines() if not line.startswith("20")]
    assert said[:2] == [
        "shop/front runs here; shop/ingest runs on worker-a",
        "killed worker-a (SIGKILL)",
    ]
    assert said[2].startswith("shop/ingest runs on worker-b (")
    assert said[3] == "done: the tree stopped in order, both nodes are gone"
