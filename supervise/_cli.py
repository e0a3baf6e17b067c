"""The ``supervise`` command: run, check and draw tree files, and print their schema.

::

    supervise run examples/pipeline.yaml          # start; Ctrl-C stops it in order
    supervise check trees/*.yaml                  # every problem of every file; exit 1 if any
    supervise tree examples/echo.yaml --json      # the tree, for people or scripts
    supervise schema > tree.schema.json           # for editors

Actor modules are imported with the tree file's directory and the current
directory in front of ``sys.path``, so ``actor: "myapp.workers:Counter"``
finds ``myapp/`` next to the file (or where the command runs).

This is the only place that configures structlog; the library never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.metadata
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO, cast

import click
import structlog

from ._errors import (
    RestartIntensityExceeded,
    StartError,
    SuperviseError,
    TreeFileError,
    UsageError,
)
from ._imports import import_path_of
from ._loader import load_tree
from .spec import ChildSpec, DynamicSupervisorSpec, Placement, SupervisorSpec, json_schema

if TYPE_CHECKING:
    from .spec import AnyChildSpec

#: Exit statuses, documented in docs/cli.md.
EXIT_OK: Final = 0
EXIT_GAVE_UP: Final = 1
EXIT_BAD_FILE: Final = 2
EXIT_INTERNAL: Final = 3  # a bug in supervise, not in the tree file
EXIT_FORCED: Final = 130  # as a shell reports a process ended by SIGINT

_LEVELS: Final = {"debug": 10, "info": 20, "warning": 30, "error": 40}

_CONTEXT: Final[dict[str, Any]] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _version() -> str:
    from . import __version__

    return __version__


def _docs_url() -> str | None:
    """The documentation's address: pyproject.toml's [project.urls] Documentation, as installed."""
    try:
        entries: list[str] = importlib.metadata.metadata("supervise").get_all("Project-URL") or []
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return None
    for entry in entries:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "documentation":
            return url.strip().rstrip("/")
    return None


def _epilog() -> str | None:
    url = _docs_url()
    # \b: click keeps the lines as they are (an address is never wrapped).
    return f"\b\nDocumentation: {url}/\nTree files:    {url}/tree-files/" if url else None


@click.group(context_settings=_CONTEXT, epilog=_epilog())
@click.version_option(_version(), "-V", "--version", prog_name="supervise")
def main() -> None:
    """Run Erlang/OTP-style supervision trees declared in YAML or JSON files.

    A tree file names the root supervisor, its strategy and its children;
    `supervise schema` prints its JSON Schema.
    """


def _load(file: Path) -> SupervisorSpec | DynamicSupervisorSpec:
    # The file's directory first (its actor modules live beside it), then the
    # working directory, as `python script.py` and `python -m` would.
    return load_tree(file, extra_sys_path=[file.parent, Path.cwd()])


def _internal_error(file: Path) -> None:
    """Report an exception other than TreeFileError from loading ``file``: a bug of ours."""
    click.echo(
        f"supervise: internal error while loading {file}; this is a bug in supervise, "
        f"please report it with the traceback below",
        err=True,
    )
    click.echo(traceback.format_exc().rstrip(), err=True)


def _load_or_exit(file: Path) -> SupervisorSpec | DynamicSupervisorSpec:
    """The spec in ``file``; or its problems on stderr and exit 2 (3 for an internal error)."""
    try:
        return _load(file)
    except TreeFileError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_BAD_FILE)
    except Exception:
        _internal_error(file)
        sys.exit(EXIT_INTERNAL)


# -- run -------------------------------------------------------------------------------


class _LogStream:
    """Standard output for logs that survives its reader going away (``| head``).

    Python ignores SIGPIPE, so a closed pipe surfaces as BrokenPipeError on the
    next write. Like the default SIGPIPE action, that ends the run: the tree is
    stopped in order (``on_broken``) and later writes are discarded.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.broken = False
        self.on_broken: Callable[[], None] | None = None

    def isatty(self) -> bool:
        return self._stream.isatty()

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self._stream.write(text)
            except BrokenPipeError:
                self._break()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._break()

    def _break(self) -> None:
        self.broken = True
        # Point the descriptor at /dev/null so the interpreter's final flush is quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)
        if self.on_broken is not None:
            self.on_broken()


