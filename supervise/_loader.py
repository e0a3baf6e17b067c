"""Load tree specs from YAML or JSON files (or text, or dicts), pointing at every problem.

`load_tree` (files and dicts) and `load_tree_text` (text) are the one seam
from data to specs: they read the document, keep the line and column of every
key and value, substitute ``${VAR}`` and ``${VAR:-default}`` from the
environment, validate with the pydantic models of `supervise.spec`, and turn
every validation error into one line that names the file, the position, the
field path, what was expected and what was found::

    tree.yaml:12:5: children[2].shutdown: expected seconds >= 0, "brutal_kill" or
    "infinity", found -1

All problems of a file are reported together in one `TreeFileError`, and
nothing else is raised whatever the file holds: malformed YAML, values PyYAML
cannot construct, recursive aliases, and files over the limits of
`supervise._documents` (size, string length, nesting depth, alias expansion)
are problems of the file like the others.

Imports of actor modules (``actor: "package.module:Class"``) happen during
validation. The library does not touch ``sys.path`` on its own: pass
``extra_sys_path`` to put directories (e.g. the tree file's own) in front of
it. The ``supervise`` CLI passes the tree file's directory and the current
directory.
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ValidationError

from . import spec as spec_module
from ._documents import (
    MAX_FILE_SIZE,
    DataPath,
    Document,
    Step,
    YamlReader,
    format_path,
    read_mapping_data,
    size_problem,
)
from ._errors import TreeFileError
from ._json_document import JsonReader
from .spec import (
    _NAME_PATTERN,
    _NODE_NAME_PATTERN,
    _SERVER_URL_PATTERN,
    DYNAMIC,
    TEMPLATE_PLACED,
    Backoff,
    ChildSpec,
    ClusterSpec,
    DynamicSupervisorSpec,
    MailboxSpec,
    Placement,
    SupervisorSpec,
    TaskSpec,
    _child_kind,
    placement_problem,
    significant_problem,
)

Format = Literal["yaml", "json"]

_SUFFIXES: Final[dict[str, Format]] = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def _models_by_kind() -> dict[str, type[BaseModel]]:
    """Every spec model with a ``kind``, by that kind (``worker``, ``supervisor``, ...).

    Read from `supervise.spec` rather than listed here, so a new kind of child
    is known to the error messages as soon as the spec defines it.
    """
    models: dict[str, type[BaseModel]] = {}
    for value in vars(spec_module).values():
        if isinstance(value, type) and issubclass(value, BaseModel):
            kind = value.model_fields.get("kind")
            if kind is not None and isinstance(kind.default, str):
                models[kind.default] = value
    return models


# pydantic puts the tag of a discriminated union in error locations, after the
# index of a child or after ``child``; it is not part of the file's structure.
_KINDS: Final = _models_by_kind()
_ROOT_KINDS: Final[dict[str, type[SupervisorSpec | DynamicSupervisorSpec]]] = {
    "supervisor": SupervisorSpec,
    "dynamic_supervisor": DynamicSupervisorSpec,
}
_SUB_MODELS: Final[dict[str, type[BaseModel]]] = {
    "mailbox": MailboxSpec,
    "backoff": Backoff,
    "cluster": ClusterSpec,
    "placement": Placement,
}


def _child_model(node: object) -> type[BaseModel] | None:
    """The model of a child (or template) mapping, by the rule the spec uses."""
    return _KINDS.get(_child_kind(node)) if isinstance(node, Mapping) else None


# Stands for a field that is absent from the data (a "missing" error's location).
_MISSING: Final = object()

# What a field accepts, where pydantic's union errors would say it in pieces.
_EXPECTED_BY_FIELD: Final[dict[str, str]] = {
    "shutdown": 'seconds >= 0, "brutal_kill" or "infinity"',
}

# -- checks before pydantic ------------------------------------------------------------


def _name_of(child: object) -> object:
    if isinstance(child, Mapping):
        return child.get("name")
    return getattr(child, "name", None)


def _check_names(
    data: object,
    path: DataPath,
    doc: Document,
    registered: dict[str, DataPath] | None = None,
) -> None:
    """Report duplicate sibling names and registered names everywhere in the tree.

    pydantic checks sibling names too, but only for a list whose children are
    all valid; doing it here reports duplicates alongside every other problem.
    Registered names are unique across the whole tree, which no single model
    sees: without this check the tree would fail at start with NameTakenError.
    """
    registered = {} if registered is None else registered
    if not isinstance(data, Mapping):
        return
    name = data.get("registered_name")
    if isinstance(name, str):
        where = (*path, "registered_name")
        if path and path[-1] == "child":
            doc.problem(
                where,
                "a dynamic supervisor's template cannot have a registered_name: every "
                "child started from it would claim the same name; remove it",
            )
        elif name in registered:
            doc.problem(
                where,
                f"registered name {name!r} is taken by {format_path(registered[name])}; "
                f"registered names must be unique in the whole tree",
            )
        else:
            registered[name] = path
    children = data.get("children")
    if isinstance(children, list):
        seen: dict[str, int] = {}
        for index, child in enumerate(children):
            child_name = _name_of(child)
            if isinstance(child_name, str):
                if child_name in seen:
                    doc.problem(
                        (*path, "children", index, "name"),
                        f"duplicate child name {child_name!r} (also children[{seen[child_name]}]); "
                        f"sibling names must be unique",
                    )
                else:
                    seen[child_name] = index
            _check_names(child, (*path, "children", index), doc, registered)
    template = data.get("child")
    if isinstance(template, Mapping):
        _check_names(template, (*path, "child"), doc, registered)


def _check_placements(data: object, path: DataPath, doc: Document, inside: str | None) -> None:
    """Report ``cluster`` below the root and ``placement`` where it cannot be.

    The spec refuses the same (``placement_problem``), but only for a list
    whose children are all valid and without positions; here each problem
    points at its field in the file.
    """
    if not isinstance(data, Mapping):
        return
    children = data.get("children")
    if isinstance(children, list):
        for index, child in enumerate(children):
            where = (*path, "children", index)
            problem = placement_problem(child, inside) if isinstance(child, Mapping) else None
            if problem is not None:
                field, message = problem
                doc.problem((*where, field), message, doc.position((*where, field), key=True))
            placed = isinstance(child, Mapping) and child.get("placement") is not None
            name = _name_of(child)
            below = inside or (str(name) if placed else None)
            _check_placements(child, where, doc, below)
    template = data.get("child")
    if isinstance(template, Mapping) and template.get("placement") is not None:
        where = (*path, "child", "placement")
        doc.problem(where, TEMPLATE_PLACED, doc.position(where, key=True))


def _check_significant(data: object, path: DataPath, doc: Document) -> None:
    """Report ``significant`` children that their supervisor's ``auto_shutdown`` refuses.

    The spec refuses the same (``significant_problem``), but only for a list
    whose children are all valid; here each problem points at its field.
    """
    if not isinstance(data, Mapping):
        return
    kind = data.get("kind", "supervisor" if path == () else _child_kind(data))
    auto_shutdown = DYNAMIC if kind == "dynamic_supervisor" else data.get("auto_shutdown", "never")
    children = data.get("children")
    for index, child in enumerate(children if isinstance(children, list) else ()):
        where = (*path, "children", index)
        problem = significant_problem(child, auto_shutdown) if isinstance(child, Mapping) else None
        if problem is not None:
            doc.problem((*where, "significant"), problem)
        _check_significant(child, where, doc)
    template = data.get("child")
    if kind == "dynamic_supervisor" and isinstance(template, Mapping):
        problem = significant_problem(template, DYNAMIC)
        if problem is not None:
            doc.problem((*path, "child", "significant"), problem)
        _check_significant(template, (*path, "child"), doc)


# -- pydantic errors -> problems -------------------------------------------------------


def _render(value: object) -> str:
    """A found value, written as in the file (JSON style)."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "null"
    text = json.dumps(value) if isinstance(value, bool | int | float | str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _quoted_choices(expected: str) -> list[str]:
    """``"'a', 'b' or 'c'"`` (pydantic's wording) -> ``["a", "b", "c"]``."""
    return re.findall(r"'([^']*)'", expected)


def _one_of(choices: list[str]) -> str:
    quoted = [f'"{c}"' for c in choices]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}"


