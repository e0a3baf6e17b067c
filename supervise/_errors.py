"""The exceptions supervise raises.

Every error derives from one base, so ``except SuperviseError`` catches all of
them. Messages are built from attributes, and the attributes stay on the
exception so code never has to parse text::

    SuperviseError
    ├── SpecError (ValueError)            a tree or child spec is invalid
    │   └── TreeFileError                 a tree file has problems (all of them listed)
    ├── MessageTypeError (TypeError)      a message the actor does not accept
    ├── MailboxFull                       the mailbox is at capacity
    ├── CallTimeoutError (TimeoutError)   no reply within the call's timeout
    ├── CallingSelfError (RuntimeError)   an actor called itself (would deadlock)
    ├── ActorExitedError                  the actor ended before it replied
    │   ├── CallFailedError               ... because the handler of this call raised
    │   └── CallDroppedError              ... before the call left its mailbox (safe to resend)
    ├── ActorNotRunningError              nothing runs behind the ref (OTP ``noproc``)
    ├── LinkedExit                        a linked incarnation ended abnormally (a crash reason)
    ├── LoopBlockedError                  a handler blocked the loop (``on_block: crash``)
    ├── OffloadedHandlerError             a handler raised in its worker process
    ├── TaskExitedError                   an awaited task (or a stream) ended without its value
    ├── TaskTimeoutError (TimeoutError)   an async_stream call overran its timeout
    ├── IsolatedActorError                an isolated actor's code raised in its OS process
    ├── IsolatedProcessDiedError          an isolated actor's OS process died (exit code, signal)
    ├── IsolationError (TypeError)        a message or reply cannot cross to or from that process
    ├── StartError                        a child failed to start
    ├── PlacementError                    a placed child found no node (or lost its lease)
    ├── RemoteExitError                   a placed child crashed on its node (the report)
    ├── RestartIntensityExceeded          a supervisor gave up
    ├── ChildError                        a dynamic-child request was refused
    │   └── ChildNotFoundError (LookupError)
    ├── NameTakenError                    a registered name is held already
    ├── NameNotFoundError (LookupError)   nothing is registered under a name
    │   └── NotServedError                no node serves that name (NATS: no responders)
    ├── ChildKindError (TypeError)        a typed lookup found another kind of child
    ├── UsageError (RuntimeError)         used in a state that does not allow it
    ├── ArgumentError (ValueError)        an argument of the wrong value or kind
    ├── NodeDownError                     the node a request went to is down
    ├── RemoteError                       a request failed on the node that served it
    ├── WireError (ValueError)            a payload that is not a valid supervise envelope
    └── UnsupportedEventLoopError (RuntimeError)  not on asyncio (trio, or no loop)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._reason import ExitReason
    from ._ref import ActorRef, SupervisorRef
    from ._task import TaskRef

#: Why a dynamic-child request was refused (`ChildError.code`), OTP's error terms.
ChildErrorCode: TypeAlias = Literal[
    "already_started", "already_present", "running", "restarting", "not_found", "max_children"
]
"""Why a supervisor refused a dynamic-child request: `ChildError.code`, OTP's answer.

``already_started`` (a child of that name runs: ``err.ref``), ``already_present`` (it is
stopped; `restart_child` or `delete_child` it), ``running`` and ``restarting`` (it must be
stopped first), ``not_found`` (no such child), ``max_children`` (a dynamic supervisor is
full).

