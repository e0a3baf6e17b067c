"""Tree specs: pydantic models for supervisors and their children.

The same models are built from Python or loaded from YAML/JSON files; a tree
is a `SupervisorSpec` whose ``children`` are `ChildSpec` (an actor),
`TaskSpec` (a plain ``async def`` function), `SupervisorSpec` (a nested
supervisor) or `DynamicSupervisorSpec`::

    SupervisorSpec(
        name="root",
        strategy="rest_for_one",
        children=[
            ChildSpec(name="db", actor="myapp.db:Database", args={"dsn": "..."}),
            ChildSpec(name="api", actor=Api, shutdown=10),
        ],
    )

Defaults follow Elixir, which follows OTP except for the restart intensity:
``max_restarts=3`` in ``max_seconds=5`` (OTP's default is 1 in 5, which is
stricter). Workers get ``shutdown=5`` seconds, supervisors ``"infinity"``.
"""

from __future__ import annotations

import enum
import inspect
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ClassVar,
    Final,
    Generic,
    Literal,
    TypeVar,
    get_args,
    overload,
)

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PrivateAttr,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_core.core_schema import ErrorType

from ._behaviour import Behaviour, _sync_hook
from ._errors import SpecError
from ._imports import import_path_of, resolve_import_path


class Strategy(enum.StrEnum):
    """Which children a supervisor restarts when one of them exits."""

    #: Only the child that exited.
    ONE_FOR_ONE = "one_for_one"
    #: Every child: the others are stopped (reverse order), then all start again.
    ONE_FOR_ALL = "one_for_all"
    #: The child that exited and every child started after it.
    REST_FOR_ONE = "rest_for_one"


class Restart(enum.StrEnum):
    """When a child is restarted (OTP's restart types)."""

    #: Always, whatever the reason it ended.
    PERMANENT = "permanent"
    #: Only after an abnormal end (crash or killed).
    TRANSIENT = "transient"
    #: Never; its spec is removed once it ends.
    TEMPORARY = "temporary"


class AutoShutdown(enum.StrEnum):
    """When a supervisor stops itself because significant children ended (OTP 24+).

    Only the ends a child makes by itself and that are not restarted count: a
    transient child ending ``normal``/``shutdown``, a temporary child ending any
    way. Ends the supervisor causes (``terminate_child``, a group restart, its
    own shutdown) never do.
    """

    #: Never (the default); no child may be significant.
    NEVER = "never"
    #: As soon as any significant child has ended so.
    ANY_SIGNIFICANT = "any_significant"
    #: Once every significant child has ended so (none is running or restarting).
    ALL_SIGNIFICANT = "all_significant"


class Overflow(enum.StrEnum):
    """What a sender does when the mailbox is full."""

    #: Wait for room (backpressure).
    WAIT = "wait"
    #: Raise `MailboxFull` at once.
    FAIL = "fail"


class Execution(enum.StrEnum):
    """Where an actor's handler runs."""

    #: On the tree's event loop (the default): the cheapest, but a handler that
    #: computes or blocks stops every actor on the loop meanwhile.
    LOOP = "loop"
    #: In a worker thread (one per incarnation at most), off the loop.
    THREAD = "thread"
    #: In a worker process of the incarnation's own; messages and replies cross as JSON.
    PROCESS = "process"
    #: The whole actor (state, hooks, timers) in an OS process of its own with its own
    #: event loop; messages and replies cross as JSON, and a kill is SIGKILL.
    ISOLATED = "isolated"


class OnBlock(enum.StrEnum):
    """What an actor's blocking of the event loop (past its block threshold) leads to."""

    #: Log ``event_loop_blocked`` and ``event_loop_unblocked``; nothing else.
    WARN = "warn"
    #: Also crash the incarnation once its handler returns (detail ``blocked_loop``).
    CRASH = "crash"


class OnNodedown(enum.StrEnum):
    """What becomes of a placed child whose node is lost (``placement.on_nodedown``).

    In every case the child first exits with reason ``nodedown`` (abnormal), as
    Erlang's links fire with ``noconnection``; this says where its restart goes.
    """

    #: Restart at once on another eligible node (the first live one of ``prefer``,
    #: or a live node with the ``labels``); the default for ``prefer`` and ``labels``.
    RELOCATE = "relocate"
    #: Restart on the same node, waiting up to ``grace`` seconds for it to come back,
    #: then on any eligible node (OTP's distributed applications); the default for ``node``.
    WAIT = "wait"
    #: Do not restart it after losing its node, whatever its restart type; its
    #: slot stays stopped (``restart_child`` starts it again) and no restart is counted.
    STOP = "stop"


_R = TypeVar("_R")
_A = TypeVar("_A")

