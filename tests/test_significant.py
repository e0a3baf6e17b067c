"""Significant children and ``auto_shutdown`` (OTP 24+).

Modelled on supervisor_SUITE's ``significant`` group (nonsignificant_temporary,
nonsignificant_transient, significant_temporary, significant_transient,
significant_simple, significant_bystander, significant_escalation), the flag and
child-spec checks of ``sup_flags`` / ``child_specs_map``, and
../shared/docs/otp-semantics.md §2.4 and edge case 32.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _support import Crash, Ping, StopSelf, worker

from supervise import (
    AutoShutdown,
    ChildSpec,
    ChildState,
    DynamicSupervisorSpec,
    SpecError,
    SupervisorRef,
    SupervisorSpec,
    TaskSpec,
    TreeFileError,
    load_tree_text,
    open_tree,
)
from supervise.testing import EventLog


async def rows(sup: SupervisorRef) -> list[tuple[str, ChildState]]:
    return [(c.name, c.state) for c in await sup.which_children()]


def group(auto_shutdown: str, *children: ChildSpec | TaskSpec, **fields: Any) -> SupervisorSpec:
    """A transient group under the root, so that its own end is visible and not restarted."""
    return SupervisorSpec(
        name="group",
        restart="transient",
        auto_shutdown=auto_shutdown,
        children=list(children),
        **fields,
    )


def rooted(sub: SupervisorSpec) -> SupervisorSpec:
    return SupervisorSpec(name="root", children=[worker("keeper"), sub])


# -- the spec: OTP's bad combinations ----------------------------------------------------


def test_defaults_are_otps() -> None:
    """OTP's defaults: significant false, auto_shutdown never."""
    assert worker("w").significant is False
    assert SupervisorSpec(name="s").auto_shutdown is AutoShutdown.NEVER
    spec = SupervisorSpec(name="s", auto_shutdown="all_significant")
    assert spec.auto_shutdown is AutoShutdown.ALL_SIGNIFICANT


def test_a_permanent_child_cannot_be_significant() -> None:
    """child_specs_map: ``{bad_combination, [{restart, permanent}, {significant, true}]}``."""
    with pytest.raises(SpecError, match=r"significant: a permanent child cannot be significant"):
        worker("w", significant=True)
    with pytest.raises(SpecError, match=r"significant: a permanent child"):
        SupervisorSpec(name="s", significant=True)
    assert worker("w", restart="transient", significant=True).significant is True


def test_significant_needs_an_auto_shutdown() -> None:
    """child_specs_map: ``{bad_combination, [{auto_shutdown, never}, {significant, true}]}``."""
    child = worker("b", restart="temporary", significant=True)
    with pytest.raises(
        SpecError, match=r"children\[1\]\.significant \('b'\): .*auto_shutdown is never"
    ):
        SupervisorSpec(name="s", children=[worker("a"), child])
    with pytest.raises(SpecError, match=r"auto_shutdown: Input should be 'never'"):
        SupervisorSpec(name="s", auto_shutdown="sometimes")
    assert SupervisorSpec(name="s", auto_shutdown="any_significant", children=[child])


def test_a_dynamic_supervisor_has_no_significant_children() -> None:
    """significant_simple: simple_one_for_one refuses any auto_shutdown but never."""
    child = worker("b", restart="temporary", significant=True)
    with pytest.raises(SpecError, match=r"child\.significant: a dynamic supervisor's child"):
        DynamicSupervisorSpec(name="d", child=child)
    with pytest.raises(SpecError, match=r"children\[0\]\.significant \('b'\): a dynamic"):
        DynamicSupervisorSpec(name="d", children=[child])
    with pytest.raises(SpecError, match="unknown field"):
        DynamicSupervisorSpec(name="d", auto_shutdown="any_significant")  # type: ignore[call-arg]