.. versionadded:: 0.1
"""


class SuperviseError(Exception):
    """Base class of every error raised by supervise."""


class SpecError(SuperviseError, ValueError):
    """A spec is invalid.

    Attributes:
        where: the file and/or field path of the problem (``tree.yaml: children[2].shutdown``).
        problem: what is wrong and what to do.
    """

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}" if where else problem)


@dataclass(frozen=True, slots=True)
class TreeFileProblem:
    """One problem of a tree file, as `TreeFileError` lists it.

    Attributes:
        file: the file name as given (None for a dict or text without a name).
        line: 1-based line of the offending key or value, if known.
        column: 1-based column, if known.
        path: the field path, e.g. ``children[2].shutdown`` (empty for the whole file).
        message: what was expected and what was found.

    .. versionadded:: 0.1
    """

    file: str | None
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file or ""
        if where and self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        parts = [p for p in (where, self.path) if p]
        parts.append(self.message)
        return ": ".join(parts)


class TreeFileError(SpecError):
    """A tree file (or text, or dict) does not describe a valid tree.

    Every problem found is listed, not only the first: ``str(err)`` has one
    line per problem, as ``tree.yaml:12:5: children[2].shutdown: expected
    seconds >= 0, "brutal_kill" or "infinity", found -1``.

    Attributes:
        file: the file name, or None for a dict.
        problems: every `TreeFileProblem`, in file order.

    .. versionadded:: 0.1
    """

    def __init__(self, file: str | None, problems: Sequence[TreeFileProblem]) -> None:
        self.file = file
        self.problems: tuple[TreeFileProblem, ...] = tuple(problems)
        text = "\n".join(str(p) for p in self.problems)
        self.where: str = file or ""
        self.problem: str = text
        # The message is the list itself: each line already names the file.
        SuperviseError.__init__(self, text)


class MessageTypeError(SuperviseError, TypeError):
    """A message was sent to an actor that does not declare its type, or cannot be copied.

    Raised in the sender; the message never reaches the actor. A mutable
    message is deep-copied so that sender and actor share nothing; when a value
    in it cannot be copied, ``field`` names where it is (``"items[2].lock"``,
    ``""`` for the message itself) and the copy's error is the ``__cause__``.

    Attributes:
        actor: the tree path of the actor.
        message: the message.
        accepted: the models the actor declares.
        field: None if the type is not accepted; else the path of the value
            that cannot be copied.
    """

    def __init__(
        self,
        actor: str,
        message: object,
        accepted: tuple[type, ...],
        *,
        field: str | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.actor = actor
        self.message = message
        self.accepted = accepted
        self.field = field
        kind = type(message).__qualname__
        if field is None:
            names = " | ".join(t.__qualname__ for t in accepted)
            text = (
                f"actor {actor!r} does not accept {kind} "
                f"(it accepts {names}); send one of those types or declare this one "
                f"in the actor's Actor[...] parameters"
            )
        else:
            where = f"field {field!r} of {kind}" if field else kind
            text = (
                f"cannot send {kind} to actor {actor!r}: {where} cannot be deep-copied"
                f" ({type(error).__qualname__}: {error}); messages are copied so that"
                f" sender and actor share nothing: send plain data (not locks, sockets,"
                f" files or tasks)"
            )
        super().__init__(text)


class MailboxFull(SuperviseError):
    """The actor's mailbox is at capacity and the send was asked not to wait."""

    def __init__(self, actor: str, capacity: int) -> None:
        self.actor = actor
        self.capacity = capacity
        super().__init__(
            f"mailbox of actor {actor!r} is full ({capacity} messages); slow down, "
            f"use the waiting `cast`/`call`, or raise `mailbox.capacity` in its spec"
        )


class CallTimeoutError(SuperviseError, TimeoutError):
    """A call got no reply in time.

    As in OTP, the request is not withdrawn: the actor may still handle it. A
    late reply is discarded.
    """

    def __init__(self, actor: str, message: object, timeout: float) -> None:
        self.actor = actor
        self.message = message
        self.timeout = timeout
        super().__init__(
            f"call to actor {actor!r} with {type(message).__qualname__} got no reply "
            f"within {timeout:g} s; the actor may be busy or blocked; raise `timeout` "
            f"or make the handler faster"
        )


class CallingSelfError(SuperviseError, RuntimeError):
    """An actor called itself; waiting for the reply would deadlock."""

    def __init__(self, actor: str) -> None:
        self.actor = actor
        super().__init__(
            f"actor {actor!r} called itself, which would wait for ever; "
            f"handle the message directly or use `cast`"
        )


