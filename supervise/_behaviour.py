"""What an actor class declares: its messages, its config model, the hooks it overrides.

Everything a spec needs to know about an actor class to validate a child
(`ChildSpec` checks ``args`` against ``config_model``) and everything a sender
needs to check a message (``accepts``, which types are shared or copied) is
read once, when the class is defined, into the class variables of `Behaviour`.
`Actor` is the runtime's one subclass of `Behaviour`; this module imports no
runtime, so specs can be built, validated and serialised without it.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import inspect
import pathlib
import sys
import types
import typing
import uuid
from typing import ClassVar, TypeVar, cast

from pydantic import BaseModel

from ._errors import SpecError

# Field types that cannot be mutated in place; a frozen model made only of these
# (and of other such models) is safe to pass by reference.
_IMMUTABLE_ATOMS: frozenset[object] = frozenset(
    {int, float, complex, bool, str, bytes, type(None), typing.Any}
)


def _is_immutable_annotation(tp: object, seen: set[type]) -> bool:
    if tp in _IMMUTABLE_ATOMS:
        return tp is not typing.Any
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return True
    if origin is typing.Annotated:
        return _is_immutable_annotation(typing.get_args(tp)[0], seen)
    if origin in (typing.Union, types.UnionType, tuple, frozenset):
        return all(a is Ellipsis or _is_immutable_annotation(a, seen) for a in typing.get_args(tp))
    if isinstance(tp, type):
        if issubclass(tp, BaseModel):
            return _is_immutable_model(tp, seen)
        return (
            issubclass(
                tp,
                (
                    enum.Enum,
                    datetime.date,
                    datetime.time,
                    datetime.timedelta,
                    decimal.Decimal,
                    uuid.UUID,
                    pathlib.PurePath,
                    tuple,
                    frozenset,
                ),
            )
            or tp in _IMMUTABLE_ATOMS
        )
    return False


def _is_immutable_model(model: type[BaseModel], seen: set[type] | None = None) -> bool:
    """True if instances of ``model`` can be shared safely (frozen, immutable fields)."""
    seen = set() if seen is None else seen
    if model in seen:
        return True
    seen.add(model)
    if not model.model_config.get("frozen", False):
        return False
    return all(_is_immutable_annotation(f.annotation, seen) for f in model.model_fields.values())


def _declared_message_types(cls: type, root: type) -> tuple[type[BaseModel], ...] | None:
    """The models named in ``Actor[...]`` (``root[...]``) among ``cls``'s bases, if any."""
    for base in getattr(cls, "__orig_bases__", ()):
        if typing.get_origin(base) is root:
            (param,) = typing.get_args(base)
            if isinstance(param, TypeVar):
                return None
            args = (
                typing.get_args(param)
                if typing.get_origin(param) in (typing.Union, types.UnionType)
                else (param,)
            )
            bad = [a for a in args if not (isinstance(a, type) and issubclass(a, BaseModel))]
            if bad:
                raise SpecError(
                    f"{cls.__module__}:{cls.__qualname__}",
                    f"Actor[...] takes pydantic models, got {bad!r}; declare each "
                    f"message as `class MyMsg(BaseModel, frozen=True)`",
                )
            return cast(tuple[type[BaseModel], ...], args)
    return None


def _sync_hook(cls: type[Behaviour]) -> str | None:
    """The first of ``cls``'s hooks that is not ``async def``, if any.

    The runtime awaits what a hook returns, so a plain ``def handle`` would make every
    message fail with a TypeError; a spec naming such a class is refused instead.
    """
    for hook in ("on_start", "handle", "on_stop"):
        if not inspect.iscoroutinefunction(getattr(cls, hook)):
            return hook
    return None


class Behaviour:
    """An actor class's declarations (`Actor` is the one subclass; see its docs).

    The underscored ones stay out of the namespace of the user's actor classes; they
    are read, never written, by the runtime: a child slot copies the shared and
    copied types (the sender's check), a process skips hooks that are not
    overridden, a spec refuses a class without ``handle``.
    """

    __slots__ = ()

    #: The message models this actor accepts, from ``Actor[...]``.
    accepts: ClassVar[tuple[type[BaseModel], ...]] = ()
    #: The model validating the child spec's ``args``, from the ``config`` annotation.
    config_model: ClassVar[type[BaseModel] | None] = None
    # Accepted types whose instances are passed by reference / must be copied.
    _share_types: ClassVar[frozenset[type]] = frozenset()
    _copy_types: ClassVar[frozenset[type]] = frozenset()
    # Whether on_start / on_stop are overridden; when not, a start needs no round
    # trip and a stop or crash skips the hook (and its timeout) altogether.
    _has_on_start: ClassVar[bool] = False
    _has_on_stop: ClassVar[bool] = False
    # Whether `handle` is defined: an actor without one fails every message, so a spec refuses it.
    _has_handle: ClassVar[bool] = False


def read_declarations(cls: type[Behaviour], root: type) -> None:
    """Set ``cls``'s declarations from ``root[...]`` among its bases and its ``config``.

    Raises:
        SpecError: a declared message is not a pydantic model, or ``config``
            is not annotated with one.
    """
    declared = _declared_message_types(cls, root)
    if declared is not None:
        cls.accepts = declared
        cls._share_types = frozenset(t for t in declared if _is_immutable_model(t))
        cls._copy_types = frozenset(declared) - cls._share_types
    config_type = inspect.get_annotations(cls).get("config")
    if isinstance(config_type, str):  # `from __future__ import annotations`
        module = sys.modules.get(cls.__module__)
        try:
            config_type = eval(config_type, vars(module) if module else {}, dict(vars(cls)))
        except Exception as exc:
            raise SpecError(
                f"{cls.__module__}:{cls.__qualname__}",
                f"cannot resolve the `config` annotation {config_type!r} ({exc}); "
                f"define the config model before the actor class",
            ) from exc
    if config_type is not None:
        if not (isinstance(config_type, type) and issubclass(config_type, BaseModel)):
            raise SpecError(
                f"{cls.__module__}:{cls.__qualname__}",
                f"`config` must be annotated with a pydantic model, got {config_type!r}",
            )
        cls.config_model = config_type
