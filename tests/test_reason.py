"""Exit reasons: the shortcut constructors build the same values as ExitReason(...)."""

from __future__ import annotations

import dataclasses

import pytest

from supervise import ExitKind, ExitReason
from supervise._reason import crash, killed, shutdown


def test_shortcuts_equal_the_dataclass_constructor() -> None:
    """crash/killed/shutdown give frozen reasons equal (and hashing equal) to the constructor's."""
    exc = ValueError("boom")
    pairs = [
        (crash(exc), ExitReason(ExitKind.CRASH, exception=exc)),
        (killed("brutal_kill"), ExitReason(ExitKind.KILLED, detail="brutal_kill")),
        (shutdown("maintenance"), ExitReason(ExitKind.SHUTDOWN, detail="maintenance")),
    ]
    for made, expected in pairs:
        assert made == expected
        assert hash(made) == hash(expected)
        assert repr(made) == repr(expected)
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.kind = ExitKind.NORMAL  # type: ignore[misc]
    assert str(crash(exc)) == "crash: ValueError: boom"
    assert not crash(exc).is_normal
    assert shutdown() is shutdown(None)
