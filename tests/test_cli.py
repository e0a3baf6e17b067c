"""The `supervise` command, run as a user would: in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import supervise
from supervise import DynamicSupervisorSpec, SupervisorSpec, _cli
from supervise.spec import json_schema

TESTS = Path(__file__).resolve().parent

pytestmark = pytest.mark.timeout(30)

TREE = """\
name: root
strategy: one_for_all
children:
  - name: db
    actor: _tree_actors:Counter
    args: {start: 1}
  - kind: supervisor
    name: web
    max_restarts: 10
    max_seconds: 1
    children:
      - {name: api, actor: "_tree_actors:Plain", restart: transient, shutdown: 2.5}
  - kind: dynamic_supervisor
    name: pool
    max_children: 8
    child: {name: conn, actor: "_tree_actors:Plain", restart: temporary, shutdown: brutal_kill}
"""


def supervise_cmd(
    *args: str, cwd: Path = TESTS, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m supervise ARGS` (cwd: tests/, so `_tree_actors` imports)."""
    return subprocess.run(
        [sys.executable, "-m", "supervise", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=20,
    )


@pytest.fixture
def tree_file(tmp_path: Path) -> Path:
    path = tmp_path / "tree.yaml"
    path.write_text(TREE)
    return path


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_version() -> None:
    """--version prints the package version."""
    result = supervise_cmd("--version")
    expected = f"supervise, version {supervise.__version__}\n"
    assert (result.returncode, result.stdout) == (0, expected)


@pytest.mark.parametrize("command", ["", "run", "check", "tree", "schema", "node"])
def test_help_on_every_command(command: str) -> None:
    """--help (and -h) works on the group and on every command."""
    for flag in ("--help", "-h"):
        result = supervise_cmd(*([command] if command else []), flag)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"Usage: supervise {command}".rstrip())


def test_check_lists_every_problem_of_every_file(tmp_path: Path, tree_file: Path) -> None:
    """check reports all problems of all files, then exits 1; good files say ok."""
    (tmp_path / "bad.yaml").write_text("name: root\nstrategy: one\nmax_seconds: 0\n")
    (tmp_path / "worse.json").write_text('{"name": "a/b", "childs": []}')
    result = supervise_cmd(
        "check", "bad.yaml", "tree.yaml", "worse.json", cwd=tmp_path, env={"PYTHONPATH": str(TESTS)}
    )
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        'bad.yaml:2:11: strategy: expected "one_for_one", "one_for_all" or "rest_for_one", '
        'found "one"',
        "bad.yaml:3:14: max_seconds: expected a number > 0, found 0",
        "tree.yaml: ok (3 supervisors, 3 workers)",
        'worse.json:1:10: name: expected a name of letters, digits, "_", "." and "-" '
        '(not starting with "." or "-"), found "a/b"',
        'worse.json:1:17: childs: unknown field; did you mean "children"?',
    ]
    assert result.stderr == "4 problems in 2 of 3 files\n"


def test_check_passes_and_finds_actor_modules_beside_the_file(tmp_path: Path) -> None:
    """A tree file's own directory is on sys.path, whatever the working directory."""
    (tmp_path / "beside.py").write_text(
        "from pydantic import BaseModel\nfrom supervise import Actor\n"
        "class M(BaseModel, frozen=True):\n    pass\n"
        "class A(Actor[M]):\n    async def handle(self, msg: M) -> None:\n        pass\n"
    )
    (tmp_path / "t.yaml").write_text("name: r\nchildren: [{name: a, actor: 'beside:A'}]\n")
    result = supervise_cmd("check", str(tmp_path / "t.yaml"), cwd=TESTS.parent)
    expected = f"{tmp_path / 't.yaml'}: ok (1 supervisor, 1 worker)\n"
    assert (result.returncode, result.stdout) == (0, expected)


