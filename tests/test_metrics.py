"""What a tree counts for its metrics: crashes, restarts, calls, mailboxes, aggregation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _support import Crash, Ping, Sleep, until, worker

from supervise import (
    ActorRef,
    CallFailedError,
    DynamicSupervisorSpec,
    MailboxStatistics,
    MetricsOptions,
    SupervisorRef,
    SupervisorSpec,
    TaskRef,
    Tree,
    open_tree,
)
from supervise._metrics import TreeMetrics
from supervise.spec import AnyChildSpec
from supervise.testing import inject_crash

pytest.importorskip("prometheus_client")

from _scrape import paths, scrape

Ref = ActorRef[Any] | SupervisorRef | TaskRef


async def test_metrics_scraped_over_http_count_the_injected_crashes() -> None:
    """Crashes, restarts and answered calls of each actor, as scraped after the crashes."""
    spec = SupervisorSpec(name="m-crash", max_restarts=10, children=[worker("a"), worker("b")])
    async with open_tree(spec, http="127.0.0.1:0") as tree:
        a = tree.actor("m-crash/a")
        for _ in range(3):
            assert await a.call(Ping()) == "pong"
        for _ in range(2):
            await inject_crash(tree, "m-crash/a")
            await a.wait_running()
        with pytest.raises(CallFailedError):
            await a.call(Crash())
        await a.wait_running()
        assert await a.call(Ping()) == "pong"
        samples = await scrape(tree)
    assert samples["supervise_crashes_total", "m-crash/a"] == 3
    assert samples["supervise_restarts_total", "m-crash/a"] == 3
    assert samples["supervise_crashes_total", "m-crash/b"] == 0
    assert samples["supervise_restarts_total", "m-crash"] == 0
    assert samples["supervise_children", "m-crash"] == 2
    assert samples["supervise_mailbox_depth", "m-crash/a"] == 0
    # The answered calls: not the one whose handler crashed.
    assert samples["supervise_call_duration_seconds_count", "m-crash/a"] == 4
    assert samples["supervise_call_duration_seconds_bucket[+Inf]", "m-crash/a"] == 4
    # A histogram shows from the first call answered on.
    assert ("supervise_call_duration_seconds_count", "m-crash/b") not in samples
    assert 0 < samples["supervise_call_duration_seconds_sum", "m-crash/a"] < 30


NO_MAILBOX = MailboxStatistics(size=0, capacity=None, waiting_senders=0, closed=True)


async def test_mailbox_depth_is_read_when_scraped() -> None:
    """Messages queued behind a busy handler show as the actor's mailbox depth."""
    spec = SupervisorSpec(name="m-depth", children=[worker("slow")])
    async with open_tree(spec, metrics=True) as tree:
        slow = tree.actor("m-depth/slow")
        await slow.cast(Sleep(seconds=30))
        for _ in range(5):
            await slow.cast(Ping())
        await until(lambda: (slow.statistics().mailbox or NO_MAILBOX).size == 5)
        reading = await tree_metrics(tree).read()
        slow.kill()  # not a crash: that would wait for the 30 s handler to return
    row = next(r for r in reading.rows if r.path == "m-depth/slow")
    assert (row.kind, row.mailbox_depth) == ("actor", 5)


async def started(sup: SupervisorRef, spec: AnyChildSpec | None = None) -> Ref:
    """A dynamic child started from ``spec`` (the template if None), which did not ignore."""
    ref = await sup.start_child(spec)
    assert ref is not None
    return ref


def tree_metrics(tree: Tree) -> TreeMetrics:
    metrics = tree._metrics
    assert metrics is not None
    return metrics


