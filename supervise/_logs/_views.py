"""What ``supervise logs`` shows: each view consumes events one at a time.

A view's memory grows with the number of actors in the log, never with its
length: the summary and the tree keep one small record per tree path, the
explanation keeps each supervisor's recent exits (at most `RECENT_EXITS`).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from ._records import Record, seconds, stamp

#: Exits kept per supervisor for `Explain`: far more than any sane ``max_restarts``
#: (a window holding more is reported as cut short), few enough that a log of a
#: thousand busy supervisors stays within tens of MiB.
RECENT_EXITS = 1000

_WORKER, _SUPERVISOR = "worker", "supervisor"
#: A cluster node's events about itself and its peers: their ``supervisor`` is the root
#: of the tree the node runs, their ``node`` the node that root runs on.
_NODE_EVENTS = frozenset({"node_up", "node_down", "node_isolated"})


def subject(record: Record) -> str | None:
    """The tree path an event is about: its actor, else its supervisor.

    None when it is about no path: the loop watchdog names whatever task was
    running when the loop blocked, which may be no actor of the tree (a task
    name such as ``Task-7``, or ``-`` for code outside any task).
    """
    path = record.get("actor")
    if type(path) is not str:
        path = record.get("supervisor")
    if type(path) is not str:
        return None
    if record.get("event") in _WATCHDOG_EVENTS:
        tree = record.get("tree")
        if type(tree) is not str or not (path == tree or path.startswith(tree + "/")):
            return None
    return path


_WATCHDOG_EVENTS: Final = frozenset({"event_loop_blocked", "event_loop_unblocked"})


def exit_text(record: Record) -> str:
    """``crash RuntimeError: boom`` / ``shutdown`` / ``killed (brutal_kill)``."""
    text = str(record.get("reason", "?"))
    if "reason_detail" in record:
        text += f" ({record['reason_detail']})"
    if "exc_type" in record:
        text += f" {record['exc_type']}: {record.get('exc_message', '')}"
    return text


def ignored_text(record: Record) -> str:
    """``ignored (disabled in config)``: an ``actor_ignored`` (the child declined to run)."""
    detail = record.get("reason_detail")
    return "ignored" if detail is None else f"ignored ({detail})"


def abnormal_stop(record: Record) -> bool:
    """An ``actor_stopped`` its supervisor did not ask for: a child supervisor that gave
    up (``shutdown`` with ``reached_max_restart_intensity``), or a ``normal`` end (which
    a permanent child is restarted after). A plain ``shutdown`` is the supervisor's own doing."""
    return record.get("reason") == "normal" or "exc_type" in record or "reason_detail" in record


# -- summary -------------------------------------------------------------------------------


@dataclass
class ActorSummary:
    """One tree path's history in the log."""

    path: str
    kind: str = _WORKER
    starts: int = 0
    restarts: int = 0
    crashes: Counter[str] = field(default_factory=Counter)
    start_failures: int = 0
    kills: int = 0
    abandoned: int = 0
    dead_letters: int = 0
    last_exit: str | None = None
    last_crash: str | None = None
    #: As a supervisor: how many times it gave up, and the last times.
    gave_up: int = 0
    gave_up_at: deque[str] = field(default_factory=lambda: deque(maxlen=20))

    def as_dict(self) -> dict[str, Any]:
        return {
            "actor": self.path,
            "kind": self.kind,
            "starts": self.starts,
            "restarts": self.restarts,
            "crashes": sum(self.crashes.values()),
            "crashes_by_type": dict(self.crashes.most_common()),
            "start_failures": self.start_failures,
            "kills": self.kills,
            "abandoned": self.abandoned,
            "dead_letters": self.dead_letters,
            "last_exit": self.last_exit,
            "last_crash": self.last_crash,
            "intensity_exceeded": self.gave_up,
            "intensity_exceeded_at": list(self.gave_up_at),
        }