def _did_you_mean(word: object, choices: Iterable[str]) -> str:
    matches = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f'; did you mean "{matches[0]}"?' if matches else ""


def _expected(error: Mapping[str, Any]) -> str | None:
    """What the field expected, in the file's terms; None if pydantic's text must do."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in ("enum", "literal_error"):
        return _one_of(_quoted_choices(str(ctx.get("expected", ""))))
    bounds = {
        "greater_than_equal": ">=",
        "greater_than": ">",
        "less_than_equal": "<=",
        "less_than": "<",
    }
    if kind in bounds:
        bound = next(iter(ctx.values()))
        if isinstance(bound, float):
            bound = f"{bound:g}"
        return f"a number {bounds[kind]} {bound}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "an integer"
    if kind in ("float_parsing", "float_type"):
        return "a number"
    if kind in ("bool_parsing", "bool_type"):
        return "true or false"
    if kind == "string_type":
        return "a string"
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == _NAME_PATTERN:
            return 'a name of letters, digits, "_", "." and "-" (not starting with "." or "-")'
        if ctx.get("pattern") == _NODE_NAME_PATTERN:
            return 'a name of up to 64 letters, digits, "_" and "-"'
        if ctx.get("pattern") == _SERVER_URL_PATTERN:
            return 'a server URL such as "nats://10.0.0.5:4222" (nats, tls, ws or wss)'
        return f"a string matching {ctx.get('pattern')}"
    if kind == "string_too_short":
        return "a non-empty string"
    if kind == "string_too_long":
        return f"a string of at most {ctx.get('max_length')} characters"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return "a mapping"
    if kind in ("list_type", "tuple_type"):
        return "a list"
    return None


def _model_at(data: object, path: DataPath, root: type[BaseModel]) -> type[BaseModel] | None:
    """The spec model that validates the mapping at ``path`` (for did-you-mean)."""
    model: type[BaseModel] | None = root
    node = data
    steps = list(path)
    while steps and model is not None:
        step = steps.pop(0)
        if not isinstance(node, Mapping) or step not in node:
            return None
        node = node[step]
        if step == "children" and steps and isinstance(node, list):
            index = steps.pop(0)
            if not isinstance(index, int) or index >= len(node):
                return None
            node = node[index]
            model = _child_model(node)
        elif step == "child":
            model = _child_model(node)
        elif isinstance(step, str):
            model = _SUB_MODELS.get(step)
        else:
            return None
    return model


class _ErrorMapper:
    """Turns pydantic's errors into problems with file positions."""

    def __init__(self, doc: Document, root: type[BaseModel]) -> None:
        self._doc = doc
        self._root = root
        # Union members of one value fail separately; collect their expectations
        # and report the value once.
        self._unions: dict[DataPath, list[str]] = {}
        self._union_inputs: dict[DataPath, object] = {}

    def _already_reported(self, path: DataPath) -> bool:
        return any(path[: len(p)] == p for p in self._doc.reported)

    def add(self, error: Mapping[str, Any]) -> None:
        kind = error["type"]
        if kind in ("duplicate_child_name", "placement_problem", "significant_problem"):
            return  # reported by _check_names, _check_placements and _check_significant
        path, in_union = self._walk(self._doc.data, error["loc"], children_tags=True)
        if self._already_reported(path):
            return
        if kind == "actor_args":
            self._args(path, error)
            return
        if in_union:
            expected = _EXPECTED_BY_FIELD.get(str(path[-1])) if path else None
            self._unions.setdefault(path, []).append(expected or _expected(error) or error["msg"])
            self._union_inputs[path] = error["input"]
            return
        self._report(path, error, self._root_model_for(path))

    def finish(self) -> None:
        for path, expectations in self._unions.items():
            unique = list(dict.fromkeys(expectations))
            field_phrase = _EXPECTED_BY_FIELD.get(str(path[-1])) if path else None
            expected = field_phrase or " or ".join(unique)
            self._doc.problem(
                path, f"expected {expected}, found {_render(self._union_inputs[path])}"
            )

    def _root_model_for(self, path: DataPath) -> type[BaseModel] | None:
        return _model_at(self._doc.data, path[:-1], self._root) if path else None

    def _walk(
        self, data: object, loc: Iterable[Step], *, children_tags: bool
    ) -> tuple[DataPath, bool]:
        """Map an error location onto the data: drop union tags, keep real keys.

        Returns the data path and whether the location went on past a scalar
        (the error is about one member of a union of types).
        """
        path: list[Step] = []
        node: object = data
        skip_tag = False
        for step in loc:
            if skip_tag:
                skip_tag = False
                if step in _KINDS:
                    continue
            if isinstance(node, list | tuple) and isinstance(step, int):
                path.append(step)
                skip_tag = children_tags and len(path) >= 2 and path[-2] == "children"
                node = node[step] if step < len(node) else _MISSING
            elif isinstance(node, Mapping):
                path.append(step)
                skip_tag = children_tags and step == "child"
                node = node.get(step, _MISSING)
            elif node is _MISSING:
                path.append(step)  # below a missing field
            else:
                return tuple(path), True
        return tuple(path), False

    def _report(
        self, path: DataPath, error: Mapping[str, Any], model: type[BaseModel] | None
    ) -> None:
        doc = self._doc
        kind = error["type"]
        ctx = error.get("ctx") or {}
        if kind == "missing":
            doc.problem(path, "required field is missing", doc.position(path[:-1]))
        elif kind == "extra_forbidden":
            name = path[-1] if path else ""
            fields = sorted(model.model_fields) if model is not None else []
            hint = _did_you_mean(name, fields)
            if not hint and model is ChildSpec and name in SupervisorSpec.model_fields:
                hint = '; add "kind: supervisor" to make this child a supervisor'
            elif model is TaskSpec and name == "placement":
                hint = "; a task cannot be placed on another node: place a supervisor holding it"
            elif not hint and fields:
                hint = f"; expected one of: {', '.join(fields)}"
            doc.problem(path, f"unknown field{hint}", doc.position(path, key=True))
        elif kind == "union_tag_invalid":
            tag = ctx.get("tag")
            choices = _quoted_choices(str(ctx.get("expected_tags", "")))
            doc.problem(
                (*path, "kind"),
                f"expected {_one_of(choices)}, found {_render(tag)}{_did_you_mean(tag, choices)}",
            )
        elif kind == "value_error":
            doc.problem(path, str(ctx.get("error", error["msg"])))
        else:
            expected = _expected(error)
            found = _render(error["input"])
            if expected is None:
                doc.problem(path, f"{error['msg']}, found {found}")
                return
            hint = ""
            if kind == "string_type" and isinstance(error["input"], bool | int | float):
                # YAML reads unquoted yes/no/on/off and numbers as such.
                hint = "; quote the value to make it a string"
            if kind in ("enum", "literal_error"):
                hint = _did_you_mean(error["input"], _quoted_choices(str(ctx.get("expected"))))
            doc.problem(path, f"expected {expected}, found {found}{hint}")

    def _args(self, path: DataPath, error: Mapping[str, Any]) -> None:
        """Spread an actor's config errors over the args they are about."""
        ctx = error.get("ctx") or {}
        sub_errors = ctx.get("errors") or []
        if not sub_errors:
            self._doc.problem(path, str(ctx.get("message", error["msg"])))
            return
        model = ctx.get("model")
        args = error["input"]
        for sub in sub_errors:
            sub_path, in_union = self._walk(args, sub["loc"], children_tags=False)
            full = (*path, *sub_path)
            if self._already_reported(full):
                continue
            if in_union:
                self._unions.setdefault(full, []).append(_expected(sub) or sub["msg"])
                self._union_inputs[full] = sub["input"]
                continue
            # Only top-level args can be matched against the config model's fields.
            sub_model = model if len(sub_path) == 1 else None
            self._report(full, sub, sub_model)


