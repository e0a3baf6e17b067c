"""DynamicSupervisor as in Elixir: any child spec, an optional template, listed children.

Modelled on Elixir's lib/elixir/test/elixir/dynamic_supervisor_test.exs; each
test names the case it follows. The last section checks how ``start_child`` runs:
inline when the supervisor is idle, queued otherwise, in order.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _support import Crash, Ping, Plain, until
from pydantic import BaseModel

from supervise import (
    Actor,
    ActorRef,
    CallFailedError,
    ChildError,
    ChildSpec,
    ChildState,
    Down,
    DynamicSupervisorSpec,
    SpecError,
    SupervisorRef,
    SupervisorSpec,
    TaskRef,
    TaskSpec,
    load_tree_text,
    open_tree,
)
from supervise.testing import EventLog


class Fragile(Actor[Ping | Crash]):
    async def handle(self, msg: Ping | Crash) -> str:
        if isinstance(msg, Crash):
            raise ValueError(msg.message)
        return "pong"


class Counted(BaseModel, frozen=True):
    value: int = 0


class Holder(Actor[Ping]):
    config: Counted

    async def handle(self, msg: Ping) -> int:
        return self.config.value


async def forever() -> None:
    await asyncio.Event().wait()


async def returns() -> None:
    return None


async def stubborn(started: asyncio.Event) -> None:
    """Ignores its first cancellation: only the shutdown timeout's kill ends it."""
    started.set()
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        await asyncio.Event().wait()


def actor_ref(ref: object) -> ActorRef[Any]:
    assert isinstance(ref, ActorRef)
    return ref


def task_ref(ref: object) -> TaskRef:
    assert isinstance(ref, TaskRef)
    return ref


def sup_ref(ref: object) -> SupervisorRef:
    assert isinstance(ref, SupervisorRef)
    return ref


async def test_start_child_accepts_any_child_spec() -> None:
    """Elixir: start_child/2 "supports new child spec" (and old ones): no template needed.

    An actor, a task and a supervisor, each named ``<spec name>-<n>``; one spec
    can be started twice (Elixir ignores ids in a DynamicSupervisor).
    """
    async with open_tree(DynamicSupervisorSpec(name="dyn")) as tree:
        worker = ChildSpec(name="w", actor=Fragile)
        one = actor_ref(await tree.root.start_child(worker))
        two = actor_ref(await tree.root.start_child(worker))
        job = task_ref(await tree.root.start_child(TaskSpec(name="job", task=forever)))
        sub = sup_ref(
            await tree.root.start_child(
                SupervisorSpec(name="sub", children=[ChildSpec(name="inner", actor=Fragile)])
            )
        )
        assert [one.path, two.path, job.path, sub.path] == [
            "dyn/w-1",
            "dyn/w-2",
            "dyn/job-3",
            "dyn/sub-4",
        ]
        assert await one.call(Ping()) == await two.call(Ping()) == "pong"
        inner = tree.actor("dyn/sub-4/inner")
        assert await inner.call(Ping()) == "pong"
        rows = await tree.root.which_children()
        assert [(r.name, r.kind) for r in rows] == [
            ("w-1", "worker"),
            ("w-2", "worker"),
            ("job-3", "task"),
            ("sub-4", "supervisor"),
        ]
        counts = await tree.root.count_children()
        assert (counts.specs, counts.active, counts.supervisors, counts.workers) == (4, 4, 1, 3)
        # A dict is a spec's fields when there is no template.
        from_dict = await tree.root.start_child({"name": "d", "actor": Fragile})
        assert from_dict is not None
        assert from_dict.path == "dyn/d-5"
        assert (await tree.root.get_childspec(from_dict)).name == "d-5"


async def test_without_a_template_start_child_needs_a_spec() -> None:
    """Elixir: start_child/2 "with invalid child spec": refused before anything starts."""
    async with open_tree(DynamicSupervisorSpec(name="dyn")) as tree:
        with pytest.raises(SpecError, match="no child template; pass a child spec"):
            await tree.root.start_child()
        with pytest.raises(SpecError, match="shutdown"):
            await tree.root.start_child({"name": "t", "task": forever, "shutdown": -1})
        assert await tree.root.which_children() == []


