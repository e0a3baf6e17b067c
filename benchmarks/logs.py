"""``supervise logs`` on a big realistic log: lines per second and peak memory, beside jq.

Run from the repository root (not part of the test suite: the default log is 1 GiB)::

    python -m benchmarks.logs                       # generate 1 GiB, then measure
    python -m benchmarks.logs --size-mb 200 --keep  # smaller; keep the file for later runs
    python -m benchmarks.logs --log /tmp/big.log    # measure an existing log
    python -m benchmarks.logs --json out.json

The generated log is what ``supervise run --log-format json`` writes for a busy
tree (``shop``: 20 supervisors of 50 workers): the application's own events
logged from inside actors (with their ``actor``/``incarnation``/``tree``
context), crashes with their tracebacks, restarts, kills, dead letters, and
escalations (a supervisor gives up, its parent restarts the subtree), plus one
garbage line (another logger's text, a cut JSON object) in every 20,000.

Each command runs in a fresh process started by a small wrapper that reports
the command's peak resident memory (``ru_maxrss`` of its children), with
output to ``/dev/null``:

- ``supervise logs LOG --summary --json``
- ``supervise logs LOG --tree --json``
- ``supervise logs LOG --event actor_crashed --json``
- ``jq -cR 'fromjson? | select(.event=="actor_crashed")' LOG`` when jq is installed
  (it must print as many lines as the ``--event`` filter).
  The plain ``jq -c 'select(.event=="actor_crashed")'`` stops with an error at
  the first line that is not JSON (its line count shows where); ``-R`` with
  ``fromjson?`` is the form that reads the same file to the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

SUPERVISORS = 20
WORKERS = 50
GARBAGE_EVERY = 20_000

_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/shop/supervise/_process.py", line 307, in _main\n'
    "    await actor.handle(item)\n"
    '  File "/srv/shop/shop/workers.py", line 88, in handle\n'
    "    row = await self.db.fetch_one(query, order_id)\n"
    '  File "/srv/shop/shop/db.py", line 41, in fetch_one\n'
    "    raise ConnectionError(f'database {self.host} refused the connection')\n"
    "ConnectionError: database db-3 refused the connection"
)
_ERRORS = (
    ("ConnectionError", "database db-3 refused the connection"),
    ("TimeoutError", "payment gateway did not answer in 5 s"),
    ("KeyError", "'sku-1887'"),
    ("ValueError", "quantity must be positive, got -1"),
)


class _Writer:
    """Writes the events of a busy tree, in time order, as JSON lines."""

    def __init__(self, out: TextIO, seed: int, garbage: bool) -> None:
        self.out = out
        self.garbage = garbage
        self.rng = random.Random(seed)
        self.now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
        self.incarnations: dict[str, int] = {}
        self.restarts: dict[str, int] = {}
        self.lines = 0

    def line(self, event: str, level: str, **fields: Any) -> None:
        self.now += timedelta(microseconds=self.rng.randint(5, 400))
        fields["tree"] = "shop"
        fields["event"] = event
        fields["level"] = level
        fields["timestamp"] = self.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.out.write(json.dumps(fields))
        self.out.write("\n")
        self.lines += 1
        if self.garbage and self.lines % GARBAGE_EVERY == 0:
            self.out.write(
                self.rng.choice(
                    (
                        "INFO:uvicorn.access: 10.0.0.7 - GET /health 200\n",
                        '{"event": "request_handled", "actor": "shop/svc1/w1", "ms"\n',
                    )
                )
            )
            self.lines += 1

    def start(self, path: str, supervisor: str, restart: bool) -> None:
        incarnation = self.incarnations.get(path, 0) + 1
        self.incarnations[path] = incarnation
        count = self.restarts.get(path, 0) + (1 if restart else 0)
        self.restarts[path] = count
        fields = {
            "actor": path,
            "supervisor": supervisor,
            "incarnation": incarnation,
            "restart_count": count,
        }
        if restart:
            self.line("actor_restarted", "info", **fields)
        self.line("actor_started", "info", **fields)

    def boot(self, supervisor: str, restart: bool = False) -> None:
        for j in range(WORKERS):
            self.start(f"{supervisor}/w{j}", supervisor, False)
        self.line("supervisor_started", "info", supervisor=supervisor, strategy="one_for_one",
                  children=WORKERS)  # fmt: skip
        self.start(supervisor, "shop", restart)

    def exit(self, path: str, supervisor: str, event: str, level: str, **reason: Any) -> None:
        self.line(
            event,
            level,
            actor=path,
            supervisor=supervisor,
            incarnation=self.incarnations.get(path, 1),
            restart_count=self.restarts.get(path, 0),
            **reason,
        )

    def crash(self, path: str, supervisor: str) -> None:
        exc_type, message = self.rng.choice(_ERRORS)
        self.exit(path, supervisor, "actor_crashed", "error", reason="crash", exc_type=exc_type,
                  exc_message=message, exception=_TRACEBACK)  # fmt: skip
        self.start(path, supervisor, True)

    def escalate(self, supervisor: str) -> None:
        worker = f"{supervisor}/w{self.rng.randrange(WORKERS)}"
        for _ in range(4):
            self.exit(worker, supervisor, "actor_crashed", "error", reason="crash",
                      exc_type="ConnectionError", exc_message=_ERRORS[0][1],
                      exception=_TRACEBACK)  # fmt: skip
        self.line("restart_intensity_exceeded", "error", supervisor=supervisor, actor=worker,
                  child_reason=f"crash: ConnectionError: {_ERRORS[0][1]}", max_restarts=3,
                  max_seconds=5.0)  # fmt: skip
        for j in reversed(range(WORKERS)):
            path = f"{supervisor}/w{j}"
            if path != worker:
                self.exit(path, supervisor, "actor_stopped", "info", reason="shutdown")
        gave_up = {
            "reason": "shutdown",
            "reason_detail": "reached_max_restart_intensity",
            "exc_type": "RestartIntensityExceeded",
            "exc_message": f"supervisor {supervisor!r} gave up: more than 3 restarts within 5 s",
        }
        self.line("supervisor_stopped", "info", supervisor=supervisor, **gave_up)
        self.exit(supervisor, "shop", "actor_stopped", "info", **gave_up)
        self.boot(supervisor, restart=True)

    def busy(self) -> None:
        rng = self.rng
        roll = rng.random()
        supervisor = f"shop/svc{rng.randrange(SUPERVISORS)}"
        worker = f"{supervisor}/w{rng.randrange(WORKERS)}"
        if roll < 0.80:
            self.line("request_handled", "info", route=f"/api/orders/{rng.randrange(10**6)}",
                      ms=round(rng.expovariate(1 / 12), 2), status=200, actor=worker,
                      incarnation=self.incarnations.get(worker, 1))  # fmt: skip
        elif roll < 0.95:
            self.crash(worker, supervisor)
        elif roll < 0.98:
            self.line("message_dead_lettered", "warning", actor=worker, message_type="Order",
                      cause="not_running")  # fmt: skip
        elif roll < 0.9995:
            self.line("actor_killed", "warning", actor=worker, supervisor=supervisor, shutdown=5.0)
            self.exit(worker, supervisor, "actor_crashed", "error", reason="killed",
                      reason_detail="shutdown timeout (5.0 s) ran out")  # fmt: skip
            self.start(worker, supervisor, True)
        else:
            self.escalate(supervisor)


def generate(path: Path, size: int, seed: int = 1, garbage: bool = True) -> int:
    """Write a log of at least ``size`` bytes to ``path``; return its line count."""
    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        writer = _Writer(out, seed, garbage)
        for i in range(SUPERVISORS):
            writer.boot(f"shop/svc{i}")
        writer.line("supervisor_started", "info", supervisor="shop", strategy="one_for_one",
                    children=SUPERVISORS)  # fmt: skip
        while out.tell() < size:
            for _ in range(10_000):
                writer.busy()
        return writer.lines


_WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
lines = sum(chunk.count(b"\\n") for chunk in iter(lambda: child.stdout.read(1 << 20), b""))
stderr = child.stderr.read()
status = child.wait()
took = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps([status, took, peak, lines, stderr.decode()[-300:]]))
"""