if TYPE_CHECKING:

    class _Lenient(Generic[_R, _A]):
        """For type checkers only: a field read as ``_R`` that is also given as ``_A``.

        ``SupervisorSpec(strategy="one_for_one")`` is what people write (and what tree
        files hold); pydantic turns the word into ``Strategy.ONE_FOR_ONE``, so reading
        the field always gives the enum. Likewise ``children`` takes any sequence of
        child specs (a ``list[ChildSpec]`` too, which a ``list[AnyChildSpec]`` parameter
        would refuse, lists being invariant) and reading it gives a list. Typed as a
        descriptor, the field's ``__init__`` parameter takes ``_R | _A`` (its ``__set__``
        type) while reading gives ``_R``. At run time the annotation is ``_R`` itself.
        """

        @overload
        def __get__(self, obj: None, owner: object) -> _Lenient[_R, _A]: ...
        @overload
        def __get__(self, obj: object, owner: object) -> _R: ...
        def __get__(self, obj: object, owner: object) -> _R | _Lenient[_R, _A]: ...
        def __set__(self, obj: object, value: _R | _A) -> None: ...

    _StrategyField = _Lenient[Strategy, Literal["one_for_one", "one_for_all", "rest_for_one"]]
    _RestartField = _Lenient[Restart, Literal["permanent", "transient", "temporary"]]
    _OverflowField = _Lenient[Overflow, Literal["wait", "fail"]]
    _AutoShutdownField = _Lenient[
        AutoShutdown, Literal["never", "any_significant", "all_significant"]
    ]
    _OnBlockField = _Lenient[OnBlock, Literal["warn", "crash"]]
    _ExecutionField = _Lenient[Execution, Literal["loop", "thread", "process", "isolated"]]
    _OnNodedownField = _Lenient[OnNodedown | None, Literal["relocate", "wait", "stop"] | None]

    def _default(value: _R) -> _Lenient[_R, Any]:
        """The field's default (the value itself at run time)."""
        ...

    def _default_factory(factory: Callable[[], _R]) -> _Lenient[_R, Any]:
        """The field's default factory (``Field(default_factory=...)`` at run time)."""
        ...

else:
    _StrategyField, _RestartField, _OverflowField = Strategy, Restart, Overflow
    _AutoShutdownField = AutoShutdown
    _OnBlockField = OnBlock
    _ExecutionField = Execution
    _OnNodedownField = OnNodedown | None

    def _default(value: object) -> object:
        return value

    def _default_factory(factory: Callable[[], object]) -> object:
        return Field(default_factory=factory)


_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"

Name = Annotated[str, Field(pattern=_NAME_PATTERN, min_length=1, max_length=200)]
"""A child name: letters, digits, ``_``, ``.`` and ``-`` (``/`` separates tree paths)."""

Shutdown = Annotated[
    # The words first: in lax mode pydantic would read the string "infinity" as
    # the float inf. Infinite or NaN seconds are refused for the same reason.
    Literal["brutal_kill", "infinity"] | Annotated[float, Field(ge=0, allow_inf_nan=False)],
    Field(union_mode="left_to_right"),
]
"""Seconds (a number >= 0), ``"brutal_kill"`` or ``"infinity"``."""


def _significant_needs_an_end(significant: bool, info: ValidationInfo) -> bool:
    if significant and info.data.get("restart") is Restart.PERMANENT:
        raise ValueError(
            "a permanent child cannot be significant: it never ends for good "
            "(OTP: bad_combination, restart permanent with significant true); "
            "make it transient or temporary, or remove significant"
        )
    return significant


#: Whether the child's own end may stop its supervisor (see `AutoShutdown`); not
#: for a permanent child. Declared after ``restart``, which it reads.
_Significant = Annotated[bool, AfterValidator(_significant_needs_an_end)]


BlockThreshold = Annotated[float, Field(gt=0, allow_inf_nan=False)]
"""Seconds the event loop may go without turning before the watchdog reports it."""


def _switch_interval_needs_a_thread(interval: float | None, info: ValidationInfo) -> float | None:
    execution = info.data.get("execution")
    if interval is not None and execution in (Execution.PROCESS, Execution.ISOLATED):
        raise ValueError(
            f"switch_interval only applies to a handler run in a thread (execution thread), "
            f"and this child has execution {execution.value}; remove switch_interval, or "
            f"use execution thread"
        )
    return interval


#: The interpreter's thread switch interval while the child's handler runs in a
#: thread (see `ChildSpec`); checked only when given, so the default never fails.
#: Declared after ``execution``, which it reads.
_SwitchInterval = Annotated[
    float | None,
    Field(gt=0, le=1, allow_inf_nan=False),
    AfterValidator(_switch_interval_needs_a_thread),
]


def _to_actor_class(value: object) -> object:
    if isinstance(value, str):
        value = resolve_import_path(value)
    if not (isinstance(value, type) and issubclass(value, Behaviour)):
        what = import_path_of(value) if isinstance(value, type) else repr(value)
        raise ValueError(
            f"{what} is not an Actor subclass; point `actor` at a class defined "
            f"as `class MyActor(Actor[Msg])`"
        )
    if not value._has_handle:
        raise ValueError(
            f"{import_path_of(value)} defines no `handle`, so every message would crash it; "
            f"define `async def handle(self, msg)`"
        )
    hook = _sync_hook(value)
    if hook is not None:
        raise ValueError(
            f"{import_path_of(value)}.{hook} is not an async function; "
            f"define it as `async def {hook}(...)`"
        )
    return value


