"""Actors for tests/test_isolated.py, importable by path in an isolated actor's own process."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, JsonValue

from supervise import Actor, Down, ExitReason, Monitor, Request, SuperviseError
from supervise import Exit as ChosenExit


class Pid(Request[int], frozen=True):
    """Reply with the process id the actor runs in."""


class Add(BaseModel, frozen=True):
    n: int


class Total(BaseModel, frozen=True):
    value: int


class GetTotal(Request[Total], frozen=True):
    pass


class Fail(BaseModel, frozen=True):
    text: str


class Exit(BaseModel, frozen=True):
    code: int


class Segfault(BaseModel, frozen=True):
    pass


class Quit(BaseModel, frozen=True):
    """Raise `supervise.Exit("shutdown", detail)` from the handler: a chosen stop."""

    detail: str


class Hang(BaseModel, frozen=True):
    """Ignore SIGTERM, then block the process's loop for good."""


class Nap(BaseModel, frozen=True):
    seconds: float


class Tick(BaseModel, frozen=True):
    pass


class Ticks(Request[int], frozen=True):
    pass


class Unencodable(Request[object], frozen=True):
    """Reply with something that is not JSON data."""


class Scale(Request[float], frozen=True):
    """A float that JSON cannot carry when it is infinite (it crosses as null)."""

    factor: float


class Env(Request[str | None], frozen=True):
    """Reply with an environment variable of the actor's process."""

    name: str


class IsolatedConfig(BaseModel, frozen=True):
    #: A file each hook appends a line to: what ran in the child, seen from the test.
    journal: str | None = None
    fail_start: bool = False
    tick_every: float | None = None


class Counter(
    Actor[
        Pid
        | Add
        | GetTotal
        | Fail
        | Exit
        | Quit
        | Segfault
        | Hang
        | Ticks
        | Tick
        | Unencodable
        | Scale
        | Nap
        | Env
        | Down
    ]
):
    """Keeps a total; its hooks write to the journal; some messages end its process."""

    config: IsolatedConfig

    def _note(self, line: str) -> None:
        if self.config.journal is not None:
            with Path(self.config.journal).open("a") as journal:
                journal.write(f"{os.getpid()} {line}\n")

    async def on_start(self) -> None:
        self.total = 0
        self.ticks = 0
        if self.config.fail_start:
            raise RuntimeError("cannot start here")
        if self.config.tick_every is not None:
            self.send_interval(self.config.tick_every, Tick())
        self._note("on_start")

    async def handle(self, msg: Any) -> Any:
        match msg:
            case Pid():
                return os.getpid()
            case Env(name=name):
                return os.environ.get(name)
            case Add(n=n):
                self.total += n
            case GetTotal():
                return Total(value=self.total)
            case Fail(text=text):
                raise ValueError(text)
            case Exit(code=code):
                os._exit(code)
            case Quit(detail=detail):
                raise ChosenExit("shutdown", detail)
            case Segfault():
                ctypes.string_at(0)
            case Hang():
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                self._note("hanging")
                while True:
                    time.sleep(1)  # noqa: ASYNC251  # blocking the loop is the point
            case Nap(seconds=seconds):
                await asyncio.sleep(seconds)
            case Tick():
                self.ticks += 1
            case Ticks():
                return self.ticks
            case Unencodable():
                return {1, 2}
            case Scale(factor=factor):
                return self.total * factor
            case Down(path=path, reason=reason):
                self._note(f"down {path} {reason}")
        return None

    async def on_stop(self, reason: ExitReason) -> None:
        self._note(f"on_stop {reason.kind.value}")


# -- an isolated actor that reaches the tree's actors, and one of those -------------------


class Doubled(BaseModel, frozen=True):
    value: int


class Double(Request[Doubled], frozen=True):
    n: int


class Note(BaseModel, frozen=True):
    n: int


class Notes(Request[list[int]], frozen=True):
    pass


class Boom(BaseModel, frozen=True):
    pass


class Hold(Request[str], frozen=True):
    """Wait until the test releases the keeper (its `release` event)."""


class Keeper(Actor[Double | Note | Notes | Boom | Hold | Nap]):
    """An actor of the tree's own process that an isolated actor calls."""

    async def on_start(self) -> None:
        self.notes: list[int] = []
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def handle(self, msg: Double | Note | Notes | Boom | Hold | Nap) -> Any:
        match msg:
            case Double(n=n):
                return Doubled(value=2 * n)
            case Note(n=n):
                self.notes.append(n)
            case Notes():
                return list(self.notes)
            case Boom():
                raise ValueError("boom in the keeper")
            case Hold():
                self.holding.set()
                await self.release.wait()
                return "released"
            case Nap(seconds=seconds):
                await asyncio.sleep(seconds)
        return None


#: What a `Relay` sends to the tree's actor it is asked to reach.
Sent = Literal["double", "notes", "boom", "hold", "ping", "self"]