class Summary:
    """Per actor: starts, restarts, crashes by type, kills, dead letters, last exit;
    per supervisor: when it gave up."""

    def __init__(self) -> None:
        self.actors: dict[str, ActorSummary] = {}

    def _get(self, path: str) -> ActorSummary:
        entry = self.actors.get(path)
        if entry is None:
            entry = self.actors[path] = ActorSummary(path)
        return entry

    def feed(self, record: Record) -> None:
        event = record["event"]
        supervisor = record.get("supervisor")
        if type(supervisor) is str:
            self._get(supervisor).kind = _SUPERVISOR
        path = subject(record)
        if path is None:
            return
        if event == "actor_started" or (event == "supervisor_started" and "/" not in path):
            self._get(path).starts += 1  # a root has no parent to log its start
        elif event == "actor_restarted":
            self._get(path).restarts += 1
        elif event == "actor_crashed":
            entry = self._get(path)
            entry.crashes[str(record.get("exc_type") or record.get("reason", "?"))] += 1
            entry.last_exit = exit_text(record)
            entry.last_crash = stamp(record)
        elif event == "actor_stopped":
            self._get(path).last_exit = exit_text(record)
        elif event == "actor_ignored":
            self._get(path).last_exit = ignored_text(record)
        elif event == "supervisor_stopped":
            entry = self._get(path)
            if entry.last_exit is None or "/" not in path:  # the root has no parent to say
                entry.last_exit = exit_text(record)
        elif event == "actor_killed":
            self._get(path).kills += 1
        elif event == "actor_abandoned":
            self._get(path).abandoned += 1
        elif event == "start_failed":
            self._get(path).start_failures += 1
        elif event == "message_dead_lettered":
            self._get(path).dead_letters += 1
        elif event == "restart_intensity_exceeded" and type(supervisor) is str:
            entry = self._get(supervisor)
            entry.gave_up += 1
            moment = stamp(record)
            if moment is not None:
                entry.gave_up_at.append(moment)

    def result(self) -> list[dict[str, Any]]:
        return [self.actors[path].as_dict() for path in sorted(self.actors)]


# -- tree ----------------------------------------------------------------------------------

RUNNING, RESTARTING, STOPPED, GONE = "running", "restarting", "stopped", "gone"


@dataclass
class Node:
    """A tree path as the events left it."""

    path: str
    kind: str = _WORKER
    state: str = RUNNING
    incarnation: int = 0
    restart_count: int = 0
    crashes: int = 0
    last_exit: str | None = None
    #: The cluster node a placed child runs on (``subtree_placed``), or a root's own
    #: node (its ``node_up``, ``node_down``, ``node_isolated``), else None.
    node: str | None = None
    children: dict[str, Node] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "incarnation": self.incarnation,
            "restart_count": self.restart_count,
            "crashes": self.crashes,
            "last_exit": self.last_exit,
            "node": self.node,
            "children": [child.as_dict() for child in self.children.values()],
        }


class TreeView:
    """The tree rebuilt from the events: each path's state, incarnation and restarts."""

    def __init__(self) -> None:
        self.roots: dict[str, Node] = {}
        self._nodes: dict[str, Node] = {}
        self.last: str | None = None

    def node(self, path: str) -> Node:
        node = self._nodes.get(path)
        if node is None:
            node = self._nodes[path] = Node(path)
            parent, _, _ = path.rpartition("/")
            (self.node(parent).children if parent else self.roots)[path] = node
        return node

    def _descendants(self, node: Node) -> list[Node]:
        found = []
        for child in node.children.values():
            found.append(child)
            found.extend(self._descendants(child))
        return found

    def feed(self, record: Record) -> None:
        moment = stamp(record)
        if moment is not None:
            self.last = moment
        event = record["event"]
        supervisor = record.get("supervisor")
        if type(supervisor) is str:
            self.node(supervisor).kind = _SUPERVISOR
        path = subject(record)
        if path is None:
            return
        node = self.node(path)
        count = record.get("restart_count")
        if type(count) is int:
            node.restart_count = count
        if event == "actor_started":
            node.state = RUNNING
            incarnation = record.get("incarnation")
            if type(incarnation) is int:
                node.incarnation = incarnation
        elif event == "supervisor_started":
            node.state = RUNNING
            node.incarnation = max(node.incarnation, 1)
        elif event == "subtree_placed":
            where = record.get("node")
            node.node = where if type(where) is str else None
        elif event in _NODE_EVENTS and type(record.get("node")) is str:
            node.node = record["node"]  # the root's own node: its process's
        elif event == "actor_crashed":
            node.crashes += 1
            node.last_exit = exit_text(record)
            node.state = RESTARTING
        elif event == "actor_stopped":
            node.last_exit = exit_text(record)
            node.state = RESTARTING if "exc_type" in record else STOPPED
        elif event == "actor_ignored":
            node.last_exit = ignored_text(record)
            node.state = STOPPED  # not restarted (a temporary one is dropped)
        elif event == "start_failed" and node.incarnation == 0:
            node.state = GONE  # never ran: its spec is not kept
            node.last_exit = f"start failed {record.get('exc_type')}: {record.get('exc_message')}"
        elif event == "restart_intensity_exceeded":
            self.node(path).state = GONE  # the offender: its supervisor gave up on it
        elif event == "supervisor_stopped":
            if node.last_exit is None or "/" not in path:
                node.last_exit = exit_text(record)
            gave_up = "exc_type" in record or record.get("reason") not in ("normal", "shutdown")
            node.state = GONE if gave_up else STOPPED
            for below in self._descendants(node):
                if below.state != STOPPED:
                    below.state = GONE

    def result(self) -> list[dict[str, Any]]:
        return [root.as_dict() for root in self.roots.values()]