async def test_max_children_counts_children_of_any_kind() -> None:
    """Elixir: start_child/2 "with max_children" (and "restarting on exit children counted")."""
    spec = DynamicSupervisorSpec(name="dyn", max_children=2)
    async with open_tree(spec) as tree:
        await tree.root.start_child(TaskSpec(name="t", task=forever))
        await tree.root.start_child(SupervisorSpec(name="s"))
        with pytest.raises(ChildError) as full:
            await tree.root.start_child(ChildSpec(name="w", actor=Fragile))
        assert full.value.code == "max_children"
    with pytest.raises(SpecError, match="max_children"):
        DynamicSupervisorSpec(
            name="dyn", max_children=0, children=[TaskSpec(name="t", task=forever)]
        )


async def test_each_child_keeps_its_own_restart_type() -> None:
    """Elixir: "temporary child is not restarted regardless of reason", "transient child is
    restarted unless normal/shutdown" and "permanent child is restarted regardless of reason",
    with the three kinds side by side under one supervisor."""
    async with open_tree(DynamicSupervisorSpec(name="dyn", max_restarts=10)) as tree:
        refs = {}
        for restart in ("temporary", "transient", "permanent"):
            for end in ("normal", "crash"):
                spec = ChildSpec(name=f"{restart}-{end}", actor=Fragile, restart=restart)
                refs[restart, end] = actor_ref(await tree.root.start_child(spec))
        for (_, end), ref in refs.items():
            if end == "normal":
                await ref.stop()
            else:
                with ref.monitor() as monitor:
                    with pytest.raises(Exception, match="boom"):
                        await ref.call(Crash(message="boom"))
                    await monitor
        running = {("transient", "crash"), ("permanent", "normal"), ("permanent", "crash")}
        for key in running:
            await refs[key].wait_running()
        rows = await tree.root.which_children()
        # Children that ended for good are forgotten; the others run again.
        assert sorted(r.path for r in rows) == sorted(refs[k].path for k in running)
        assert all(r.state is ChildState.RUNNING and r.incarnation == 2 for r in rows)


async def test_shutdown_stops_each_child_within_its_own_shutdown() -> None:
    """Elixir: terminate/2 "terminates with mixed children" and "terminates children with
    expired integer shutdown": all stopped at once; brutal_kill is killed at once, a child
    that overruns its own shutdown is killed, the others end with shutdown."""
    started = asyncio.Event()
    downs: dict[str, Down] = {}
    async with open_tree(DynamicSupervisorSpec(name="dyn")) as tree:
        specs: list[TaskSpec | ChildSpec] = [
            TaskSpec(name="patient", task=forever, shutdown="infinity"),
            TaskSpec(name="brutal", task=forever, shutdown="brutal_kill"),
            TaskSpec(name="stubborn", task=stubborn, args=[started], shutdown=0.05),
            ChildSpec(name="actor", actor=Fragile, shutdown=30),
        ]
        for spec in specs:
            ref = await tree.root.start_child(spec)
            assert ref is not None
            ref.monitor(lambda down: downs.__setitem__(down.path.rpartition("/")[2], down))
        await started.wait()
    await until(lambda: len(downs) == 4)
    assert {name: down.reason for name, down in downs.items()} == {
        "patient-1": "shutdown",
        "brutal-2": "killed",
        "stubborn-3": "killed",
        "actor-4": "shutdown",
    }


