"""Embedding: run a supervision tree inside any asyncio application.

::

    async with open_tree(spec) as tree:
        counter = tree.actor("root/counter", Counter)
        await counter.cast(Increment())

Entering starts the tree (children in order) and raises `StartError` if a
child fails to start. Leaving the block, or cancelling the task that runs it,
stops the tree in reverse order. If the root supervisor gives up (restart
intensity exceeded past the root), the block's body is cancelled and
`RestartIntensityExceeded` is raised from the ``async with``. A host that
must act on that from elsewhere (a web server to shut down) passes
``on_give_up=`` or watches ``await tree.wait()``; see docs/embedding.md.

Works on asyncio, including under anyio's asyncio backend. trio is not supported
(the runtime is built on asyncio tasks for speed): entering a tree there raises
`UnsupportedEventLoopError`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, final, overload

import anyio

from ._child import Child
from ._control import ControlServer
from ._dead_letters import DeadLetters
from ._errors import ActorExitedError, StartError, UnsupportedEventLoopError, UsageError
from ._launch import launch
from ._loader import load_tree
from ._metrics import MetricsOptions, TreeMetrics
from ._process import Process
from ._reason import SHUTDOWN, ends_program
from ._ref import ActorRef, SupervisorRef, _until_ended
from ._registry import Registry, register, set_placer
from ._snapshot import Rates, TreeSnapshot, take_snapshot
from ._supervisor import Supervisor
from ._task import TaskRef
from ._watchdog import LoopWatchdog, attach, detach
from .spec import DynamicSupervisorSpec, SupervisorSpec

if TYPE_CHECKING:
    from ._actor import Actor
    from ._http import HttpServer
    from ._prometheus import TreesCollector
    from ._subtree_host import Membership

MsgT = TypeVar("MsgT")


@final
class Tree:
    """A running supervision tree; get one from `open_tree`.

    Attributes:
        spec: the root's spec.
        registry: find actors by tree path or registered name.
        dead_letters: undelivered messages, counted and logged.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        spec: SupervisorSpec | DynamicSupervisorSpec,
        on_give_up: Callable[[BaseException], object] | None = None,
        watchdog: bool = False,
        control: str | os.PathLike[str] | None = None,
        metrics: bool | MetricsOptions = False,
        http: str | None = None,
    ) -> None:
        self.spec = spec
        self._control_path = control
        self._control: ControlServer | None = None
        self._http_address = None if http is None else parse_http_address(http)
        self._http: HttpServer | None = None
        self._on_give_up = on_give_up
        self._watch = watchdog
        self._watchdog: LoopWatchdog | None = None
        self.registry: Registry = Registry()
        self.dead_letters: DeadLetters = DeadLetters()
        self._root = Child(spec, spec.name, None, self.registry, self.dead_letters)
        self._metrics: TreeMetrics | None = None
        self._collector: TreesCollector | None = None
        if metrics is not False or http is not None:
            self._collector = prometheus_collector("metrics" if http is None else "http")
            options = metrics if isinstance(metrics, MetricsOptions) else MetricsOptions()
            self._metrics = TreeMetrics(spec.name, self._root, self.dead_letters, options)
        self._process: Supervisor | None = None
        self._failure: BaseException | None = None
        #: Whether `wait` raised the failure (a tree started by `testing.TreeStarter`
        #: that gave up unseen fails the test at teardown).
        self._failure_raised = False
        self._ended: asyncio.Event | None = None
        self._scope: anyio.CancelScope | None = None
        self._rates = Rates()
        self._membership: Membership | None = None

    @property
    def root(self) -> SupervisorRef:
        """The root supervisor's ref (dynamic children, inspection)."""
        ref = self._root.ref
        assert isinstance(ref, SupervisorRef)
        return ref

    def whereis(self, name: str) -> ActorRef[Any] | SupervisorRef | TaskRef:
        """The ref at tree path ``name`` (``"root/db"``) or registered as ``name``.

        Raises:
            NameNotFoundError: nothing is there.
        """
        return self.registry.whereis(name)

    @overload
    def actor(self, path: str) -> ActorRef[Any]: ...
    @overload
    def actor(self, path: str, actor: type[Actor[MsgT]]) -> ActorRef[MsgT]: ...
    def actor(self, path: str, actor: type[Actor[Any]] | None = None) -> ActorRef[Any]:
        """The `ActorRef` at ``path``, typed by its actor class (see `Registry.actor`).

        ``tree.actor("root/counter", Counter)`` is an ``ActorRef[Increment | Get]``
        for a ``Counter(Actor[Increment | Get])``.

        Raises:
            NameNotFoundError: nothing is there.
            ChildKindError: a supervisor or task is there, or an actor of another class.

        .. versionadded:: 0.1
        """
        if actor is None:
            return self.registry.actor(path)
        return self.registry.actor(path, actor)

    def supervisor(self, path: str) -> SupervisorRef:
        """The `SupervisorRef` at ``path``.

        Raises:
            NameNotFoundError: nothing is there.
            ChildKindError: an actor or a task is there.

        .. versionadded:: 0.1
        """
        return self.registry.supervisor(path)

    def task(self, path: str) -> TaskRef:
        """The `TaskRef` at ``path``.

        Raises:
            NameNotFoundError: nothing is there.
            ChildKindError: an actor or a supervisor is there.

        .. versionadded:: 0.1
        """
        return self.registry.task(path)

    async def snapshot(self) -> TreeSnapshot:
        """The running tree as data: every node's state, restarts, mailbox and rates.

        Read from counters the runtime keeps, in chunks of nodes between which
        the event loop runs on (100,000 actors: no stall of the loop longer than
        about 20 ms of CPU), so nodes read in different chunks are read at
        different moments; each node's fields are read together. The nodes are
        kept as plain rows and each `NodeSnapshot` is built when it is read.
        ``events_per_second`` is measured since the previous snapshot of this
        tree. See docs/watching.md.

        .. versionadded:: 0.1
        """
        return await take_snapshot(self.spec.name, self._root, self.dead_letters, self._rates)

    @property
    def http_url(self) -> str | None:
        """The HTTP endpoint's address (``http://127.0.0.1:9464``) while it serves, else None.

        With port 0 in ``open_tree(..., http="127.0.0.1:0")``, the port picked.

        .. versionadded:: 0.1
        """
        return None if self._http is None else self._http.url

    @property
    def running(self) -> bool:
        """Whether the root supervisor runs."""
        return self._process is not None and self._process.reason is None

    async def start(self) -> None:
        """Start the tree: every child in order. Prefer ``async with open_tree(...)``.

        Raises:
            StartError: a child failed to start; the started ones were stopped.
            KeyboardInterrupt, SystemExit: an ``on_start`` raised it; the started
                ones were stopped.
            UsageError: the tree was started already.
        """
        if self._process is not None:
            raise UsageError(
                f"tree {self.spec.name!r}",
                "it was started already; a Tree runs once: open a new one with open_tree(spec)",
            )
        _require_asyncio(f"open_tree({self.spec.name!r})")
        self._ended = asyncio.Event()
        if self.spec.cluster is not None:
            self._membership = await _join(self.spec, self.registry, self.dead_letters)
            set_placer(self.registry, self._membership.placer)
        try:
            await self._start_root()
        except BaseException:
            await self._leave()
            raise

    async def _start_root(self) -> None:
        metrics = self._metrics
        if metrics is not None:
            assert self._collector is not None
            self._collector.add(metrics)  # first: a tree of the same name is refused here
            metrics.loop = asyncio.get_running_loop()
        register(self.registry, self._root)
        if self._watch:
            # A first cancel scope imports anyio's asyncio backend (tens of milliseconds,
            # more on a loaded machine): before the watchdog watches, or it reports the
            # tree's own start as a blocked loop.
            anyio.CancelScope()
            self._watchdog = attach(self.spec.name, self.registry, self.spec)
        process = launch(self._root)
        assert isinstance(process, Supervisor)  # the root's spec is a supervisor's
        process.metrics = metrics
        process.on_exit = self._root_exited
        self._process = process
        self._root.process = process
        # The root has no supervisor to stamp its start (`Supervisor._record_start`).
        self._root.last_started_at = asyncio.get_running_loop().time()
        process.start()
        try:
            await process.started
        except asyncio.CancelledError:
            # The host gave up waiting: abort the start (what started stops, in
            # reverse order), wait for that, then let the cancellation through.
            process.request_stop(SHUTDOWN)
            await _until_ended(process)
            raise
        except StartError as exc:
            if ends_program(exc.cause):  # it asks the program to end: not a start failure
                raise exc.cause from None
            raise
        self._root.incarnation = 1
        self._root.wake_running()
        try:
            if self._membership is not None:
                # Started once every node's whereis finds its registered names.
                await self._membership.conn.wait_serving()
            if self._control_path is not None:
                self._control = ControlServer(self, self._control_path)
                await self._control.start()
            if self._http_address is not None:
                from ._http import HttpServer

                self._http = HttpServer(self, *self._http_address)
                await self._http.start()
        except BaseException:
            await self.stop()
            raise

    def _root_exited(self, process: Process) -> None:
        self._root.process = None
        if self._collector is not None and self._metrics is not None:
            self._collector.remove(self._metrics)
        if self._watchdog is not None:
            detach(self._watchdog, self.registry)
            self._watchdog = None
        reason = process.reason
        assert reason is not None
        if not reason.is_normal or reason.exception is not None:
            # Escalation past the root (a crash, or giving up): the tree is over;
            # tell the embedding code.
            failure = self._failure = reason.exception or ActorExitedError(process.path, reason)
            if self._on_give_up is not None:
                try:
                    self._on_give_up(failure)
                except Exception as exc:
                    # The host's hook failing must not hide the give-up: report it
                    # as asyncio reports a failing callback, and go on.
                    asyncio.get_running_loop().call_exception_handler(
                        {
                            "message": f"open_tree on_give_up hook {self._on_give_up!r} raised",
                            "exception": exc,
                        }
                    )
            if self._scope is not None:
                self._scope.cancel()
        if self._ended is not None:
            self._ended.set()

    async def wait(self) -> None:
        """Wait until the tree ends.

        Raises:
            RestartIntensityExceeded: the root supervisor gave up.
            UsageError: the tree has not been started.
        """
        if self._ended is None:
            raise UsageError(
                f"tree {self.spec.name!r}",
                "wait() was called before the tree started; enter `async with open_tree(...)` "
                "(or await tree.start()) first",
            )
        await self._ended.wait()
        if self._failure is not None:
            self._failure_raised = True
            raise self._failure

    async def stop(self) -> None:
        """Stop the tree in reverse start order and wait until it has ended (idempotent).

        Cancelling the caller does not cut the wait short: it returns once every
        child has stopped or been abandoned within its ``shutdown``, then the
        cancellation is raised.
        """
        http, self._http = self._http, None
        if http is not None:
            await http.close()
        control, self._control = self._control, None
        if control is not None:
            await control.close()
        process = self._process
        if process is None:
            return
        if process.reason is None:
            process.request_stop(SHUTDOWN)
            await _until_ended(process)
        await self._leave()

    async def _leave(self) -> None:
        """Leave the cluster, if the tree is in one: hosted copies stop, then the node."""
        membership, self._membership = self._membership, None
        if membership is not None:
            set_placer(self.registry, None)
            await membership.close()

    @property
    def node(self) -> str | None:
        """This process's node name in its cluster (None without a ``cluster`` block).

        .. versionadded:: 0.1
        """
        return None if self.spec.cluster is None else self.spec.cluster.node

    async def __aenter__(self) -> Tree:
        await self.start()
        scope = anyio.CancelScope()
        scope.__enter__()
        self._scope = scope
        if self._failure is not None:  # it gave up before we got here
            scope.cancel()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        scope, self._scope = self._scope, None
        swallowed = False
        try:
            if scope is not None:
                swallowed = bool(scope.__exit__(exc_type, exc, tb))
        finally:
            # Stop in order even when the host task is being cancelled.
            with anyio.CancelScope(shield=True):
                await self.stop()
        if self._failure is not None and (exc is None or swallowed):
            raise self._failure
        return swallowed


