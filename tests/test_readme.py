"""The README opens with two set-up commands, and its demo really crashes and heals."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALL = "python -m pip install -e '.[dev]'"


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block is not None, "README must open with a bash block"
    assert text.index("```bash") < text.index("\n## "), "the commands come first"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_starts_with_exactly_two_commands() -> None:
    """One runs the demo, one runs the tests, both after the same install."""
    demo, tests = setup_commands()
    assert demo.startswith(INSTALL + " && ")
    assert tests == INSTALL + " && python -m pytest"


def test_readme_demo_crashes_and_heals() -> None:
    """The demo command (without the install) logs a crash followed by a restart."""
    demo = setup_commands()[0].split(" && ", 1)[1]
    argv = shlex.split(demo)
    if argv[0] == "python":
        argv[0] = sys.executable
    elif argv[0] == "supervise":
        argv[:1] = [sys.executable, "-m", "supervise"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out, _ = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # a demo that runs until interrupted
        out, _ = proc.communicate(timeout=15)
    assert "actor_crashed" in out, out
    crash_at = out.index("actor_crashed")
    assert "actor_restarted" in out[crash_at:], out
    assert proc.returncode == 0, out


def test_readme_tour_runs_as_written(tmp_path: Path) -> None:
    """The tour's Python block runs unchanged and prints what its comment says (15)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## A short tour\n\n```python\n(.*?)```", text, re.S)
    assert block is not None
    script = tmp_path / "tour.py"
    script.write_text(block.group(1))
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    # Unconfigured, structlog prints the lifecycle events to stdout as well.
    assert "15" in result.stdout.splitlines()