async def test_terminate_child_of_a_supervisor_child(events: EventLog) -> None:
    """Elixir: terminate_child/2 "terminates child with integer shutdown", for a supervisor:
    its subtree stops in order and it is forgotten; a second terminate is not_found."""
    async with open_tree(DynamicSupervisorSpec(name="dyn")) as tree:
        sub = sup_ref(
            await tree.root.start_child(
                SupervisorSpec(
                    name="sub",
                    restart="transient",
                    children=[
                        ChildSpec(name="a", actor=Fragile),
                        ChildSpec(name="b", actor=Fragile),
                    ],
                )
            )
        )
        await tree.root.terminate_child(sub)
        assert events.sequence("actor_stopped") == [
            ("actor_stopped", "dyn/sub-1/b"),
            ("actor_stopped", "dyn/sub-1/a"),
            ("actor_stopped", "dyn/sub-1"),
        ]
        assert await tree.root.which_children() == []
        with pytest.raises(ChildError) as missing:
            await tree.root.terminate_child(sub)
        assert missing.value.code == "not_found"


async def test_a_crashing_supervisor_child_is_restarted_by_its_restart_type() -> None:
    """Elixir: "child is restarted with different values": a supervisor child that gives up
    ends with shutdown, so a permanent one is restarted and a transient one forgotten."""
    async with open_tree(DynamicSupervisorSpec(name="dyn", max_restarts=10)) as tree:
        subs = {}
        for restart in ("permanent", "transient"):
            subs[restart] = sup_ref(
                await tree.root.start_child(
                    SupervisorSpec(
                        name=restart,
                        restart=restart,
                        max_restarts=0,
                        children=[ChildSpec(name="w", actor=Fragile)],
                    )
                )
            )
        for restart, sub in subs.items():
            inner = tree.actor(f"{sub.path}/w")
            with sub.monitor() as monitor:
                with pytest.raises(Exception, match="boom"):
                    await inner.call(Crash(message="boom"))
                down = await monitor
            assert (down.reason, restart) in {("shutdown", "permanent"), ("shutdown", "transient")}
        await subs["permanent"].wait_running()
        rows = await tree.root.which_children()
        assert [(r.name, r.incarnation) for r in rows] == [("permanent-1", 2)]


async def test_the_template_is_sugar_beside_any_spec() -> None:
    """A template and explicit specs share one numbering; get_childspec shows each name."""
    spec = DynamicSupervisorSpec(name="dyn", child=ChildSpec(name="h", actor=Holder))
    async with open_tree(spec) as tree:
        plain = actor_ref(await tree.root.start_child())
        tuned = actor_ref(await tree.root.start_child({"value": 7}))
        other = actor_ref(await tree.root.start_child(ChildSpec(name="p", actor=Plain)))
        assert [plain.path, tuned.path, other.path] == ["dyn/h-1", "dyn/h-2", "dyn/p-3"]
        assert (await plain.call(Ping()), await tuned.call(Ping())) == (0, 7)
        assert (await tree.root.get_childspec(plain)).name == "h-1"
        assert (await tree.root.get_childspec(other)).name == "p-3"


TREE_FILE = """
name: root
children:
  - kind: dynamic_supervisor
    name: jobs
    max_children: 3
    child: {name: job, task: "test_dynamic_supervisor:forever"}
    children:
      - {name: worker, actor: "test_dynamic_supervisor:Fragile", restart: transient}
      - kind: supervisor
        name: group
        children:
          - {name: inner, actor: "test_dynamic_supervisor:Fragile"}
"""


async def test_listed_children_start_from_a_tree_file() -> None:
    """A dynamic supervisor with initial children in a tree file: started in order, named
    as start_child names them, counted against max_children; the template follows."""
    spec = load_tree_text(TREE_FILE)
    async with open_tree(spec) as tree:
        jobs = tree.supervisor("root/jobs")
        rows = await jobs.which_children()
        assert [(r.name, r.kind, r.restart) for r in rows] == [
            ("worker-1", "worker", "transient"),
            ("group-2", "supervisor", "permanent"),
        ]
        assert await tree.actor("root/jobs/group-2/inner").call(Ping()) == "pong"
        job = await jobs.start_child()
        assert job is not None
        assert job.path == "root/jobs/job-3"
        with pytest.raises(ChildError) as full:
            await jobs.start_child()
        assert full.value.code == "max_children"
        # A restart of the dynamic supervisor starts its listed children again, same names.
        worker = tree.actor("root/jobs/worker-1")
        jobs.kill()
        await jobs.wait_down()
        await worker.wait_running()
        assert await worker.call(Ping()) == "pong"
        assert [r.name for r in await jobs.which_children()] == ["worker-1", "group-2"]