# -- the public function ---------------------------------------------------------------


def _add_sys_path(directories: Iterable[str | os.PathLike[str]]) -> None:
    # Put in front, as Python does for a script's directory, and leave them:
    # modules imported from there may import their siblings later on.
    for directory in reversed([os.path.abspath(d) for d in directories]):
        if directory not in sys.path:
            sys.path.insert(0, directory)


def load_tree(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    format: Format | None = None,
    env: Mapping[str, str] | None = None,
    extra_sys_path: Iterable[str | os.PathLike[str]] = (),
) -> SupervisorSpec | DynamicSupervisorSpec:
    """Load a tree spec from a YAML or JSON file, or from a dict.

    ::

        spec = load_tree("tree.yaml", extra_sys_path=["."])
        async with open_tree(spec) as tree:
            await tree.wait()

    For YAML or JSON held in a string, use `load_tree_text`: a `str` given
    here is always a file name.

    Args:
        source: a file path (`str` or `pathlib.Path`), or a dict (already
            parsed data, e.g. from your own configuration).
        format: ``"yaml"`` or ``"json"``; by default the file's suffix decides
            (``.yaml``, ``.yml``, ``.json``).
        env: the variables for ``${VAR}`` and ``${VAR:-default}`` (default:
            `os.environ`). Substitution applies to string values, not keys.
        extra_sys_path: directories put in front of `sys.path` (if not there
            yet) before actor classes are imported, e.g. the tree file's
            directory. They stay there: actor modules may import more later.

    Returns:
        The root `SupervisorSpec` (the default ``kind``) or `DynamicSupervisorSpec`.

    Raises:
        TreeFileError: listing every problem found, each with the file, line and
            column (for files), field path, what was expected and what was found.
            Nothing else: a file that is malformed, too large
            (``MAX_FILE_SIZE``), too deep or full of aliases is a problem of
            the file too (see docs/tree-files.md, "Limits").

    .. versionadded:: 0.1
    .. versionchanged:: 0.1
       Text moved to `load_tree_text`.
    """
    env = os.environ if env is None else env
    with _collector_paused():
        if isinstance(source, Mapping):
            doc = Document(None)
            read_mapping_data(source, doc, env)
        else:
            doc = _read_file(source, format, env)
        return _finish(doc, extra_sys_path)


