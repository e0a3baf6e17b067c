"""The Actor base class: what an actor can use, and when."""

from __future__ import annotations

import pytest
from _support import Ping

from supervise import Actor, ChildSpec, StartError, SupervisorSpec, UsageError, open_tree


class TooEarly(Actor[Ping]):
    def __init__(self) -> None:
        self.where = self.path  # the context is not there yet

    async def handle(self, msg: Ping) -> None:
        pass


async def test_the_context_in_init_is_a_usage_error_saying_where_it_is() -> None:
    """self.path (or ref, timers...) in __init__ fails the start: a UsageError naming on_start."""
    spec = SupervisorSpec(name="root", children=[ChildSpec(name="early", actor=TooEarly)])
    with pytest.raises(StartError) as info:
        async with open_tree(spec):
            pass
    cause = info.value.cause
    assert isinstance(cause, UsageError)
    assert str(cause) == (
        "Actor context: path, ref, registry, stop(), timers, monitors and links are set when "
        "the actor starts, not in __init__; move this code to `async def on_start(self)`"
    )