# -- start_child: inline when the supervisor is idle, queued otherwise, in order --------


class Slow(Actor[Ping]):
    """Has an on_start: its start must be waited for."""

    async def on_start(self) -> None:
        await asyncio.sleep(0)

    async def handle(self, msg: Ping) -> str:
        return "pong"


class Setting(BaseModel, frozen=True):
    value: int = 1


class Configured(Actor[Ping]):
    config: Setting

    async def handle(self, msg: Ping) -> int:
        return self.config.value


def pool(actor: type[Actor[Any]], name: str = "a", **fields: Any) -> DynamicSupervisorSpec:
    return DynamicSupervisorSpec(
        name="pool", max_restarts=10, child=ChildSpec(name=name, actor=actor, **fields)
    )


async def test_idle_pool_starts_children_in_the_callers_task() -> None:
    """Without on_start, start_child on an idle pool returns at once, without yielding."""
    async with open_tree(pool(Fragile)) as tree:
        ran = asyncio.Event()
        other = asyncio.ensure_future(asyncio.sleep(0))
        other.add_done_callback(lambda _: ran.set())
        refs = [actor_ref(await tree.root.start_child()) for _ in range(3)]
        assert not ran.is_set()  # the loop never ran anything else meanwhile
        assert [r.path for r in refs] == ["pool/a-1", "pool/a-2", "pool/a-3"]
        assert all(r.is_running for r in refs)
        assert [await r.call(Ping()) for r in refs] == ["pong"] * 3
        await other


async def test_on_start_goes_through_the_inbox() -> None:
    """A template with on_start is started by the supervisor, and the caller waits for it."""
    async with open_tree(pool(Slow)) as tree:
        ran = asyncio.Event()
        other = asyncio.ensure_future(asyncio.sleep(0))
        other.add_done_callback(lambda _: ran.set())
        ref = actor_ref(await tree.root.start_child())
        assert ran.is_set()
        assert await ref.call(Ping()) == "pong"


async def test_a_queued_exit_is_handled_before_a_later_start(events: EventLog) -> None:
    """An exit already in the inbox is handled first: the restart precedes the new start."""
    async with open_tree(pool(Fragile)) as tree:
        one = actor_ref(await tree.root.start_child())
        with pytest.raises(CallFailedError):
            await one.call(Crash())
        # one's exit is queued and the supervisor has not run yet: this start must wait.
        two = actor_ref(await tree.root.start_child())
        assert two.path == "pool/a-2"
        assert events.sequence("actor_restarted", "actor_started") == [
            ("actor_started", "pool/a-1"),
            ("actor_restarted", "pool/a-1"),
            ("actor_started", "pool/a-1"),
            ("actor_started", "pool/a-2"),
        ]


async def test_children_share_the_template_but_keep_their_names() -> None:
    """Rows, restarts and args behave as if each child had its own spec."""
    async with open_tree(pool(Configured)) as tree:
        plain = actor_ref(await tree.root.start_child())
        tuned = actor_ref(await tree.root.start_child({"value": 7}))
        assert (await plain.call(Ping()), await tuned.call(Ping())) == (1, 7)
        rows = await tree.root.which_children()
        assert [(r.name, r.path, r.ref) for r in rows] == [
            ("a-1", "pool/a-1", plain),
            ("a-2", "pool/a-2", tuned),
        ]
        with pytest.raises(SpecError, match="value"):
            await tree.root.start_child({"value": "many"})
        await tree.root.terminate_child(plain)
        assert [r.name for r in await tree.root.which_children()] == ["a-2"]


async def test_a_generated_name_past_the_limit_is_still_refused() -> None:
    """The template's name plus ``-n`` must still fit the 200-character name limit."""
    async with open_tree(pool(Fragile, name="x" * 199)) as tree:
        with pytest.raises(SpecError, match="at most 200 characters"):
            await tree.root.start_child()
