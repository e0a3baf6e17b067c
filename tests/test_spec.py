"""Tree specs built from Python."""

from __future__ import annotations

import random

import pytest
from _support import Worker, worker
from pydantic import BaseModel, ValidationError

from supervise import (
    Backoff,
    ChildSpec,
    DynamicSupervisorSpec,
    Restart,
    Strategy,
    SupervisorSpec,
)
from supervise._actor import _is_immutable_model


def test_defaults_follow_elixir_and_otp() -> None:
    """max_restarts 3 in 5 s; workers 5 s shutdown, supervisors infinity; permanent."""
    sup = SupervisorSpec(name="root", children=[worker("w")])
    child = sup.children[0]
    assert (sup.strategy, sup.max_restarts, sup.max_seconds) == (Strategy.ONE_FOR_ONE, 3, 5.0)
    assert (sup.shutdown, sup.restart) == ("infinity", Restart.PERMANENT)
    assert isinstance(child, ChildSpec)
    assert (child.shutdown, child.restart, child.mailbox.capacity) == (5.0, Restart.PERMANENT, 1000)


def test_actor_by_import_path_and_config_validation() -> None:
    """`actor` takes a class or "module:Class"; args are validated into the config model."""
    spec = ChildSpec(name="w", actor="_support:Worker", args={"stop_seconds": "1.5"})
    assert spec.actor is Worker
    assert spec.config is not None
    assert spec.config.stop_seconds == 1.5  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="stop_seconds"):
        ChildSpec(name="w", actor=Worker, args={"stop_seconds": "soon"})
    with pytest.raises(ValidationError, match="cannot import module 'no_such_module'"):
        ChildSpec(name="w", actor="no_such_module:Thing")
    with pytest.raises(ValidationError, match="has no attribute 'Nope'"):
        ChildSpec(name="w", actor="_support:Nope")


@pytest.mark.parametrize(
    "fields",
    [
        {"shutdown": -1},
        {"shutdown": "later"},
        {"restart": "sometimes"},
        {"name": "a/b"},
        {"unknown": 1},
        {"mailbox": {"capacity": 0}},
    ],
)
def test_bad_child_fields_are_rejected(fields: dict[str, object]) -> None:
    """Invalid values and unknown fields are errors."""
    with pytest.raises(ValidationError):
        ChildSpec(name=str(fields.pop("name", "w")), actor=Worker, **fields)


def test_duplicate_sibling_names_are_rejected() -> None:
    """Sibling names must be unique (OTP: duplicate_child_name)."""
    with pytest.raises(ValidationError, match="duplicate child name 'w'"):
        SupervisorSpec(name="root", children=[worker("w"), worker("w")])


def test_backoff_delay_grows_and_caps() -> None:
    """min * multiplier**(n-1), capped at max, stretched by at most `jitter`."""
    backoff = Backoff(min_seconds=0.1, max_seconds=1.0, multiplier=2.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(6)] == [0.0, 0.1, 0.2, 0.4, 0.8, 1.0]
    jittery = Backoff(min_seconds=1.0, max_seconds=1.0, jitter=0.5)
    delays = {jittery.delay(3, random.Random(seed)) for seed in range(20)}
    assert all(1.0 <= d <= 1.5 for d in delays)
    assert len(delays) > 1
    with pytest.raises(ValidationError, match="max_seconds"):
        Backoff(min_seconds=2, max_seconds=1)


def test_immutable_message_detection() -> None:
    """Frozen models of immutable fields are shared; anything mutable is copied."""

    class Flat(BaseModel, frozen=True):
        a: int
        b: tuple[str, ...]
        c: str | None = None

    class Nested(BaseModel, frozen=True):
        inner: Flat

    class WithList(BaseModel, frozen=True):
        items: list[int]

    class Unfrozen(BaseModel):
        a: int

    assert _is_immutable_model(Flat)
    assert _is_immutable_model(Nested)
    assert not _is_immutable_model(WithList)
    assert not _is_immutable_model(Unfrozen)


@pytest.mark.parametrize("max_seconds", ["inf", "infinity", float("inf"), float("nan"), 0, -1])
def test_max_seconds_must_be_finite_and_positive(max_seconds: object) -> None:
    """OTP rejects an infinite period (invalid_period): the window must be a number of seconds."""
    with pytest.raises(ValidationError, match="max_seconds"):
        SupervisorSpec.model_validate({"name": "root", "max_seconds": max_seconds})
    with pytest.raises(ValidationError, match="max_seconds"):
        DynamicSupervisorSpec.model_validate(
            {"name": "pool", "child": worker("w"), "max_seconds": max_seconds}
        )


def test_max_children_zero_is_valid() -> None:
    """Elixir accepts max_children: 0 (every start is refused); negative is an error."""
    assert DynamicSupervisorSpec(name="pool", child=worker("w"), max_children=0).max_children == 0
    with pytest.raises(ValidationError, match="max_children"):
        DynamicSupervisorSpec(name="pool", child=worker("w"), max_children=-1)
