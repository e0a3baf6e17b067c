"""supervise's pytest plugin, registered by entry point (as anyio's is): the ``start_tree`` fixture.

::

    async def test_counter(start_tree: TreeStarter) -> None:
        tree = await start_tree(SPEC)  # started in this test's own task
        ...                            # stopped at teardown, in reverse start order

A tree entered with ``async with`` in an async fixture that yields fails at
teardown under pytest-asyncio ("Attempted to exit cancel scope in a different
task"): the fixture's setup and teardown run in different tasks. This fixture
starts the tree from the test's own task and stops it at teardown without a
cancel scope, so nothing straddles the two tasks (see `supervise.testing.TreeStarter`).

The fixture is a pytest-asyncio fixture when pytest-asyncio is installed (so it
works in its strict and auto modes, on the test's loop); otherwise a plain async
fixture, which anyio's pytest plugin runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from .testing import TreeStarter

_async_fixture: Callable[..., Any]
try:
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - pytest-asyncio is in the dev extra
    _async_fixture = pytest.fixture


@_async_fixture
async def start_tree() -> AsyncIterator[TreeStarter]:
    """``tree = await start_tree(spec_or_file)``: a running tree, stopped at teardown.

    Takes what `supervise.testing.open_test_tree` takes: a spec, a dict, or a
    YAML/JSON file or text. A root that gave up, unless ``await tree.wait()``
    raised it in the test, fails the test at teardown.
    """
    starter = TreeStarter()
    try:
        yield starter
    finally:
        await starter.aclose()
