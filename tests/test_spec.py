"""Tree specs built from Python."""

from __future__ import annotations

import random
import re

import pytest
from _support import Ping, Worker, worker
from pydantic import BaseModel, ValidationError

from supervise import (
    Actor,
    Backoff,
    ChildSpec,
    ClusterSpec,
    DynamicSupervisorSpec,
    ExitReason,
    MailboxSpec,
    OnNodedown,
    Overflow,
    Placement,
    Restart,
    SpecError,
    Strategy,
    SuperviseError,
    SupervisorSpec,
)
from supervise._behaviour import _is_immutable_model


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
    with pytest.raises(SpecError, match="stop_seconds"):
        ChildSpec(name="w", actor=Worker, args={"stop_seconds": "soon"})
    with pytest.raises(SpecError, match="cannot import module 'no_such_module'"):
        ChildSpec(name="w", actor="no_such_module:Thing")
    with pytest.raises(SpecError, match="has no attribute 'Nope'"):
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
    with pytest.raises(SpecError):
        ChildSpec(name=str(fields.pop("name", "w")), actor=Worker, **fields)


def test_a_spec_built_in_python_raises_spec_error_naming_each_field() -> None:
    """Bad values are a SpecError (a SuperviseError and a ValueError), not pydantic's error."""
    with pytest.raises(SpecError) as info:
        SupervisorSpec(
            name="root", max_restarts=-1, children=[{"name": "x", "actor": Worker, "nope": 1}]
        )
    err = info.value
    assert isinstance(err, SuperviseError)
    assert isinstance(err, ValueError)
    assert not isinstance(err, ValidationError)
    assert err.where == "SupervisorSpec(name='root')"
    assert "max_restarts: Input should be greater than or equal to 0 (got -1)" in err.problem
    assert "children[0].nope: unknown field; remove it" in err.problem
    with pytest.raises(SpecError, match=r"^ChildSpec\(name='a/b'\): name: .* \(got 'a/b'\)$"):
        ChildSpec(name="a/b", actor=Worker)
    with pytest.raises(SpecError, match=r"^ChildSpec\(\): name: Field required$"):
        ChildSpec(actor=Worker)  # type: ignore[call-arg]


def test_duplicate_sibling_names_are_rejected() -> None:
    """Sibling names must be unique (OTP: duplicate_child_name)."""
    with pytest.raises(SpecError, match="duplicate child name 'w'"):
        SupervisorSpec(name="root", children=[worker("w"), worker("w")])


def test_backoff_delay_grows_and_caps() -> None:
    """min * multiplier**(n-1), capped at max, stretched by at most `jitter`."""
    backoff = Backoff(min_seconds=0.1, max_seconds=1.0, multiplier=2.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(6)] == [0.0, 0.1, 0.2, 0.4, 0.8, 1.0]
    jittery = Backoff(min_seconds=1.0, max_seconds=10.0, jitter=0.5)
    early = {jittery.delay(2, random.Random(seed)) for seed in range(20)}
    assert all(2.0 <= d <= 3.0 for d in early)  # below the cap: stretched up to 50 %
    assert len(early) > 1
    with pytest.raises(SpecError, match="max_seconds"):
        Backoff(min_seconds=2, max_seconds=1)


def test_backoff_jitter_never_exceeds_the_cap() -> None:
    """At the cap the jitter spreads delays below max_seconds (12.0 s was seen with max 10)."""
    backoff = Backoff(min_seconds=0.1, max_seconds=10.0, jitter=0.2)
    rng = random.Random(7)
    at_cap = [backoff.delay(n, rng) for n in range(8, 40) for _ in range(50)]
    assert max(at_cap) <= 10.0
    assert min(at_cap) >= 8.0  # mirrored: at most `jitter` below the cap
    assert len(set(at_cap)) > 100  # still spread, not clamped in lockstep
    near = [backoff.delay(7, rng) for _ in range(200)]  # base 6.4: some stretches pass 10
    assert all(6.4 <= d <= 10.0 for d in near)
    narrow = Backoff(min_seconds=1.0, max_seconds=1.0, jitter=0.5)
    assert {narrow.delay(3, random.Random(seed)) for seed in range(20)} == {1.0}


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
    with pytest.raises(SpecError, match="max_children"):
        DynamicSupervisorSpec(name="pool", child=worker("w"), max_children=-1)


def test_enum_fields_take_their_words() -> None:
    """Type checkers accept the words where a spec takes an enum; reading gives the enum."""
    sup = SupervisorSpec(name="root", strategy="rest_for_one", restart="transient")
    child = ChildSpec(name="w", actor=Worker, restart="temporary", mailbox={"overflow": "fail"})
    assert sup.strategy is Strategy.REST_FOR_ONE
    assert sup.restart is Restart.TRANSIENT
    assert child.restart is Restart.TEMPORARY
    assert child.mailbox.overflow is Overflow.FAIL
    assert MailboxSpec(overflow="wait").overflow is Overflow.WAIT


class SyncHandle(Actor[Ping]):
    def handle(self, msg: Ping) -> None:  # type: ignore[override]
        pass


class SyncOnStart(Actor[Ping]):
    def on_start(self) -> None:  # type: ignore[override]
        pass

    async def handle(self, msg: Ping) -> None:
        pass