def parse_http_address(address: str) -> tuple[str, int]:
    """``open_tree(..., http=address)``'s (host, port).

    Raises:
        UsageError: prometheus-client (the ``metrics`` extra) is not installed.
        ArgumentError: not a loopback ``HOST:PORT``.
    """
    prometheus_collector("http")  # the endpoint serves metrics: the extra is needed first
    from ._http import parse_address

    return parse_address(address)


def prometheus_collector(option: str) -> TreesCollector:
    """The process's collector of trees' metrics.

    Raises:
        UsageError: prometheus-client (the ``metrics`` extra) is not installed.
    """
    try:
        from ._prometheus import COLLECTOR
    except ImportError as exc:
        if not (exc.name or "").startswith("prometheus_client"):
            raise
        raise UsageError(
            f"open_tree(..., {option}=...)",
            "Prometheus metrics need the prometheus-client package, which is not installed; "
            "pip install 'supervise[metrics]'",
        ) from exc
    return COLLECTOR


async def _join(
    spec: SupervisorSpec | DynamicSupervisorSpec, registry: Registry, dead_letters: DeadLetters
) -> Membership:
    """Join the tree's cluster (the ``nats`` extra, imported only here)."""
    cluster = spec.cluster
    assert cluster is not None
    if importlib.util.find_spec("nats") is None:
        raise UsageError(
            f"tree {spec.name!r}",
            "its cluster block needs the nats extra: pip install 'supervise[nats]' (or "
            "remove the cluster block to run every child in this process)",
        )
    from ._subtree_host import join_cluster

    return await join_cluster(cluster, spec.name, registry, dead_letters)


