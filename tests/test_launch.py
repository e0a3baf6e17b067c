"""Launching: a child slot's next incarnation is created by one function, by its spec."""

from __future__ import annotations

from _support import Ping, Plain
from pydantic import BaseModel

from supervise import Actor, ChildSpec, DynamicSupervisorSpec, SupervisorSpec, TaskSpec
from supervise._child import Child
from supervise._dead_letters import DeadLetters
from supervise._dynamic_supervisor import DynamicSupervisor
from supervise._launch import launch
from supervise._process import ActorProcess, Process
from supervise._registry import Registry
from supervise._supervisor import Supervisor
from supervise._task import TaskProcess
from supervise.spec import AnyChildSpec


async def idle() -> None:
    pass


def slot(spec: AnyChildSpec) -> Child:
    return Child(spec, f"root/{spec.name}", None, Registry(), DeadLetters())


async def test_each_kind_of_spec_gets_its_process_created_not_started() -> None:
    """Actor, task, supervisor and dynamic supervisor: the matching process, no task yet."""
    template = ChildSpec(name="a", actor=Plain)
    cases: list[tuple[AnyChildSpec, type[Process]]] = [
        (template, ActorProcess),
        (TaskSpec(name="t", task=idle), TaskProcess),
        (SupervisorSpec(name="s"), Supervisor),
        (DynamicSupervisorSpec(name="d", child=template), DynamicSupervisor),
    ]
    for spec, kind in cases:
        process = launch(slot(spec))
        assert type(process) is kind
        assert process.task is None
        assert process.path == f"root/{spec.name}"


class Settings(BaseModel):
    tags: list[str] = []


class Configured(Actor[Ping]):
    config: Settings

    async def handle(self, msg: Ping) -> None:
        pass


class Fixed(BaseModel, frozen=True):
    size: int = 1


class FixedConfigured(Actor[Ping]):
    config: Fixed

    async def handle(self, msg: Ping) -> None:
        pass


def config_of(process: Process) -> object:
    assert isinstance(process, ActorProcess)
    assert process.actor is not None
    return process.actor.config  # type: ignore[attr-defined]


async def test_each_incarnation_gets_its_own_mutable_config() -> None:
    """A mutable config is copied per incarnation; a frozen one is shared as it is."""
    spec = ChildSpec(name="c", actor=Configured, args={"tags": ["a"]})
    child = slot(spec)
    first, second = config_of(launch(child)), config_of(launch(child))
    assert first == second == spec.config
    assert first is not spec.config
    assert second is not first
    frozen = ChildSpec(name="f", actor=FixedConfigured)
    assert config_of(launch(slot(frozen))) is frozen.config