def load_tree_text(
    text: str,
    *,
    format: Format = "yaml",
    env: Mapping[str, str] | None = None,
    extra_sys_path: Iterable[str | os.PathLike[str]] = (),
) -> SupervisorSpec | DynamicSupervisorSpec:
    """Load a tree spec from YAML or JSON text.

    ::

        spec = load_tree_text("{name: root, children: [{name: db, actor: 'app.db:Db'}]}")

    Problems are reported as in a file named ``<string>``
    (``<string>:2:5: children[0].name: ...``).

    Args:
        text: the YAML or JSON document.
        format: ``"yaml"`` (the default) or ``"json"``. JSON is also valid YAML;
            ``"json"`` gives JSON's rules and messages.
        env: as for `load_tree`.
        extra_sys_path: as for `load_tree`.

    Returns:
        The root `SupervisorSpec` or `DynamicSupervisorSpec`.

    Raises:
        TreeFileError: as for `load_tree`.

    .. versionadded:: 0.1
    """
    env = os.environ if env is None else env
    doc = Document("<string>")
    size = len(text.encode("utf-8", "surrogatepass"))
    with _collector_paused():
        if size > MAX_FILE_SIZE:
            doc.problem((), size_problem(size))
        else:
            _parse(text, format, doc, env)
        return _finish(doc, extra_sys_path)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a document is read and validated.

    Loading creates a few objects per value (nodes, marks, positions, models)
    and keeps them all until it returns, so every collection on the way walks
    them again: for a file of 100,000 children that is more than half the time.
    Reference counting frees memory as usual; cycles wait for the next collection.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _finish(
    doc: Document, extra_sys_path: Iterable[str | os.PathLike[str]]
) -> SupervisorSpec | DynamicSupervisorSpec:
    if doc.problems and doc.data is None:
        raise TreeFileError(doc.file, doc.problems)
    _add_sys_path(extra_sys_path)
    spec = _validate(doc)
    if doc.problems:
        problems = sorted(
            dict.fromkeys(doc.problems),  # one report per distinct problem
            key=lambda p: (p.line or 0, p.column or 0),
        )
        raise TreeFileError(doc.file, problems)
    assert spec is not None
    return spec


