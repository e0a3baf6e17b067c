"""Supervised plain tasks: any ``async def`` function as a child, without an Actor class.

The loop many asyncio applications write by hand (run it, log the crash, wait
a little, run it again) as a child spec::

    async def poll(url: str, every: float) -> None:
        while True:
            await fetch(url)          # an exception here is a crash: logged, restarted
            await asyncio.sleep(every)

    SupervisorSpec(
        name="root",
        backoff=Backoff(min_seconds=1, max_seconds=60),
        children=[TaskSpec(name="poller", task=poll, kwargs={"url": URL, "every": 30})],
    )

One incarnation is one call ``await task(*args, **kwargs)``:

==============================  ===================  ================================
the call                        reason               permanent / transient restart?
==============================  ===================  ================================
returns                         ``normal``           yes / no
raises an exception             ``crash``            yes / yes
raises ``Exit(kind, detail)``   that ``normal`` or   by that reason
                                ``shutdown``
raises ``Ignore``               ``normal``           no / no (OTP's ``ignore``)
                                (``ignore``)
cancelled by its supervisor     ``shutdown``         (the supervisor is stopping it)
still running ``shutdown`` s    ``killed``           (cancelled again, then abandoned)
after that cancellation
==============================  ===================  ================================

Cancellation is a plain task's stop signal: it has no mailbox to receive a
stop request, so the supervisor cancels it, and ``try/finally`` (or ``except
CancelledError: ...; raise``) is where it cleans up. A task that catches the
cancellation and returns is still reported with the stop's reason
(``shutdown``), unless it raises `Exit` to choose its own. The child's
``shutdown`` seconds bound how long it may take to
honour the cancellation: past them it is cancelled again and reported
``killed``, and a task that ignores that too is abandoned after a grace period,
as an actor would be.

Tasks have no mailbox, so their ref is a `TaskRef` (stop, kill, monitor), not
an `ActorRef`. The arguments are passed as given to every incarnation: keep
them immutable, or build fresh state inside the function.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, final

from ._errors import UsageError
from ._process import Exit, LoopProcess
from ._reason import NORMAL, ExitReason, Ignore, crash, ignored, killed
from ._ref import Watchable

if TYPE_CHECKING:
    from ._child import Child
    from .spec import TaskSpec


class TaskProcess(LoopProcess):
    """One incarnation of a `TaskSpec`: one call of its function."""

    __slots__ = ("_stop_reason", "spec")

    def __init__(self, child: Child, spec: TaskSpec) -> None:
        # Nothing to prepare: a task is ready as soon as it exists.
        super().__init__(child, ready=True)
        self.spec = spec
        self._stop_reason: ExitReason | None = None

    def request_stop(self, reason: ExitReason) -> None:
        """Stop by cancelling the call; it ends with ``reason`` once it honours that."""
        if self.reason is not None or self._stop_reason is not None:
            return
        self._stop_reason = reason
        if self.task is not None:
            self._cancel_task()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if self.reason is None:  # cancelled before its first step
            self._finish(
                self._kill_reason or self._stop_reason or killed("cancelled before it ran")
            )

    async def _main(self) -> None:
        spec = self.spec
        reason: ExitReason | None = None
        try:
            await spec.task(*spec.args, **spec.kwargs)
        except BaseException as exc:  # anything but this task's cancellation is a crash
            if self._closing(exc):
                reason = self._closed_reason()
                raise
            if self._cancelled(exc):  # a stop or a kill (a stop cancels the task too)
                reason = self._kill_reason or self._stop_reason or killed("cancelled")
            elif isinstance(exc, Ignore):
                reason = self._kill_reason or ignored(exc)
            elif isinstance(exc, Exit):  # it chose its reason (a kill still stands)
                reason = self._kill_reason or exc.reason
            else:
                reason = crash(exc)
        else:
            # Returning after a stop request (it caught the cancellation) is that stop.
            reason = self._kill_reason or self._stop_reason or NORMAL
        finally:
            self._finish(reason or self._kill_reason or killed("cancelled"))


@final
class TaskRef(Watchable):
    """A handle to a plain task's child slot: ``stop``, ``kill``, monitors.

    Like an `ActorRef` it addresses the slot and stays valid across restarts;
    a task has no mailbox, so there is no ``cast`` or ``call``.

    .. versionadded:: 0.1
    """

    __slots__ = ()

    async def stop(self, reason: ExitReason = NORMAL) -> None:
        """Cancel the running call and wait until it has ended (reason ``normal``).

        The supervisor then applies the restart type: a permanent task is
        started again; use the supervisor's ``terminate_child`` to stop it for good.

        Raises:
            UsageError: the task called it on its own ref (it would wait for ever).
        """
        process = self._child.process
        if process is None:
            return
        if asyncio.current_task() is process.task:
            raise UsageError(
                f"task {self.path!r}",
                "it called stop() on its own ref and would wait for ever for its own end; "
                "return from the function instead (or raise to crash it)",
            )
        process.request_stop(reason)
        await process.wait(None)

    def kill(self) -> None:
        """Cancel the running call now; the reason is ``killed``."""
        process = self._child.process
        if process is not None:
            process.kill("ref.kill()")
