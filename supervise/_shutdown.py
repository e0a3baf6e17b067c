"""Stopping children: graceful stop, cancellation at the timeout, then abandonment.

The protocol of OTP's ``shutdown/1``, for one child or a group stopped
together (a dynamic supervisor's children, or a killed supervisor's subtree):

1. ``brutal_kill``: cancel at once (``on_stop`` does not run).
   Seconds or ``infinity``: ask for a graceful stop and wait that long.
2. Whoever is still running at the timeout is cancelled (reason ``killed``).
3. Whoever still runs ``KILL_GRACE_SECONDS`` later (it swallowed the
   cancellation, or blocks the loop) is abandoned and reported, so a shutdown
   always ends in bounded time. This is where cooperative asyncio cannot match
   the BEAM's untrappable ``kill``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from . import _log
from ._reason import ExitReason, killed
from .events import Event

if TYPE_CHECKING:
    from ._child import Child
    from ._process import Process
    from .spec import ChildSpec, DynamicSupervisorSpec, SupervisorSpec, TaskSpec

#: How long a group waits for cancelled tasks to end before abandoning them.
KILL_GRACE_SECONDS: Final = 1.0

_INFINITY: Final = "infinity"

# Read on every child's end; enum members as globals (about 0.1 µs less each on CPython 3.11).
_STOPPED: Final = Event.ACTOR_STOPPED
_CRASHED: Final = Event.ACTOR_CRASHED


def shutdown_seconds(
    spec: ChildSpec | SupervisorSpec | DynamicSupervisorSpec | TaskSpec,
) -> float | None:
    """The graceful-stop bound of a child, or None for infinity (brutal_kill: 0)."""
    mode = spec.shutdown
    if mode == _INFINITY:
        return None
    if mode == "brutal_kill":
        return 0.0
    return float(mode)


async def stop_processes(
    pairs: list[tuple[Child, Process]],
    mode: float | str | None,
    reason: ExitReason,
    supervisor: str,
) -> None:
    """Stop processes together: graceful stop, then cancel at the timeout, then abandon.

    ``mode`` is the shutdown of every one of them, or None: each within its own
    child's shutdown, all signalled at once (a dynamic supervisor's mixed children).
    """
    for _, process in pairs:
        process.terminating = True
    if mode is None:
        await _stop_each(pairs, reason, supervisor)
    elif mode == "brutal_kill":
        for child, process in pairs:
            _emit_killed(child, "brutal_kill", supervisor)
            process.kill("brutal_kill")
    else:
        for _, process in pairs:
            process.request_stop(reason)
        timeout = None if mode == _INFINITY else float(mode)
        pending = await _wait_all([p for _, p in pairs], timeout)
        for process in pending:
            _emit_killed(process.child, mode, supervisor)
            process.kill(f"shutdown timeout ({mode} s) ran out")
    pending = await _wait_all([p for _, p in pairs], KILL_GRACE_SECONDS)
    for process in pending:
        _log.emit(Event.ACTOR_ABANDONED, actor=process.path, supervisor=supervisor)
        process.abandon()
    # Two level checks for the whole group rather than two per child: with
    # actor_stopped dropped (a production level) a mass stop then logs nothing
    # per child, where calling emit_exit for each cost W1_stop about 15 %.
    stopped = _log.enabled(_STOPPED)
    crashed = _log.enabled(_CRASHED)
    if stopped or crashed:
        for child, process in pairs:
            end = process.reason or killed("abandoned")
            if stopped if end.is_normal else crashed:
                emit_exit(child, end, supervisor)


async def _stop_each(
    pairs: list[tuple[Child, Process]], reason: ExitReason, supervisor: str
) -> None:
    """Signal all at once; then each is cancelled when its own shutdown runs out."""
    # Grouped by the spec's own value first (a pool's children share theirs):
    # no conversion and no new list per child.
    by_mode: dict[float | str, list[Process]] = {}
    for child, process in pairs:
        mode = child.spec.shutdown
        if mode == "brutal_kill":
            _emit_killed(child, mode, supervisor)
            process.kill("brutal_kill")
        else:
            process.request_stop(reason)
            group = by_mode.get(mode)
            if group is None:
                group = by_mode[mode] = []
            group.append(process)
    by_timeout: dict[float | None, list[Process]] = {}
    for value, group in by_mode.items():
        by_timeout.setdefault(None if value == _INFINITY else float(value), []).extend(group)
    loop = asyncio.get_running_loop()
    began = loop.time()
    # Shortest first; the others keep stopping meanwhile. Infinity (None) last.
    for timeout in sorted(by_timeout, key=lambda t: float("inf") if t is None else t):
        left = None if timeout is None else max(0.0, began + timeout - loop.time())
        for process in await _wait_all(by_timeout[timeout], left):
            _emit_killed(process.child, timeout, supervisor)
            process.kill(f"shutdown timeout ({timeout:g} s) ran out")


async def _wait_all(processes: list[Process], timeout: float | None) -> list[Process]:
    """Wait until each process has ended, or ``timeout``; return the ones still running.

    A countdown that each process runs as it ends (``on_end``), rather than
    ``asyncio.wait`` on their tasks, which adds a done callback to every task
    and runs each through the loop; and nothing is allocated per process,
    which for a pool of 100k children would be 100k objects alive at once
    for the garbage collector to trace.
    """
    running = [p for p in processes if p.reason is None]
    if not running:
        return running
    all_ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    left = len(running)

    def one_ended(_: Process) -> None:
        nonlocal left
        left -= 1
        if not left and not all_ended.done():
            all_ended.set_result(None)

    for process in running:
        process.on_end = one_ended
    try:
        await asyncio.wait((all_ended,), timeout=timeout)
    finally:
        for process in running:
            process.on_end = None
    return [p for p in running if p.reason is None]


def _emit_killed(child: Child, shutdown: object, supervisor: str) -> None:
    _log.emit(Event.ACTOR_KILLED, actor=child.path, supervisor=supervisor, shutdown=shutdown)


def emit_exit(child: Child, reason: ExitReason, supervisor: str) -> None:
    """Log how a child ended: actor_stopped (normal) or actor_crashed."""
    event = _STOPPED if reason.is_normal else _CRASHED
    if not _log.enabled(event):  # skip building the fields (a mass stop has many)
        return
    fields = reason.log_fields()
    if reason.exception is not None and not reason.is_normal:
        # The traceback, for renderers that show it (structlog's format_exc_info,
        # ConsoleRenderer), with its frames' locals intact.
        fields["exc_info"] = reason.exception
    _log.emit(
        event,
        actor=child.path,
        supervisor=supervisor,
        incarnation=child.incarnation,
        restart_count=child.restart_count,
        **fields,
    )
