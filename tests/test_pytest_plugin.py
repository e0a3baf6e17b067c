"""supervise's pytest plugin: the ``start_tree`` fixture, run in a pytest of its own (pytester)."""

from __future__ import annotations

import pytest
from _doc_blocks import DOCS, code_blocks

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.timeout(60)

TESTS = """
from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from supervise import Actor, ActorRef, ChildSpec, RestartIntensityExceeded, SupervisorSpec
from supervise.testing import (
    EventLog,
    TreeStarter,
    VirtualClockLoop,
    capture_events,
    inject_crash,
)

MARK = pytest.mark.asyncio  # strict mode needs it; auto mode does not mind


class Ping(BaseModel, frozen=True):
    pass


class Echo(Actor[Ping]):
    async def handle(self, msg: Ping) -> str:
        return "pong"


SPEC = SupervisorSpec(
    name="app",
    max_restarts=0,
    children=[ChildSpec(name="a", actor=Echo), ChildSpec(name="b", actor=Echo)],
)
STOPPED: list[str] = []


@pytest.fixture
def events() -> Iterator[EventLog]:
    with capture_events() as log:
        yield log
    STOPPED.extend(e["actor"] for e in log.of("actor_stopped"))


@MARK
async def test_a_tree_from_the_fixture_runs(events: EventLog, start_tree: TreeStarter) -> None:
    tree = await start_tree(SPEC)
    ref = tree.whereis("app/a")
    assert isinstance(ref, ActorRef)
    assert await ref.call(Ping()) == "pong"
    assert tree.running


def test_it_was_stopped_at_teardown_in_reverse_order() -> None:
    assert STOPPED[:2] == ["app/b", "app/a"]


@MARK
async def test_a_give_up_seen_by_the_test_passes(start_tree: TreeStarter) -> None:
    tree = await start_tree(SPEC)
    await inject_crash(tree, "app/a")
    with pytest.raises(RestartIntensityExceeded):
        await tree.wait()


@MARK
async def test_an_unseen_give_up_fails_at_teardown(start_tree: TreeStarter) -> None:
    tree = await start_tree(SPEC)
    await inject_crash(tree, "app/a")


@MARK
@pytest.mark.virtual_clock
async def test_on_the_virtual_clock(events: EventLog, start_tree: TreeStarter) -> None:
    tree = await start_tree(SPEC.model_copy(update={"max_restarts": 3}))
    assert isinstance(asyncio.get_running_loop(), VirtualClockLoop)
    await asyncio.sleep(3600)  # no real time
    await inject_crash(tree, "app/b")
    await events.wait_for("actor_started", actor="app/b", incarnation=2)


@MARK
async def test_trees_from_files_and_text_too(start_tree: TreeStarter) -> None:
    first = await start_tree("name: one\\nchildren: []\\n")
    second = await start_tree({"name": "two", "children": []})
    assert first.running and second.running
"""


# The virtual-clock recipe of docs/testing.md.
CONFTEST = """
import asyncio

import pytest

from supervise.testing import virtual_clock_loop_factory


def pytest_configure(config):
    config.addinivalue_line("markers", "virtual_clock: run on a VirtualClockLoop")


def pytest_asyncio_loop_factories(config, item):
    if item.get_closest_marker("virtual_clock") is not None:
        return {"virtual_clock": virtual_clock_loop_factory()}
    return {"asyncio": lambda: asyncio.get_event_loop_policy().new_event_loop()}
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=TESTS)
    # A pytest of its own: the plugin must load from the entry point, as for users.
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error", *args)


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_start_tree_starts_in_the_test_and_stops_at_teardown(
    pytester: pytest.Pytester, mode: str
) -> None:
    """Started in the test, stopped in reverse order at teardown; an unseen give-up errors there."""
    result = run(
        pytester,
        "-o",
        f"asyncio_mode={mode}",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "-v",
    )
    result.assert_outcomes(passed=6, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_an_unseen_give_up_fails_at_teardown ERROR*",
            "*ERROR at teardown of test_an_unseen_give_up_fails_at_teardown*",
            "*RestartIntensityExceeded: supervisor 'app' gave up: more than 0 restarts*",
        ]
    )
    result.stdout.no_fnmatch_line("*cancel scope*")


def test_the_testing_page_runs_as_a_reader_sets_it_up(pytester: pytest.Pytester) -> None:
    """docs/testing.md's tests pass in a project set up as the page says: its pytest settings
    (the ``toml`` block), its conftest.py recipe and its test blocks, each a file of its own."""
    blocks = code_blocks(DOCS / "testing.md")
    [settings] = [b.text for b in blocks if b.lang == "toml"]
    [conftest] = [b.text for b in blocks if "def pytest_asyncio_loop_factories" in b.text]
    tests = [b for b in blocks if b.lang == "python" and "\nasync def test_" in b.text]
    assert len(tests) >= 2, "the fixture example and the example test to copy"
    pytester.makefile(".toml", pyproject=settings)
    pytester.makeconftest(conftest)
    for block in tests:
        pytester.makepyfile(**{f"test_block_{block.line}": block.text})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    count = sum(block.text.count("\nasync def test_") for block in tests)
    result.assert_outcomes(passed=count)
