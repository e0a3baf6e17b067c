"""benchmarks.logs at a tiny size: the generated log reads back, and the report is complete.

No test asserts speed; `python -m benchmarks.logs` measures it (1 GiB by default).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks import logs as bench
from supervise._cli import main as cli

pytestmark = pytest.mark.timeout(120)


def test_generated_log_is_a_busy_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Crashes, restarts, kills, dead letters, escalations, the application's own events
    and garbage lines: `supervise logs` reads it and counts the garbage."""
    monkeypatch.setattr(bench, "GARBAGE_EVERY", 500)
    log = tmp_path / "busy.log"
    lines = bench.generate(log, 2_000_000, seed=3)
    assert log.stat().st_size >= 2_000_000
    assert lines == len(log.read_bytes().splitlines())
    result = CliRunner().invoke(cli, ["logs", str(log), "--summary", "--json"])
    document = json.loads(result.stdout)
    stats = document["stats"]
    assert stats["lines"] == lines
    assert stats["malformed"] + stats["foreign"] == lines // 501
    summary = {row["actor"]: row for row in document["summary"]}
    assert len(summary) == 1 + bench.SUPERVISORS * (1 + bench.WORKERS)
    assert sum(row["intensity_exceeded"] for row in summary.values()) >= 1
    assert sum(row["kills"] for row in summary.values()) >= 1
    assert sum(row["dead_letters"] for row in summary.values()) >= 1
    assert sum(row["restarts"] for row in summary.values()) >= 100


def test_report_measures_every_view(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The report names each command's time, lines per second and peak memory; with jq,
    its robust form prints as many lines as the --event filter."""
    log = tmp_path / "small.log"
    bench.generate(log, 300_000)
    out = tmp_path / "report.json"
    assert bench.main(["--log", str(log), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    results = report["results"]
    for view in ("summary", "tree", "event filter"):
        assert results[view]["exit_status"] == 0, results[view]["stderr"]
        assert results[view]["peak_rss_mib"] > 0
        assert results[view]["lines_per_second"] > 0
    if shutil.which("jq"):
        assert results["jq -R fromjson?"]["output_lines"] == results["event filter"]["output_lines"]
    assert log.exists()  # a log it was given is never deleted
    assert "event filter" in capsys.readouterr().out