def measure(command: list[str]) -> dict[str, Any]:
    """Run ``command`` in a fresh process: exit status, seconds, peak RSS in MiB, lines it
    printed (read from a pipe, as a script would), the end of its standard error."""
    status, seconds, peak_kib, output_lines, stderr = json.loads(
        subprocess.run(
            [sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, check=True
        ).stdout
    )
    return {
        "command": " ".join(command),
        "exit_status": status,
        "seconds": seconds,
        "peak_rss_mib": peak_kib / 1024,
        "output_lines": output_lines,
        "stderr": stderr,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.logs", description=__doc__)
    parser.add_argument("--size-mb", type=float, default=1024, help="log size (default 1024)")
    parser.add_argument("--log", type=Path, help="measure this log instead of generating one")
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    parser.add_argument(
        "--no-garbage",
        action="store_true",
        help="generate only JSON events, so that plain jq reads the whole log too",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    made = args.log is None
    log = args.log or Path(tempfile.mkstemp(prefix="supervise-logs-", suffix=".log")[1])
    try:
        if made:
            start = time.perf_counter()
            generate(log, int(args.size_mb * 1024 * 1024), garbage=not args.no_garbage)
            print(f"generated {log} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        with log.open("rb") as f:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b""))
        size = log.stat().st_size
        supervise = [sys.executable, "-m", "supervise", "logs", str(log)]
        runs = {
            "summary": [*supervise, "--summary", "--json"],
            "tree": [*supervise, "--tree", "--json"],
            "event filter": [*supervise, "--event", "actor_crashed", "--json"],
        }
        jq = shutil.which("jq")
        if jq:
            lenient = 'fromjson? | select(.event=="actor_crashed")'
            runs["jq -R fromjson?"] = [jq, "-cR", lenient, str(log)]
            runs["jq (plain)"] = [jq, "-c", 'select(.event=="actor_crashed")', str(log)]
        results = {}
        for name, command in runs.items():
            result = measure(command)
            result["lines_per_second"] = lines / result["seconds"]
            results[name] = result
        report = {
            "log_bytes": size,
            "log_lines": lines,
            "parser": _parser(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "results": results,
        }
        print(f"log: {size / 2**30:.2f} GiB, {lines:,} lines; parser: {_parser()}")
        print(f"{'view':<18} {'seconds':>8} {'lines/s':>12} {'peak MiB':>9}  exit  printed")
        for name, r in results.items():
            print(
                f"{name:<18} {r['seconds']:>8.2f} {r['lines_per_second']:>12,.0f} "
                f"{r['peak_rss_mib']:>9.1f}  {r['exit_status']:>4}  {r['output_lines']:,}"
            )
        robust = results.get("jq -R fromjson?")
        if robust:
            same = robust["output_lines"] == results["event filter"]["output_lines"]
            print(f"jq -R and --event printed the same number of lines: {'yes' if same else 'NO'}")
        plain = results.get("jq (plain)")
        if plain and plain["exit_status"]:
            print(f"jq (plain) stopped at the first non-JSON line: {plain['stderr'].strip()}")
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
        return 0
    finally:
        if made and not args.keep:
            log.unlink(missing_ok=True)


def _parser() -> str:
    from supervise._logs._records import PARSER

    return PARSER


if __name__ == "__main__":
    sys.exit(main())