def _read_file(
    source: str | os.PathLike[str], format: Format | None, env: Mapping[str, str]
) -> Document:
    if (
        isinstance(source, str)
        and ("\n" in source or source.lstrip().startswith("{"))
        and not os.path.exists(source)
    ):
        doc = Document("<string>")
        doc.problem(
            (),
            "load_tree takes a file name or a dict, and this looks like YAML or JSON text; "
            "call load_tree_text(text) instead",
        )
        return doc
    path = Path(source)
    doc = Document(os.fspath(source))
    if format is None:
        format = _SUFFIXES.get(path.suffix.lower())
        if format is None:
            doc.problem(
                (),
                f"cannot tell the format from the suffix {path.suffix!r}; name the file "
                f".yaml, .yml or .json, or pass format='yaml' or 'json'",
            )
            return doc
    try:
        with path.open("rb") as file:
            # One byte more than allowed tells a file over the limit, without reading it all.
            data = file.read(MAX_FILE_SIZE + 1)
            if len(data) > MAX_FILE_SIZE:
                doc.problem((), size_problem(os.fstat(file.fileno()).st_size))
                return doc
        text = data.decode("utf-8")
    except FileNotFoundError:
        doc.problem((), f"no such file (looked for {path.resolve()}); check the path")
        return doc
    except (OSError, ValueError) as exc:  # ValueError: UnicodeDecodeError, a NUL in the name
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        doc.problem((), f"cannot read the file: {reason}")
        return doc
    _parse(text, format, doc, env)
    return doc