class Ask(Request[Any], frozen=True):
    """Call the tree's actor ``to`` with the message ``sent`` names; reply with the outcome."""

    to: str
    sent: Sent = "double"
    n: int = 0
    timeout: float | None = 5.0
    typed: bool = False  # look it up with its class (registry.actor(to, Keeper))
    whereis: bool = False  # look it up with registry.whereis(to)
    retry: bool = False


class Tell(BaseModel, frozen=True):
    """Cast Note(1) ... Note(count) to ``to``, each waiting for room."""

    to: str
    count: int


class Fan(Request[list[int]], frozen=True):
    """Call ``to`` with Double(1) ... Double(count) all at once; reply with the values."""

    to: str
    count: int


class TellNow(BaseModel, frozen=True):
    """cast_nowait Note(1) ... Note(count) to ``to``."""

    to: str
    count: int


class Watch(Request[Any], frozen=True):
    """Monitor, demonitor, link, unlink or stop the tree's actor ``to``, or exit: the outcome."""

    to: str
    how: Literal["monitor", "demonitor", "link", "unlink", "stop", "kill", "statistics", "exit"]


class Downs(Request[list[dict[str, Any]]], frozen=True):
    """The Downs that came to the relay's mailbox, in order."""


class Outcome(BaseModel, frozen=True):
    """What came of a request to the tree: the reply (its type) or the error (its text)."""

    reply: JsonValue = None
    reply_type: str | None = None
    error: str | None = None
    text: str = ""


def _outcome_of(exc: SuperviseError) -> Outcome:
    return Outcome(error=type(exc).__name__, text=str(exc))


class Relay(Actor[Ask | Tell | TellNow | Fan | Watch | Downs | Pid | Down]):
    """An isolated actor whose handlers reach the tree's other actors through its registry."""

    async def on_start(self) -> None:
        self.downs: list[Down] = []
        self.monitors: dict[str, Monitor] = {}

    async def handle(self, msg: Ask | Tell | TellNow | Fan | Watch | Downs | Pid | Down) -> Any:
        match msg:
            case Down():
                self.downs.append(msg)
            case Downs():
                return [down.model_dump(mode="json") for down in self.downs]
            case Fan(to=to, count=count):
                keeper = self.registry.actor(to, Keeper)
                calls = [keeper.call(Double(n=n)) for n in range(1, count + 1)]
                return [doubled.value for doubled in await asyncio.gather(*calls)]
            case TellNow(to=to, count=count):
                nowait = self.registry.actor(to)
                for n in range(1, count + 1):
                    nowait.cast_nowait(Note(n=n))
            case Pid():
                return os.getpid()
            case Ask():
                return await self._ask(msg)
            case Tell(to=to, count=count):
                ref = self.registry.actor(to, Keeper)
                for n in range(1, count + 1):
                    await ref.cast(Note(n=n))
            case Watch(to=to, how=how):
                ref = self.registry.actor(to)
                try:
                    if how == "monitor":
                        self.monitors[to] = self.monitor(ref)
                        return Outcome(reply=self.monitors[to].id)
                    if how == "demonitor":
                        return Outcome(reply=self.monitors.pop(to).demonitor())
                    if how == "link":
                        self.link(ref)
                    elif how == "unlink":
                        self.unlink(ref)
                    elif how == "exit":
                        os._exit(3)
                    elif how == "kill":
                        ref.kill()
                    elif how == "stop":
                        await ref.stop()
                    else:
                        ref.statistics()
                except SuperviseError as exc:
                    return _outcome_of(exc)
                return Outcome()
        return None

    async def _ask(self, ask: Ask) -> Outcome:
        if ask.whereis:
            ref: Any = self.registry.whereis(ask.to)
        elif ask.typed:
            ref = self.registry.actor(ask.to, Keeper)
        else:
            ref = self.registry.actor(ask.to)
        messages: dict[str, BaseModel] = {
            "double": Double(n=ask.n),
            "notes": Notes(),
            "boom": Boom(),
            "hold": Hold(),
            "ping": Pid(),
            "self": Ask(to=self.path),
        }
        message = messages[ask.sent]
        try:
            reply = await ref.call(message, ask.timeout, retry_while_restarting=ask.retry)
        except SuperviseError as exc:
            return _outcome_of(exc)
        if isinstance(reply, BaseModel):
            return Outcome(reply=reply.model_dump(mode="json"), reply_type=type(reply).__name__)
        return Outcome(reply=reply, reply_type=type(reply).__name__)


def children() -> set[int]:
    """This process's child processes, zombies included (not reaped yet)."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        text = (task / "children").read_text()
        found.update(int(pid) for pid in text.split())
    return found


def gone(pid: int) -> bool:
    """Whether ``pid`` has ended (gone, or a zombie waiting for its new parent to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
