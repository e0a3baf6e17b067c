"""Runner, report table, JSON output and command line of ``python -m benchmarks``.

Method: every single measurement (one workload, one side, one round) runs in a
fresh event loop (``asyncio.Runner``, debug off) with ``gc.collect()`` before
and after, so no workload inherits another's garbage, tasks or loop state.
Rounds are interleaved (round 1 runs every selected workload, then round 2,
...) and the order of the two sides alternates per round, so slow drift of a
shared machine lands on both.  The reported figure is the median over rounds,
and ``ratio`` is median(framework) / median(raw).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import sysconfig
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from benchmarks._common import WorkloadFn
from benchmarks._workloads import WORKLOAD_NAMES, WORKLOADS, Workload

Side = Literal["framework", "raw"]
LoopName = Literal["asyncio", "uvloop"]

#: ``--quick`` is ``--scale`` 1/50 (a run of seconds).
QUICK_SCALE = 0.02
NOT_IMPLEMENTED = "not yet implemented"
FAILED = "FAILED"

_REPO_ROOT = Path(__file__).resolve().parent.parent


class BenchmarkError(Exception):
    """A usage problem (unknown workload name, uvloop missing, bad option)."""


# ---------------------------------------------------------------- event loops


def uvloop_available() -> bool:
    """Whether ``uvloop`` can be imported."""
    return importlib.util.find_spec("uvloop") is not None


def _loop_factory(loop: LoopName) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if loop == "asyncio":
        return None  # asyncio.Runner's default: the policy's new_event_loop()
    try:
        # By name, so that type-checking does not need the optional uvloop installed.
        uvloop = importlib.import_module("uvloop")
    except ImportError as exc:
        raise BenchmarkError("--loop uvloop: uvloop is not installed") from exc
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _loop_version(loop: LoopName) -> str:
    if loop == "asyncio":
        return platform.python_version()
    return importlib.metadata.version("uvloop")


# ---------------------------------------------------------------- measuring


async def _run_guarded(fn: WorkloadFn, n: int) -> tuple[float, int]:
    """Await ``fn(n)``; return its figure and the number of tasks it left running."""
    value = await fn(n)
    current = asyncio.current_task()
    leftovers = sum(1 for t in asyncio.all_tasks() if t is not current and not t.done())
    return float(value), leftovers


def measure_once(fn: WorkloadFn, n: int, loop: LoopName = "asyncio") -> tuple[float, int]:
    """One measurement of ``fn(n)`` in a fresh event loop, with GC settled around it."""
    gc.collect()
    try:
        with asyncio.Runner(debug=False, loop_factory=_loop_factory(loop)) as runner:
            return runner.run(_run_guarded(fn, n))
    finally:
        gc.collect()


@dataclass
class SideResult:
    """All rounds of one side of one workload."""

    implemented: bool
    values: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        """Median over rounds, or ``None`` if not implemented or failed."""
        if not self.implemented or self.error is not None or not self.values:
            return None
        return statistics.median(self.values)

    @property
    def label(self) -> str | None:
        """Marker shown in the table instead of a figure, if any."""
        if not self.implemented:
            return NOT_IMPLEMENTED
        if self.error is not None:
            return FAILED
        return None


@dataclass
class WorkloadResult:
    """Both sides of one workload, and its row in the JSON."""

    workload: Workload
    size: int
    framework: SideResult
    raw: SideResult

    @property
    def ratio(self) -> float | None:
        """median(framework) / median(raw), or ``None`` if either is missing."""
        fw, raw = self.framework.median, self.raw.median
        if fw is None or raw is None or raw == 0:
            return None
        return fw / raw

    def to_json(self) -> dict[str, Any]:
        """The fixed JSON row: name, unit, framework, raw, ratio, higher_is_better."""
        return {
            "name": self.workload.name,
            "unit": self.workload.unit,
            "framework": self.framework.median,
            "raw": self.raw.median,
            "ratio": self.ratio,
            "higher_is_better": self.workload.higher_is_better,
        }


@dataclass
class Report:
    """One complete run on one event loop."""

    loop: LoopName
    scale: float
    rounds: int
    results: list[WorkloadResult]
    machine: dict[str, Any]

    @property
    def failed(self) -> bool:
        """Whether any implemented measurement raised."""
        return any(r.framework.error or r.raw.error for r in self.results)

    def to_json(self) -> dict[str, Any]:
        """``{"workloads": [...], "machine": {...}}``."""
        return {"workloads": [r.to_json() for r in self.results], "machine": self.machine}


def select_workloads(only: str | None) -> list[Workload]:
    """Workloads named in ``--only`` (exact names, or a prefix group such as ``W1``);
    without it, every workload that is not opt-in."""
    if not only:
        return [w for w in WORKLOADS if not w.opt_in]
    wanted = [part.strip() for part in only.split(",") if part.strip()]
    chosen: set[str] = set()
    for name in wanted:
        matches = [w for w in WORKLOAD_NAMES if w == name or w.startswith(name + "_")]
        if not matches:
            raise BenchmarkError(f"unknown workload {name!r}; known: {', '.join(WORKLOAD_NAMES)}")
        chosen.update(matches)
    return [w for w in WORKLOADS if w.name in chosen]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=_REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _git_commit() -> str | None:
    return _git("rev-parse", "HEAD") or None


def _git_dirty() -> bool | None:
    """Whether tracked files differ from the commit (``None`` outside a checkout)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