class SyncOnStop(Actor[Ping]):
    async def handle(self, msg: Ping) -> None:
        pass

    def on_stop(self, reason: ExitReason) -> None:  # type: ignore[override]
        pass


@pytest.mark.parametrize(
    ("actor", "hook"),
    [(SyncHandle, "handle"), (SyncOnStart, "on_start"), (SyncOnStop, "on_stop")],
)
def test_actor_hooks_must_be_async(actor: type[Actor[Ping]], hook: str) -> None:
    """A plain `def` hook is refused when the spec is built, naming the hook and the fix."""
    name = actor.__qualname__
    with pytest.raises(
        SpecError,
        match=rf"test_spec:{name}\.{hook} is not an async function; "
        rf"define it as `async def {hook}\(\.\.\.\)`",
    ):
        ChildSpec(name="w", actor=actor)


class NoHandle(Actor[Ping]):
    async def on_start(self) -> None:
        pass


def test_an_actor_without_handle_is_refused() -> None:
    """Every message would crash an actor that defines no handle: the spec says so at once."""
    with pytest.raises(
        SpecError,
        match=r"test_spec:NoHandle defines no `handle`, so every message would crash it; "
        r"define `async def handle\(self, msg\)`",
    ):
        ChildSpec(name="w", actor=NoHandle)


def test_placement_defaults_wait_for_a_pin_and_relocate_otherwise() -> None:
    """on_nodedown left out: a pinned child waits for its node, the others relocate."""
    assert Placement(node="b").policy is OnNodedown.WAIT
    assert Placement(prefer=["b", "c"]).policy is OnNodedown.RELOCATE
    assert Placement(labels={"gpu": "true"}).policy is OnNodedown.RELOCATE
    assert Placement(node="b", on_nodedown="stop").policy is OnNodedown.STOP
    assert Placement(prefer=["b"], on_nodedown="wait", grace=2).grace == 2.0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "placement names no node; give one of node (pin), labels or prefer (a list)"),
        (
            {"node": "b", "prefer": ["c"]},
            "placement gives both node and prefer; give exactly one of node, labels or prefer",
        ),
        ({"prefer": []}, "placement prefer is empty; list at least one node"),
        ({"prefer": ["b", "c", "b"]}, "placement prefer names 'b' twice; list each node once"),
        (
            {"labels": {}},
            "placement labels is empty; give at least one label, e.g. {gpu: 'true'}",
        ),
        (
            {"node": "b", "on_nodedown": "relocate"},
            "a child pinned to node 'b' cannot relocate: no other node is eligible; use "
            "prefer: [b, ...] or labels to allow other nodes, or on_nodedown: wait or stop",
        ),
        (
            {"labels": {"gpu": "1"}, "grace": 3},
            "grace applies only to on_nodedown: wait (this placement will relocate); "
            "remove grace or set on_nodedown: wait",
        ),
    ],
)
def test_placement_refuses_invalid_combinations(fields: dict[str, object], message: str) -> None:
    """Each invalid placement says what is wrong and what to write instead."""
    with pytest.raises(SpecError, match=rf"^Placement\(\): {re.escape(message)}$"):
        Placement(**fields)


def test_cluster_takes_one_server_or_a_list() -> None:
    """``servers`` is one URL or a list; nodedown_after is misses x heartbeat."""
    one = ClusterSpec(servers="nats://127.0.0.1:4222", node="api-1")
    assert (one.servers, one.name, one.heartbeat, one.misses) == (
        ["nats://127.0.0.1:4222"],
        "supervise",
        0.2,
        3,
    )
    two = ClusterSpec(servers=["nats://a:1", "tls://b:2"], node="n", heartbeat=0.05, misses=4)
    assert two.nodedown_after == pytest.approx(0.2)


def test_a_placed_subtree_cannot_hold_placed_children() -> None:
    """A placed subtree runs whole on one node: a placement inside it is refused."""
    inner = worker("w").model_copy(update={"placement": Placement(node="c")})
    placed = SupervisorSpec(name="s", placement=Placement(node="b"), children=[inner])
    with pytest.raises(SpecError, match=r"placement of child 'w': this child is inside 's'"):
        SupervisorSpec(name="root", children=[placed])


def test_only_the_root_has_a_cluster() -> None:
    """A cluster block below the root is refused; at the root it is kept."""
    cluster = ClusterSpec(servers="nats://127.0.0.1:4222", node="a")
    root = SupervisorSpec(name="root", cluster=cluster, children=[worker("w")])
    assert root.cluster == cluster
    nested = SupervisorSpec(name="s", cluster=cluster)
    with pytest.raises(SpecError, match=r"cluster of child 's': only the root supervisor"):
        SupervisorSpec(name="root", children=[nested])


def test_a_dynamic_template_cannot_be_placed() -> None:
    """Placing each dynamic child is refused; the dynamic supervisor itself may be placed."""
    template = worker("w").model_copy(update={"placement": Placement(node="b")})
    with pytest.raises(SpecError, match=r"template cannot be placed"):
        DynamicSupervisorSpec(name="pool", child=template)
    placed = DynamicSupervisorSpec(name="pool", child=worker("w"), placement=Placement(node="b"))
    assert placed.placement == Placement(node="b")
