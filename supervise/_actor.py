"""The `Actor` base class: state plus hooks, reached only through an `ActorRef`.

An actor declares the pydantic models it accepts as its type parameter, and
optionally a config model as the annotation of ``config``::

    class Increment(BaseModel, frozen=True):
        by: int = 1

    class Get(BaseModel, frozen=True):
        pass

    class CounterConfig(BaseModel):
        start: int = 0

    class Counter(Actor[Increment | Get]):
        config: CounterConfig

        async def on_start(self) -> None:
            self.value = self.config.start

        async def handle(self, msg: Increment | Get) -> int | None:
            match msg:
                case Increment(by=by):
                    self.value += by
                case Get():
                    return self.value
            return None

Nothing is shared between actors: frozen models whose fields are immutable
values are passed by reference; any other message model is deep-copied by the
sender, so the receiver can never see the sender mutate it (or vice versa).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from pydantic import BaseModel

from ._behaviour import Behaviour, read_declarations
from ._errors import ActorNotRunningError, UsageError
from ._link import link as link_processes
from ._link import unlink as unlink_processes
from ._monitor import start_monitor
from ._reason import NORMAL, shutdown
from ._timers import _seconds, start_timer

if TYPE_CHECKING:
    from ._monitor import Monitor
    from ._process import ActorProcess
    from ._reason import ExitReason
    from ._ref import ActorRef, Watchable
    from ._registry import Registry
    from ._timers import TimerHandle

MsgT = TypeVar("MsgT")
ReplyT = TypeVar("ReplyT")


class Request(BaseModel, Generic[ReplyT], frozen=True):
    """A message that declares the type of its reply: ``class Get(Request[int], frozen=True)``.

    ``await ref.call(Get())`` is then typed ``int`` for mypy and pyright; other
    messages' calls return ``Any``. The reply is whatever ``handle`` returns for
    it, so keep the two in step (the type checker cannot see inside ``handle``)::

        class Get(Request[int], frozen=True):
            pass

        class Counter(Actor[Increment | Get]):
            async def handle(self, msg: Increment | Get) -> int | None:
                ...

        value = await counter.call(Get())   # int

    A request is an ordinary message model otherwise: declare it in
    ``Actor[...]``; ``cast`` it too if no reply is wanted. Requests are frozen;
    say ``frozen=True`` on each one too, as type checkers want it repeated on
    a frozen model's subclasses.

    .. versionadded:: 0.1
    """


class _NotStarted:
    """An actor's ``_process`` until the runtime sets it: any use says where it is available."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        raise UsageError(
            "Actor context",
            "path, ref, registry, stop(), timers, monitors and links are set when the actor "
            "starts, not in __init__; move this code to `async def on_start(self)`",
        )