class ActorExitedError(SuperviseError):
    """The actor ended before it replied to a call.

    Attributes:
        actor: the actor's tree path.
        reason: why it ended (an `ExitReason`).
    """

    def __init__(self, actor: str, reason: ExitReason) -> None:
        self.actor = actor
        self.reason = reason
        super().__init__(self._describe())

    def _describe(self) -> str:
        return f"actor {self.actor!r} stopped before replying ({self.reason})"


class CallFailedError(ActorExitedError):
    """The handler of this very call raised; the actor crashed.

    The handler's exception is the ``__cause__``. The actor's supervisor
    decides whether it is restarted.
    """

    def _describe(self) -> str:
        exc = self.reason.exception
        if isinstance(exc, LinkedExit):
            what = (
                f"the actor was stopped while handling it because linked actor "
                f"{exc.actor!r} ended abnormally ({exc.reason})"
            )
        else:
            detail = f"{type(exc).__qualname__}: {exc}" if exc is not None else str(self.reason)
            what = f"its handler raised {detail}"
        return (
            f"call to actor {self.actor!r} failed: {what}; "
            f"the actor crashed and its supervisor decides whether to restart it"
        )


class CallDroppedError(ActorExitedError):
    """The actor ended while this call was still in its mailbox; its handler never saw it.

    Unlike `CallFailedError`, nothing of the request ran, so sending it again is
    safe: ``call(..., retry_while_restarting=True)`` does that for you.

    .. versionadded:: 0.1
    """

    def _describe(self) -> str:
        return (
            f"actor {self.actor!r} ended ({self.reason}) before it took this call from its "
            f"mailbox, so nothing of it ran; send it again once the actor runs "
            f"(a call with retry_while_restarting=True does that)"
        )


class ActorNotRunningError(SuperviseError):
    """Nothing runs behind the ref now (OTP's ``noproc``).

    The actor stopped, or is between a crash and its restart.

    Attributes:
        actor: the actor's tree path.
        waited: the seconds waited for it to run again (``wait_running``, or a
            call with ``retry_while_restarting``), or None if it was not waited for.
        stopped: while waiting: the path of the supervisor (or the root) that
            stopped for good, so nothing will start the actor again; else None.
    """

    def __init__(
        self, actor: str, waited: float | None = None, *, stopped: str | None = None
    ) -> None:
        self.actor = actor
        self.waited = waited
        self.stopped = stopped
        if stopped is not None:
            text = (
                f"actor {actor!r} will not run again: {stopped!r} has stopped for good "
                f"(a supervisor gave up, or the tree was stopped), so nothing restarts it; "
                f"see its supervisor_stopped event"
            )
        elif waited is None:
            text = (
                f"actor {actor!r} is not running (stopped, or waiting to be restarted); "
                f"retry later, call with retry_while_restarting=True, or check its "
                f"supervisor's which_children()"
            )
        else:
            text = (
                f"actor {actor!r} did not run again within {waited:g} s (it was stopped for "
                f"good, or its restart is still pending: backoff, a failing on_start); "
                f"check its supervisor's which_children() or allow more time"
            )
        super().__init__(text)


class LinkedExit(SuperviseError):
    """The reason an actor crashed: an incarnation it was linked to ended abnormally.

    Never raised to a caller: it is the exception of the ``crash`` reason the
    linked actor ends with (``exc_type`` ``LinkedExit`` in ``actor_crashed``).
    The partner's own exception, if any, is the ``__cause__``.

    Attributes:
        actor: the tree path of the linked child that ended.
        reason: why it ended (an `ExitReason`).

    .. versionadded:: 0.1
    """

    def __init__(self, actor: str, reason: ExitReason) -> None:
        self.actor = actor
        self.reason = reason
        super().__init__(
            f"linked {actor!r} ended abnormally ({reason}), so this incarnation ends with it; "
            f"monitor it instead of linking to be told without crashing"
        )