def _no_color() -> bool:
    """NO_COLOR set to anything but the empty string turns colours off (https://no-color.org)."""
    return bool(os.environ.get("NO_COLOR"))


def _configure_logging(log_format: str, stream: TextIO | _LogStream, level: str) -> None:
    """JSON lines for machines, colourful lines for people; both with time and level."""
    if log_format == "auto":
        log_format = "console" if stream.isatty() else "json"
    renderer: Callable[..., Any]
    if log_format == "json":
        processors: list[Any] = [structlog.processors.format_exc_info]
        renderer = structlog.processors.JSONRenderer()
    else:
        processors = []
        renderer = structlog.dev.ConsoleRenderer(
            colors=stream.isatty() and not _no_color(),
            # Plain: rich's traceback prints local variables (secrets in configs) and
            # takes tens of milliseconds per crash on the loop.
            exception_formatter=structlog.dev.plain_traceback,
        )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *processors,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, stream)),
        cache_logger_on_first_use=True,
    )


def _loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if choice == "asyncio":
        return None
    try:
        # Imported by name so that type-checking does not depend on the optional extra
        # being installed: uvloop is an optional accelerator, never a requirement.
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        if choice == "uvloop":
            raise click.UsageError(
                "--loop uvloop: uvloop is not installed; pip install 'supervise[uvloop]'"
            ) from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


class _StopSignals:
    """SIGINT, SIGTERM and SIGHUP during ``supervise run``.

    The first stops the tree in order; a second one, at any moment after it,
    exits at once with 130 and says so. The handlers are installed with
    `signal.signal` before the event loop starts and stay until the process
    exits, so no signal ever meets the default action (death by the signal):
    not while the loop starts, not between the end of the tree and the exit.

    A handler runs in the main thread between two bytecodes, wherever the code
    is; it only records the signal and wakes the loop (as `asyncio.Runner`
    does for Ctrl-C), or writes straight to file descriptor 2 and leaves.
    """

    HANDLED: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: list[signal.Signals] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_first: Callable[[signal.Signals], None] | None = None

    def install(self) -> None:
        for sig in self.HANDLED:
            signal.signal(sig, self._handle)

    def ignore(self) -> None:
        """From now on the process is exiting with its status: further signals change nothing."""
        for sig in self.HANDLED:
            signal.signal(sig, signal.SIG_IGN)

    def attach(
        self, loop: asyncio.AbstractEventLoop, on_first: Callable[[signal.Signals], None]
    ) -> None:
        """Call ``on_first`` in ``loop`` for the first signal (at once if it came already)."""
        self._loop, self._on_first = loop, on_first
        if self.received:
            loop.call_soon(on_first, self.received[0])

    def detach(self) -> None:
        self._loop = self._on_first = None

    def _handle(self, signum: int, frame: object) -> None:
        sig = signal.Signals(signum)
        self.received.append(sig)
        if len(self.received) > 1:
            # The user does not want to wait for the orderly stop: leave now.
            with contextlib.suppress(OSError):
                os.write(2, f"supervise: second {sig.name}: exiting without waiting\n".encode())
            os._exit(EXIT_FORCED)
        if self._loop is not None and self._on_first is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                self._loop.call_soon_threadsafe(self._on_first, sig)


