"""Pure restart logic, without an event loop."""

from __future__ import annotations

import pytest

from supervise import Restart, Strategy
from supervise._reason import KILLED, NORMAL, SHUTDOWN, crash, shutdown
from supervise._strategies import RestartIntensity, restart_group, should_restart

BOOM = crash(ValueError("boom"))

# OTP's table (otp-semantics.md §2.2): exit reason x restart type -> restart?
TABLE = [
    (NORMAL, {Restart.PERMANENT: True, Restart.TRANSIENT: False, Restart.TEMPORARY: False}),
    (SHUTDOWN, {Restart.PERMANENT: True, Restart.TRANSIENT: False, Restart.TEMPORARY: False}),
    (shutdown("x"), {Restart.PERMANENT: True, Restart.TRANSIENT: False, Restart.TEMPORARY: False}),
    (KILLED, {Restart.PERMANENT: True, Restart.TRANSIENT: True, Restart.TEMPORARY: False}),
    (BOOM, {Restart.PERMANENT: True, Restart.TRANSIENT: True, Restart.TEMPORARY: False}),
]


@pytest.mark.parametrize(("reason", "expected"), TABLE, ids=lambda v: str(v))
def test_should_restart_follows_otp_table(reason: object, expected: dict[Restart, bool]) -> None:
    """permanent always; transient only after crash or killed; temporary never."""
    for restart, want in expected.items():
        assert should_restart(restart, reason) is want  # type: ignore[arg-type]


def test_normal_reasons() -> None:
    """Exactly normal and shutdown (with or without detail) are normal."""
    assert [r.is_normal for r in (NORMAL, SHUTDOWN, shutdown("x"), KILLED, BOOM)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert str(shutdown("x")) == "shutdown: x"
    assert str(BOOM) == "crash: ValueError: boom"


@pytest.mark.parametrize(
    ("strategy", "exited", "group"),
    [
        (Strategy.ONE_FOR_ONE, "c2", ["c2"]),
        (Strategy.ONE_FOR_ALL, "c2", ["c1", "c2", "c3", "c4"]),
        (Strategy.REST_FOR_ONE, "c2", ["c2", "c3", "c4"]),
        (Strategy.REST_FOR_ONE, "c4", ["c4"]),
        (Strategy.REST_FOR_ONE, "c1", ["c1", "c2", "c3", "c4"]),
    ],
)
def test_restart_group(strategy: Strategy, exited: str, group: list[str]) -> None:
    """Each strategy involves the children OTP's does, in start order."""
    assert restart_group(strategy, ["c1", "c2", "c3", "c4"], exited) == group


def test_intensity_allows_max_restarts_then_gives_up() -> None:
    """With 3 in 5 s: three restarts pass, the fourth inside the window does not."""
    window = RestartIntensity(3, 5.0)
    assert [window.add(t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, True, False]


def test_intensity_window_slides() -> None:
    """Restarts older than max_seconds stop counting (exact seconds, unlike OTP's ticks)."""
    window = RestartIntensity(1, 1.0)
    assert window.add(0.0)
    assert window.add(1.2)  # 1.2 s later: the first has left the window
    assert not window.add(2.0)  # 0.8 s after the second: two within 1 s
    assert window.in_window(2.0) == 2
    assert window.in_window(10.0) == 0


def test_intensity_zero_gives_up_at_once() -> None:
    """max_restarts=0: the first restart exceeds it."""
    assert RestartIntensity(0, 5.0).add(0.0) is False


def test_intensity_add_if_allowed_counts_only_what_it_allows() -> None:
    """add_if_allowed counts a restart within the intensity; one past it is refused, uncounted."""
    window = RestartIntensity(2, 5.0)
    assert [window.add_if_allowed(t) for t in (0.0, 1.0, 2.0)] == [True, True, False]
    assert window.in_window(2.0) == 2  # the refused one did not count
    assert window.add_if_allowed(5.5) is True  # 0.0 has left the window
    assert window.in_window(5.5) == 2
