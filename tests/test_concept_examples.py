"""Each concept page in docs/ has a runnable example that crashes and heals; run them all.

The examples sleep in real time when run by hand; here they run on the virtual
clock, so they take milliseconds and their timing is exact.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from supervise.testing import EventLog, capture_events, virtual_clock_loop_factory

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"

#: docs page -> the example it runs.
PAGES = {
    "actors.md": "heal.py",
    "supervisors.md": "supervisors.py",
    "tasks.md": "background_task.py",
    "timers.md": "timers.py",
    "monitors.md": "monitors.py",
    "testing.md": "../tests/test_testing_example.py",
}


def load_example(name: str) -> ModuleType:
    path = EXAMPLES / name
    module_name = f"example_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # pydantic resolves the models' annotations here
    spec.loader.exec_module(module)
    return module


def run_virtual(
    main: Callable[[], Coroutine[Any, Any, Any]],
    also: Callable[[EventLog], Coroutine[Any, Any, Any]] | None = None,
) -> tuple[EventLog, Any, Any]:
    """Run ``main()`` (and ``also(events)`` beside it) on a virtual clock, capturing events."""

    async def both(events: EventLog) -> tuple[Any, Any]:
        side = asyncio.ensure_future(also(events)) if also is not None else None
        result = await main()
        return result, (await side if side is not None else None)

    with (
        capture_events() as events,
        asyncio.Runner(loop_factory=virtual_clock_loop_factory()) as runner,
    ):
        result, side = runner.run(both(events))
    return events, result, side


@pytest.mark.parametrize(("page", "example"), PAGES.items())
def test_each_concept_page_shows_its_example(page: str, example: str) -> None:
    """The page exists, names its example file, and says how to run it."""
    text = (DOCS / page).read_text()
    shown = example.removeprefix("../")
    assert shown in text, f"docs/{page} must point at {shown}"
    assert text.startswith("# "), page


def test_the_testing_page_shows_the_example_test_as_it_is() -> None:
    """docs/testing.md quotes tests/test_testing_example.py verbatim, so it cannot go stale."""
    text = (DOCS / "testing.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    source = (ROOT / "tests" / "test_testing_example.py").read_text()
    assert source in blocks


def test_actors_example_heals() -> None:
    """heal.py: the divider crashes on zero, is restarted, and answers again."""
    heal = load_example("heal.py")
    events, _, _ = run_virtual(lambda: heal.main(rounds=3))
    crashes = events.of("actor_crashed", actor="demo/divider")
    assert crashes
    assert {e["exc_type"] for e in crashes} == {"ZeroDivisionError"}
    assert len(events.of("actor_restarted", actor="demo/divider")) == len(crashes)


def test_supervisors_example_restarts_the_rest_in_order() -> None:
    """supervisors.py: db crashes; api and cache stop (reverse); db, cache, api start again."""
    example = load_example("supervisors.py")
    events, answer, _ = run_virtual(example.main)
    assert answer == "apples from rows for SELECT * FROM prices"
    got = events.sequence("actor_crashed", "actor_stopped", "actor_restarted")[:6]
    assert got == [
        ("actor_crashed", "shop/db"),
        ("actor_stopped", "shop/api"),
        ("actor_stopped", "shop/cache"),
        ("actor_restarted", "shop/db"),
        ("actor_restarted", "shop/cache"),
        ("actor_restarted", "shop/api"),
    ]


def test_background_task_example_backs_off_and_recovers() -> None:
    """background_task.py: three failed reads, restarts after growing delays, polling resumes."""
    example = load_example("background_task.py")

    async def restart_delays(events: EventLog) -> list[float]:
        loop = asyncio.get_running_loop()
        delays = []
        for n in (1, 2, 3):
            crashed = await events.wait_for("actor_crashed", actor="app/poller", count=n)
            assert crashed["exc_type"] == "ConnectionError"
            at = loop.time()
            await events.wait_for("actor_restarted", actor="app/poller", count=n)
            delays.append(loop.time() - at)
        return delays

    events, _, delays = run_virtual(example.main, restart_delays)
    assert 0.1 <= delays[0] < delays[1] < delays[2] <= 0.4 * 1.2  # min 0.1 s, x2, 20% jitter
    assert len(events.of("actor_crashed")) == 3
    last_restart = events.entries.index(events.of("actor_restarted")[-1])
    assert any(e["event"] == "reading" for e in events.entries[last_restart:])
    assert not events.of("restart_intensity_exceeded")


def test_timers_example_rearms_its_timers_after_the_crash() -> None:
    """timers.py: the bad reading crashes the sampler; the restarted one samples on."""
    example = load_example("timers.py")
    events, samples, _ = run_virtual(example.main)
    [crash] = events.of("actor_crashed", actor="lab/sampler")
    assert crash["exc_message"] == "impossible reading -1.0"
    assert len(events.of("actor_restarted", actor="lab/sampler")) == 1
    # Started at t=0; crashed on the 7th tick (t=0.7); 10 ticks from t=0.8 to t=1.2 ... at 1.2
    # the call races the tick, so 4 or 5 samples since the restart.
    assert samples in (4, 5)
    assert [e["samples"] for e in events.of("sampler_report")] == [3, 3]
    assert not events.of("message_dead_lettered")


def test_monitors_example_links_and_watches() -> None:
    """monitors.py: each feed drop takes the linked session down, and the guard sees it."""
    example = load_example("monitors.py")
    events, _, _ = run_virtual(example.main)
    feed_crashes = events.of("actor_crashed", actor="app/feed")
    session_crashes = events.of("actor_crashed", actor="app/session")
    seen = events.of("guard_saw_down")
    assert len(feed_crashes) == len(session_crashes) == len(seen) == 3
    assert {e["exc_type"] for e in session_crashes} == {"LinkedExit"}
    assert {(e["watched"], e["reason"]) for e in seen} == {("app/session", "crash")}
    assert all(e["detail"].startswith("LinkedExit: linked 'app/feed'") for e in seen)
    assert not events.of("actor_crashed", actor="app/guard")


#: The examples a reader runs as ``python examples/NAME.py`` (cluster_demo.py has a test of
#: its own in test_examples.py).
SCRIPTS = [
    "background_task.py",
    "heal.py",
    "monitors.py",
    "offload.py",
    "supervisors.py",
    "timers.py",
]


def test_each_example_runs_as_a_script_in_real_time() -> None:
    """`python examples/NAME.py`, as the docs say to run it: real time, the console renderer.

    The tests above run the examples on a virtual clock; a reader runs them on the real one,
    where crash tracebacks take real time to render. All start at once, so the test takes
    as long as the slowest.
    """
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(EXAMPLES / name)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in SCRIPTS
    }
    failed: dict[str, str] = {}
    for name, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        if proc.returncode != 0:
            failed[name] = out[-3000:]
    assert not failed, "\n\n".join(f"examples/{n} failed:\n{out}" for n, out in failed.items())
