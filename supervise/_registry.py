"""Find actors by tree path (``root/db/pool``) or by a registered name.

One registry per tree, not a global: two trees in one process never see each
other's names. Entries address child slots, so they stay valid across restarts
and disappear when the child's spec is removed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, overload

from ._errors import ChildKindError, NameNotFoundError, NameTakenError
from ._imports import import_path_of

if TYPE_CHECKING:
    from ._actor import Actor
    from ._child import Child
    from ._process import Process
    from ._ref import ActorRef, SupervisorRef
    from ._task import TaskRef
    from .spec import Placement

MsgT = TypeVar("MsgT")


def _kind_of(child: Child) -> str:
    spec = child.spec
    if spec.kind == "worker":
        return f"an actor of class {spec.actor.__qualname__}"
    return {"task": "a task", "supervisor": "a supervisor"}.get(spec.kind, "a dynamic supervisor")


def _same_class_twice(name: str, found: type, expected: type) -> ChildKindError:
    """Two classes of one name: mostly one module imported twice, as a script and by path."""
    found_path, expected_path = import_path_of(found), import_path_of(expected)
    if found.__module__ == "__main__" or expected.__module__ == "__main__":
        advice = (
            "the script run as __main__ and the module the tree's `actor` path imports are "
            "two copies of one file with two copies of the class: define the actor in a "
            "module of its own and import it from there in the script"
        )
    else:
        advice = "the same class was imported twice (a module reloaded, or on sys.path twice)"
    return ChildKindError(
        name, f"an actor of class {expected_path}", f"an actor of class {found_path}", advice
    )


class Placer(Protocol):
    """What starts a tree's placed children on other nodes (`supervise._nats._placed`)."""

    #: This process's node name.
    node: str

    def launch(self, child: Child, placement: Placement) -> Process: ...


class Registry:
    """The tree's directory of children, by path and by registered name."""

    __slots__ = ("_by_name", "_by_path", "_name_watchers", "_placer", "_slot_watchers")

    def __init__(self) -> None:
        self._by_path: dict[str, Child] = {}
        self._by_name: dict[str, Child] = {}
        # Called with (name, registered?) as registered names come and go (`watch_names`).
        self._name_watchers: list[Callable[[str, bool], object]] = []
        # Called with (child, registered?) as child slots come and go (`watch_slots`).
        self._slot_watchers: list[Callable[[Child, bool], object]] = []
        # The tree's placements when it is in a cluster (`placer_of`).
        self._placer: Placer | None = None

    def whereis(self, name: str) -> ActorRef[object] | SupervisorRef | TaskRef:
        """The ref registered as ``name``, or at tree path ``name``.

        Raises:
            NameNotFoundError: nothing is registered or placed there.
        """
        return self._find(name).ref

    def _find(self, name: str) -> Child:
        child = self._by_name.get(name) or self._by_path.get(name)
        if child is None:
            raise NameNotFoundError(name)
        return child

    @overload
    def actor(self, name: str) -> ActorRef[Any]: ...
    @overload
    def actor(self, name: str, actor: type[Actor[MsgT]]) -> ActorRef[MsgT]: ...
    def actor(self, name: str, actor: type[Actor[Any]] | None = None) -> ActorRef[Any]:
        """The `ActorRef` at tree path (or registered as) ``name``, typed by its actor class.

        ``registry.actor("root/counter", Counter)`` is an ``ActorRef[Increment | Get]``
        when ``Counter`` is an ``Actor[Increment | Get]``: ``cast`` and ``call`` are
        type-checked against those messages.

        Args:
            name: a tree path (``"root/counter"``) or a registered name.
            actor: the actor class expected there (or a base class of it).

        Raises:
            NameNotFoundError: nothing is there.
            ChildKindError: a supervisor or task is there, or an actor of another class.

        .. versionadded:: 0.1
        """
        child = self._find(name)
        spec = child.spec
        if spec.kind != "worker" or (actor is not None and not issubclass(spec.actor, actor)):
            if actor is None:
                raise ChildKindError(name, "an actor", _kind_of(child))
            if spec.kind == "worker" and spec.actor.__qualname__ == actor.__qualname__:
                raise _same_class_twice(name, found=spec.actor, expected=actor)
            raise ChildKindError(name, f"an actor of class {actor.__qualname__}", _kind_of(child))
        return cast("ActorRef[Any]", child.ref)

    def supervisor(self, name: str) -> SupervisorRef:
        """The `SupervisorRef` at tree path ``name`` (a supervisor or dynamic supervisor).

        Raises:
            NameNotFoundError: nothing is there.
            ChildKindError: an actor or a task is there.

        .. versionadded:: 0.1
        """
        child = self._find(name)
        if child.spec.kind not in ("supervisor", "dynamic_supervisor"):
            raise ChildKindError(name, "a supervisor", _kind_of(child))
        return cast("SupervisorRef", child.ref)

    def task(self, name: str) -> TaskRef:
        """The `TaskRef` at tree path ``name`` (a `TaskSpec` child).

        Raises:
            NameNotFoundError: nothing is there.
            ChildKindError: an actor or a supervisor is there.

        .. versionadded:: 0.1
        """
        child = self._find(name)
        if child.spec.kind != "task":
            raise ChildKindError(name, "a task", _kind_of(child))
        return cast("TaskRef", child.ref)

    def paths(self) -> list[str]:
        """Every tree path known now, in the order the children were added."""
        return list(self._by_path)

    def names(self) -> list[str]:
        """Every registered name."""
        return list(self._by_name)