# -- explain -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Exit:
    at: str
    actor: str
    reason: str
    exc_type: str | None
    exc_message: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "timestamp": self.at,
            "actor": self.actor,
            "reason": self.reason,
            "exc_type": self.exc_type,
            "exc_message": self.exc_message,
        }


class Explain:
    """For each ``restart_intensity_exceeded``: the exits inside its window that caused it."""

    def __init__(
        self, on_answer: Callable[[dict[str, Any]], None] | None = None, keep: int = 100
    ) -> None:
        """``on_answer``: called with each answer as it is found (then none is kept);
        otherwise the last ``keep`` answers are kept (`result`), so memory stays flat."""
        self._exits: dict[str, deque[_Exit]] = {}
        self._on_answer = on_answer
        self.answers: deque[dict[str, Any]] = deque(maxlen=keep)
        #: Answers found so far, kept or not.
        self.count = 0

    def feed(self, record: Record) -> None:
        event = record["event"]
        supervisor = record.get("supervisor")
        if type(supervisor) is not str:
            return
        if event == "actor_crashed" or (event == "actor_stopped" and abnormal_stop(record)):
            moment = stamp(record)
            if moment is None:
                return
            exits = self._exits.get(supervisor)
            if exits is None:
                exits = self._exits[supervisor] = deque(maxlen=RECENT_EXITS)
            reason = str(record.get("reason"))
            if "reason_detail" in record:
                reason += f" ({record['reason_detail']})"
            exits.append(
                _Exit(
                    moment,
                    str(record.get("actor")),
                    reason,
                    record.get("exc_type"),
                    record.get("exc_message"),
                )
            )
        elif event == "supervisor_started":
            self._exits.pop(supervisor, None)  # a new incarnation counts afresh
        elif event == "restart_intensity_exceeded":
            self._answer(record, supervisor)

    def _answer(self, record: Record, supervisor: str) -> None:
        moment = stamp(record)
        window = record.get("max_seconds")
        exits = self._exits.pop(supervisor, deque())
        inside: list[_Exit] = list(exits)
        cut_short = len(exits) == RECENT_EXITS
        if moment is not None and isinstance(window, int | float):
            start = seconds(moment) - float(window)
            inside = [e for e in exits if seconds(e.at) >= start]
            cut_short = cut_short and bool(inside) and inside[0] is exits[0]
        answer = {
            "supervisor": supervisor,
            "timestamp": moment,
            "max_restarts": record.get("max_restarts"),
            "max_seconds": window,
            "last_exit": record.get("actor"),
            "exits": [e.as_dict() for e in inside],
            "cut_short": cut_short,
        }
        self.count += 1
        if self._on_answer is not None:
            self._on_answer(answer)
        else:
            self.answers.append(answer)

    def result(self) -> list[dict[str, Any]]:
        return list(self.answers)
