"""Monitors: be told, once, when an incarnation ends (OTP's ``erlang:monitor``).

A monitor watches the incarnation running behind a ref *when the monitor is
set*, as OTP monitors a pid. When that incarnation ends, the watcher gets one
`Down` and the monitor is over; a restart of the slot does not fire it again.
To follow a slot across restarts, monitor again after each `Down` (the ref
stays valid). A monitor set while nothing runs behind the ref delivers `Down`
at once with reason ``noproc``.

Three kinds of watcher::

    # 1. an actor: Down arrives in its mailbox (it must declare Down)
    class Watcher(Actor[Job | Down]):
        async def on_start(self) -> None:
            self.monitor(self.registry.whereis("root/db"))

        async def handle(self, msg: Job | Down) -> None:
            match msg:
                case Down(path=path, reason=reason):
                    ...

    # 2. any task: await it (leaving the block demonitors)
    with ref.monitor() as monitor:
        down = await monitor

    down = await ref.wait_down()          # the same in one call

    # 3. a callback, called soon after the end (not inside it)
    ref.monitor(lambda down: print(down))

Monitors never kill anyone (links do, see `supervise._link`). An actor's
monitors are tied to the watcher's incarnation too: when the watcher ends, its
monitors are dropped, so a restarted watcher never receives a `Down` it did
not ask for. Nothing here runs per message: a monitor costs one entry in the
watched incarnation's exit callbacks.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, final

from pydantic import BaseModel, ConfigDict, PrivateAttr

from ._errors import ActorNotRunningError, MessageTypeError, UsageError
from ._mailbox import MailboxClosed

if TYPE_CHECKING:
    from ._child import Child
    from ._process import ActorProcess, Process
    from ._reason import ExitReason

#: Why a watched incarnation ended: an exit kind (``nodedown``: its node was lost), or
#: ``noproc`` (nothing ran).
DownReason = Literal["normal", "shutdown", "crash", "killed", "nodedown", "noproc"]

_monitor_ids = itertools.count(1)


class Down(BaseModel):
    """The message a monitor delivers once its incarnation has ended (OTP's ``'DOWN'``).

    Frozen and immutable, so it is passed by reference. An actor that
    monitors declares it among its messages: ``Actor[Job | Down]``.

    Attributes:
        monitor_id: the `Monitor`'s ``id``, to tell several monitors apart.
        path: the tree path of the child that ended.
        reason: ``normal``, ``shutdown``, ``crash``, ``killed``, ``nodedown`` (a
            remote monitor whose node was lost), or ``noproc`` when nothing ran
            behind the ref when the monitor was set.
        detail: ``"ValueError: boom"`` for a crash; what forced a kill; a
            shutdown's detail; None otherwise.

    .. versionadded:: 0.1
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, extra="forbid")

    monitor_id: int
    path: str
    reason: DownReason
    detail: str | None = None

    _exception: BaseException | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        # The fields only: the exception rides along but is not part of the value.
        if not isinstance(other, Down):
            return NotImplemented
        return (self.monitor_id, self.path, self.reason, self.detail) == (
            other.monitor_id,
            other.path,
            other.reason,
            other.detail,
        )

    def __hash__(self) -> int:
        return hash((self.monitor_id, self.path, self.reason, self.detail))

    @property
    def exception(self) -> BaseException | None:
        """The exception that crashed it (same process only; None unless a crash)."""
        return self._exception

    @property
    def is_normal(self) -> bool:
        """True for ``normal`` and ``shutdown``: it was not a failure."""
        return self.reason == "normal" or self.reason == "shutdown"


def _down(monitor_id: int, path: str, reason: ExitReason | None) -> Down:
    if reason is None:
        return Down(monitor_id=monitor_id, path=path, reason="noproc")
    exception = reason.exception
    detail = reason.detail
    if exception is not None and not reason.is_normal:  # a crash; not a give-up's shutdown
        detail = f"{type(exception).__qualname__}: {exception}"
    down = Down(monitor_id=monitor_id, path=path, reason=reason.kind.value, detail=detail)
    down._exception = exception
    return down