async def test_start_child_checks_significant_against_the_supervisor() -> None:
    """supervisor:start_child checks the spec against the supervisor's auto_shutdown too."""
    child = worker("b", restart="temporary", significant=True)
    spec = SupervisorSpec(name="root", children=[group("any_significant", worker("a"))])
    async with open_tree(spec) as tree:
        with pytest.raises(SpecError, match=r"start_child on root: b\.significant: .*never"):
            await tree.root.start_child(child)
        assert await tree.supervisor("root/group").start_child(child) is not None
    async with open_tree(DynamicSupervisorSpec(name="dyn")) as tree:
        with pytest.raises(SpecError, match=r"b\.significant: a dynamic supervisor's child"):
            await tree.root.start_child(child)


def test_tree_files_know_significant_and_auto_shutdown() -> None:
    """The loader takes both fields, and points at each bad combination with its position."""
    spec = load_tree_text(
        """
name: root
auto_shutdown: all_significant
children:
  - {name: job, actor: "_support:Plain", restart: transient, significant: true}
"""
    )
    assert isinstance(spec, SupervisorSpec)
    assert spec.auto_shutdown is AutoShutdown.ALL_SIGNIFICANT
    assert spec.children[0].significant is True
    with pytest.raises(TreeFileError) as bad:
        load_tree_text(
            """
name: root
children:
  - {name: a, actor: "_support:Plain", restart: temporary, significant: true}
  - kind: supervisor
    name: sub
    auto_shutdown: any_significant
    children:
      - {name: b, actor: "_support:Plain", significant: true}
"""
        )
    assert [(p.line, p.path, p.message[:39]) for p in bad.value.problems] == [
        (4, "children[0].significant", "significant, but its supervisor's auto_"),
        (9, "children[1].children[0].significant", "a permanent child cannot be significant"),
    ]


# -- run time ------------------------------------------------------------------------


async def job(gate: asyncio.Event) -> None:
    await gate.wait()


@pytest.mark.parametrize("restart", ["temporary", "transient"])
async def test_a_non_significant_child_ending_stops_nothing(events: EventLog, restart: str) -> None:
    """supervisor_SUITE nonsignificant_temporary / nonsignificant_transient."""
    gate = asyncio.Event()
    sub = group(
        "any_significant",
        TaskSpec(name="job", task=job, args=[gate], restart=restart),
        worker("w", restart="transient", significant=True),
    )
    async with open_tree(rooted(sub)) as tree:
        gate.set()
        await events.wait_for("actor_stopped", actor="root/group/job")
        kept = [("job", ChildState.STOPPED)] if restart == "transient" else []
        assert await rows(tree.supervisor("root/group")) == [*kept, ("w", ChildState.RUNNING)]
    auto = events.of("supervisor_stopped", supervisor="root/group", reason_detail="auto_shutdown")
    assert auto == []


@pytest.mark.parametrize("end", ["normal", "crash"])
async def test_a_significant_temporary_child_ending_any_way_stops_the_supervisor(
    events: EventLog, end: str
) -> None:
    """supervisor_SUITE significant_temporary: the supervisor terminates its other children in
    reverse order and exits ``shutdown``; its transient entry is then left stopped."""
    sub = group(
        "any_significant",
        worker("first"),
        worker("job", restart="temporary", significant=True),
        worker("last"),
    )
    async with open_tree(rooted(sub)) as tree:
        job_ref = tree.actor("root/group/job")
        await job_ref.cast(StopSelf() if end == "normal" else Crash())
        stopped = await events.wait_for("supervisor_stopped", supervisor="root/group")
        assert (stopped["reason"], stopped["reason_detail"]) == ("shutdown", "auto_shutdown")
        assert await rows(tree.root) == [
            ("keeper", ChildState.RUNNING),
            ("group", ChildState.STOPPED),
        ]
    ends = events.sequence("actor_stopped", "actor_crashed")
    assert ends[:4] == [
        ("actor_stopped" if end == "normal" else "actor_crashed", "root/group/job"),
        ("actor_stopped", "root/group/last"),
        ("actor_stopped", "root/group/first"),
        ("actor_stopped", "root/group"),
    ]


