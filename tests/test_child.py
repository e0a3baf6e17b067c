"""A child slot: it outlives incarnations, so the refs that address it stay valid."""

from __future__ import annotations

from _support import Crash, Echo, Ping, Plain, Sleep, StopSelf, Worker, worker

from supervise import ActorRef, ChildState, DynamicSupervisorSpec, SupervisorRef, TaskRef
from supervise._child import Child
from supervise._dead_letters import DeadLetters
from supervise._registry import Registry
from supervise.spec import AnyChildSpec, ChildSpec, SupervisorSpec, TaskSpec


async def poll() -> None:
    pass


def slot(spec: AnyChildSpec) -> Child:
    return Child(spec, f"root/{spec.name}", None, Registry(), DeadLetters())


def test_each_kind_of_child_gets_its_kind_of_ref() -> None:
    """Actors get an ActorRef, tasks a TaskRef, supervisors of both kinds a SupervisorRef."""
    template = ChildSpec(name="w", actor=Plain)
    assert type(slot(template).ref) is ActorRef
    assert type(slot(TaskSpec(name="t", task=poll)).ref) is TaskRef
    assert type(slot(SupervisorSpec(name="s")).ref) is SupervisorRef
    assert type(slot(DynamicSupervisorSpec(name="d", child=template)).ref) is SupervisorRef
    assert slot(SupervisorSpec(name="s")).is_supervisor
    assert not slot(template).is_supervisor


def test_an_actor_slot_reads_its_message_declarations_once() -> None:
    """accepts, and which types are shared or copied, come from the actor class."""
    child = slot(worker("w"))
    assert child.accepts == (Ping, Crash, StopSelf, Sleep, Echo)
    assert child.share_types == Worker._share_types
    assert child.copy_types == Worker._copy_types
    assert not child.fail_when_full
    assert slot(worker("f", mailbox={"overflow": "fail"})).fail_when_full
    task = slot(TaskSpec(name="t", task=poll))
    assert (task.accepts, task.share_types, task.fail_when_full) == ((), frozenset(), False)


def test_a_new_slot_is_stopped_and_restarting_shows_until_it_runs() -> None:
    """No incarnation yet: stopped; a pending restart: restarting."""
    child = slot(worker("w"))
    before = child.state
    child.restarting = True
    assert (before, child.state, child.incarnation) == (
        ChildState.STOPPED,
        ChildState.RESTARTING,
        0,
    )


def test_adopting_keeps_the_ref_only_for_a_spec_of_the_same_kind() -> None:
    """A restarted supervisor takes over its old slots; refs survive only if their type does."""
    child = slot(worker("w"))
    ref = child.ref
    assert child.can_adopt(worker("w", restart="transient"))
    assert not child.can_adopt(TaskSpec(name="w", task=poll))
    child.restarting = True
    child.adopt(worker("w", restart="transient"), None)
    assert child.ref is ref
    assert child.spec.restart == "transient"
    assert not child.restarting
