"""Links: two incarnations that share their fate when one of them fails (OTP's ``link``).

Inside an actor, ``self.link(ref)`` links this incarnation with the one running
behind ``ref`` now. A link is two-way and lasts as long as both incarnations:

===================================================  =================================
the linked incarnation ends                          the other one
===================================================  =================================
``normal`` or ``shutdown``                           is not affected
``crash`` or ``killed``                              crashes with `LinkedExit`
stopped by its own supervisor (any reason, even      is not affected
``killed`` by ``brutal_kill`` or a timeout)
===================================================  =================================

The crash is delivered as a stop request: an actor ends after the message in
hand (its handler is not interrupted), its ``on_stop`` runs with the crash
reason, and its supervisor restarts it per its restart type like any crash; a
plain task is cancelled; a supervisor stops its children first. A restart
never re-creates a link: link again from ``on_start`` if the new incarnation
should be linked too.

Where we differ from OTP on purpose: a ``shutdown`` exit does not propagate
(OTP kills a non-trapping partner with ``shutdown``), and neither does any
exit caused by a supervisor terminating the child. Orderly shutdowns of a
tree therefore never cascade along links; links only spread failures.
Supervisors do not use links: they watch their children directly, so links
are for fate-sharing *across* the tree's structure (an actor and a helper it
started under a dynamic supervisor, say). Within one supervisor,
``one_for_all`` and ``rest_for_one`` say the same thing declaratively.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import ActorNotRunningError, LinkedExit
from ._reason import crash

if TYPE_CHECKING:
    from ._process import Process


class _LinkKey:
    """The key of one direction of a link in a process's exit callbacks."""

    __slots__ = ("partner",)

    def __init__(self, partner: Process) -> None:
        self.partner = partner

    def __hash__(self) -> int:
        return id(self.partner)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _LinkKey) and other.partner is self.partner


def link(a: Process, b: Process) -> None:
    """Link two running incarnations (idempotent; linking to itself does nothing).

    Raises:
        ActorNotRunningError: ``b`` has ended (OTP's ``noproc``).
    """
    if b.reason is not None:
        raise ActorNotRunningError(b.path)
    if a is b or a.reason is not None:
        return
    a.add_exit_callback(_LinkKey(b), lambda ended: _propagate(ended, b))
    b.add_exit_callback(_LinkKey(a), lambda ended: _propagate(ended, a))


def unlink(a: Process, b: Process) -> None:
    """Remove the link between two incarnations, if there is one."""
    a.remove_exit_callback(_LinkKey(b))
    b.remove_exit_callback(_LinkKey(a))


def _propagate(ended: Process, partner: Process) -> None:
    partner.remove_exit_callback(_LinkKey(ended))
    reason = ended.reason
    if reason is None or reason.is_normal or ended.terminating or partner.reason is not None:
        return
    error = LinkedExit(ended.path, reason)
    error.__cause__ = reason.exception
    partner.request_stop(crash(error))