class TaskExitedError(SuperviseError):
    """An awaited task, or an ``async_stream``, ended before it gave its value.

    Raised by ``await`` on an `AsyncTask` and by iterating a `TaskStream`
    (Elixir's ``Task.await`` exiting with the task's reason). For a crash the
    task's exception is the ``__cause__``.

    Attributes:
        task: the task's tree path.
        reason: why it ended (an `ExitReason`).

    .. versionadded:: 0.1
    """

    def __init__(self, task: str, reason: ExitReason) -> None:
        self.task = task
        self.reason = reason
        exc = reason.exception
        if exc is not None and reason.kind.value == "crash":
            what = f"crashed with {type(exc).__qualname__}: {exc} (the __cause__)"
        else:
            what = f"ended ({reason})"
        super().__init__(
            f"task {task!r} {what} before it gave its value; see its supervisor's log "
            f"(actor_crashed, actor_stopped) for the end"
        )


class TaskTimeoutError(SuperviseError, TimeoutError):
    """A call of an ``async_stream`` ran past the stream's ``timeout``.

    With ``on_timeout="exit"`` (the default) the stream's child crashes with
    this error, and its consumer gets a `TaskExitedError` caused by it.

    Attributes:
        task: the stream's tree path.
        timeout: the per-call timeout in seconds.
        item: the item whose call overran.

    .. versionadded:: 0.1
    """

    def __init__(self, task: str, timeout: float, item: object) -> None:
        self.task = task
        self.timeout = timeout
        self.item = item
        text = repr(item)
        super().__init__(
            f"stream {task!r}: the call for item {text if len(text) <= 60 else text[:57] + '...'} "
            f"ran past the timeout of {timeout:g} s; raise `timeout`, or pass "
            f'on_timeout="kill_task" to get a result with exit "killed" for it instead'
        )


class LoopBlockedError(SuperviseError):
    """The reason an actor with ``on_block: crash`` crashed: its handler blocked the loop.

    Never raised to a caller: it is the exception of the ``crash`` reason
    (detail ``blocked_loop``) the actor ends with once the handler returns.

    Attributes:
        actor: the tree path of the actor.
        seconds: how long the event loop did not turn.

    .. versionadded:: 0.1
    """

    def __init__(self, actor: str, seconds: float) -> None:
        self.actor = actor
        self.seconds = seconds
        super().__init__(
            f"{actor!r} blocked the event loop for {seconds:.3f} s and has on_block: crash; "
            f"move the blocking work off the loop (execution: thread or process) or await it"
        )


class OffloadedHandlerError(SuperviseError):
    """The reason an actor with ``execution: process`` crashed: its handler raised there.

    The exception itself stays in the worker process (nothing is unpickled from
    it); its type, message and traceback come back as text.

    Attributes:
        actor: the actor class's import path.
        exc_type: the name of the exception's type in the worker.
        exc_message: its message.
        remote_traceback: the traceback in the worker, as text.

    .. versionadded:: 0.1
    """

    def __init__(self, actor: str, exc_type: str, exc_message: str, remote_traceback: str) -> None:
        self.actor = actor
        self.exc_type = exc_type
        self.exc_message = exc_message
        self.remote_traceback = remote_traceback
        super().__init__(
            f"{actor}.handle raised {exc_type}: {exc_message} in its worker process\n"
            f"Remote traceback:\n{remote_traceback}"
        )


class IsolatedActorError(SuperviseError):
    """The reason an isolated actor crashed: an exception escaped its code in its own process.

    The exception itself stays in that process (nothing is unpickled from it);
    its type, message and traceback come back as text.

    Attributes:
        actor: the actor's tree path.
        exc_type: the name of the exception's type in the child process.
        exc_message: its message.
        remote_traceback: the traceback in the child process, as text.

    .. versionadded:: 0.1
    """

    def __init__(self, actor: str, exc_type: str, exc_message: str, remote_traceback: str) -> None:
        self.actor = actor
        self.exc_type = exc_type
        self.exc_message = exc_message
        self.remote_traceback = remote_traceback
        super().__init__(
            f"isolated actor {actor!r} raised {exc_type}: {exc_message} in its process\n"
            f"Remote traceback:\n{remote_traceback}"
        )


