"""The prometheus-client collector: scrapes from any thread, one name per tree, the extra."""

from __future__ import annotations

import subprocess
import sys

import pytest
from _support import Ping, worker

from supervise import SupervisorSpec, UsageError, open_tree

pytest.importorskip("prometheus_client")

from _scrape import get


async def test_dead_letters_are_counted_by_cause() -> None:
    """A cast to a stopped actor counts under not_running; the other causes show 0."""
    spec = SupervisorSpec(name="m-dead", children=[worker("a", restart="temporary")])
    async with open_tree(spec, http="127.0.0.1:0") as tree:
        a = tree.actor("m-dead/a")
        await tree.root.terminate_child("a")
        for _ in range(2):
            await a.cast(Ping())
        status, body = await get(tree, "/metrics")
    assert status == 200
    lines = set(body.decode().splitlines())
    assert 'supervise_dead_letters_total{cause="not_running",tree="m-dead"} 2.0' in lines
    assert 'supervise_dead_letters_total{cause="actor_stopped",tree="m-dead"} 0.0' in lines


async def test_a_scrape_on_the_loop_thread_reads_the_tree_at_once() -> None:
    """prometheus-client's registry read from inside the loop (no thread) still works."""
    from prometheus_client import REGISTRY, generate_latest

    spec = SupervisorSpec(name="m-inloop", children=[worker("a")])
    async with open_tree(spec, metrics=True):
        text = generate_latest(REGISTRY).decode()
    assert 'supervise_restarts_total{path="m-inloop/a"} 0.0' in text.splitlines()
    # Once the tree has stopped it is no longer reported.
    assert "m-inloop" not in generate_latest(REGISTRY).decode()


async def test_two_running_trees_of_one_name_cannot_both_export() -> None:
    """Their paths would be the same: the second is refused on entering, and says why."""
    spec = SupervisorSpec(name="m-twin", children=[worker("a")])
    async with open_tree(spec, metrics=True):
        with pytest.raises(UsageError) as caught:
            async with open_tree(spec, metrics=True):
                pass
    assert str(caught.value) == (
        "open_tree('m-twin', metrics=...): a running tree named 'm-twin' exports metrics "
        "already, and the paths would be the same; give the root supervisors different names"
    )
    async with open_tree(spec, metrics=True):  # the first has ended: the name is free
        pass


def test_without_the_extra_metrics_are_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """prometheus-client missing: a UsageError that says which extra to install."""
    for name in list(sys.modules):
        if name.partition(".")[0] == "prometheus_client":
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "supervise._prometheus", raising=False)
    spec = SupervisorSpec(name="m-extra", children=[worker("a")])
    for option, kwargs in (("metrics", {"metrics": True}), ("http", {"http": "127.0.0.1:0"})):
        with pytest.raises(UsageError) as caught:
            open_tree(spec, **kwargs)
        assert str(caught.value) == (
            f"open_tree(..., {option}=...): Prometheus metrics need the prometheus-client "
            "package, which is not installed; pip install 'supervise[metrics]'"
        )


def test_a_tree_without_metrics_imports_no_prometheus_client() -> None:
    """Nothing of the extra is imported, nor the endpoint, unless metrics are asked for."""
    code = (
        "import asyncio, sys\n"
        "from supervise import SupervisorSpec, open_tree\n"
        "async def main():\n"
        "    async with open_tree(SupervisorSpec(name='r', children=[])):\n"
        "        pass\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if 'prometheus' in m or m == 'supervise._http'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.splitlines()[-1] == "[]"