# The supervisors own the entries: they add a child slot when they create it and
# remove it when its spec goes. These are functions of this module, not methods,
# so `Registry`'s public surface stays what users look things up with.


def register(registry: Registry, child: Child) -> None:
    """Enter ``child`` under its path (and its registered name, for an actor).

    Raises:
        NameTakenError: another child holds the registered name.
    """
    name = child.spec.registered_name if child.spec.kind == "worker" else None
    if name is not None:
        holder = registry._by_name.get(name)
        if holder is not None and holder is not child:
            raise NameTakenError(name, holder.path)
        registry._by_name[name] = child
        if holder is None:
            for watcher in registry._name_watchers:
                watcher(name, True)
    registry._by_path[child.path] = child
    if registry._slot_watchers:
        for slot_watcher in registry._slot_watchers:
            slot_watcher(child, True)


def unregister(registry: Registry, child: Child) -> None:
    """Remove ``child``'s entries, if they are still its own."""
    by_path, by_name = registry._by_path, registry._by_name
    if by_path.get(child.path) is child:
        del by_path[child.path]
        for slot_watcher in registry._slot_watchers:
            slot_watcher(child, False)
    name = child.spec.registered_name if child.spec.kind == "worker" else None
    if name is not None and by_name.get(name) is child:
        del by_name[name]
        for watcher in registry._name_watchers:
            watcher(name, False)


def slot_at(registry: Registry, path: str) -> Child | None:
    """The child slot at tree path ``path``, if any (names are not looked at)."""
    return registry._by_path.get(path)


def watch_names(registry: Registry, callback: Callable[[str, bool], object]) -> Callable[[], None]:
    """Call ``callback(name, True)`` for each registered name now and whenever one is added,
    ``callback(name, False)`` when one goes; returns the function that stops it.

    A node serving the tree to other nodes (`supervise._nats`) follows its names so.
    """
    registry._name_watchers.append(callback)
    for name in list(registry._by_name):
        callback(name, True)

    def unwatch() -> None:
        if callback in registry._name_watchers:
            registry._name_watchers.remove(callback)

    return unwatch


def watch_slots(
    registry: Registry, callback: Callable[[Child, bool], object]
) -> Callable[[], None]:
    """Call ``callback(child, True)`` for each child slot now and whenever one is entered
    (again, too: a restarted supervisor enters the slots it adopts), ``callback(child,
    False)`` when one goes; returns the function that stops it.

    The loop watchdog follows the block thresholds in use so.
    """
    registry._slot_watchers.append(callback)
    for child in list(registry._by_path.values()):
        callback(child, True)

    def unwatch() -> None:
        if callback in registry._slot_watchers:
            registry._slot_watchers.remove(callback)

    return unwatch


def placer_of(registry: Registry) -> Placer | None:
    """The tree's placements when it has a cluster; None: ``placement`` is ignored.

    `supervise._launch` asks it to start a child whose spec has a ``placement``.
    """
    return registry._placer


def set_placer(registry: Registry, placer: Placer | None) -> None:
    """Set (or clear) the tree's placements (`supervise._tree`, joining its cluster)."""
    registry._placer = placer