class IsolatedProcessDiedError(SuperviseError):
    """The reason an isolated actor crashed: its OS process ended without saying why.

    It exited (``os._exit``, a crash of the interpreter) or was killed by a
    signal that its supervisor did not send (a segfault, the OOM killer,
    ``kill`` from outside).

    Attributes:
        actor: the actor's tree path.
        pid: the process id it had.
        exit_code: its exit status if it exited, else None.
        signal: the signal's name (``"SIGKILL"``) if a signal ended it, else None.

    .. versionadded:: 0.1
    """

    def __init__(self, actor: str, pid: int, exit_code: int | None, signal: str | None) -> None:
        self.actor = actor
        self.pid = pid
        self.exit_code = exit_code
        self.signal = signal
        super().__init__(
            f"the process of isolated actor {actor!r} (pid {pid}) died: {self.detail}; "
            f"its supervisor restarts it per its restart type"
        )

    @property
    def detail(self) -> str:
        """``"exit code 3"`` or ``"signal SIGSEGV"``: the crash reason's detail."""
        return f"signal {self.signal}" if self.signal is not None else f"exit code {self.exit_code}"


class IsolationError(SuperviseError, TypeError):
    """A message or reply could not cross between the tree and an isolated actor's process.

    Messages and replies cross as JSON and are validated on the other side:
    a model whose fields do not survive that round trip, or a reply that is
    neither JSON data nor a pydantic model, cannot cross.

    Attributes:
        actor: the actor's tree path.
        what: what could not cross (``"message Job"``, ``"reply to Get"``).
        problem: why.

    .. versionadded:: 0.1
    """

    def __init__(self, actor: str, what: str, problem: str) -> None:
        self.actor = actor
        self.what = what
        self.problem = problem
        super().__init__(
            f"{what} cannot cross to or from isolated actor {actor!r}: {problem}; "
            f"use pydantic models whose fields survive a JSON round trip, or plain JSON data"
        )


class StartError(SuperviseError):
    """A child failed to start; its supervisor did not start either.

    Attributes:
        actor: the tree path of the child that failed.
        cause: the exception raised by its ``on_start`` (also ``__cause__``).
    """

    def __init__(self, actor: str, cause: BaseException) -> None:
        self.actor = actor
        self.cause = cause
        super().__init__(
            f"child {actor!r} failed to start: {type(cause).__qualname__}: {cause}; "
            f"the children started before it were stopped in reverse order"
        )