async def test_the_children_of_a_dynamic_supervisor_are_counted_together() -> None:
    """One series for all the children, whose counts outlive the children that end."""
    pool = DynamicSupervisorSpec(name="pool", child=worker("w"), max_restarts=100)
    spec = SupervisorSpec(name="m-dyn", children=[pool])
    async with open_tree(spec, http="127.0.0.1:0") as tree:
        sup = tree.supervisor("m-dyn/pool")
        refs = [await started(sup) for _ in range(20)]
        for ref in refs:
            await ref.call(Ping())  # type: ignore[union-attr]
        for ref in refs[:5]:
            await inject_crash(tree, ref.path)
            await ref.wait_running()
        for ref in refs[:10]:  # the crashed ones among them: forgotten, not their counts
            await sup.terminate_child(ref)
        samples = await scrape(tree)
    assert paths(samples, "m-dyn/pool") == {"m-dyn/pool", "m-dyn/pool/*"}
    assert samples["supervise_crashes_total", "m-dyn/pool/*"] == 5
    assert samples["supervise_restarts_total", "m-dyn/pool/*"] == 5
    assert samples["supervise_call_duration_seconds_count", "m-dyn/pool/*"] == 20
    assert samples["supervise_mailbox_depth", "m-dyn/pool/*"] == 0
    assert samples["supervise_children", "m-dyn/pool"] == 10
    # The supervisor itself was not restarted.
    assert samples["supervise_restarts_total", "m-dyn/pool"] == 0


async def test_dynamic_children_can_be_counted_one_by_one() -> None:
    """MetricsOptions(aggregate_dynamic=False): a series per child, gone with the child."""
    pool = DynamicSupervisorSpec(name="pool", child=worker("w"))
    spec = SupervisorSpec(name="m-each", children=[pool])
    options = MetricsOptions(aggregate_dynamic=False)
    async with open_tree(spec, metrics=options, http="127.0.0.1:0") as tree:
        sup = tree.supervisor("m-each/pool")
        refs = [await started(sup) for _ in range(3)]
        await inject_crash(tree, refs[1].path)
        await refs[1].wait_running()
        await sup.terminate_child(refs[2])
        samples = await scrape(tree)
    assert paths(samples, "m-each/pool") == {"m-each/pool", "m-each/pool/w-1", "m-each/pool/w-2"}
    assert samples["supervise_crashes_total", "m-each/pool/w-2"] == 1
    assert samples["supervise_crashes_total", "m-each/pool/w-1"] == 0


async def test_the_walk_of_a_big_tree_yields_to_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scrape reads the tree in chunks between which other tasks run."""
    from supervise import _metrics

    monkeypatch.setattr(_metrics, "CHUNK", 4)
    pool = DynamicSupervisorSpec(name="pool", child=worker("w"))
    spec = SupervisorSpec(name="m-chunks", children=[worker(f"a{i}") for i in range(10)] + [pool])
    async with open_tree(spec, metrics=True) as tree:
        sup = tree.supervisor("m-chunks/pool")
        for _ in range(10):
            await sup.start_child()
        passes = 0

        async def count() -> None:
            nonlocal passes
            while True:
                passes += 1
                await asyncio.sleep(0)

        counter = asyncio.create_task(count())
        await asyncio.sleep(0)
        before = passes
        reading = await tree_metrics(tree).read()
        counter.cancel()
    assert passes - before >= 4  # 12 nodes and 10 aggregated children, 4 at a time
    assert len(reading.rows) == 13  # root, 10 actors, pool, pool/*: nothing per child


async def test_a_supervisor_under_a_dynamic_supervisor_is_counted_with_its_subtree() -> None:
    """A dynamic child that is a supervisor: its own children count into the group too."""
    pool = DynamicSupervisorSpec(name="pool", max_restarts=100)
    spec = SupervisorSpec(name="m-sub", children=[pool])
    async with open_tree(spec, http="127.0.0.1:0") as tree:
        sup = tree.supervisor("m-sub/pool")
        team = SupervisorSpec(name="team", children=[worker("x"), worker("y")])
        teams = [await started(sup, team) for _ in range(3)]
        x = tree.actor(f"{teams[0].path}/x")
        await x.call(Ping())
        await inject_crash(tree, x.path)
        await x.wait_running()
        samples = await scrape(tree)
    assert paths(samples, "m-sub/pool") == {"m-sub/pool", "m-sub/pool/*"}
    assert samples["supervise_crashes_total", "m-sub/pool/*"] == 1
    assert samples["supervise_restarts_total", "m-sub/pool/*"] == 1
    assert samples["supervise_call_duration_seconds_count", "m-sub/pool/*"] == 1
    assert samples["supervise_children", "m-sub/pool"] == 3