ActorClass = Annotated[
    # The declarations of an actor class (`Actor` is the one `Behaviour`), not the runtime.
    type[Behaviour],
    BeforeValidator(_to_actor_class),
    PlainSerializer(import_path_of, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
            "description": "import path of an Actor subclass, 'package.module:Class'",
        }
    ),
]
"""An actor class, or its import path ``"package.module:Class"``."""


class _Spec(BaseModel):
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", frozen=True)

    # Built from Python, a bad value is a SpecError (a SuperviseError and a
    # ValueError) naming each bad field. ``model_validate`` stays pydantic's: the
    # file loader maps its ValidationError to file:line:col problems itself.
    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _spec_error(type(self).__name__, data, exc) from None

    # Pydantic calls a custom __init__ for nested dicts and model_validate too;
    # marked as its own, it is called only when a spec is built from Python.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]


def _spec_error(kind: str, data: dict[str, Any], exc: ValidationError) -> SpecError:
    """The SpecError for a spec built from Python: each bad field by its path."""
    problems = []
    for err in exc.errors(include_url=False):
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field; remove it or check its spelling"
        elif err["type"] in _PYDANTIC_ERROR_TYPES and err["type"] not in _NO_INPUT:
            got = repr(err["input"])
            msg += f" (got {got if len(got) <= 60 else got[:57] + '...'})"
        path = _field_path(data, err["loc"], missing=err["type"] == "missing")
        problems.append(f"{path}: {msg}" if path else msg)
    name = data.get("name")
    where = f"{kind}({'name=' + repr(name) if isinstance(name, str) else ''})"
    return SpecError(where, "; ".join(dict.fromkeys(problems)))


def _field_path(data: object, loc: tuple[int | str, ...], *, missing: bool) -> str:
    """``children[0].shutdown`` for a pydantic location, without its union tags."""
    path = ""
    for i, step in enumerate(loc):
        if isinstance(data, BaseModel) and isinstance(step, str) and hasattr(data, step):
            data = getattr(data, step)
        elif isinstance(data, dict) and (step in data or (missing and i == len(loc) - 1)):
            data = data.get(step)
        elif isinstance(data, list | tuple) and isinstance(step, int) and step < len(data):
            path += f"[{step}]"
            data = data[step]
            continue
        else:
            continue  # a union tag, not a field
        path += f".{step}"
    return path.lstrip(".")


_PYDANTIC_ERROR_TYPES = frozenset(get_args(ErrorType))
_NO_INPUT = frozenset({"missing", "value_error", "assertion_error"})