def _require_asyncio(what: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise UnsupportedEventLoopError(what, _running_library()) from None


def _running_library() -> str | None:
    """The async library running this thread, if it is one we can name (trio)."""
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            return "trio"
    return None


def open_tree(
    spec: SupervisorSpec | DynamicSupervisorSpec | dict[str, Any],
    *,
    on_give_up: Callable[[BaseException], object] | None = None,
    watchdog: bool = False,
    control: str | os.PathLike[str] | None = None,
    metrics: bool | MetricsOptions = False,
    http: str | None = None,
) -> Tree:
    """Open a supervision tree for ``async with``.

    Args:
        spec: the root supervisor's spec, or a dict read as `load_tree` reads one
            (``${VAR}`` interpolation included).
        on_give_up: called once with the exception (`RestartIntensityExceeded`)
            if the root supervisor gives up, after the tree has stopped and before
            the ``async with`` body is cancelled. For hosts that must act on it
            from elsewhere: a web server exits so that systemd or Kubernetes
            starts a fresh process, as an Erlang node does (docs/embedding.md).
            It runs in the event loop and must not block; if it raises, the error
            goes to the loop's exception handler and the give-up goes on as usual.
        watchdog: run the loop watchdog while the tree runs: a thread that logs
            ``event_loop_blocked`` when the event loop does not turn for longer
            than the block threshold (``block_threshold`` in the specs, default
            0.1 s), naming the actor and message that block it (see
            docs/asyncio-and-the-beam.md). ``supervise run`` turns it on.
        control: serve the control endpoint on a Unix socket at this path while
            the tree runs (mode 0600, its owner only): snapshots and a few safe
            operations for ``supervise inspect`` and ``supervise top`` (see
            docs/watching.md).
        metrics: count the tree's metrics and report them in prometheus-client's
            default registry while it runs (the ``metrics`` extra): restarts,
            crashes, mailbox depths, call latencies by tree path, dead letters.
            True, or `MetricsOptions` (the children of a dynamic supervisor are
            counted together by default). See docs/watching.md, "Metrics".
        http: serve ``/metrics`` (Prometheus text format) and ``/snapshot`` (JSON)
            over HTTP at this address while the tree runs, ``127.0.0.1:PORT`` or
            ``[::1]:PORT`` (port 0: any free one, see `Tree.http_url`); turns
            ``metrics`` on. Other hosts are refused.

    Returns:
        A `Tree`; entering it starts the tree, leaving it stops it. With a ``cluster``
        block, entering returns once the other nodes find its registered names.

    Raises:
        TreeFileError: the dict is not a valid tree; every problem is listed.
        UnsupportedEventLoopError: (on entering) no asyncio event loop runs, as under trio.
        UsageError: prometheus-client is not installed (``metrics`` or ``http``); or,
            on entering, the control socket or the HTTP address cannot be bound (the
            tree is stopped), or a running tree of the same name exports metrics, or
            the NATS server did not take its registered names within 5 s (the tree is
            stopped).
        ArgumentError: ``http`` is not a loopback ``HOST:PORT``.

    .. versionadded:: 0.1
    """
    if isinstance(spec, dict):
        # The loader's dict path: every problem listed with its field, as a TreeFileError.
        spec = load_tree(spec)
    return Tree(spec, on_give_up, watchdog, control, metrics, http)


def unraised_failure(tree: Tree) -> BaseException | None:
    """The give-up that ended ``tree`` if no caller has had it raised yet; marks it raised.

    For the test harness, which stops trees it started for a test and must not
    let a give-up nobody saw pass silently (see ``supervise.testing``).
    """
    if tree._failure is None or tree._failure_raised:
        return None
    tree._failure_raised = True
    return tree._failure
