"""The benchmark harness works end to end and keeps its fixed names and JSON shape.

Everything runs in-process at tiny sizes (scale 0.001).  No test asserts
anything about speed: figures only have to be positive and finite.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib.metadata
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # `benchmarks` is a top-level directory, not installed
    sys.path.insert(0, str(_ROOT))

from benchmarks import WORKLOADS, main, run_benchmarks, select_workloads  # noqa: E402
from benchmarks._cluster import nats_available  # noqa: E402
from benchmarks._harness import (  # noqa: E402
    FAILED,
    NOT_IMPLEMENTED,
    format_table,
    json_path_for,
    measure_once,
    uvloop_available,
)
from benchmarks._workloads import unknown_framework_functions  # noqa: E402

TINY = 0.001

# Fixed by the spec: results are compared over time by these names.
EXPECTED: dict[str, tuple[str, bool]] = {
    "W1_spawn": ("actors/s", True),
    "W1_stop": ("actors/s", True),
    "W1_memory_per_actor": ("bytes", False),
    "W2_call_roundtrip": ("calls/s", True),
    "W3_cast_1to1": ("messages/s", True),
    "W3_cast_100to1": ("messages/s", True),
    "W4_call_latency_p50": ("s", False),
    "W4_call_latency_p99": ("s", False),
    "W5_restart_latency_p50": ("s", False),
    "W5_restart_latency_p99": ("s", False),
    "W6_fanout": ("messages/s", True),
    "W7_loop_lag_loop": ("s", False),
    "W7_loop_lag_thread": ("s", False),
    "W7_loop_lag_process": ("s", False),
    "W8_async_stream": ("items/s", True),
    "W8_timed_async_stream": ("items/s", True),
    "W8_isolated_call": ("calls/s", True),
    "W8_isolated_restart": ("s", False),
    "W9_remote_call": ("calls/s", True),
    "W9_remote_pipelined": ("calls/s", True),
    "W9_nodedown": ("s", False),
}
#: What a run without --only measures: every workload but the opt-in ones.
DEFAULT = [name for name in EXPECTED if not name.startswith("W9_")]
ROW_KEYS = {"name", "unit", "framework", "raw", "ratio", "higher_is_better"}
MACHINE_KEYS = {
    "python",
    "implementation",
    "platform",
    "cpu_count",
    "event_loop",
    "date",
    "git_commit",
    "sizes",
    # what else changes a figure (issue 17): build, versions, gc, logging, load
    "python_build",
    "git_dirty",
    "libraries",
    "gc_enabled",
    "gc_threshold",
    "logging",
    "load_average",
}


def _is_figure(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_table_has_the_fixed_workloads() -> None:
    assert [(w.name, w.unit, w.higher_is_better) for w in WORKLOADS] == [
        (name, unit, hib) for name, (unit, hib) in EXPECTED.items()
    ]
    assert unknown_framework_functions() == []


_SIDES = [(w.name, "raw", w.raw) for w in WORKLOADS] + [
    (w.name, "framework", w.framework) for w in WORKLOADS if w.framework is not None
]


@pytest.mark.parametrize(
    ("name", "side", "fn"), _SIDES, ids=[f"{name}-{side}" for name, side, _ in _SIDES]
)
def test_each_side_returns_a_figure_and_cleans_up(name: str, side: str, fn: Any) -> None:
    (workload,) = select_workloads(name)
    if workload.opt_in and not nats_available():
        pytest.skip("W9 needs the nats extra: pip install -e '.[dev]'")
    value, leftovers = measure_once(fn, workload.size(TINY))
    assert _is_figure(value)
    assert leftovers == 0, f"{name} ({side}) left tasks running"


def test_cli_end_to_end_json_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert main(["--scale", str(TINY), "--json", str(out)]) == 0

    data = json.loads(out.read_text())
    assert set(data) == {"workloads", "machine"}
    rows = data["workloads"]
    # Opt-in workloads (W9: a nats-server and node processes) run only when named.
    assert [r["name"] for r in rows] == DEFAULT
    assert [w.name for w in select_workloads("W9")] == [n for n in EXPECTED if n not in DEFAULT]
    implemented = {w.name: w.framework is not None for w in WORKLOADS}
    for row in rows:
        assert set(row) == ROW_KEYS
        assert (row["unit"], row["higher_is_better"]) == EXPECTED[row["name"]]
        assert _is_figure(row["raw"]), row
        if implemented[row["name"]]:
            assert _is_figure(row["framework"]), row
            assert row["ratio"] == pytest.approx(row["framework"] / row["raw"])
        else:  # never a made-up number
            assert row["framework"] is None
            assert row["ratio"] is None

    machine = data["machine"]
    assert set(machine) >= MACHINE_KEYS
    assert machine["event_loop"] == "asyncio"
    assert set(machine["sizes"]) == set(DEFAULT)
    assert all(isinstance(n, int) and n >= 1 for n in machine["sizes"].values())
    assert machine["sizes"]["W3_cast_1to1"] == 1000
    assert set(machine["libraries"]) == {
        "supervise",
        "anyio",
        "pydantic",
        "pydantic-core",
        "structlog",
        "uvloop",
    }
    assert machine["libraries"]["structlog"] == importlib.metadata.version("structlog")
    assert machine["gc_enabled"] is gc.isenabled()
    assert len(machine["load_average"]) == 3
    logging_setup = machine["logging"]
    assert logging_setup["level"] == "warning"
    assert logging_setup["level_w5"] == "critical"
    assert logging_setup["cache_logger_on_first_use"] is True
    # The framework's lifecycle events are dropped by a level check, unbuilt.
    assert logging_setup["dropped_early"] is True

    table = capsys.readouterr().out
    assert f"structlog {importlib.metadata.version('structlog')}" in table
    assert "events dropped before building: True" in table
    assert f"thresholds {gc.get_threshold()}" in table
    for name in DEFAULT:
        assert name in table
    if not all(implemented.values()):
        assert NOT_IMPLEMENTED in table


def test_framework_column_and_ratio_when_implemented() -> None:
    # Plug the raw functions in as a stand-in framework to exercise the
    # framework path of the harness (the figures are not reported anywhere).
    workloads = [
        dataclasses.replace(w, framework=w.raw)
        for w in select_workloads("W2,W5_restart_latency_p50")
    ]
    report = run_benchmarks(workloads, scale=TINY, rounds=3)
    assert not report.failed
    for result in report.results:
        assert len(result.framework.values) == len(result.raw.values) == 3
        row = result.to_json()
        assert _is_figure(row["framework"])
        assert row["ratio"] == pytest.approx(row["framework"] / row["raw"])
    assert NOT_IMPLEMENTED not in format_table(report)


def test_failing_side_is_marked_not_invented() -> None:
    async def broken(n: int) -> float:
        raise RuntimeError("boom")

    (w,) = select_workloads("W6_fanout")
    report = run_benchmarks([dataclasses.replace(w, framework=broken)], scale=TINY)
    assert report.failed
    row = report.results[0].to_json()
    assert row["framework"] is None
    assert row["ratio"] is None
    assert _is_figure(row["raw"])
    assert FAILED in format_table(report)


def test_only_selects_names_and_groups(capsys: pytest.CaptureFixture[str]) -> None:
    assert [w.name for w in select_workloads("W1")] == [
        "W1_spawn",
        "W1_stop",
        "W1_memory_per_actor",
    ]
    assert [w.name for w in select_workloads("W6_fanout,W2_call_roundtrip")] == [
        "W2_call_roundtrip",
        "W6_fanout",
    ]
    assert main(["--only", "W9_nope"]) == 2
    assert "unknown workload" in capsys.readouterr().err


def test_quick_and_scale_are_exclusive() -> None:
    with pytest.raises(SystemExit):
        main(["--quick", "--scale", "0.5"])


def test_json_path_per_loop() -> None:
    assert json_path_for(Path("r/out.json"), "uvloop", several_loops=True) == Path(
        "r/out.uvloop.json"
    )
    assert json_path_for(Path("r/out.json"), "asyncio", several_loops=False) == Path("r/out.json")


@pytest.mark.skipif(not uvloop_available(), reason="uvloop not installed")
def test_uvloop_run(tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    assert main(["--loop", "all", "--scale", str(TINY), "--only", "W4", "--json", str(out)]) == 0
    for loop in ("asyncio", "uvloop"):
        data = json.loads((tmp_path / f"b.{loop}.json").read_text())
        assert data["machine"]["event_loop"] == loop
        assert [r["name"] for r in data["workloads"]] == [
            "W4_call_latency_p50",
            "W4_call_latency_p99",
        ]


def test_control_switch_opens_the_framework_trees_with_a_control_socket(tmp_path: Path) -> None:
    """``--control`` serves a control socket from every framework tree and says so."""
    from benchmarks import _framework

    out = tmp_path / "bench.json"
    sockets_before = len(_framework._control_sockets)
    try:
        assert main(["--only", "W2,W3", "--scale", str(TINY), "--control", "--json", str(out)]) == 0
    finally:
        _framework.CONTROL = False
    data = json.loads(out.read_text())
    assert data["machine"]["framework_options"] == {
        "watchdog": False,
        "metrics": False,
        "control": True,
    }
    assert all(_is_figure(row["framework"]) for row in data["workloads"])
    # One socket per tree: W2 and the two W3 workloads each open one.
    assert len(_framework._control_sockets) - sockets_before >= 3
    assert not any(p.exists() for p in _framework._control_sockets[1:])  # removed at stop
