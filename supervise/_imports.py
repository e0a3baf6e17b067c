"""Resolve ``"package.module:attribute"`` paths, with errors that say what failed."""

from __future__ import annotations

import importlib


def resolve_import_path(path: str) -> object:
    """Import ``"package.module:attribute"`` (the attribute may be dotted).

    Raises:
        ValueError: with a message naming the module or attribute that failed and why.
    """
    module_name, sep, attr_path = path.partition(":")
    if not sep or not module_name or not attr_path:
        raise ValueError(
            f"{path!r} is not an import path; write 'package.module:Name', "
            f"e.g. 'myapp.workers:Counter'"
        )
    try:
        obj: object = importlib.import_module(module_name)
    except Exception as exc:
        raise ValueError(
            f"cannot import module {module_name!r} (from {path!r}): "
            f"{type(exc).__name__}: {exc}; check the spelling and that it is on sys.path"
        ) from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(
                f"module {module_name!r} has no attribute {attr_path!r} (from {path!r}); "
                f"check the name defined in that module"
            ) from None
    return obj


def import_path_of(obj: object) -> str:
    """The ``"module:qualname"`` path of a class or function."""
    module = getattr(obj, "__module__", "?")
    qualname = getattr(obj, "__qualname__", repr(obj))
    return f"{module}:{qualname}"
