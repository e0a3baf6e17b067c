"""An actor class's declarations, read once when the class is defined (no runtime needed)."""

from __future__ import annotations

from typing import Generic, TypeVar

import pytest
from pydantic import BaseModel

from supervise import Actor, ChildSpec, SpecError
from supervise._behaviour import Behaviour, read_declarations

M = TypeVar("M")


class Shared(BaseModel, frozen=True):
    n: int


class Copied(BaseModel):
    items: list[int]


class Config(BaseModel, frozen=True):
    size: int = 1


def test_declarations_are_read_against_any_root_without_the_runtime() -> None:
    """A stand-in root (not `Actor`) gets the same declarations: messages, split, config."""

    class Root(Behaviour, Generic[M]):
        def __init_subclass__(cls) -> None:
            read_declarations(cls, Root)

    class Worker(Root[Shared | Copied]):
        config: Config

    assert Worker.accepts == (Shared, Copied)
    assert Worker._share_types == frozenset({Shared})
    assert Worker._copy_types == frozenset({Copied})
    assert Worker.config_model is Config


def test_an_actor_declares_its_hooks_and_a_spec_reads_only_declarations() -> None:
    """`Actor` is a Behaviour; a ChildSpec validates args against its declared config."""

    class Pool(Actor[Shared]):
        config: Config

        async def on_start(self) -> None:
            pass

        async def handle(self, msg: Shared) -> None:
            pass

    assert issubclass(Pool, Behaviour)
    assert Pool._has_on_start
    assert not Pool._has_on_stop
    spec = ChildSpec(name="p", actor=Pool, args={"size": 3})
    assert spec.config == Config(size=3)


def test_a_message_that_is_not_a_model_is_refused_when_the_class_is_defined() -> None:
    """Actor[int] is a SpecError naming the class and the fix."""
    with pytest.raises(
        SpecError, match=r"Actor\[\.\.\.\] takes pydantic models, got \[<class 'int'>\]"
    ):

        class Bad(Actor[int]):
            pass
