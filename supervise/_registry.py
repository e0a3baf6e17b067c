"""Find actors by tree path (``root/db/pool``) or by a registered name.

One registry per tree, not a global: two trees in one process never see each
other's names. Entries address child slots, so they stay valid across restarts
and disappear when the child's spec is removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import NameNotFoundError, NameTakenError

if TYPE_CHECKING:
    from ._child import Child
    from ._ref import ActorRef, SupervisorRef
    from ._task import TaskRef


class Registry:
    """The tree's directory of children, by path and by registered name."""

    __slots__ = ("_by_name", "_by_path")

    def __init__(self) -> None:
        self._by_path: dict[str, Child] = {}
        self._by_name: dict[str, Child] = {}

    def _add(self, child: Child) -> None:
        name = child.spec.registered_name if child.spec.kind == "worker" else None
        if name is not None:
            holder = self._by_name.get(name)
            if holder is not None and holder is not child:
                raise NameTakenError(name, holder.path)
            self._by_name[name] = child
        self._by_path[child.path] = child

    def _remove(self, child: Child) -> None:
        if self._by_path.get(child.path) is child:
            del self._by_path[child.path]
        name = child.spec.registered_name if child.spec.kind == "worker" else None
        if name is not None and self._by_name.get(name) is child:
            del self._by_name[name]

    def _slot(self, path: str) -> Child | None:
        return self._by_path.get(path)

    def whereis(self, name: str) -> ActorRef[object] | SupervisorRef | TaskRef:
        """The ref registered as ``name``, or at tree path ``name``.

        Raises:
            NameNotFoundError: nothing is registered or placed there.
        """
        child = self._by_name.get(name) or self._by_path.get(name)
        if child is None:
            raise NameNotFoundError(name)
        return child.ref

    def paths(self) -> list[str]:
        """Every tree path known now, in the order the children were added."""
        return list(self._by_path)

    def names(self) -> list[str]:
        """Every registered name."""
        return list(self._by_name)