#: Distributions whose version can change a figure (uvloop ``None`` if absent).
_LIBRARIES = ("supervise", "anyio", "pydantic", "pydantic-core", "structlog", "uvloop")


def library_versions() -> dict[str, str | None]:
    """Installed version of each library on the measured paths."""
    versions: dict[str, str | None] = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _python_build() -> str:
    """Interpreter build: number, date, compiler, and PGO/LTO if configured."""
    number, date = platform.python_build()
    flags = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    opts = [o for o in ("--enable-optimizations", "--with-lto") if o in flags]
    return f"{number}, {date}, {platform.python_compiler()}" + (
        f", {' '.join(opts)}" if opts else ""
    )


def machine_info(
    loop: LoopName, scale: float, rounds: int, workloads: Sequence[Workload]
) -> dict[str, Any]:
    """The ``machine`` block of the JSON: everything that can change a figure.

    Where and when (platform, CPUs, load average at the start), the
    interpreter and its build, the event loop, the commit (and whether the
    tree was dirty), the libraries' versions, the garbage collector's
    settings, the framework side's logging (:func:`_framework.logging_setup`)
    and the sizes.
    """
    from benchmarks import _framework
    from benchmarks._framework import logging_setup

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "python_build": _python_build(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "event_loop": loop,
        "event_loop_version": _loop_version(loop),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "git_dirty": _git_dirty(),
        "libraries": library_versions(),
        "scale": scale,
        "rounds": rounds,
        "gc_enabled": gc.isenabled(),
        "gc_threshold": list(gc.get_threshold()),
        "logging": logging_setup(),
        "framework_options": {
            "watchdog": _framework.WATCHDOG,
            "metrics": _framework.METRICS,
            "control": _framework.CONTROL,
        },
        "sizes": {w.name: w.size(scale) for w in workloads},
    }


def run_benchmarks(
    workloads: Sequence[Workload],
    *,
    scale: float = 1.0,
    rounds: int = 1,
    loop: LoopName = "asyncio",
    progress: TextIO | None = None,
) -> Report:
    """Measure every workload's implemented sides ``rounds`` times on ``loop``."""
    if scale <= 0:
        raise BenchmarkError("--scale must be > 0")
    if rounds < 1:
        raise BenchmarkError("--rounds must be >= 1")
    _loop_factory(loop)  # fail early if uvloop is missing
    machine = machine_info(loop, scale, rounds, workloads)  # date and commit at start
    results = [
        WorkloadResult(
            w,
            w.size(scale),
            framework=SideResult(implemented=w.framework is not None),
            raw=SideResult(implemented=True),
        )
        for w in workloads
    ]
    for rnd in range(rounds):
        sides: tuple[Side, Side] = ("raw", "framework") if rnd % 2 == 0 else ("framework", "raw")
        for result in results:
            for side in sides:
                _measure_side(result, side, rnd, rounds, loop, progress)
    return Report(
        loop=loop,
        scale=scale,
        rounds=rounds,
        results=results,
        machine=machine,
    )


def _measure_side(
    result: WorkloadResult,
    side: Side,
    rnd: int,
    rounds: int,
    loop: LoopName,
    progress: TextIO | None,
) -> None:
    w = result.workload
    fn = w.framework if side == "framework" else w.raw
    outcome = result.framework if side == "framework" else result.raw
    if fn is None or outcome.error is not None:
        return
    t0 = time.perf_counter()
    try:
        value, leftovers = measure_once(fn, result.size, loop)
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        if progress is not None:
            print(f"[{loop}] {w.name} {side}: {FAILED}", file=progress)
            traceback.print_exc(file=progress)
        return
    outcome.values.append(value)
    if progress is not None:
        note = f"  (WARNING: left {leftovers} task(s) running)" if leftovers else ""
        print(
            f"[{loop}] round {rnd + 1}/{rounds} {w.name:<24} {side:<9} "
            f"{format_value(value):>9} {w.unit:<10} n={result.size} "
            f"({time.perf_counter() - t0:.2f} s){note}",
            file=progress,
            flush=True,
        )


# ---------------------------------------------------------------- reporting

_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"))


def format_value(value: float) -> str:
    """Three significant digits with an SI prefix: ``56.3k``, ``4.96µ``."""
    if value == 0:
        return "0"
    for factor, prefix in _PREFIXES:
        if abs(value) >= factor:
            return f"{value / factor:.3g}{prefix}"
    return f"{value:.3g}"


