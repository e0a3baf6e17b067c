"""Chaos: many actors under call and cast load while random actors crash or are killed.

The guarantees checked, whatever the interleaving:

- every call ends with exactly one outcome: its reply, or an error that says
  the actor was not there (never a hang, never a reply and an error);
- every cast accepted by the sender is handled exactly once or dead-lettered,
  never both and never lost;
- the tree heals: once the faults stop, every child runs and answers;
- nothing leaks: the loop's tasks and the runtime's live objects are back to
  their baseline, and the shutdown ends within the children's timeouts.

A short run in CI (``SUPERVISE_CHAOS_SECONDS``, default 2); set it higher for a
soak run, ``SUPERVISE_CHAOS_ACTORS`` (per group, default 6) for a bigger tree, and
``SUPERVISE_CHAOS_SEED`` to replay one.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel

from supervise import (
    Actor,
    ActorExitedError,
    ActorNotRunningError,
    ActorRef,
    CallFailedError,
    CallTimeoutError,
    ChildSpec,
    ChildState,
    DynamicSupervisorSpec,
    MailboxFull,
    MailboxSpec,
    Strategy,
    SupervisorRef,
    SupervisorSpec,
    Tree,
    open_tree,
)
from supervise._mailbox import Mailbox
from supervise._process import ActorProcess, Call, Process
from supervise._shutdown import KILL_GRACE_SECONDS
from supervise.testing import EventLog

CHAOS_SECONDS = float(os.environ.get("SUPERVISE_CHAOS_SECONDS", "2"))
#: Actors in each group of the tree (there are six groups).
PER_GROUP = int(os.environ.get("SUPERVISE_CHAOS_ACTORS", "6"))
SEED = int(os.environ.get("SUPERVISE_CHAOS_SEED", random.randrange(2**32)))
CLIENTS = 16
#: Each worker's graceful-stop bound; the tree's shutdown must end within their sum.
SHUTDOWN_SECONDS = 2.0


class Work(BaseModel, frozen=True):
    id: int


class Ask(BaseModel, frozen=True):
    id: int
    #: Seconds the handler takes (longer than a short call timeout).
    seconds: float = 0.0


class Boom(BaseModel, frozen=True):
    pass


@dataclass
class Ledger:
    """What the actors did, across incarnations (test bookkeeping only)."""

    handled: list[int] = field(default_factory=list)


LEDGER = Ledger()


class Chaotic(Actor[Work | Ask | Boom]):
    """Records each cast it takes, answers calls, crashes on Boom; yields now and then."""

    async def handle(self, msg: Work | Ask | Boom) -> int | None:
        match msg:
            case Work(id=i):
                LEDGER.handled.append(i)  # before any await: a kill cannot come in between
                if i % 5 == 0:
                    await asyncio.sleep(0)  # a kill may land mid-handler
            case Ask(id=i, seconds=seconds):
                if seconds:
                    await asyncio.sleep(seconds)
                elif i % 3 == 0:
                    await asyncio.sleep(0)
                return i
            case Boom():
                raise ValueError("chaos")
        return None


def chaos_tree(per_group: int) -> SupervisorSpec:
    def workers(prefix: str, **fields: Any) -> list[ChildSpec]:
        return [
            ChildSpec(name=f"{prefix}{i}", actor=Chaotic, shutdown=SHUTDOWN_SECONDS, **fields)
            for i in range(per_group)
        ]

    intensity = {"max_restarts": 1_000_000, "max_seconds": 1}
    return SupervisorSpec(
        name="root",
        **intensity,
        children=[
            SupervisorSpec(
                name="ofo", strategy=Strategy.ONE_FOR_ONE, **intensity, children=workers("w")
            ),
            SupervisorSpec(
                name="ofa", strategy=Strategy.ONE_FOR_ALL, **intensity, children=workers("w")
            ),
            SupervisorSpec(
                name="rfo",
                strategy=Strategy.REST_FOR_ONE,
                **intensity,
                # Small mailboxes: senders wait for room, and are released by a crash.
                children=workers("w", mailbox=MailboxSpec(capacity=4)),
            ),
            # Gives up under the faults, again and again: the root restarts it,
            # and refs to its children stay valid across those subtree restarts.
            SupervisorSpec(name="fragile", max_restarts=3, max_seconds=1, children=workers("w")),
            DynamicSupervisorSpec(
                name="pool",
                **intensity,
                child=ChildSpec(name="w", actor=Chaotic, shutdown=SHUTDOWN_SECONDS),
            ),
            *workers("solo"),
        ],
    )


SUPERVISORS = ("root", "root/ofo", "root/ofa", "root/rfo", "root/fragile", "root/pool")


def actor_paths(spec: SupervisorSpec, prefix: str = "") -> list[str]:
    paths = []
    for child in spec.children:
        path = f"{prefix}{spec.name}/{child.name}"
        if isinstance(child, SupervisorSpec):
            paths += actor_paths(child, f"{prefix}{spec.name}/")
        elif isinstance(child, DynamicSupervisorSpec):
            paths += [f"{path}/w-{i}" for i in range(1, PER_GROUP + 1)]
        else:
            paths.append(path)
    return paths


def live(kind: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is kind or isinstance(o, kind))


@dataclass
class Tally:
    """Outcomes seen by the clients."""

    sent_casts: set[int] = field(default_factory=set)
    replies: dict[int, int] = field(default_factory=dict)
    #: The error type only: an exception's traceback would keep the call's frame alive.
    exited: dict[int, type[ActorExitedError]] = field(default_factory=dict)
    not_running: set[int] = field(default_factory=set)
    timed_out: set[int] = field(default_factory=set)
    outcomes: collections.Counter[int] = field(default_factory=collections.Counter)
    calls_made: int = 0


async def client(
    refs: list[ActorRef[Any]], rng: random.Random, ids: Any, tally: Tally, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        ref = rng.choice(refs)
        i = next(ids)
        if rng.random() < 0.5:
            await ref.cast(Work(id=i))  # returns once queued or dead-lettered
            tally.sent_casts.add(i)
            await asyncio.sleep(0)
            continue
        tally.calls_made += 1
        # Now and then a call that times out: its late reply must be dropped.
        slow = rng.random() < 0.05
        try:
            if slow:
                reply = await ref.call(Ask(id=i, seconds=0.01), timeout=0.002)
            else:
                reply = await ref.call(Ask(id=i), timeout=30)
        except CallTimeoutError:
            tally.timed_out.add(i)
        except ActorNotRunningError:
            tally.not_running.add(i)
        except ActorExitedError as exc:
            tally.exited[i] = type(exc)
        else:
            tally.replies[i] = reply
        tally.outcomes[i] += 1


async def chaos(refs: list[ActorRef[Any]], rng: random.Random, stop: asyncio.Event) -> int:
    faults = 0
    while not stop.is_set():
        ref = rng.choice(refs)
        if rng.random() < 0.5:
            try:
                ref.cast_nowait(Boom())
            except MailboxFull:
                continue  # a small mailbox is full: no fault this time
        else:
            ref.kill()
        faults += 1
        for _ in range(rng.randrange(1, 20)):
            await asyncio.sleep(0)
    return faults


async def all_running(tree: Tree) -> bool:
    for path in SUPERVISORS:
        ref = tree.whereis(path)
        assert isinstance(ref, SupervisorRef)
        if any(c.state is not ChildState.RUNNING for c in await ref.which_children()):
            return False
    return True


@pytest.mark.timeout(CHAOS_SECONDS + 120)
async def test_chaos_keeps_every_guarantee(events: EventLog) -> None:
    """Calls and casts under random crashes and kills: no outcome lost, tree heals, no leak."""
    print(f"chaos: SUPERVISE_CHAOS_SEED={SEED} SUPERVISE_CHAOS_SECONDS={CHAOS_SECONDS}")
    rng = random.Random(SEED)
    LEDGER.handled = []
    loop = asyncio.get_running_loop()
    baseline_tasks = len(asyncio.all_tasks())
    baseline = {kind: live(kind) for kind in (Process, Mailbox, Call)}
    spec = chaos_tree(PER_GROUP)
    paths = actor_paths(spec)
    tally = Tally()
    ids = iter(range(10**12))
    stop_faults, stop_load = asyncio.Event(), asyncio.Event()

    async with open_tree(spec) as tree:
        tree.dead_letters.recent = collections.deque()  # keep them all, to account for each
        pool = tree.whereis("root/pool")
        assert isinstance(pool, SupervisorRef)
        for _ in range(PER_GROUP):
            await pool.start_child()
        refs = [tree.whereis(p) for p in paths]
        actors: list[ActorRef[Any]] = [r for r in refs if isinstance(r, ActorRef)]
        assert len(actors) == len(paths)
        clients = [
            asyncio.create_task(client(actors, random.Random(rng.random()), ids, tally, stop_load))
            for _ in range(CLIENTS)
        ]
        faulting = asyncio.create_task(chaos(actors, random.Random(rng.random()), stop_faults))
        await asyncio.sleep(CHAOS_SECONDS)  # the soak itself: load and faults for this long
        stop_faults.set()
        faults = await faulting
        await asyncio.sleep(CHAOS_SECONDS / 10)  # load without faults: the tree serves again
        stop_load.set()
        done, pending = await asyncio.wait(clients, timeout=60)
        assert not pending, f"seed {SEED}: {len(pending)} clients hung on a call or cast"
        for task in done:
            task.result()

        # The tree heals: every child runs again and answers.
        async with asyncio.timeout(30):
            while not await all_running(tree):
                await asyncio.sleep(0.01)
        for ref in actors:
            assert await ref.call(Ask(id=-1)) == -1  # also: every cast queued earlier is handled
        for entry in events.entries:
            # The captured crashes hold their exceptions, whose tracebacks hold
            # the ended incarnations' frames: the test's log, not the runtime.
            entry.pop("exc_info", None)
        assert live(ActorProcess) == len(actors), "ended incarnations are still alive"

        # Calls: exactly one outcome each; a reply is the right one; no handler failed.
        assert sum(tally.outcomes.values()) == tally.calls_made
        assert set(tally.outcomes.values()) <= {1}
        assert all(reply == i for i, reply in tally.replies.items())
        assert CallFailedError not in set(tally.exited.values())
        dead = list(tree.dead_letters.recent)
        dead_calls = {d.message.id for d in dead if isinstance(d.message, Ask)}
        assert dead_calls <= set(tally.exited) | tally.timed_out, "a dead-lettered call got a reply"

        # Casts: each accepted one handled exactly once or dead-lettered, never both.
        handled = LEDGER.handled
        dead_casts = [d.message.id for d in dead if isinstance(d.message, Work)]
        assert len(handled) == len(set(handled)), "a cast was handled twice"
        assert len(dead_casts) == len(set(dead_casts)), "a cast was dead-lettered twice"
        assert not set(handled) & set(dead_casts), "a cast was handled and dead-lettered"
        assert set(handled) | set(dead_casts) == tally.sent_casts, "a cast vanished"
        assert tree.dead_letters.count == len(dead)

        # Enough happened for the run to mean something.
        assert faults > 10
        assert len(tally.replies) > 10
        assert tally.exited
        assert tally.timed_out
        assert dead_casts
        assert events.of("restart_intensity_exceeded", supervisor="root/fragile")
        shutdown_from = len(events.entries)
        stopping_at = loop.time()

    # Bounded shutdown: every worker stops gracefully, well within its timeout.
    elapsed = loop.time() - stopping_at
    assert elapsed < len(actors) * SHUTDOWN_SECONDS + KILL_GRACE_SECONDS
    final = events.entries[shutdown_from:]
    assert not [e for e in final if e["event"] in ("actor_killed", "actor_abandoned")]
    assert sum(e["event"] == "actor_stopped" for e in final) == len(actors) + len(SUPERVISORS) - 1

    # Nothing left behind: tasks, processes, mailboxes and call envelopes.
    del tree, pool, refs, ref, actors, clients, task, faulting, done, pending, dead
    assert len(asyncio.all_tasks()) == baseline_tasks
    assert {kind: live(kind) for kind in baseline} == baseline
