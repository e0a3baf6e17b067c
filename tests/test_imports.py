"""Import paths ``"package.module:attribute"``: resolved, or an error saying what failed."""

from __future__ import annotations

import collections
import os.path
import re

import pytest

from supervise._imports import import_path_of, resolve_import_path


def test_a_path_resolves_to_its_attribute_even_a_dotted_one() -> None:
    """The module is imported; the attribute may be reached through several names."""
    assert resolve_import_path("os.path:join") is os.path.join
    assert resolve_import_path("collections:OrderedDict.fromkeys") == (
        collections.OrderedDict.fromkeys
    )


def test_import_path_of_gives_back_a_path_that_resolves() -> None:
    """A class or function's path resolves to the same object."""
    path = import_path_of(collections.OrderedDict)
    assert path == "collections:OrderedDict"
    assert resolve_import_path(path) is collections.OrderedDict


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "Counter",
            "'Counter' is not an import path; write 'package.module:Name', "
            "e.g. 'myapp.workers:Counter'",
        ),
        (
            "no_such_module_here:X",
            "cannot import module 'no_such_module_here' (from 'no_such_module_here:X'): "
            "ModuleNotFoundError: No module named 'no_such_module_here'; "
            "check the spelling and that it is on sys.path",
        ),
        (
            "collections:Nope.more",
            "module 'collections' has no attribute 'Nope.more' (from 'collections:Nope.more'); "
            "check the name defined in that module",
        ),
    ],
)
def test_a_path_that_does_not_resolve_says_what_failed(path: str, message: str) -> None:
    """Each failure names the path, the part that failed and what to check."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        resolve_import_path(path)