def format_table(report: Report) -> str:
    """The human table: workload, unit, framework, raw, ratio, higher_is_better."""
    header = ("workload", "unit", "framework", "raw", "ratio fw/raw", "higher_is_better")
    rows: list[tuple[str, ...]] = []
    for r in report.results:
        fw = r.framework.label or format_value(r.framework.median or 0.0)
        raw = r.raw.label or format_value(r.raw.median or 0.0)
        ratio = "n/a" if r.ratio is None else f"{r.ratio:.3g}"
        better = "yes" if r.workload.higher_is_better else "no"
        rows.append((r.workload.name, r.workload.unit, fw, raw, ratio, better))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    right = {2, 3, 4}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()

    m = report.machine
    title = (
        f"supervise benchmarks: event loop {report.loop} {m['event_loop_version']}, "
        f"scale {report.scale:g}, median of {report.rounds} round(s), "
        f"Python {m['python']} ({m['implementation']}), {m['cpu_count']} CPU(s)"
    )
    out = [title, *header_lines(m), line(header), line(["-" * w for w in widths])]
    out.extend(line(row) for row in rows)
    out.append(
        "ratio = framework / raw: for higher_is_better=yes, < 1 means the framework is "
        "slower; for no, > 1 means slower / bigger."
    )
    return "\n".join(out)


def header_lines(m: dict[str, Any]) -> list[str]:
    """The run's conditions under the title: what a reproduction must match."""
    commit = m.get("git_commit") or "unknown"
    if m.get("git_dirty"):
        commit += " (dirty)"
    libs = ", ".join(f"{k} {v or '-'}" for k, v in m["libraries"].items())
    log = m["logging"]
    gc_state = "on" if m["gc_enabled"] else "off"
    return [
        f"commit {commit}; {libs}",
        f"Python build {m['python_build']}; {m['platform']}; "
        f"load average {' '.join(f'{x:g}' for x in m['load_average'])} at start",
        f"gc {gc_state}, thresholds {tuple(m['gc_threshold'])}; framework logging: "
        f"{log['wrapper_class']} (W5 at {log['level_w5']}), "
        f"cached {log['cache_logger_on_first_use']}, "
        f"events dropped before building: {log['dropped_early']}, "
        f"processors {', '.join(log['processors'])}",
        *(
            [f"framework trees opened with: {', '.join(on)}"]
            if (on := [k for k, v in m.get("framework_options", {}).items() if v])
            else []
        ),
    ]


def json_path_for(path: Path, loop: LoopName, several_loops: bool) -> Path:
    """Where one loop's JSON goes.

    With ``--loop all`` (``several_loops``), ``--json out.json`` becomes
    ``out.asyncio.json`` and ``out.uvloop.json``: workload names stay fixed and
    each file's ``machine.event_loop`` says which loop it is.
    """
    if not several_loops:
        return path
    return path.with_name(f"{path.stem}.{loop}{path.suffix}")


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m benchmarks`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="supervise actors vs raw asyncio (Task + Queue per actor).",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_true",
        help=f"a run of seconds: same as --scale {QUICK_SCALE:g}",
    )
    size.add_argument(
        "--scale", type=float, default=1.0, help="multiply every size by this (default 1.0)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write JSON here")
    parser.add_argument(
        "--only",
        metavar="NAME[,NAME]",
        help="workload names, or groups such as W1; default: all",
    )
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop", "all"),
        default="asyncio",
        help="event loop (all = asyncio, then uvloop when installed; one JSON per loop)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat N times and report the median"
    )
    parser.add_argument(
        "--watchdog",
        action="store_true",
        help="open the framework's trees with the loop watchdog on (to measure its cost)",
    )
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="open the framework's trees with Prometheus metrics on (to measure their cost; "
        "needs supervise[metrics])",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="open the framework's trees with the control endpoint on (to measure its cost)",
    )
    parser.add_argument(
        "--list", action="store_true", help="list workloads and their framework status, then exit"
    )
    return parser


def _list_workloads(out: TextIO) -> None:
    for w in WORKLOADS:
        status = "implemented" if w.framework is not None else NOT_IMPLEMENTED
        print(f"{w.name:<24} {w.unit:<10} n={w.full_size:<9} framework: {status}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status (0 ok, 1 a workload failed, 2 usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        _list_workloads(sys.stdout)
        return 0
    scale: float = QUICK_SCALE if args.quick else args.scale
    from benchmarks import _framework

    _framework.WATCHDOG = args.watchdog
    _framework.METRICS = args.metrics
    _framework.CONTROL = args.control
    loops: list[LoopName]
    if args.loop == "all":
        loops = ["asyncio", "uvloop"] if uvloop_available() else ["asyncio"]
        if len(loops) == 1:
            print("note: uvloop is not installed; running asyncio only", file=sys.stderr)
    else:
        loops = [args.loop]
    try:
        workloads = select_workloads(args.only)
        status = 0
        for i, loop in enumerate(loops):
            report = run_benchmarks(
                workloads, scale=scale, rounds=args.rounds, loop=loop, progress=sys.stderr
            )
            if i:
                print()
            print(format_table(report), flush=True)
            if args.json is not None:
                path = json_path_for(args.json, loop, args.loop == "all")
                path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
                print(f"wrote {path}", file=sys.stderr)
            if report.failed:
                status = 1
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return status