def _parse(text: str, format: Format, doc: Document, env: Mapping[str, str]) -> None:
    if format == "yaml":
        YamlReader(text, doc, env).read()
    else:
        JsonReader(text, doc, env).read()
    if doc.data is None and not doc.problems:
        doc.problem((), "the file is empty; expected a mapping describing the root supervisor")


def _validate(doc: Document) -> SupervisorSpec | DynamicSupervisorSpec | None:
    data = doc.data
    if not isinstance(data, Mapping):
        if data is not None:
            doc.problem(
                (), f"expected a mapping describing the root supervisor, found {_render(data)}"
            )
        return None
    kind = data.get("kind", "supervisor")
    model = _ROOT_KINDS.get(kind) if isinstance(kind, str) else None
    leaf = next((f for f in ("actor", "task") if f in data), None)
    if "kind" not in data and leaf and "children" not in data and "child" not in data:
        # Written as a worker (or task) without `kind`: the default kind of the root
        # is supervisor, but "actor: unknown field" would not say what is wrong.
        doc.problem(
            (leaf,),
            f"the root must be a supervisor, and this one has {leaf!r} as a "
            f"{'worker' if leaf == 'actor' else 'task'} would; put this child in the "
            f"children of a root supervisor",
            doc.position((leaf,), key=True),
        )
        return None
    if model is None:
        choices = list(_ROOT_KINDS)
        hint = (
            f"; the root must be a supervisor: put this {kind} in its children"
            if kind in ("worker", "task")
            else _did_you_mean(kind, choices)
        )
        doc.problem(("kind",), f"expected {_one_of(choices)}, found {_render(kind)}{hint}")
        return None
    _check_names(data, (), doc)
    if data.get("placement") is not None:
        doc.problem(
            ("placement",),
            "the root runs in this process and cannot be placed; put the subtree to "
            "place among the root's children",
            doc.position(("placement",), key=True),
        )
    _check_placements(data, (), doc, None)
    _check_significant(data, (), doc)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        mapper = _ErrorMapper(doc, model)
        for error in exc.errors(include_url=False):
            mapper.add(error)
        mapper.finish()
        return None


__all__ = ["Format", "load_tree", "load_tree_text"]