def test_tree_draws_strategy_restart_and_shutdown(tree_file: Path) -> None:
    """tree draws every node with what its supervisor needs to know."""
    result = supervise_cmd("tree", str(tree_file))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "root (supervisor one_for_all, max 3 restarts in 5s, restart permanent, "
        "shutdown infinity)\n"
        "├── db (worker _tree_actors:Counter, restart permanent, shutdown 5s)\n"
        "├── web (supervisor one_for_one, max 10 restarts in 1s, restart permanent, "
        "shutdown infinity)\n"
        "│   └── api (worker _tree_actors:Plain, restart transient, shutdown 2.5s)\n"
        "└── pool (dynamic_supervisor, max_children 8, max 3 restarts in 5s, restart permanent, "
        "shutdown infinity)\n"
        "    └── conn-* [template] (worker _tree_actors:Plain, restart temporary, "
        "shutdown brutal_kill)\n"
    )


def test_tree_draws_the_cluster_and_each_placement(tmp_path: Path) -> None:
    """tree names the root's cluster node and where each placed child may run."""
    (tmp_path / "t.yaml").write_text(
        "name: root\n"
        "cluster: {servers: 'nats://127.0.0.1:4222', node: main}\n"
        "children:\n"
        "  - {name: p, actor: '_tree_actors:Plain', placement: {node: b}}\n"
        "  - {name: q, actor: '_tree_actors:Plain', placement: {labels: {gpu: '1'}}}\n"
        "  - {name: r, actor: '_tree_actors:Plain',\n"
        "     placement: {prefer: [b, c], on_nodedown: stop}}\n"
    )
    result = supervise_cmd("tree", str(tmp_path / "t.yaml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "root (supervisor one_for_one, max 3 restarts in 5s, restart permanent, "
        "shutdown infinity, cluster supervise as node main)\n"
        "├── p (worker _tree_actors:Plain, restart permanent, shutdown 5s, "
        "placed on node b, on_nodedown wait)\n"
        "├── q (worker _tree_actors:Plain, restart permanent, shutdown 5s, "
        "placed on a node with gpu=1, on_nodedown relocate)\n"
        "└── r (worker _tree_actors:Plain, restart permanent, shutdown 5s, "
        "placed on first of b c, on_nodedown stop)\n"
    )


def test_tree_json_for_scripts(tree_file: Path) -> None:
    """tree --json gives every node's path and settings, nested as in the file."""
    result = supervise_cmd("tree", "--json", str(tree_file))
    assert result.returncode == 0, result.stderr
    root = json.loads(result.stdout)
    assert (root["path"], root["kind"], root["strategy"]) == ("root", "supervisor", "one_for_all")
    db, web, pool = root["children"]
    assert db == {
        "path": "root/db",
        "kind": "worker",
        "name": "db",
        "actor": "_tree_actors:Counter",
        "args": {"start": 1},
        "restart": "permanent",
        "significant": False,
        "shutdown": 5.0,
        "mailbox": {"capacity": 1000, "overflow": "wait"},
        "registered_name": None,
        "block_threshold": None,
        "on_block": "warn",
        "execution": "loop",
        "switch_interval": 0.001,
        "placement": None,
    }
    assert web["children"][0]["path"] == "root/web/api"
    assert (pool["max_children"], pool["child"]["path"]) == (8, "root/pool/conn-*")


def test_tree_draws_a_dynamic_supervisors_listed_children(tmp_path: Path) -> None:
    """Listed children of a dynamic supervisor are drawn (and dumped) under the names they
    get at start, ``<name>-<n>``, before the template."""
    (tmp_path / "t.yaml").write_text(
        "kind: dynamic_supervisor\n"
        "name: pool\n"
        "child: {name: conn, actor: '_tree_actors:Plain'}\n"
        "children:\n"
        "  - {name: a, actor: '_tree_actors:Plain', restart: transient}\n"
        "  - {kind: supervisor, name: g}\n"
    )
    result = supervise_cmd("tree", str(tmp_path / "t.yaml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "pool (dynamic_supervisor, max 3 restarts in 5s, restart permanent, shutdown infinity)\n"
        "├── a-1 (worker _tree_actors:Plain, restart transient, shutdown 5s)\n"
        "├── g-2 (supervisor one_for_one, max 3 restarts in 5s, restart permanent, "
        "shutdown infinity)\n"
        "└── conn-* [template] (worker _tree_actors:Plain, restart permanent, shutdown 5s)\n"
    )
    dumped = json.loads(supervise_cmd("tree", "--json", str(tmp_path / "t.yaml")).stdout)
    assert [c["path"] for c in dumped["children"]] == ["pool/a-1", "pool/g-2"]
    assert dumped["child"]["path"] == "pool/conn-*"


def test_tree_of_a_bad_file_exits_2(tmp_path: Path) -> None:
    """tree refuses a file with problems, listing them on stderr."""
    (tmp_path / "t.yaml").write_text("name: root\nbogus: 1\n")
    result = supervise_cmd("tree", "t.yaml", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("t.yaml:2:1: bogus: unknown field")


def test_schema_prints_the_json_schema_kept_in_docs() -> None:
    """schema prints the models' JSON Schema, the same as docs/tree.schema.json."""
    result = supervise_cmd("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout) == json_schema()
    assert result.stdout == (TESTS.parent / "docs" / "tree.schema.json").read_text()


def test_run_for_a_while_logs_json_lines_and_exits_0(tree_file: Path) -> None:
    """run --for starts the tree, stops it in order after the delay, and exits 0."""
    result = supervise_cmd("run", str(tree_file), "--for", "0.2", "--loop", "asyncio")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = json_lines(result.stdout)  # not a TTY: JSON lines
    assert all({"event", "level", "timestamp"} <= line.keys() for line in lines)
    events = [
        (line["event"], line.get("actor") or line.get("supervisor"))
        for line in lines
        if not str(line["event"]).startswith("event_loop_")  # a loop starved on a busy machine
    ]
    # Stopped in reverse start order, each supervisor after its children.
    assert events[-8:] == [
        ("cli_stop_requested", None),
        ("supervisor_stopped", "root/pool"),
        ("actor_stopped", "root/pool"),
        ("actor_stopped", "root/web/api"),
        ("supervisor_stopped", "root/web"),
        ("actor_stopped", "root/web"),
        ("actor_stopped", "root/db"),
        ("supervisor_stopped", "root"),
    ]


def test_run_console_format_and_log_file(tmp_path: Path, tree_file: Path) -> None:
    """--log-format console writes readable lines; --log-file sends them to a file."""
    log = tmp_path / "run.log"
    result = supervise_cmd(
        "run", str(tree_file), "--for", "0.1", "--log-format", "console", "--log-file", str(log)
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    text = log.read_text()
    assert "actor_started" in text
    assert not text.startswith("{")
    assert "[info" in text


def test_run_console_tracebacks_are_plain_without_local_variables(tmp_path: Path) -> None:
    """A crash in the console format: the plain traceback, never the frames' local
    variables (rich's traceback, structlog's default when rich is installed, prints them)."""
    (tmp_path / "leaky.py").write_text(
        "from pydantic import BaseModel\nfrom supervise import Actor\n"
        "class M(BaseModel, frozen=True):\n    pass\n"
        "class Leaky(Actor[M]):\n    async def on_start(self) -> None:\n"
        "        self.ref.cast_nowait(M())\n"
        "    async def handle(self, msg: M) -> None:\n"
        "        dsn = 'postgresql://app:hunter2@db/shop'\n"
        "        raise ConnectionError('cannot reach ' + dsn.rsplit('@', 1)[1])\n"
    )
    tree = tmp_path / "t.yaml"
    tree.write_text("name: r\nmax_restarts: 0\nchildren: [{name: a, actor: 'leaky:Leaky'}]\n")
    result = supervise_cmd("run", str(tree), "--log-format", "console", cwd=tmp_path)
    assert result.returncode == 1, result.stderr  # the root gave up at the first crash
    assert "Traceback (most recent call last):" in result.stdout
    assert "ConnectionError: cannot reach db/shop" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr


def test_run_level_filter(tree_file: Path) -> None:
    """--log-level warning drops the info-level lifecycle events."""
    # No watchdog: a machine loaded enough to stall the loop 0.1 s would add a warning.
    result = supervise_cmd(
        "run", str(tree_file), "--for", "0.1", "--log-level", "warning", "--no-watchdog"
    )
    assert (result.returncode, result.stdout) == (0, "")


def test_run_a_bad_file_exits_2_with_every_problem(tmp_path: Path) -> None:
    """run refuses a file with problems: all listed on stderr, exit 2, nothing started."""
    (tmp_path / "t.yaml").write_text("name: root\nmax_restarts: -1\nmax_seconds: x\n")
    result = supervise_cmd("run", "t.yaml", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "t.yaml:2:15: max_restarts: expected a number >= 0, found -1\n"
        't.yaml:3:14: max_seconds: expected a number, found "x"\n'
    )


def test_run_start_failure_exits_1(tmp_path: Path) -> None:
    """A child that cannot start: the tree does not run; the reason is on stderr."""
    tree = "name: root\nchildren: [{name: db, actor: '_tree_actors:FailStart'}]\n"
    (tmp_path / "t.yaml").write_text(tree)
    result = supervise_cmd("run", str(tmp_path / "t.yaml"))
    assert result.returncode == 1
    assert result.stderr == (
        "supervise: tree 'root' failed to start: child 'root/db' failed to start: "
        "RuntimeError: cannot open the database; the children started before it were "
        "stopped in reverse order\n"
    )


def test_run_root_gives_up_exits_1(tmp_path: Path) -> None:
    """When the root exceeds its restart intensity, run exits 1 and says why."""
    (tmp_path / "t.yaml").write_text(
        "name: root\nmax_restarts: 1\nchildren: [{name: bad, actor: '_tree_actors:CrashSoon'}]\n"
    )
    # No watchdog: on a loaded machine a block's report could come after the last event.
    result = supervise_cmd("run", str(tmp_path / "t.yaml"), "--no-watchdog")
    assert result.returncode == 1
    assert result.stderr == (
        "supervise: supervisor 'root' gave up: more than 1 restart within 5 s "
        "(last crash: 'root/bad'); fix the crashing child or raise max_restarts/max_seconds\n"
    )
    assert json_lines(result.stdout)[-1]["event"] == "supervisor_stopped"


@pytest.mark.parametrize("exit_code", [None, 7])
def test_run_a_program_exit_from_a_handler_stops_in_order_and_exits(
    tmp_path: Path, exit_code: int | None
) -> None:
    """KeyboardInterrupt from a handler: the orderly stop, then 130 and a message (not click's
    "Aborted!"); SystemExit(n) exits n."""
    args = "{}" if exit_code is None else f"{{exit_code: {exit_code}}}"
    (tmp_path / "t.yaml").write_text(
        f"name: root\nchildren: [{{name: a, actor: '_tree_actors:EndsProgram', args: {args}}}]\n"
    )
    result = supervise_cmd("run", str(tmp_path / "t.yaml"))
    assert json_lines(result.stdout)[-1]["event"] == "supervisor_stopped"
    if exit_code is None:
        assert (result.returncode, result.stderr) == (
            130,
            "supervise: tree 'root' was stopped in order by a KeyboardInterrupt raised inside "
            "it (see its actor_crashed event); exiting with 130\n",
        )
    else:
        assert (result.returncode, result.stderr) == (exit_code, "")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_the_tree_in_order(tree_file: Path, sig: signal.Signals) -> None:
    """SIGINT, SIGTERM or SIGHUP stops a running tree in reverse start order; exit status 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervise", "run", str(tree_file)],
        cwd=TESTS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen: list[tuple[object, object]] = []
        # Wait (bounded by the test timeout) until the root reports it has started.
        while not seen or seen[-1] != ("supervisor_started", "root"):
            line = json.loads(proc.stdout.readline())
            seen.append((line["event"], line.get("supervisor")))
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, err) == (0, "")
    lines = json_lines(out)
    assert lines[0] == {**lines[0], "event": "cli_stop_requested", "signal": sig.name}
    stopped = [line["actor"] for line in lines if line["event"] == "actor_stopped"]
    assert stopped == ["root/pool", "root/web/api", "root/web", "root/db"]
    assert lines[-1]["event"] == "supervisor_stopped"


def test_run_piped_into_a_reader_that_leaves_stops_quietly() -> None:
    """`supervise run tree.yaml | head -1`: the next log line after the reader has gone
    finds the pipe closed, which stops the tree in order; no traceback, exit 0."""
    examples = TESTS.parent / "examples"
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervise", "run", str(examples / "pipeline.yaml")],
        cwd=examples,
        env={**os.environ, "PRODUCER_INTERVAL": "0.01"},  # it keeps logging progress
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stderr is not None
        assert json.loads(proc.stdout.readline())["event"] == "actor_started"
        proc.stdout.close()  # the reader goes away, as `head -1` does
        err = proc.stderr.read()
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()  # type: ignore[union-attr]
    assert (proc.returncode, err) == (0, "")


def start_run(tree: Path) -> subprocess.Popen[str]:
    """`supervise run TREE`, returned once the root reports it has started."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervise", "run", str(tree), "--log-format", "json"],
        cwd=TESTS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    while True:  # bounded by the test's timeout
        line = proc.stdout.readline()
        assert line, f"ended before starting: {proc.stderr.read() if proc.stderr else ''}"
        event = json.loads(line)
        if (event["event"], event.get("supervisor")) == ("supervisor_started", "root"):
            return proc


def test_a_second_signal_during_a_slow_stop_exits_130_at_once(tmp_path: Path) -> None:
    """A child takes a minute to stop; a second signal does not wait for it: 130, and says so."""
    tree = tmp_path / "slow.yaml"
    tree.write_text(
        "name: root\nchildren: [{name: slow, actor: '_tree_actors:SlowStop', shutdown: infinity}]\n"
    )
    proc = start_run(tree)
    try:
        assert proc.stdout is not None
        proc.send_signal(signal.SIGINT)
        while json.loads(proc.stdout.readline())["event"] != "cli_stop_requested":
            pass
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, err) == (130, "supervise: second SIGTERM: exiting without waiting\n")


@pytest.mark.timeout(60)
def test_two_signals_in_a_row_never_end_the_process_by_the_signal(tree_file: Path) -> None:
    """A second signal right behind the first (while the tree stops, as it ends, or after):
    the process exits 0 (the stop finished first) or 130 with its message, never by the signal."""
    gaps = [0.0, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1]
    procs = [start_run(tree_file) for _ in gaps]
    outcomes: list[tuple[float, int, str]] = []
    try:
        for proc, gap in zip(procs, gaps, strict=True):
            proc.send_signal(signal.SIGINT)
            time.sleep(gap)  # the gap between the two signals is what is tested
            proc.send_signal(signal.SIGINT)
        for proc, gap in zip(procs, gaps, strict=True):
            _, err = proc.communicate(timeout=20)
            outcomes.append((gap, proc.returncode, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for gap, status, err in outcomes:
        expected = "supervise: second SIGINT: exiting without waiting\n" if status == 130 else ""
        assert (status in (0, 130), err) == (True, expected), (gap, status, err)


def test_check_reports_hostile_files_and_checks_every_one(tmp_path: Path, tree_file: Path) -> None:
    """Recursive aliases, bad tags and control characters are problems with a place; the
    files after them are checked too."""
    (tmp_path / "alias.yaml").write_text(
        "name: root\nchildren: &k\n  - {kind: supervisor, name: a, children: *k}\n"
    )
    (tmp_path / "tag.yaml").write_text("name: root\nmax_seconds: !!float ''\n")
    (tmp_path / "ctrl.yaml").write_text("name: ro\x07ot\n")
    result = supervise_cmd(
        "check", "alias.yaml", "tag.yaml", "ctrl.yaml", "tree.yaml", cwd=tmp_path,
        env={"PYTHONPATH": str(TESTS)},
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (1, "3 problems in 3 of 4 files\n")
    assert result.stdout.splitlines() == [
        "alias.yaml:3:33: children[0].children: recursive alias: this value contains itself "
        "(its anchor is at line 2, column 11); a tree file cannot be recursive",
        "tag.yaml:2:14: max_seconds: invalid YAML: '' is not a valid !!float",
        "ctrl.yaml:1:9: invalid YAML: the character U+0007 is not allowed in a YAML file; "
        "remove it, or write it as an escape in a double-quoted string",
        "tree.yaml: ok (3 supervisors, 3 workers)",
    ]


def test_run_a_recursive_alias_exits_2_with_its_place(tmp_path: Path) -> None:
    """A recursive alias is a problem of the file: one line with its position, exit 2."""
    (tmp_path / "t.yaml").write_text(
        "name: root\nchildren: &k\n  - kind: supervisor\n    name: a\n    children: *k\n"
    )
    result = supervise_cmd("run", "t.yaml", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "t.yaml:5:5: children[0].children: recursive alias: this value contains itself "
        "(its anchor is at line 2, column 11); a tree file cannot be recursive\n"
    )


def test_check_goes_on_after_an_internal_error_and_exits_3(
    tmp_path: Path, tree_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception that is not TreeFileError is a bug: reported with its traceback, the other
    files are still checked, and the exit status is 3 (not 1, as for a file's problems)."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # the command adds directories to it
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.chdir(tmp_path)
    real_load_tree = supervise.load_tree

    def load_tree(file: Path, **options: Any) -> SupervisorSpec | DynamicSupervisorSpec:
        if file.name == "boom.yaml":
            raise RuntimeError("a bug")
        return real_load_tree(file, **options)

    monkeypatch.setattr(_cli, "load_tree", load_tree)
    (tmp_path / "boom.yaml").write_text("name: root\n")
    (tmp_path / "bad.yaml").write_text("name: root\nstrategy: one\n")
    result = CliRunner().invoke(_cli.main, ["check", "boom.yaml", "tree.yaml", "bad.yaml"])
    assert result.exit_code == 3
    assert result.stdout.splitlines() == [
        "tree.yaml: ok (3 supervisors, 3 workers)",
        'bad.yaml:2:11: strategy: expected "one_for_one", "one_for_all" or "rest_for_one", '
        'found "one"',
    ]
    errors = result.stderr.splitlines()
    assert errors[0] == (
        "supervise: internal error while loading boom.yaml; this is a bug in supervise, "
        "please report it with the traceback below"
    )
    assert errors[1] == "Traceback (most recent call last):"
    assert errors[-3:] == [
        "RuntimeError: a bug",
        "1 problem in 1 of 3 files",
        "internal error on 1 file",
    ]


def test_run_a_log_file_in_a_missing_directory_exits_2(tree_file: Path, tmp_path: Path) -> None:
    """--log-file where no directory is: a one-line error, exit 2, nothing started."""
    log = tmp_path / "no" / "such" / "run.log"
    result = supervise_cmd("run", str(tree_file), "--log-file", str(log))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"supervise: cannot open the log file {str(log)!r}: No such file or directory; "
        f"check that its directory exists and is writable\n"
    )


def run_on_a_terminal(tree: Path, env: dict[str, str]) -> str:
    """`supervise run TREE --for 0.1` with its standard output on a pseudo-terminal."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervise", "run", str(tree), "--for", "0.1"],
        cwd=TESTS,
        env={**os.environ, **env},
        stdout=terminal,
        stderr=subprocess.PIPE,
    )
    os.close(terminal)
    chunks: list[bytes] = []
    try:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the command has closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=20)
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == 0
    return b"".join(chunks).decode()


def test_run_on_a_terminal_honours_no_color(tree_file: Path) -> None:
    """On a terminal the console logs are coloured, unless NO_COLOR is set (no-color.org)."""
    env = dict.fromkeys(("NO_COLOR", "FORCE_COLOR"), "")
    coloured = run_on_a_terminal(tree_file, env)
    plain = run_on_a_terminal(tree_file, {**env, "NO_COLOR": "1"})
    assert "actor_started" in coloured
    assert "\x1b[" in coloured
    assert "actor_started" in plain
    assert "\x1b[" not in plain


def test_sighup_stops_an_actor_owned_subprocess(tmp_path: Path) -> None:
    """SIGHUP (the terminal closed) is an orderly stop: the actor's on_stop ends the
    subprocess it owns, instead of leaving it running after the tree is gone."""
    pid_file = tmp_path / "pid"
    tree = tmp_path / "owner.yaml"
    tree.write_text(
        "name: root\nchildren:\n  - name: owner\n    actor: _tree_actors:OwnsProcess\n"
        f"    args: {{pid_file: {json.dumps(str(pid_file))}}}\n"
    )
    proc = start_run(tree)
    pid = int(pid_file.read_text())
    try:
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=15)
        assert (proc.returncode, err) == (0, "")
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # ended, and reaped by its owner
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