class Actor(Behaviour, Generic[MsgT]):
    """Base class of actors: subclass it, declare messages as ``Actor[A | B]``.

    Hooks (all optional except `handle`):

    - `on_start`: runs before the first message; an exception there is a
      *start failure* (the supervisor's start fails, or the restart is retried).
    - `handle`: runs for each message, one at a time; for a ``call`` its
      return value is the reply. An exception crashes the actor.
    - `on_stop`: runs when the actor stops normally or is shut down, and (best
      effort) after a crash; not after a kill.

    Attributes available from `on_start` on:
        path: the actor's tree path, e.g. ``"root/db/pool"``.
        ref: an `ActorRef` to itself.
        registry: the tree's `Registry`, to find other actors.
        config: the validated config model, if the class annotates ``config``.

    Owned by the incarnation, so gone when it ends (from `on_start` on):
    timers (`send_after`, `send_interval`), monitors (`monitor`: a `Down`
    message when another incarnation ends) and links (`link`: crash together).

    .. versionadded:: 0.1
    """

    # The instance attribute set by the runtime shadows this class-level placeholder.
    _process: ActorProcess = cast("ActorProcess", _NotStarted())

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        read_declarations(cls, Actor)
        cls._has_on_start = cls.on_start is not Actor.on_start
        cls._has_on_stop = cls.on_stop is not Actor.on_stop
        cls._has_handle = cls.handle is not Actor.handle

    # -- context, set by the runtime --------------------------------------------------

    @property
    def path(self) -> str:
        """This actor's tree path."""
        return self._process.path

    @property
    def ref(self) -> ActorRef[MsgT]:
        """An `ActorRef` to this actor's child slot."""
        return cast("ActorRef[MsgT]", self._process.child.ref)

    @property
    def registry(self) -> Registry:
        """The tree's registry, to look up other actors by path or name."""
        return self._process.child.registry

    def stop(self, detail: str | None = None) -> None:
        """Stop after the current message: reason ``normal``, or ``shutdown`` with ``detail``.

        A transient child that stops this way is not restarted.
        """
        self._process.request_stop(NORMAL if detail is None else shutdown(detail))

    # -- timers, monitors, links (see _timers, _monitor, _link) -------------------------

    def send_after(self, delay: float, msg: MsgT) -> TimerHandle:
        """Send ``msg`` to this actor's mailbox once, ``delay`` seconds from now.

        The timer belongs to this incarnation: it is cancelled when the actor
        stops, crashes or is restarted.

        Returns:
            A `TimerHandle`; ``cancel()`` it to send nothing.

        Raises:
            MessageTypeError: this actor does not accept ``msg``'s type.
            ArgumentError: ``delay`` is negative or not finite.

        .. versionadded:: 0.1
        """
        delay = _seconds("send_after delay", delay, zero_ok=True)
        return start_timer(self._process, delay, msg, None, False)

    def send_interval(self, interval: float, msg: MsgT, *, fixed_rate: bool = False) -> TimerHandle:
        """Send ``msg`` to this actor's mailbox every ``interval`` seconds, first after one.

        Args:
            interval: seconds between messages.
            msg: the message (a fresh copy each time if its model is mutable).
            fixed_rate: keep message *n* due at ``start + n * interval`` and catch
                up after a stall; by default (fixed delay) each message is due
                ``interval`` after the previous one was sent.

        Returns:
            A `TimerHandle`; ``cancel()`` it to stop the messages.

        Raises:
            MessageTypeError: this actor does not accept ``msg``'s type.
            ArgumentError: ``interval`` is not a positive finite number.

        .. versionadded:: 0.1
        """
        interval = _seconds("send_interval interval", interval, zero_ok=False)
        return start_timer(self._process, interval, msg, interval, fixed_rate)

    def monitor(self, ref: Watchable) -> Monitor:
        """Monitor the incarnation running behind ``ref`` now: one `Down` comes to this mailbox.

        This actor must declare `Down` among its messages (``Actor[Job | Down]``).
        The monitor ends with this incarnation; ``demonitor()`` ends it earlier.
        If nothing runs behind ``ref`` now, the `Down` (reason ``noproc``) is
        queued at once.

        Raises:
            MessageTypeError: this actor does not declare `Down`.

        .. versionadded:: 0.1
        """
        return start_monitor(ref._child, watcher=self._process)

    def link(self, ref: Watchable) -> None:
        """Link this incarnation with the one running behind ``ref`` now (two-way).

        If either ends abnormally (crash or killed, not stopped by its own
        supervisor), the other crashes with `LinkedExit` after the message in
        hand. Normal and shutdown ends are ignored. See ``docs/monitors.md``.

        Raises:
            ActorNotRunningError: nothing runs behind ``ref`` (OTP's ``noproc``).

        .. versionadded:: 0.1
        """
        # `_ref.child_of` is the runtime's accessor, but refs sit a layer above
        # actors (a ref hands messages to an actor, never the other way), so
        # the actor reads the slot itself.
        child = ref._child
        process = child.process
        if process is None:
            raise ActorNotRunningError(child.path)
        link_processes(self._process, process)

    def unlink(self, ref: Watchable) -> None:
        """Remove the link with the incarnation running behind ``ref``, if any.

        .. versionadded:: 0.1
        """
        process = ref._child.process
        if process is not None:
            unlink_processes(self._process, process)

    # -- hooks ------------------------------------------------------------------------

    async def on_start(self) -> None:
        """Prepare state before the first message. Raising makes the start fail."""

    async def handle(self, msg: MsgT) -> Any:
        """Handle one message; the return value is the reply to a ``call``."""
        raise NotImplementedError(
            f"{type(self).__qualname__} must define `async def handle(self, msg)`"
        )

    async def on_stop(self, reason: ExitReason) -> None:
        """Clean up. ``reason`` says why the actor is ending.

        ``raise Exit(...)`` here ends it with a ``normal`` or ``shutdown`` reason
        of its choosing instead (not after a crash, which stands).
        """
