"""Why an actor ended: OTP's exit reasons as a closed set.

=============  ==========================================  ==========
kind           when                                        normal?
=============  ==========================================  ==========
``normal``     the actor stopped itself (``self.stop()``)  yes
``shutdown``   its supervisor stopped it (optional detail) yes
``crash``      an exception escaped a hook                 no
``killed``     forced: brutal_kill, shutdown timeout,       no
               or ``ref.kill()``
``nodedown``   the node it ran on was lost (detail: the     no
               node and how it was found down)
=============  ==========================================  ==========

"Normal" decides restarts exactly as OTP does: a transient child is restarted
only after an abnormal end (crash or killed).

An incarnation that raised `Ignore` (OTP's ``init/1`` returning ``ignore``)
ends ``normal`` with the detail ``ignore``; its supervisor neither restarts it
nor counts it as running (see `ignored`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class ExitKind(enum.StrEnum):
    """The ways an actor can end."""

    NORMAL = "normal"
    SHUTDOWN = "shutdown"
    CRASH = "crash"
    KILLED = "killed"
    NODEDOWN = "nodedown"


# Enum members read from module globals on the busy paths (every crash, stop and
# restart): on CPython 3.11 ``ExitKind.CRASH`` costs about 70-140 ns, a global 15 ns.
_NORMAL: Final = ExitKind.NORMAL
_SHUTDOWN: Final = ExitKind.SHUTDOWN
_CRASH: Final = ExitKind.CRASH
_KILLED: Final = ExitKind.KILLED


@dataclass(frozen=True, slots=True)
class ExitReason:
    """Why an actor ended.

    Attributes:
        kind: one of `ExitKind`.
        detail: for ``shutdown``, an optional detail (OTP's ``{shutdown, Term}``);
            for ``killed``, what forced it; for ``normal``, ``ignore`` when the
            incarnation raised `Ignore` (then ``exception`` is that `Ignore`).
        exception: for ``crash``, the exception that escaped; for a supervisor
            that gave up (``shutdown``, detail ``reached_max_restart_intensity``),
            the `RestartIntensityExceeded` saying why.
    """

    kind: ExitKind
    detail: str | None = None
    exception: BaseException | None = None

    @property
    def is_normal(self) -> bool:
        """True for ``normal`` and ``shutdown`` (with or without detail)."""
        kind = self.kind
        return kind is _NORMAL or kind is _SHUTDOWN

    def __str__(self) -> str:
        if self.kind is ExitKind.CRASH and self.exception is not None:
            return f"crash: {type(self.exception).__qualname__}: {self.exception}"
        if self.detail is not None:
            return f"{self.kind.value}: {self.detail}"
        return self.kind.value

    def log_fields(self) -> dict[str, object]:
        """The fields lifecycle events carry for this reason."""
        fields: dict[str, object] = {"reason": self.kind.value}
        if self.detail is not None:
            fields["reason_detail"] = self.detail
        if self.exception is not None:
            fields["exc_type"] = type(self.exception).__qualname__
            fields["exc_message"] = str(self.exception)
        return fields


NORMAL: Final = ExitReason(ExitKind.NORMAL)
SHUTDOWN: Final = ExitReason(ExitKind.SHUTDOWN)
KILLED: Final = ExitReason(ExitKind.KILLED)


def nodedown(node: str, how: str) -> ExitReason:
    """A ``nodedown`` reason: node ``node`` was lost (``how``: disconnect, heartbeat, ...)."""
    return ExitReason(ExitKind.NODEDOWN, detail=f"{node}: {how}")


def shutdown(detail: str | None = None) -> ExitReason:
    """A ``shutdown`` reason, optionally with a detail (OTP ``{shutdown, Detail}``)."""
    return SHUTDOWN if detail is None else ExitReason(ExitKind.SHUTDOWN, detail=detail)


# A frozen dataclass's __init__ sets each field through object.__setattr__, about
# 0.6 µs for three fields; every crash (inside the restart latency, W5) and every
# kill builds one. The slots' own descriptors set the same fields in half of
# that (0.3 µs, `python -m timeit`, CPython 3.11), for an instance equal to what
# the constructor builds. Kept, measured; it touches only this module's own class,
# and `tests/test_reason.py` checks that both build equal reasons.
_new_reason = object.__new__
_set_kind = ExitReason.__dict__["kind"].__set__
_set_detail = ExitReason.__dict__["detail"].__set__
_set_exception = ExitReason.__dict__["exception"].__set__


def _reason(kind: ExitKind, detail: str | None, exception: BaseException | None) -> ExitReason:
    reason: ExitReason = _new_reason(ExitReason)
    _set_kind(reason, kind)
    _set_detail(reason, detail)
    _set_exception(reason, exception)
    return reason


def ends_program(exc: BaseException | None) -> bool:
    """Whether ``exc`` asks the whole program to end (`KeyboardInterrupt`, `SystemExit`).

    Escaping a hook, such an exception is not restarted: every supervisor up to
    the root stops its children in order and ends with it, and the tree raises
    it to the code that embeds it, as ``asyncio.run`` does for its main task.
    """
    return isinstance(exc, KeyboardInterrupt | SystemExit)


class Ignore(Exception):  # a signal, as StopIteration, not an error
    """Raise it from ``on_start`` or a task: this child is not to run (OTP's ``ignore``).

    OTP's ``init/1`` returning ``ignore``, e.g. a child disabled by config::

        async def on_start(self) -> None:
            if not self.config.enabled:
                raise Ignore("disabled in config")

    The supervisor does not start it and does not restart it: a permanent or
    transient child stays in its list, stopped (``restart_child`` tries it
    again), a temporary one is dropped. ``start_child`` and ``restart_child``
    return None instead of a ref, and the event ``actor_ignored`` is logged.
    A plain task has no start phase: raising it ends the task the same way
    whenever it is raised (raise it first thing).

    Attributes:
        detail: why, for the ``actor_ignored`` event (optional).

    .. versionadded:: 0.1
    """

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or "ignore")
        self.detail = detail


#: The detail of the ``normal`` end of an incarnation that raised `Ignore`.
IGNORE: Final = "ignore"


def ignored(exc: Ignore) -> ExitReason:
    """The end of an incarnation that raised `Ignore`: ``normal``, detail ``ignore``."""
    return ExitReason(ExitKind.NORMAL, detail=IGNORE, exception=exc)


def crash(exc: BaseException) -> ExitReason:
    """A ``crash`` reason carrying the exception."""
    # `_reason`, inline: every crash builds one inside the restart's latency (W5).
    reason: ExitReason = _new_reason(ExitReason)
    _set_kind(reason, _CRASH)
    _set_detail(reason, None)
    _set_exception(reason, exc)
    return reason


#: The detail of a supervisor's ``shutdown`` when it gave up (OTP's words).
GAVE_UP: Final = "reached_max_restart_intensity"


def give_up(error: BaseException) -> ExitReason:
    """A supervisor gave up: ``shutdown`` as in OTP, carrying ``error`` to report it."""
    return ExitReason(ExitKind.SHUTDOWN, detail=GAVE_UP, exception=error)


def killed(detail: str) -> ExitReason:
    """A ``killed`` reason saying what forced it."""
    return _reason(_KILLED, detail, None)
