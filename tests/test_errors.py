"""The error hierarchy: one root, documented in full, with the standard bases it promises."""

from __future__ import annotations

import builtins
import inspect
import re

import supervise
import supervise._errors
from supervise import SuperviseError


def _error_classes() -> dict[str, type[BaseException]]:
    return {
        name: cls
        for name, cls in vars(supervise._errors).items()
        if inspect.isclass(cls)
        and issubclass(cls, BaseException)
        and cls.__module__ != "builtins"  # they say __module__ "supervise", where users see them
    }


def test_the_errors_are_found() -> None:
    assert len(_error_classes()) >= 20


#: Exceptions user code raises to the runtime as signals: not errors (not SuperviseError).
_SIGNALS = {"Exit", "Ignore"}


def test_every_error_derives_from_supervise_error() -> None:
    """``except SuperviseError`` catches everything the library exports as an error."""
    exported = {n: getattr(supervise, n) for n in supervise.__all__ if n not in _SIGNALS}
    errors = {**_error_classes()}
    errors.update(
        (n, c) for n, c in exported.items() if inspect.isclass(c) and issubclass(c, BaseException)
    )
    outside = sorted(n for n, c in errors.items() if not issubclass(c, SuperviseError))
    assert outside == []


def test_every_error_is_public() -> None:
    hidden = sorted(n for n in _error_classes() if n not in supervise.__all__)
    assert hidden == []


def test_the_module_docstring_draws_the_whole_hierarchy() -> None:
    """Each class appears in the docstring's tree under its own base class, with the
    standard-library base it adds in parentheses: the drawing cannot drift from the code."""
    classes = _error_classes()
    doc = supervise._errors.__doc__ or ""
    drawn: list[str] = []
    parents: list[str] = []  # the drawn ancestors of the current line, by depth
    for line in doc.splitlines():
        match = re.match(r"^    ((?:[│ ]   )*)(?:[├└]── )?([A-Z]\w+)(?: \((\w+)\))?", line)
        if match is None or match.group(2) not in classes:
            continue
        depth = len(match.group(1)) // 4 + (1 if "──" in line else 0)
        name, builtin = match.group(2), match.group(3)
        del parents[depth:]
        cls = classes[name]
        if parents:
            assert cls.__bases__[0] is classes[parents[-1]], (name, parents[-1])
        if builtin is not None:
            assert issubclass(cls, getattr(builtins, builtin)), (name, builtin)
        parents.append(name)
        drawn.append(name)
    assert sorted(drawn) == sorted(classes)