@final
class Monitor:
    """One monitor on one incarnation; get one from ``ref.monitor()`` or ``Actor.monitor``.

    Await it (or `wait`) for the `Down`, whatever the watcher; use it as a
    context manager (``with`` or ``async with``) to demonitor on leaving.

    Attributes:
        id: unique in the process; `Down.monitor_id` carries it.
        path: the tree path of the monitored child.

    .. versionadded:: 0.1
    """

    __slots__ = ("_callback", "_down", "_future", "_target", "_watcher", "id", "path")

    def __init__(
        self,
        path: str,
        watcher: ActorProcess | None,
        callback: Callable[[Down], object] | None,
    ) -> None:
        self.id: int = next(_monitor_ids)
        self.path: str = path
        self._watcher = watcher
        self._callback = callback
        self._target: Process | None = None
        self._down: Down | None = None
        self._future: asyncio.Future[Down] | None = None

    def __repr__(self) -> str:
        state = "active" if self.active else ("down" if self._down else "demonitored")
        return f"<Monitor {self.id} on {self.path} {state}>"

    @property
    def active(self) -> bool:
        """Whether the `Down` is still to come (not delivered, not demonitored)."""
        return self._target is not None

    @property
    def down(self) -> Down | None:
        """The `Down`, once delivered."""
        return self._down

    def demonitor(self) -> bool:
        """Stop monitoring (OTP ``demonitor``); idempotent.

        A `Down` already in an actor's mailbox stays there: ignore Downs whose
        ``monitor_id`` you demonitored.

        Returns:
            True if the monitor was active, False if the Down came already.
        """
        target = self._target
        if target is None:
            return False
        self._target = None
        target.remove_exit_callback(self)
        if self._watcher is not None:
            self._watcher.remove_exit_callback(self)
        future = self._future
        if future is not None and not future.done():
            future.set_exception(self._demonitored())  # waiters learn that none will come
            future.exception()  # retrieved: nobody may be waiting any more
        return True

    def _demonitored(self) -> UsageError:
        return UsageError(
            f"monitor {self.id} on {self.path!r}",
            "it was demonitored, so no Down will come; await a monitor only while it is "
            "active (see Monitor.active), or monitor the ref again",
        )

    async def wait(self) -> Down:
        """Wait for the `Down`.

        Raises:
            UsageError: the monitor was demonitored, so no Down will come.
        """
        if self._down is not None:
            return self._down
        if self._target is None:
            raise self._demonitored()
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
        # Shielded: one waiter being cancelled must not cancel the others' future.
        return await asyncio.shield(self._future)

    def __await__(self) -> Generator[Any, None, Down]:
        return self.wait().__await__()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.demonitor()

    async def __aenter__(self) -> Monitor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.demonitor()

    # -- the runtime side ---------------------------------------------------------------

    def _watch(self, target: Process | None) -> None:
        if target is None or target.reason is not None:
            self._deliver(_down(self.id, self.path, None))
            return
        self._target = target
        target.add_exit_callback(self, self._target_ended)
        if self._watcher is not None:
            self._watcher.add_exit_callback(self, self._watcher_ended)

    def _target_ended(self, target: Process) -> None:
        if self._target is not target:
            return
        self._target = None
        if self._watcher is not None:
            self._watcher.remove_exit_callback(self)
        self._deliver(_down(self.id, self.path, target.reason))

    def _watcher_ended(self, watcher: Process) -> None:
        # The watcher's incarnation is gone: nobody is left to tell.
        target, self._target = self._target, None
        if target is not None:
            target.remove_exit_callback(self)

    def _deliver(self, down: Down) -> None:
        self._down = down
        watcher = self._watcher
        if watcher is not None:
            try:
                # A control put: a Down is never refused for a full mailbox (one per monitor).
                watcher.mailbox.put_control(down)
            except MailboxClosed:
                pass  # the watcher is ending too
        elif self._callback is not None:
            asyncio.get_running_loop().call_soon(self._callback, down)
        future = self._future
        if future is not None and not future.done():
            future.set_result(down)


def _check_accepts_down(process: ActorProcess, monitor_id: int, path: str) -> None:
    if not any(issubclass(Down, accepted) for accepted in process.child.accepts):
        raise MessageTypeError(
            process.path,
            Down(monitor_id=monitor_id, path=path, reason="noproc"),
            process.child.accepts,
        )


def start_monitor(
    child: Child,
    watcher: ActorProcess | None = None,
    callback: Callable[[Down], object] | None = None,
) -> Monitor:
    """Monitor the incarnation in ``child`` now, for an actor, a callback or an awaiter."""
    monitor = Monitor(child.path, watcher, callback)
    if watcher is not None:
        if watcher.reason is not None:  # e.g. a task the ended incarnation left behind
            raise ActorNotRunningError(watcher.path)
        _check_accepts_down(watcher, monitor.id, child.path)
    monitor._watch(child.process)
    return monitor