async def _run_tree(
    spec: SupervisorSpec | DynamicSupervisorSpec,
    duration: float | None,
    signals: _StopSignals,
    log_stream: _LogStream | None = None,
    watchdog: bool = False,
    control: Path | None = None,
    http: str | None = None,
) -> int:
    """Run until a signal, ``duration``, a closed log pipe or the end of the tree."""
    from ._tree import open_tree

    log = structlog.get_logger("supervise.cli")
    stop = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        log.info("cli_stop_requested", signal=sig.name, tree=spec.name)
        stop.set()

    if log_stream is not None:
        log_stream.on_broken = stop.set
    signals.attach(asyncio.get_running_loop(), on_signal)
    try:
        async with open_tree(spec, watchdog=watchdog, control=control, http=http) as tree:
            if tree.http_url is not None:
                click.echo(f"supervise: {tree.http_url} serves /metrics and /snapshot", err=True)
            ended = asyncio.ensure_future(tree.wait())
            # Its failure is raised by the `async with` as well; mark it as seen here.
            ended.add_done_callback(lambda t: t.cancelled() or t.exception())
            stopping = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait(
                    {ended, stopping}, timeout=duration, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                ended.cancel()
                stopping.cancel()
            if not stop.is_set() and not ended.done():
                log.info("cli_stop_requested", after_seconds=duration, tree=spec.name)
    except StartError as exc:
        click.echo(f"supervise: tree {spec.name!r} failed to start: {exc}", err=True)
        return EXIT_GAVE_UP
    except UsageError as exc:  # the control socket or the HTTP endpoint could not be served
        click.echo(f"supervise: {exc}", err=True)
        return EXIT_GAVE_UP
    except RestartIntensityExceeded as exc:
        # Escalation past the root: the message names the supervisor and the child.
        click.echo(f"supervise: {exc}", err=True)
        return EXIT_GAVE_UP
    except Exception as exc:
        # Whatever else ended the root abnormally.
        click.echo(f"supervise: tree {spec.name!r} ended: {type(exc).__name__}: {exc}", err=True)
        return EXIT_GAVE_UP
    finally:
        signals.detach()
    return EXIT_OK


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default="auto",
    show_default=True,
    help="auto: console on a terminal, JSON lines otherwise.",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append logs to this file instead of standard output.",
)
@click.option(
    "--log-level",
    type=click.Choice(list(_LEVELS)),
    default="info",
    show_default=True,
    help="Drop events below this level.",
)
@click.option(
    "--for",
    "duration",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Stop the tree in order after this many seconds (for demos and tests).",
)
@click.option(
    "--loop",
    type=click.Choice(["auto", "asyncio", "uvloop"]),
    default="auto",
    show_default=True,
    help="Event loop; auto uses uvloop when it is installed.",
)
@click.option(
    "--block-threshold",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Report event_loop_blocked past this [default: the tree's block_threshold, else 0.1].",
)
@click.option(
    "--no-watchdog", is_flag=True, help="Do not watch for handlers that block the event loop."
)
@click.option(
    "--control",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Serve snapshots and safe operations on this Unix socket (mode 0600; "
    "for `supervise inspect` and `supervise top`).",
)
@click.option(
    "--http",
    metavar="127.0.0.1:PORT",
    help="Serve Prometheus metrics (/metrics) and the snapshot as JSON (/snapshot) over "
    "HTTP on the loopback (needs supervise[metrics]; port 0: any free one, printed).",
)
def run(
    file: Path,
    log_format: str,
    log_file: Path | None,
    log_level: str,
    duration: float | None,
    loop: str,
    block_threshold: float | None,
    no_watchdog: bool,
    control: Path | None,
    http: str | None,
) -> None:
    """Start the tree in FILE and run it until SIGINT, SIGTERM or SIGHUP.

    A signal stops the tree in order (children in reverse start order) and
    exits 0; a second signal exits at once with 130. If the root supervisor
    gives up (or the tree fails to start), the reason is written to standard
    error and the exit status is 1. A file with problems exits 2.
    """
    if http is not None:
        from ._tree import parse_http_address

        try:
            parse_http_address(http)
        except SuperviseError as exc:
            raise click.BadParameter(str(exc), param_hint="--http") from None
    spec = _load_or_exit(file)
    if block_threshold is not None:
        spec = spec.model_copy(update={"block_threshold": block_threshold})
    factory = _loop_factory(loop)
    file_stream: TextIO | None = None
    if log_file is not None:
        try:
            file_stream = log_file.open("a", encoding="utf-8", buffering=1)
        except OSError as exc:
            click.echo(
                f"supervise: cannot open the log file {str(log_file)!r}: "
                f"{exc.strerror or exc}; check that its directory exists and is writable",
                err=True,
            )
            sys.exit(EXIT_BAD_FILE)
    stdout = None if file_stream else _LogStream(sys.stdout)
    signals = _StopSignals()
    signals.install()
    try:
        _configure_logging(log_format, file_stream or stdout or sys.stdout, log_level)
        with asyncio.Runner(loop_factory=factory) as runner:
            status = runner.run(
                _run_tree(spec, duration, signals, stdout, not no_watchdog, control, http)
            )
    except KeyboardInterrupt:
        # Raised in the tree (a handler, on_start, a task): the tree stopped in order
        # and re-raised it. Exit as a shell reports an interrupted process, not "Aborted!".
        click.echo(
            f"supervise: tree {spec.name!r} was stopped in order by a KeyboardInterrupt "
            f"raised inside it (see its actor_crashed event); exiting with {EXIT_FORCED}",
            err=True,
        )
        status = EXIT_FORCED
    finally:
        if file_stream:
            file_stream.close()
    signals.ignore()
    sys.exit(status)


# -- node ------------------------------------------------------------------------------


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--labels")
        labels[key] = val
    return labels


@main.command()
@click.option("--name", required=True, help="This node's name, unique in its cluster.")
@click.option(
    "--nats",
    "servers",
    required=True,
    multiple=True,
    metavar="URL",
    help="A NATS server, nats://host:4222 (repeat for a cluster of servers).",
)
@click.option("--labels", multiple=True, metavar="KEY=VALUE", help="What this node offers.")
@click.option("--cluster", default="supervise", show_default=True, help="The cluster's name.")
@click.option(
    "--heartbeat",
    type=click.FloatRange(min=0.01, max=60),
    default=0.2,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between heartbeats.",
)
@click.option(
    "--misses",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Missed heartbeats after which a node is down.",
)
@click.option(
    "--tree",
    "tree_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Run this tree file on the node and serve its actors by name.",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default="auto",
    show_default=True,
    help="auto: console on a terminal, JSON lines otherwise.",
)
@click.option(
    "--log-level",
    type=click.Choice(list(_LEVELS)),
    default="info",
    show_default=True,
    help="Drop events below this level.",
)
def node(
    name: str,
    servers: tuple[str, ...],
    labels: tuple[str, ...],
    cluster: str,
    heartbeat: float,
    misses: int,
    tree_file: Path | None,
    log_format: str,
    log_level: str,
) -> None:
    """Run a node of a cluster joined by NATS (the `nats` extra) until SIGINT or SIGTERM.

    The node heartbeats, watches the other nodes (node_up, node_down), answers their
    requests and, with --tree, runs that tree and serves its actors by name. It prints
    "node NAME ready" on standard error once it serves. A NATS server that cannot be
    reached, or a tree whose root gives up, exits 1; a bad tree file exits 2.
    """
    try:
        from ._node_agent import run_node
    except ImportError as exc:
        click.echo(
            f"supervise: `supervise node` needs the nats extra ({exc}); "
            f"install it with `pip install 'supervise[nats]'`",
            err=True,
        )
        sys.exit(EXIT_GAVE_UP)
    from ._errors import ArgumentError

    # The specs placed on this node name their actors by import path: they are found
    # from the current directory, as `supervise run` finds a tree's (and from the tree
    # file's directory with --tree). The console script, unlike `python -m`, has no "".
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.insert(0, here)
    spec = _load_or_exit(tree_file) if tree_file is not None else None
    node_labels = _labels(labels)
    signals = _StopSignals()
    signals.install()
    _configure_logging(log_format, _LogStream(sys.stdout), log_level)

    async def serve() -> None:
        stop = asyncio.Event()
        signals.attach(asyncio.get_running_loop(), lambda sig: stop.set())
        try:
            await run_node(
                list(servers),
                name=name,
                labels=node_labels,
                cluster=cluster,
                heartbeat=heartbeat,
                misses=misses,
                spec=spec,
                stop=stop,
                ready=lambda agent: click.echo(f"node {name} ready", err=True),
            )
        finally:
            signals.detach()

    status = EXIT_OK
    try:
        asyncio.run(serve())
    except (UsageError, ArgumentError, StartError, RestartIntensityExceeded) as exc:
        click.echo(f"supervise: node {name!r}: {exc}", err=True)
        status = EXIT_GAVE_UP
    signals.ignore()
    sys.exit(status)


# -- check -----------------------------------------------------------------------------


def _count(spec: AnyChildSpec | SupervisorSpec | DynamicSupervisorSpec) -> tuple[int, int]:
    """(supervisors, workers) in a tree; a dynamic supervisor's template counts once."""
    if not isinstance(spec, SupervisorSpec | DynamicSupervisorSpec):
        return 0, 1  # an actor, or any other kind of leaf
    children = list(spec.children)
    if isinstance(spec, DynamicSupervisorSpec) and spec.child is not None:
        children.append(spec.child)
    supervisors, workers = 1, 0
    for child in children:
        s, w = _count(child)
        supervisors += s
        workers += w
    return supervisors, workers


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def check(files: tuple[Path, ...]) -> None:
    """Validate tree FILES and import their actors, without running anything.

    Every problem of every file is listed, one per line, as
    FILE:LINE:COLUMN: FIELD: MESSAGE. Exits 1 if there is any; 3 if loading a
    file failed in a way that is a bug in supervise (every file is still checked).
    """
    problems = 0
    bad_files = 0
    internal_errors = 0
    for file in files:
        try:
            spec = _load(file)
        except TreeFileError as exc:
            for problem in exc.problems:
                click.echo(str(problem))
            problems += len(exc.problems)
            bad_files += 1
        except Exception:
            _internal_error(file)
            internal_errors += 1
        else:
            supervisors, workers = _count(spec)
            counted = f"{_plural(supervisors, 'supervisor')}, {_plural(workers, 'worker')}"
            click.echo(f"{file}: ok ({counted})")
    if problems:
        noun = "problem" if problems == 1 else "problems"
        click.echo(f"{problems} {noun} in {bad_files} of {len(files)} files", err=True)
    if internal_errors:
        noun = "file" if internal_errors == 1 else "files"
        click.echo(f"internal error on {internal_errors} {noun}", err=True)
        sys.exit(EXIT_INTERNAL)
    if problems:
        sys.exit(1)


# -- tree ------------------------------------------------------------------------------


def _seconds(value: float | str) -> str:
    return f"{value:g}s" if isinstance(value, int | float) else value


def _describe(spec: AnyChildSpec | SupervisorSpec | DynamicSupervisorSpec) -> str:
    parts: list[str]
    if not isinstance(spec, SupervisorSpec | DynamicSupervisorSpec):
        # A leaf: an actor (`actor`), or another kind that runs code (`task`).
        target = getattr(spec, "actor", None) or getattr(spec, "task", None)
        parts = [f"{spec.kind} {import_path_of(target)}" if target else spec.kind]
    else:
        parts = [spec.kind]
        if isinstance(spec, SupervisorSpec):
            parts[0] += f" {spec.strategy.value}"
        elif spec.max_children is not None:
            parts.append(f"max_children {spec.max_children}")
        parts.append(f"max {spec.max_restarts} restarts in {spec.max_seconds:g}s")
        if spec.backoff is not None:
            parts.append(f"backoff {spec.backoff.min_seconds:g}s..{spec.backoff.max_seconds:g}s")
    parts.append(f"restart {spec.restart.value}")
    parts.append(f"shutdown {_seconds(spec.shutdown)}")
    if isinstance(spec, ChildSpec) and spec.registered_name:
        parts.append(f"registered as {spec.registered_name}")
    cluster = getattr(spec, "cluster", None)
    if cluster is not None:
        parts.append(f"cluster {cluster.name} as node {cluster.node}")
    placement = getattr(spec, "placement", None)
    if placement is not None:
        parts.append(f"placed on {_where(placement)}, on_nodedown {placement.policy.value}")
    return ", ".join(parts)


def _where(placement: Placement) -> str:
    if placement.node is not None:
        return f"node {placement.node}"
    if placement.prefer is not None:
        return f"first of {' '.join(placement.prefer)}"
    labels = placement.labels or {}
    return "a node with " + " ".join(f"{k}={v}" for k, v in labels.items())


def _draw(
    spec: AnyChildSpec | SupervisorSpec | DynamicSupervisorSpec,
    lines: list[str],
    prefix: str = "",
    branch: str = "",
    label: str | None = None,
) -> None:
    lines.append(f"{prefix}{branch}{label or spec.name} ({_describe(spec)})")
    # The root's children hang from the left edge; below a last child, no bar.
    indent = {"": "", "└── ": "    "}.get(branch, "│   ")
    below = prefix + indent
    if isinstance(spec, SupervisorSpec | DynamicSupervisorSpec):
        template = spec.child if isinstance(spec, DynamicSupervisorSpec) else None
        for index, child in enumerate(spec.children):
            last = index == len(spec.children) - 1 and template is None
            # A dynamic supervisor names its listed children as start_child does.
            label = f"{child.name}-{index + 1}" if isinstance(spec, DynamicSupervisorSpec) else None
            _draw(child, lines, below, "└── " if last else "├── ", label)
        if template is not None:
            _draw(template, lines, below, "└── ", f"{template.name}-* [template]")


def _as_json(spec: AnyChildSpec | SupervisorSpec | DynamicSupervisorSpec, path: str) -> Any:
    node: dict[str, Any] = {"path": path}
    node.update(spec.model_dump(mode="json", exclude={"children", "child"}))
    if isinstance(spec, SupervisorSpec):
        node["children"] = [_as_json(c, f"{path}/{c.name}") for c in spec.children]
    elif isinstance(spec, DynamicSupervisorSpec):
        # Listed children are started as start_child names them: <name>-<n>, n from 1.
        node["children"] = [
            _as_json(c, f"{path}/{c.name}-{n}") for n, c in enumerate(spec.children, 1)
        ]
        if spec.child is not None:
            node["child"] = _as_json(spec.child, f"{path}/{spec.child.name}-*")
    return node


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the tree as JSON, for scripts.")
def tree(file: Path, as_json: bool) -> None:
    """Draw the tree in FILE: each node with its strategy, restart and shutdown.

    A dynamic supervisor's children are started at run time; its template
    is drawn as NAME-* [template].
    """
    spec = _load_or_exit(file)
    if as_json:
        click.echo(json.dumps(_as_json(spec, spec.name), indent=2))
        return
    lines: list[str] = []
    _draw(spec, lines)
    click.echo("\n".join(lines))


# -- schema ----------------------------------------------------------------------------


@main.command()
def schema() -> None:
    """Print the JSON Schema of tree files (point your editor's YAML/JSON support at it)."""
    click.echo(json.dumps(json_schema(), indent=2))


# -- logs ------------------------------------------------------------------------------

from ._logs import logs as _logs  # noqa: E402 (a tool of its own: supervise/_logs)

main.add_command(_logs)

from ._watch import inspect as _inspect  # noqa: E402 (live views of a running tree)
from ._watch import top as _top  # noqa: E402

main.add_command(_inspect)
main.add_command(_top)