async def test_a_significant_transient_child_is_restarted_after_a_crash_and_stops_the_supervisor_when_it_ends(  # noqa: E501
    events: EventLog,
) -> None:
    """supervisor_SUITE significant_transient [V:22]: a crash restarts it; ``normal`` (or
    ``{shutdown, _}``) ends the supervisor."""
    sub = group("any_significant", worker("job", restart="transient", significant=True))
    async with open_tree(rooted(sub)) as tree:
        job_ref = tree.actor("root/group/job")
        await job_ref.cast(Crash())
        await events.wait_for("actor_started", actor="root/group/job", incarnation=2)
        assert tree.supervisor("root/group").is_running
        await job_ref.cast(StopSelf(detail="done"))  # {shutdown, done}
        stopped = await events.wait_for("supervisor_stopped", supervisor="root/group")
        assert stopped["reason_detail"] == "auto_shutdown"


async def test_all_significant_waits_for_the_last_significant_child(events: EventLog) -> None:
    """otp-semantics [V:22c]: all_significant stops only once the last running significant
    child ends by itself; a restarting one still counts as alive."""
    sub = group(
        "all_significant",
        worker("a", restart="transient", significant=True),
        worker("b", restart="transient", significant=True),
        worker("other"),
    )
    async with open_tree(rooted(sub)) as tree:
        await tree.actor("root/group/a").cast(StopSelf())
        await events.wait_for("actor_stopped", actor="root/group/a")
        assert await rows(tree.supervisor("root/group")) == [
            ("a", ChildState.STOPPED),
            ("b", ChildState.RUNNING),
            ("other", ChildState.RUNNING),
        ]
        await tree.actor("root/group/b").cast(StopSelf())
        stopped = await events.wait_for("supervisor_stopped", supervisor="root/group")
        assert (stopped["reason"], stopped["reason_detail"]) == ("shutdown", "auto_shutdown")


async def test_terminations_by_the_supervisor_never_count(events: EventLog) -> None:
    """supervisor_SUITE significant_bystander [V:22b, V:46]: terminate_child of a significant
    child, and a significant sibling stopped by a one_for_all restart, stop nothing."""
    sub = group(
        "any_significant",
        worker("crasher"),
        worker("sig", restart="transient", significant=True),
        worker("tmp", restart="temporary", significant=True),
        strategy="one_for_all",
    )
    async with open_tree(rooted(sub)) as tree:
        group_ref = tree.supervisor("root/group")
        await group_ref.terminate_child("sig")
        await group_ref.restart_child("sig")
        await tree.actor("root/group/crasher").cast(Crash())  # stops sig and tmp, restarts
        await events.wait_for("actor_started", actor="root/group/sig", incarnation=3)
        assert await rows(group_ref) == [
            ("crasher", ChildState.RUNNING),
            ("sig", ChildState.RUNNING),
        ]
        assert await tree.actor("root/group/sig").call(Ping()) == "pong"
    auto = events.of("supervisor_stopped", supervisor="root/group", reason_detail="auto_shutdown")
    assert auto == []


async def test_a_significant_child_supervisor_escalates_the_shutdown(events: EventLog) -> None:
    """supervisor_SUITE significant_escalation: a significant child supervisor that shuts itself
    down is a significant child ending ``shutdown``: its parent stops too, and so on up to the
    root, and the tree ends normally."""
    inner = SupervisorSpec(
        name="inner",
        restart="transient",
        significant=True,
        auto_shutdown="any_significant",
        children=[worker("job", restart="temporary", significant=True)],
    )
    spec = SupervisorSpec(
        name="root", auto_shutdown="any_significant", children=[worker("a"), inner]
    )
    async with open_tree(spec) as tree:
        await tree.actor("root/inner/job").cast(StopSelf())
        await tree.wait()  # no error: the root ended `shutdown`
    assert events.sequence("supervisor_stopped", key="supervisor") == [
        ("supervisor_stopped", "root/inner"),
        ("supervisor_stopped", "root"),
    ]
    assert [e["reason_detail"] for e in events.of("supervisor_stopped")] == [
        "auto_shutdown",
        "auto_shutdown",
    ]