class PlacementError(SuperviseError):
    """A placed child could not be started on a node (a start failure of that child).

    Attributes:
        path: the tree path of the placed child.
        problem: why (no eligible node is up; its lease could not be taken), and what to do.

    .. versionadded:: 0.1
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"cannot place {path!r}: {problem}")


class RemoteExitError(SuperviseError):
    """How a placed child ended on its node, as reported back: the exception of its reason.

    The exception itself stays on that node (in its logs, with the traceback);
    its type name and message travel.

    Attributes:
        path: the tree path of the placed child.
        node: the node it ran on.
        exc_type: the class name of the exception there.
        exc_message: its message.

    .. versionadded:: 0.1
    """

    def __init__(self, path: str, node: str, exc_type: str, exc_message: str) -> None:
        self.path = path
        self.node = node
        self.exc_type = exc_type
        self.exc_message = exc_message
        super().__init__(f"{path!r} on node {node}: {exc_type}: {exc_message}")


class RestartIntensityExceeded(SuperviseError):
    """A supervisor restarted children too often and gave up.

    Its children were stopped in reverse start order and it ended with reason
    ``shutdown`` (``reached_max_restart_intensity``), as in OTP, carrying this
    error; its parent applies that child's restart type. Past the root it is
    raised to the embedding code.
    """

    def __init__(
        self,
        supervisor: str,
        max_restarts: int,
        max_seconds: float,
        last_child: str,
        last_reason: ExitReason | None = None,
    ) -> None:
        self.supervisor = supervisor
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self.last_child = last_child
        #: How the last child exited (None: not known).
        self.last_reason = last_reason
        if last_reason is None or last_reason.kind == "crash":
            last, fix = f"last crash: {last_child!r}", "fix the crashing child"
        else:  # e.g. a child supervisor that gave up, a permanent child that stops
            last, fix = f"last exit: {last_child!r}, {last_reason}", "fix why it exits"
        restarts = "restart" if max_restarts == 1 else "restarts"
        super().__init__(
            f"supervisor {supervisor!r} gave up: more than {max_restarts} {restarts} "
            f"within {max_seconds:g} s ({last}); {fix} or raise max_restarts/max_seconds"
        )


class ChildError(SuperviseError):
    """A dynamic-child request (start/terminate/restart/delete) was refused.

    Match on `code`, never on the message text.

    Attributes:
        supervisor: the supervisor's path.
        child: the child's name.
        code: OTP's answer: ``already_started`` (``start_child``: a child of that
            name runs; `ref` is its ref, as OTP's ``{already_started, Pid}``),
            ``already_present`` (its spec is kept, not running), ``running`` and
            ``restarting`` (``restart_child``/``delete_child`` of a child that runs
            or whose restart is pending), ``not_found``, and ``max_children``
            (a dynamic supervisor is full, Elixir's ``{:error, :max_children}``).
        ref: the running child's ref for ``already_started``, else None.

    .. versionchanged:: 0.1
       `code` and `ref`.
    """

    def __init__(
        self,
        supervisor: str,
        child: str,
        problem: str,
        *,
        code: ChildErrorCode,
        ref: ActorRef[Any] | SupervisorRef | TaskRef | None = None,
    ) -> None:
        self.supervisor = supervisor
        self.child = child
        self.problem = problem
        self.code: ChildErrorCode = code
        self.ref = ref
        super().__init__(f"supervisor {supervisor!r}, child {child!r}: {problem} ({code})")


class ChildNotFoundError(ChildError, LookupError):
    """The supervisor has no child of that name."""

    def __init__(self, supervisor: str, child: str) -> None:
        super().__init__(
            supervisor,
            child,
            "no such child; see which_children() for the names it has",
            code="not_found",
        )


class NameTakenError(SuperviseError):
    """A registered name is already held by another actor."""

    def __init__(self, name: str, holder: str) -> None:
        self.name = name
        self.holder = holder
        super().__init__(
            f"name {name!r} is held by actor {holder!r}; pick another name or stop that actor"
        )


class NameNotFoundError(SuperviseError, LookupError):
    """No actor is registered under that name or path."""

    def __init__(self, name: str) -> None:
        self.name = name
        if "/" in name:  # a tree path: say which supervisor to ask
            parent = name.rsplit("/", 1)[0]
            advice = (
                f"nothing is at the tree path {name!r}; check the spelling against "
                f"which_children() of {parent!r} (a child that ended for good, or was "
                f"deleted, leaves its path)"
            )
        else:
            advice = (
                f"no actor is registered as {name!r}; use a tree path such as 'root/db' "
                f"or a name given as `registered_name` in a child spec"
            )
        super().__init__(advice)


class UnsupportedEventLoopError(SuperviseError, RuntimeError):
    """A tree was opened without a running asyncio event loop (under trio, say).

    supervise runs on asyncio only (directly, or under anyio's asyncio backend):
    its processes are asyncio tasks.

    Attributes:
        library: the async library that was running instead (``"trio"``), or None.

    .. versionadded:: 0.1
    """

    def __init__(self, what: str, library: str | None) -> None:
        self.library = library
        running = (
            f"it runs under {library}, which is not supported"
            if library is not None
            else "no asyncio event loop is running in this thread"
        )
        super().__init__(
            f"{what} needs a running asyncio event loop, but {running}; supervise runs on "
            f"asyncio only: start it with asyncio.run(), or anyio.run(..., backend='asyncio')"
        )


class ChildKindError(SuperviseError, TypeError):
    """A typed lookup (``tree.actor``, ``tree.supervisor``, ``tree.task``) found another kind.

    Attributes:
        name: the path or registered name looked up.
        expected: what was asked for (``"an actor of class Counter"``, ``"a supervisor"``).
        found: what is there (``"a task"``, ``"an actor of class Cache"``).

    Two classes of one name (one module imported twice, as ``__main__`` and by its
    path) are told apart by their import paths.

    .. versionadded:: 0.1
    """

    def __init__(self, name: str, expected: str, found: str, advice: str | None = None) -> None:
        self.name = name
        self.expected = expected
        self.found = found
        advice = advice or (
            "look it up with the method for what it is (actor, supervisor, task), "
            "or use whereis() for any kind"
        )
        super().__init__(f"{name!r} is {found}, not {expected}; {advice}")


class UsageError(SuperviseError, RuntimeError):
    """supervise was used in a state that does not allow it.

    A tree started twice or waited for before it started, a task waiting for its
    own end, a demonitored monitor awaited: the message says what to do instead.

    Attributes:
        where: what was used (``"tree 'root'"``, ``"task 'root/poller'"``).
        problem: what is wrong and what to do.

    .. versionadded:: 0.1
    """

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


class ArgumentError(SuperviseError, ValueError):
    """An argument has a value or kind the function does not take.

    Attributes:
        where: the function and argument (``"send_after delay"``).
        problem: what was expected, what was given, and what to do.

    .. versionadded:: 0.1
    """

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


class NodeDownError(SuperviseError):
    """The node a call or request went to is down (OTP's ``{nodedown, Node}``).

    Raised at once for a request to a node already known to be down, and for every
    pending request to a node when it is declared down (its reply will never come).

    Attributes:
        node: the node's name.
        how: how it was found down: ``disconnect`` (the server saw its connection drop),
            ``heartbeat`` (no heartbeat for misses x interval), ``no_responders``
            (nothing answered on its subjects) or ``restarted`` (a new incarnation).
        target: the actor name or operation the request was for.

    .. versionadded:: 0.1
    """

    def __init__(self, node: str, how: str, target: str) -> None:
        self.node = node
        self.how = how
        self.target = target
        super().__init__(
            f"node {node!r} is down ({how}), so {target!r} on it cannot answer; "
            f"the node's supervisor restarts or relocates what ran there, look it up again"
        )


class NotServedError(NameNotFoundError):
    """No node in the cluster serves the name (NATS answered: no responders).

    Attributes:
        name: the registered name.
        cluster: the cluster that was asked.
        node: the node asked, or None when the whole cluster was.

    .. versionadded:: 0.1
    """

    def __init__(self, name: str, cluster: str, node: str | None = None) -> None:
        SuperviseError.__init__(
            self,
            f"no node of cluster {cluster!r} serves the name {name!r}"
            + (f" (asked node {node!r})" if node is not None else "")
            + "; start an actor with that `registered_name` in a tree a node serves, "
            "or check the cluster name",
        )
        self.name = name
        self.cluster = cluster
        self.node = node


class RemoteError(SuperviseError):
    """A request failed on the node that served it.

    Attributes:
        node: the node that answered.
        target: the actor name or operation the request was for.
        code: what failed: ``not_running``, ``bad_message``, ``call_failed``,
            ``actor_exited``, ``mailbox_full``, ``bad_reply``, ``unknown_op`` or
            ``op_failed``.
        detail: the serving node's description (``"ValueError: boom"``).

    .. versionadded:: 0.1
    """

    def __init__(self, node: str, target: str, code: str, detail: str) -> None:
        self.node = node
        self.target = target
        self.code = code
        self.detail = detail
        super().__init__(f"{target!r} on node {node!r} failed ({code}): {detail}")


class WireError(SuperviseError, ValueError):
    """A payload on a supervise subject is oversized or not exactly one valid envelope.

    A node that receives one logs ``message_rejected`` and drops it; a sender gets it
    for a message that cannot be sent as JSON within the size limit.

    Attributes:
        subject: the NATS subject.
        problem: what is wrong with it.

    .. versionadded:: 0.1
    """

    def __init__(self, subject: str, problem: str) -> None:
        self.subject = subject
        self.problem = problem
        super().__init__(f"message on {subject!r} rejected: {problem}")