class Backoff(_Spec):
    """Delay before a restart, growing with consecutive failures (OTP has none).

    The n-th consecutive restart of a child waits
    ``min(max_seconds, min_seconds * multiplier**(n-1))``, stretched by up to
    ``jitter`` (a fraction) at random, but never past ``max_seconds``: a stretch
    past the cap is mirrored below it, so delays at the cap still differ (and
    none is shorter than ``min_seconds``). The count starts again once the child
    has run for ``reset_after`` seconds (default: ``max_seconds``).

    Attributes:
        min_seconds: the delay before the first restart in a row.
        max_seconds: the cap on the delay; at least ``min_seconds``.
        multiplier: each further restart in a row waits this many times longer.
        jitter: a random stretch of up to this fraction of the delay (0 to 1).
        reset_after: seconds a child must run before its count starts again
            (default: ``max_seconds``).
    """

    min_seconds: Annotated[float, Field(gt=0)] = 0.1
    max_seconds: Annotated[float, Field(gt=0)] = 10.0
    multiplier: Annotated[float, Field(ge=1)] = 2.0
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.2
    reset_after: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _check_range(self) -> Backoff:
        if self.max_seconds < self.min_seconds:
            raise ValueError(
                f"max_seconds ({self.max_seconds:g}) is below min_seconds "
                f"({self.min_seconds:g}); make max_seconds >= min_seconds"
            )
        return self

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before restart number ``failures`` (1-based) in a row."""
        if failures <= 0:
            return 0.0
        exponent = min(failures - 1, 64)  # past this the cap applies anyway
        base = min(self.max_seconds, self.min_seconds * self.multiplier**exponent)
        spread = (rng or random).random() * self.jitter
        delay = base * (1.0 + spread)
        if delay > self.max_seconds:
            # Mirrored below the cap rather than clamped to it: children that all
            # reached the cap would otherwise restart in lockstep.
            delay = max(self.min_seconds, 2 * self.max_seconds - delay)
        return delay

    @property
    def reset_seconds(self) -> float:
        """How long a child must run before its failure count starts again."""
        return self.reset_after if self.reset_after is not None else self.max_seconds


class MailboxSpec(_Spec):
    """An actor's mailbox: how many messages it holds and what senders do when full.

    Attributes:
        capacity: how many messages it holds (None: unbounded).
        overflow: when it is full, senders ``wait`` (backpressure) or ``fail`` at once
            (`MailboxFull`).
    """

    capacity: Annotated[int, Field(ge=1)] | None = 1000
    overflow: _OverflowField = _default(Overflow.WAIT)


_NODE_NAME_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"

NodeName = Annotated[str, Field(pattern=_NODE_NAME_PATTERN)]
"""A node, cluster or label name: up to 64 letters, digits, ``_`` and ``-``
(one token of a NATS subject).
"""

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
"""Positive, finite seconds."""


class Placement(_Spec):
    """Where a child (an actor or a whole subtree) runs when the tree has a ``cluster``.

    Exactly one of ``node``, ``labels`` and ``prefer`` says which nodes are
    eligible; the choice is made again at every (re)start among the nodes that
    are up. The placed child appears in its parent as one child: its exits,
    and the loss of its node (reason ``nodedown``), are handled by the parent's
    strategy, restart type and intensity as for a local child. In a tree file::

        - kind: supervisor
          name: ingest
          placement: {prefer: [worker-b, worker-c]}
          children: [...]

    Without a ``cluster`` block at the root, placement is ignored and the child
    runs in this process like any other.

    Attributes:
        node: pin to this node.
        labels: any node that advertises all these labels
            (``supervise node --labels gpu=true``); of several, the one running
            the fewest children placed by this tree, then by name.
        prefer: the first node of this list that is up (OTP's distributed
            applications); a node named here need not exist yet.
        on_nodedown: ``relocate``, ``wait`` or ``stop`` (see `OnNodedown`);
            default ``wait`` for ``node``, ``relocate`` for ``labels`` and ``prefer``.
        grace: for ``wait``: seconds to wait for the lost node to come back
            (default 10).

    .. versionadded:: 0.1
    """

    node: NodeName | None = None
    labels: dict[NodeName, str] | None = None
    prefer: list[NodeName] | None = None
    on_nodedown: _OnNodedownField = _default(None)
    grace: Seconds = 10.0

    @model_validator(mode="after")
    def _check_choice(self) -> Placement:
        given = [f for f in ("node", "labels", "prefer") if getattr(self, f) is not None]
        if not given:
            raise ValueError(
                "placement names no node; give one of node (pin), labels or prefer (a list)"
            )
        if len(given) > 1:
            raise ValueError(
                f"placement gives both {given[0]} and {given[1]}; give exactly one of "
                f"node, labels or prefer"
            )
        if self.labels is not None and not self.labels:
            raise ValueError(
                "placement labels is empty; give at least one label, e.g. {gpu: 'true'}"
            )
        if self.prefer is not None:
            if not self.prefer:
                raise ValueError("placement prefer is empty; list at least one node")
            twice = sorted({n for n in self.prefer if self.prefer.count(n) > 1})
            if twice:
                raise ValueError(f"placement prefer names {twice[0]!r} twice; list each node once")
        if self.node is not None and self.on_nodedown is OnNodedown.RELOCATE:
            raise ValueError(
                f"a child pinned to node {self.node!r} cannot relocate: no other node is "
                f"eligible; use prefer: [{self.node}, ...] or labels to allow other nodes, "
                f"or on_nodedown: wait or stop"
            )
        if "grace" in self.model_fields_set and self.policy is not OnNodedown.WAIT:
            raise ValueError(
                f"grace applies only to on_nodedown: wait (this placement will "
                f"{self.policy.value}); remove grace or set on_nodedown: wait"
            )
        return self

    @property
    def policy(self) -> OnNodedown:
        """``on_nodedown``, its default resolved: ``wait`` for a pin, else ``relocate``."""
        if self.on_nodedown is not None:
            return self.on_nodedown
        return OnNodedown.WAIT if self.node is not None else OnNodedown.RELOCATE


def _to_server_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


_SERVER_URL_PATTERN: Final = r"^(nats|tls|ws|wss)://\S+$"

ServerUrl = Annotated[str, Field(pattern=_SERVER_URL_PATTERN, max_length=2000)]
"""A NATS server URL."""

if TYPE_CHECKING:
    # One URL or a list of them; reading the field gives the list.
    _ServersField = _Lenient[list[str], str | Sequence[str]]
else:
    _ServersField = Annotated[
        list[ServerUrl], BeforeValidator(_to_server_list), Field(min_length=1)
    ]


class ClusterSpec(_Spec):
    """The ``cluster`` block of a tree: the transport that places children on other nodes.

    Only the root supervisor has one; without it everything runs in this
    process and ``placement`` is ignored. In a tree file::

        cluster:
          transport: nats
          servers: [nats://10.0.0.5:4222, nats://10.0.0.6:4222]
          node: api-1
          heartbeat: 0.2
          misses: 3

    Attributes:
        transport: ``nats`` (the ``supervise[nats]`` extra).
        servers: the server URLs (one string or a list), ``nats://host:port``
            (``tls://``, ``ws://`` and ``wss://`` too).
        node: this process's node name, unique in the cluster
            (``${SUPERVISE_NODE}`` reads it from the environment).
        name: the cluster's name (default ``supervise``): several clusters may
            share NATS servers without seeing each other.
        heartbeat: seconds between the liveness messages every node sends.
        misses: a node not heard from for ``misses * heartbeat`` seconds is down;
            a node cut off from the servers that long stops its placed children.
        labels: this node's labels, which ``placement: {labels: ...}`` of other
            trees select nodes by (this process hosts children placed on it, too).

    .. versionadded:: 0.1
    """

    transport: Literal["nats"] = "nats"
    servers: _ServersField
    node: NodeName
    name: NodeName = "supervise"
    heartbeat: Seconds = 0.2
    misses: Annotated[int, Field(ge=1, le=100)] = 3
    labels: dict[NodeName, Annotated[str, Field(max_length=256)]] = Field(default_factory=dict)

    @property
    def nodedown_after(self) -> float:
        """Seconds without a heartbeat after which a node is down (``misses * heartbeat``)."""
        return self.misses * self.heartbeat


class ChildSpec(_Spec):
    """A worker: an actor class, its config, and how it is supervised.

    Attributes:
        name: unique among its siblings; the tree path is ``parent/name``.
        actor: the Actor subclass, or ``"package.module:Class"``.
        args: validated against the actor's config model (its ``config`` annotation).
        restart: permanent (default), transient or temporary.
        significant: its own end (not restarted) may stop its supervisor, per the
            supervisor's ``auto_shutdown``; transient or temporary children only.
        shutdown: seconds to stop gracefully before cancellation (default 5),
            ``"brutal_kill"`` or ``"infinity"``.
        mailbox: capacity (default 1000) and overflow policy (default wait).
        registered_name: an optional name to find it by, in addition to its path.
        block_threshold: seconds its handler may block the event loop before the
            loop watchdog reports it (default: its supervisor's, 0.1 at the root).
        on_block: ``warn`` (default: log it) or ``crash`` (also crash the
            incarnation once the handler returns).
        execution: where ``handle`` runs: ``loop`` (default), ``thread`` (a worker
            thread) or ``process`` (a worker process; messages cross as JSON);
            ``isolated`` runs the whole actor in an OS process of its own (its
            class, messages and config must be importable by path there).
        switch_interval: while its handler runs in a thread (``execution: thread`` or
            ``@offload("thread")``), the interpreter's thread switch interval is at most
            this many seconds (default 0.001; Python's own is 0.005), so that the event
            loop gets the GIL back from pure-Python work within about that long. It is
            a process-wide setting: it is lowered while any such handler runs and set
            back when none does. None leaves it alone.
        placement: run it on another node of the tree's ``cluster`` (see `Placement`);
            ignored without one.
    """

    kind: Literal["worker"] = "worker"
    name: Name
    actor: _ActorField
    # validate_default: an actor whose config has required fields needs args.
    args: dict[str, Any] = Field(default_factory=dict, validate_default=True)
    restart: _RestartField = _default(Restart.PERMANENT)
    significant: _Significant = False
    shutdown: Shutdown = 5.0
    mailbox: MailboxSpec = Field(default_factory=MailboxSpec)
    registered_name: Name | None = None
    block_threshold: BlockThreshold | None = None
    on_block: _OnBlockField = _default(OnBlock.WARN)
    execution: _ExecutionField = _default(Execution.LOOP)
    switch_interval: _SwitchInterval = 0.001
    placement: Placement | None = None

    _config: BaseModel | None = PrivateAttr(default=None)

    # A field validator, not a model validator, so that bad args are reported
    # together with the other bad fields of the same child (model validators run
    # only once every field is valid). ``actor`` is declared first, so it is in
    # ``info.data`` here whenever it resolved.
    @field_validator("args")
    @classmethod
    def _check_args(cls, args: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        actor = info.data.get("actor")
        if actor is None:
            return args  # the actor failed; that error is reported on its own
        model = actor.config_model
        actor_name = import_path_of(actor)
        if model is None:
            if args:
                raise PydanticCustomError(
                    "actor_args",
                    "{message}",
                    {
                        "message": f"args given, but actor {actor_name} declares no config; "
                        f"remove `args` or annotate `config: SomeModel` in the actor class",
                        "errors": [],
                        "model": None,
                    },
                )
            return args
        try:
            model.model_validate(args)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            problems = "; ".join(
                f"args.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                + (f" (got {err['input']!r})" if err["type"] != "missing" else "")
                for err in errors
            )
            # The structured errors ride along in ``ctx`` so that the file loader
            # can point at each bad argument (``children[0].args.port``).
            raise PydanticCustomError(
                "actor_args",
                "{message}",
                {
                    "message": f"args do not fit the config of actor {actor_name} "
                    f"({model.__qualname__}): {problems}",
                    "errors": errors,
                    "model": model,
                },
            ) from None
        return args

    @model_validator(mode="after")
    def _keep_config(self) -> ChildSpec:
        model = self.actor.config_model
        if model is not None:
            self._config = model.model_validate(self.args)
        if self.execution is Execution.ISOLATED:
            _check_importable(self.actor)
        return self

    @property
    def config(self) -> BaseModel | None:
        """The validated config instance, or None if the actor declares none."""
        # Read pydantic's private-attribute dict directly: going through
        # BaseModel.__getattr__ costs about a microsecond, paid on every (re)start.
        private = self.__pydantic_private__
        return None if private is None else private["_config"]


def _check_importable(actor: type[Behaviour]) -> None:
    """An isolated actor's class, messages and config are found by import path in its process.

    Raises:
        ValueError: one of them is not reachable by its ``module:qualname``
            (defined inside a function, or in ``__main__``).
    """
    named = [("actor", actor), *(("message", m) for m in actor.accepts)]
    if actor.config_model is not None:
        named.append(("config model", actor.config_model))
    for role, cls in named:
        path = import_path_of(cls)
        try:
            found = None if cls.__module__ == "__main__" else resolve_import_path(path)
        except ValueError:
            found = None
        if found is not cls:
            raise ValueError(
                f"execution isolated: the {role} class {path} cannot be imported by that path "
                f"in the actor's own process; define it at the top level of an importable "
                f"module (not in __main__ or inside a function)"
            )


def _is_async_callable(value: object) -> bool:
    if inspect.iscoroutinefunction(value):  # also sees through functools.partial
        return True
    call = getattr(value, "__call__", None)  # noqa: B004  # an object with `async def __call__`
    return not isinstance(value, type) and inspect.iscoroutinefunction(call)


def _to_task_function(value: object) -> object:
    if isinstance(value, str):
        value = resolve_import_path(value)
    if not _is_async_callable(value):
        what = import_path_of(value) if callable(value) else repr(value)
        raise ValueError(
            f"{what} is not an async function; point `task` at a function defined "
            f"as `async def work(...)`"
        )
    return value


TaskFunction = Annotated[
    Callable[..., Awaitable[Any]],
    BeforeValidator(_to_task_function),
    PlainSerializer(import_path_of, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
            "description": "import path of an async function, 'package.module:function'",
        }
    ),
]
"""An ``async def`` function, or its import path ``"package.module:function"``."""


if TYPE_CHECKING:
    # The import-path strings ("pkg.mod:Class") are accepted by type checkers too; reading
    # the field gives the class or function they were resolved to (see `_Lenient`).
    _ActorField = _Lenient[type[Behaviour], str]
    _TaskField = _Lenient[Callable[..., Awaitable[Any]], str]
else:
    _ActorField, _TaskField = ActorClass, TaskFunction


class TaskSpec(_Spec):
    """A supervised plain task: an ``async def`` function, its arguments, how it is supervised.

    The supervisor runs ``await task(*args, **kwargs)`` as one incarnation.
    Returning ends it with reason ``normal``; raising is a crash; the
    supervisor stops it by *cancelling* it (cancellation is a plain task's
    stop signal), and ``shutdown`` bounds how long it may take to end after
    that before it is reported killed. Restart types, restart intensity and
    backoff apply exactly as for actors. In a tree file::

        - kind: task
          name: poller
          task: "myapp.jobs:poll"
          kwargs: {url: "https://example.com", every: 30}

    ``kind: task`` may be left out when the child has a ``task`` field.

    Attributes:
        name: unique among its siblings; the tree path is ``parent/name``.
        task: the ``async def`` function, or ``"package.module:function"``.
        args: positional arguments.
        kwargs: keyword arguments (checked against the function's signature).
        restart: permanent (default: a loop that returns is started again),
            transient (restarted only after a crash: a job that may finish) or
            temporary.
        significant: its own end (not restarted) may stop its supervisor, per the
            supervisor's ``auto_shutdown``; transient or temporary children only.
        shutdown: seconds to end after cancellation (default 5),
            ``"brutal_kill"`` or ``"infinity"``.

    .. versionadded:: 0.1
    """

    kind: Literal["task"] = "task"
    name: Name
    task: _TaskField
    args: list[Any] = Field(default_factory=list)
    # validate_default: a function with required parameters needs arguments.
    kwargs: dict[str, Any] = Field(default_factory=dict, validate_default=True)
    restart: _RestartField = _default(Restart.PERMANENT)
    significant: _Significant = False
    shutdown: Shutdown = 5.0

    @field_validator("kwargs")
    @classmethod
    def _check_arguments(cls, kwargs: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        task, args = info.data.get("task"), info.data.get("args")
        if task is None or args is None:
            return kwargs  # reported on their own
        try:
            signature = inspect.signature(task)
        except (TypeError, ValueError):
            return kwargs  # a builtin or C function: nothing to check against
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ValueError(
                f"args/kwargs do not fit {import_path_of(task)}{signature}: {exc}; "
                f"pass the arguments it declares"
            ) from None
        return kwargs


def _child_kind(value: object) -> str:
    if isinstance(value, dict):
        if "kind" not in value and "task" in value and "actor" not in value:
            return "task"
        return str(value.get("kind", "worker"))
    return str(getattr(value, "kind", "worker"))


def _check_unique_names(children: list[Any]) -> None:
    seen: dict[str, int] = {}
    for index, child in enumerate(children):
        if child.name in seen:
            raise PydanticCustomError(
                "duplicate_child_name",
                "{message}",
                {
                    "message": f"duplicate child name {child.name!r} at children[{index}] "
                    f"(also children[{seen[child.name]}]); sibling names must be unique",
                    "name": child.name,
                    "index": index,
                    "first": seen[child.name],
                },
            )
        seen[child.name] = index


#: Why a dynamic supervisor's template has no placement.
TEMPLATE_PLACED: Final = (
    "a dynamic supervisor's template cannot be placed; place the dynamic supervisor itself"
)


def placement_problem(spec: object, inside: str | None) -> tuple[str, str] | None:
    """What is wrong with ``cluster``/``placement`` on a child spec (or its mapping), if anything.

    ``inside`` is the name of the placed subtree this child is in, if any.
    Returns the field at fault and the message; the file loader reports the same
    problems with their positions.
    """
    if _field(spec, "cluster") is not None:
        return "cluster", (
            "only the root supervisor has a cluster block; move it to the top of the tree"
        )
    if _field(spec, "placement") is None:
        return None
    if inside is not None:
        return "placement", (
            f"this child is inside {inside!r}, which is placed already and runs whole on "
            f"one node; remove this placement, or place the children of {inside!r} "
            f"one by one instead"
        )
    return None


#: The ``auto_shutdown`` a dynamic supervisor has: never (OTP refuses any other for
#: ``simple_one_for_one``), so its children cannot be significant.
DYNAMIC = "dynamic"


def significant_problem(spec: object, auto_shutdown: object) -> str | None:
    """What is wrong with ``significant`` on a child spec (or its mapping), if anything.

    ``auto_shutdown`` is its supervisor's (`AutoShutdown` or its word), or
    `DYNAMIC` under a dynamic supervisor. The file loader reports the same
    problems with their positions.
    """
    if _field(spec, "significant") is not True:
        return None
    if auto_shutdown == DYNAMIC:
        return (
            "a dynamic supervisor's child cannot be significant: it has no auto_shutdown "
            "(OTP refuses one for simple_one_for_one); remove significant"
        )
    if auto_shutdown == AutoShutdown.NEVER:
        return (
            "significant, but its supervisor's auto_shutdown is never (OTP: bad_combination); "
            "set auto_shutdown: any_significant or all_significant on the supervisor, "
            "or remove significant"
        )
    return None


def _check_significant_children(children: Sequence[object], auto_shutdown: object) -> None:
    for index, child in enumerate(children):
        problem = significant_problem(child, auto_shutdown)
        if problem is not None:
            raise PydanticCustomError(
                "significant_problem",
                "{message}",
                {
                    "message": f"children[{index}].significant ({_field(child, 'name')!r}): "
                    f"{problem}",
                    "index": index,
                },
            )


def _field(spec: object, name: str) -> object:
    """A field of a spec, or of its mapping in a file."""
    return spec.get(name) if isinstance(spec, Mapping) else getattr(spec, name, None)


def _check_placements(children: Sequence[object], inside: str | None = None) -> None:
    for index, child in enumerate(children):
        problem = placement_problem(child, inside)
        if problem is not None:
            field, message = problem
            raise PydanticCustomError(
                "placement_problem",
                "{message}",
                {
                    "message": f"{field} of child {_field(child, 'name')!r}: {message}",
                    "index": index,
                },
            )
        grandchildren = getattr(child, "children", None)
        if grandchildren and (inside is not None or getattr(child, "placement", None)):
            _check_placements(grandchildren, inside or getattr(child, "name", None))


class _SupervisorBase(_Spec):
    name: Name
    max_restarts: Annotated[int, Field(ge=0)] = 3
    # Finite, as OTP's period: an infinite window would count every restart ever made.
    max_seconds: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 5.0
    backoff: Backoff | None = None
    restart: _RestartField = _default(Restart.PERMANENT)
    significant: _Significant = False
    shutdown: Shutdown = "infinity"
    block_threshold: BlockThreshold | None = None
    placement: Placement | None = None
    cluster: ClusterSpec | None = None


class SupervisorSpec(_SupervisorBase):
    """A supervisor: a strategy, a restart intensity and an ordered list of children.

    Attributes:
        name: its name (and the first segment of paths below it, for a root).
        strategy: one_for_one (default), one_for_all or rest_for_one.
        max_restarts, max_seconds: more than ``max_restarts`` restarts within
            ``max_seconds`` (a sliding window) and the supervisor gives up.
        backoff: optional delay before restarts.
        restart, shutdown: how its own parent treats it (default permanent, infinity).
        significant: as a child, its end may stop its parent (see `AutoShutdown`).
        block_threshold: seconds a child below may block the event loop before the
            loop watchdog reports it, unless the child sets its own (default: its
            parent's; 0.1 at the root).
        placement: run this whole subtree on another node of the tree's ``cluster``
            (see `Placement`); ignored without one.
        cluster: at the root only: the nodes children may be placed on (see `ClusterSpec`).
        auto_shutdown: ``never`` (default), ``any_significant`` or ``all_significant``:
            stop this supervisor once a significant child (any, or the last one) has
            ended by itself and is not restarted (see `AutoShutdown`).
        children: started in this order, stopped in reverse.
    """

    kind: Literal["supervisor"] = "supervisor"
    strategy: _StrategyField = _default(Strategy.ONE_FOR_ONE)
    # Before children, so that their validator can read it.
    auto_shutdown: _AutoShutdownField = _default(AutoShutdown.NEVER)
    children: _Children = _default_factory(list)

    @field_validator("children")
    @classmethod
    def _unique(cls, children: list[AnyChildSpec], info: ValidationInfo) -> list[AnyChildSpec]:
        _check_unique_names(children)
        _check_placements(children)
        auto_shutdown = info.data.get("auto_shutdown")
        if auto_shutdown is not None:  # else it is invalid, and reported on its own
            _check_significant_children(children, auto_shutdown)
        return children


class DynamicSupervisorSpec(_SupervisorBase):
    """A supervisor of children started at run time (Elixir's DynamicSupervisor).

    ``start_child(spec)`` starts any child spec (an actor, a task or a
    supervisor, each with its own restart, shutdown and args) under the name
    ``<spec name>-<n>``, so one spec can be started many times. A ``child``
    template is optional sugar: ``start_child()`` starts it as it is, and
    ``start_child(args)`` with other args. ``children`` are started at start,
    in order, as if by ``start_child``. The strategy is one_for_one; a child
    that ends for good is forgotten; shutdown stops all children at once,
    each within its own ``shutdown``.

    Attributes:
        child: an optional template (any child spec); ``start_child(args)``
            overrides an actor's ``args``; for a task, a dict overrides its
            ``kwargs`` and a list its ``args``.
        children: started at start, in order, named ``<name>-<n>`` like the
            children started later.
        max_children: refuse ``start_child`` beyond this many (None: no limit).

    .. versionchanged:: 0.1
       any child spec; ``child`` optional; ``children``.
    """

    kind: Literal["dynamic_supervisor"] = "dynamic_supervisor"
    child: _Template = None
    # 0 is valid, as in Elixir: every start_child is refused.
    max_children: Annotated[int, Field(ge=0)] | None = None
    # After max_children, so that its validator can read it.
    children: _Children = _default_factory(list)

    @field_validator("children")
    @classmethod
    def _unique(cls, children: list[AnyChildSpec], info: ValidationInfo) -> list[AnyChildSpec]:
        _check_unique_names(children)
        _check_significant_children(children, DYNAMIC)
        limit = info.data.get("max_children")
        if limit is not None and len(children) > limit:
            raise ValueError(
                f"{len(children)} children listed but max_children is {limit}; "
                f"list fewer children or raise max_children"
            )
        return children

    @field_validator("child")
    @classmethod
    def _template_not_placed(cls, child: ChildSpec | TaskSpec) -> ChildSpec | TaskSpec:
        if isinstance(child, ChildSpec) and child.placement is not None:
            raise PydanticCustomError(
                "placement_problem",
                "{message}",
                {"message": f"child.placement: {TEMPLATE_PLACED}", "index": None},
            )
        problem = significant_problem(child, DYNAMIC)
        if problem is not None:
            raise PydanticCustomError(
                "significant_problem",
                "{message}",
                {"message": f"child.significant: {problem}", "index": None},
            )
        return child


AnyChildSpec = Annotated[
    Annotated[ChildSpec, Tag("worker")]
    | Annotated[TaskSpec, Tag("task")]
    | Annotated[SupervisorSpec, Tag("supervisor")]
    | Annotated[DynamicSupervisorSpec, Tag("dynamic_supervisor")],
    Discriminator(_child_kind),
]
"""Any child of a supervisor, told apart by ``kind`` (default ``"worker"``)."""

if TYPE_CHECKING:
    _Children = _Lenient[list[AnyChildSpec], Sequence[AnyChildSpec]]
    _Template = AnyChildSpec | None
else:
    _Children = list[AnyChildSpec]
    _Template = AnyChildSpec | None

SupervisorSpec.model_rebuild()
DynamicSupervisorSpec.model_rebuild()


def _root_kind(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "supervisor"))
    return str(getattr(value, "kind", "supervisor"))


# The root of a tree file: a supervisor (the default) or a dynamic supervisor.
_TreeSpec = Annotated[
    Annotated[SupervisorSpec, Tag("supervisor")]
    | Annotated[DynamicSupervisorSpec, Tag("dynamic_supervisor")],
    Discriminator(_root_kind),
]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of tree files (YAML or JSON), for editors and validators.

    The root is a `SupervisorSpec` (``kind`` may be left out) or a
    `DynamicSupervisorSpec`. ``supervise schema`` prints it.

    Returns:
        A JSON Schema (draft 2020-12) as a dict, ready for `json.dumps`.

    .. versionadded:: 0.1
    """
    schema = TypeAdapter(_TreeSpec).json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "supervise tree file",
        "description": (
            "A supervision tree for `supervise run`: the root supervisor and its children. "
            "String values may use ${VAR} and ${VAR:-default} environment interpolation."
        ),
        **schema,
    }


__all__ = [
    "ActorClass",
    "AnyChildSpec",
    "AutoShutdown",
    "Backoff",
    "BlockThreshold",
    "ChildSpec",
    "ClusterSpec",
    "DynamicSupervisorSpec",
    "Execution",
    "MailboxSpec",
    "Name",
    "NodeName",
    "OnBlock",
    "OnNodedown",
    "Overflow",
    "Placement",
    "Restart",
    "Seconds",
    "ServerUrl",
    "Shutdown",
    "Strategy",
    "SupervisorSpec",
    "TaskFunction",
    "TaskSpec",
    "json_schema",
]
