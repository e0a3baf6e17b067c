"""Tree data read from YAML, JSON or a dict, with the position of every key and value.

PyYAML's ``safe_load`` and `json.loads` forget where things were written; error
messages that point at a line need that. The readers here build the same plain
data (dicts, lists, scalars) and record, for each path such as
``("children", 2, "shutdown")``, the 1-based line and column of its value and
of its key. They also refuse duplicate keys (both formats would keep the last
one silently) and substitute ``${VAR}`` references in string values.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, NoReturn, TypeAlias

import yaml

from ._errors import TreeFileProblem
from ._interpolation import InterpolationError, interpolate

#: A key or index on the way from the root to a value.
Step = str | int
DataPath = tuple[Step, ...]
#: 1-based (line, column).
Position = tuple[int, int]


@dataclass
class Document:
    """Data read from a source, with the positions of its keys and values."""

    file: str | None
    data: object = None
    values: dict[DataPath, Position] = field(default_factory=dict)
    keys: dict[DataPath, Position] = field(default_factory=dict)
    problems: list[TreeFileProblem] = field(default_factory=list)
    # Paths whose value is already reported (interpolation): their pydantic errors
    # would only repeat the same problem in other words.
    reported: set[DataPath] = field(default_factory=set)

    def problem(self, path: DataPath, message: str, pos: Position | None = None) -> None:
        if pos is None:
            pos = self.position(path)
        line, column = pos if pos is not None else (None, None)
        self.problems.append(TreeFileProblem(self.file, line, column, format_path(path), message))

    def position(self, path: DataPath, *, key: bool = False) -> Position | None:
        """The position of the value (or key) at ``path``, or of its nearest known ancestor."""
        if key and path in self.keys:
            return self.keys[path]
        while True:
            if path in self.values:
                return self.values[path]
            if path in self.keys:
                return self.keys[path]
            if not path:
                return None
            path = path[:-1]


def format_path(path: DataPath) -> str:
    """``("children", 2, "shutdown")`` -> ``children[2].shutdown``."""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else step
    return text


# -- limits ----------------------------------------------------------------------------

#: Tree files (and texts) larger than this, in bytes, are refused before they are parsed.
MAX_FILE_SIZE: Final = 32 * 1024 * 1024
#: The longest string (value or key) a tree file may hold, in characters.
MAX_STRING_LENGTH: Final = 1_000_000
#: The deepest nesting of mappings and lists. Each supervisor level takes two (its
#: ``children`` list and the child's mapping), so trees 40 levels deep still fit.
MAX_DEPTH: Final = 100
#: Values that YAML aliases may add to a file, beyond one per character of the file:
#: a few aliases of aliases must not expand to billions of values ("billion laughs").
MAX_ALIAS_VALUES: Final = 100_000
#: Python converts integers of at most this many decimal digits (`sys.int_info`).
MAX_INT_DIGITS: Final = sys.int_info.default_max_str_digits


class Abandon(Exception):
    """Reading cannot go on (a limit was exceeded); the problem is already recorded."""


def size_problem(size: int) -> str:
    """The message for a file (or text) larger than `MAX_FILE_SIZE`."""
    return (
        f"the file has {size:,} bytes, more than the {MAX_FILE_SIZE:,} a tree file may have; "
        f"split the tree, or start many alike children from a dynamic supervisor's template"
    )


def string_problem(length: int) -> str:
    return (
        f"a string of {length:,} characters, more than the {MAX_STRING_LENGTH:,} allowed; "
        f"pass large data to the actor another way (a file name, for instance)"
    )


def depth_problem() -> str:
    return f"nested more than {MAX_DEPTH} levels deep; a tree file may not nest deeper"


def too_deep(doc: Document, path: DataPath) -> NoReturn:
    # Named by its first steps: the whole path would be a hundred steps long.
    where = path[:_DEPTH_SHOWN]
    doc.problem(where, f"{depth_problem()} (below this value)", doc.position(where))
    raise Abandon


_DEPTH_SHOWN: Final = 6


def int_problem(digits: int) -> str:
    return f"an integer of {digits:,} digits, more than the {MAX_INT_DIGITS:,} allowed"


def _offset_position(text: str, offset: int) -> Position:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


# -- YAML ------------------------------------------------------------------------------

_YAML_MAP: Final = "tag:yaml.org,2002:map"
_YAML_SEQ: Final = "tag:yaml.org,2002:seq"
_YAML_STR: Final = "tag:yaml.org,2002:str"
_YAML_INT: Final = "tag:yaml.org,2002:int"
_YAML_MERGE: Final = "tag:yaml.org,2002:merge"
_YAML_RETYPED: Final = frozenset(
    {
        _YAML_INT,
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
    }
)
# The characters YAML 1.1 allows unescaped in a stream (PyYAML's reader refuses the
# others with a message that gives only an offset); checked first to name the
# character and its line.
_YAML_NOT_PRINTABLE: Final = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)

#: libyaml's parser when PyYAML was built with it (composing 100,000 children takes
#: a fraction of the pure-Python parser's time); the same nodes and marks either way.
YamlLoader: TypeAlias = yaml.SafeLoader | yaml.CSafeLoader
DEFAULT_YAML_LOADER: Final[type[YamlLoader]] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# A scalar that has no value: the reason is recorded as a problem.
_INVALID: Final = object()


_FLOW_BRACKET: Final = re.compile(r"[\[\]{}]")


def _past_max_flow_depth(text: str) -> int | None:
    """The offset of a bracket that may nest flow collections past MAX_DEPTH, or None.

    Brackets inside strings and comments count too: a false alarm only costs speed.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    for match in _FLOW_BRACKET.finditer(text):
        if match.group() in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return match.start()
        elif depth:
            depth -= 1
    return None


def _mark(mark: yaml.Mark) -> Position:
    return mark.line + 1, mark.column + 1


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:")


class YamlReader:
    """Builds plain data from PyYAML's node graph, keeping each node's position.

    Composing nodes (rather than ``safe_load``) is what gives positions, and
    lets us refuse duplicate keys, which PyYAML would silently overwrite.
    Mapping keys are taken as written (always strings), so ``on:`` or ``1:`` do
    not turn into booleans or numbers. Merge keys (``<<: *defaults``) follow
    YAML's rules: a key written in the mapping wins over a merged one, and of
    several merged mappings the first that has a key gives it.

    Nothing in the text makes this raise: recursive aliases, values PyYAML
    cannot construct, and the limits above (`MAX_DEPTH`, `MAX_STRING_LENGTH`,
    `MAX_ALIAS_VALUES`, `MAX_INT_DIGITS`) all become problems of the document.
    """

    def __init__(
        self,
        text: str,
        doc: Document,
        env: Mapping[str, str],
        loader: type[YamlLoader] | None = None,
    ) -> None:
        self._text = text
        # Made in read(), once the text is known to be readable: PyYAML's own reader
        # checks the characters as soon as it is made.
        self._loader_class = loader
        self._loader: YamlLoader
        self._doc = doc
        self._env = env
        # Values left to build: every value written in the file fits (each takes at
        # least one character), and aliases may add MAX_ALIAS_VALUES more.
        self._budget = len(text) + MAX_ALIAS_VALUES
        # The container nodes being read, by id: meeting one again is a recursive alias.
        self._open: set[int] = set()
        # The container nodes read before, by id: meeting one again is an alias, and the
        # outermost alias being read is where an expansion over the budget is reported.
        self._read: set[int] = set()
        self._alias: DataPath | None = None

    def read(self) -> None:
        doc = self._doc
        bad = _YAML_NOT_PRINTABLE.search(self._text)
        if bad is not None:
            doc.problem(
                (),
                f"invalid YAML: the character U+{ord(bad.group()):04X} is not allowed in a "
                f"YAML file; remove it, or write it as an escape in a double-quoted string",
                _offset_position(self._text, bad.start()),
            )
            return
        loader = DEFAULT_YAML_LOADER if self._loader_class is None else self._loader_class
        too_deep_at = _past_max_flow_depth(self._text)
        if too_deep_at is not None:
            # libyaml composes nested nodes by C recursion, bounded only since 0.2.5;
            # PyYAML's own composer stops at Python's recursion limit. A fraction of the
            # speed matters little for a file that is about to be refused.
            loader = yaml.SafeLoader
        self._loader = loader(self._text)
        try:
            try:
                node = self._loader.get_single_node()
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                problem = exc.problem or exc.context or "invalid YAML"
                doc.problem((), f"invalid YAML: {problem}", _mark(mark) if mark else None)
                return
            except yaml.YAMLError as exc:
                doc.problem((), f"invalid YAML: {exc}")
                return
            except RecursionError:  # the pure-Python composer recurses per nesting level
                where = None if too_deep_at is None else _offset_position(self._text, too_deep_at)
                doc.problem((), f"invalid YAML: {depth_problem()}", where)
                return
            if node is not None:
                try:
                    doc.data = self._value(node, ())
                except Abandon:
                    doc.data = None
        finally:
            self._loader.dispose()

    def _spend(self, values: int, path: DataPath) -> None:
        self._budget -= values
        if self._budget < 0:
            where = path if self._alias is None else self._alias
            # Where the alias is written: the key it is the value of (an alias's node
            # carries the position of its anchor).
            while where and where not in self._doc.keys:
                where = where[:-1]
            self._doc.problem(
                where,
                f"YAML aliases here expand the file by more than {MAX_ALIAS_VALUES:,} "
                f"values; write the repeated parts out, or repeat them less",
                self._doc.keys.get(where),
            )
            raise Abandon

    def _value(self, node: yaml.Node, path: DataPath) -> object:
        doc = self._doc
        self._spend(1, path)
        doc.values[path] = _mark(node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if len(path) >= MAX_DEPTH:
            too_deep(doc, path)
        if id(node) in self._open:
            line, column = _mark(node.start_mark)
            doc.problem(
                path,
                f"recursive alias: this value contains itself (its anchor is at line {line}, "
                f"column {column}); a tree file cannot be recursive",
                doc.position(path, key=True) if path else None,
            )
            doc.reported.add(path)
            return None
        outermost_alias = self._alias is None and id(node) in self._read
        if outermost_alias:
            self._alias = path
        self._open.add(id(node))
        self._read.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            assert isinstance(node, yaml.SequenceNode)
            if node.tag != _YAML_SEQ:
                doc.problem(path, f"unsupported YAML tag {node.tag!r}; remove it")
                doc.reported.add(path)
            return [self._value(item, (*path, index)) for index, item in enumerate(node.value)]
        finally:
            self._open.discard(id(node))
            if outermost_alias:
                self._alias = None

    def _mapping(self, node: yaml.MappingNode, path: DataPath) -> object:
        doc = self._doc
        if node.tag != _YAML_MAP:
            doc.problem(path, f"unsupported YAML tag {node.tag!r}; remove it")
            doc.reported.add(path)
        result: dict[str, object] = {}
        for key, (key_node, value_node) in self._entries(node, path, len(path)).items():
            key_path = (*path, key)
            doc.keys[key_path] = _mark(key_node.start_mark)
            result[key] = self._value(value_node, key_path)
        return result

    def _entries(
        self, node: yaml.MappingNode, path: DataPath, depth: int
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """The key and value nodes of a mapping by key, with merge keys (``<<``) applied."""
        doc = self._doc
        own: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        merged: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                doc.problem(
                    path, "a mapping key must be a plain string", _mark(key_node.start_mark)
                )
                continue
            if key_node.tag == _YAML_MERGE:
                for key, entry in self._merged(value_node, path, depth).items():
                    merged.setdefault(key, entry)
                continue
            key = str(key_node.value)
            if len(key) > MAX_STRING_LENGTH:
                doc.problem(path, string_problem(len(key)), _mark(key_node.start_mark))
                continue
            if key in own:
                first = _mark(own[key][0].start_mark)
                doc.problem(
                    (*path, key),
                    f"duplicate key {key!r} (first at line {first[0]}); keep only one",
                    _mark(key_node.start_mark),
                )
                continue
            own[key] = (key_node, value_node)
        # Written keys override merged ones, which keep their place in the order.
        merged.update(own)
        return merged

    def _merged(
        self, value: yaml.Node, path: DataPath, depth: int
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """The entries a merge key brings in: from a mapping, or a list of mappings."""
        doc = self._doc
        sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
        entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                doc.problem(
                    path,
                    "a merge key (<<) takes a mapping or a list of mappings (often an alias, "
                    "<<: *defaults)",
                    _mark(source.start_mark),
                )
                continue
            if depth >= MAX_DEPTH:
                doc.problem(path, depth_problem(), _mark(source.start_mark))
                raise Abandon
            if id(source) in self._open:
                line, column = _mark(source.start_mark)
                doc.problem(
                    path,
                    f"recursive alias: a merge key brings in the mapping it is in (anchored "
                    f"at line {line}, column {column}); a tree file cannot be recursive",
                    _mark(value.start_mark),
                )
                continue
            self._open.add(id(source))
            try:
                found = self._entries(source, path, depth + 1)
            finally:
                self._open.discard(id(source))
            self._spend(len(found), path)
            for key, entry in found.items():
                entries.setdefault(key, entry)
        return entries

    def _scalar(self, node: yaml.ScalarNode, path: DataPath) -> object:
        doc = self._doc
        if len(node.value) > MAX_STRING_LENGTH:
            doc.problem(path, string_problem(len(node.value)))
            doc.reported.add(path)
            return None
        if node.tag != _YAML_STR:
            value = self._construct(node, path)
            return node.value if value is _INVALID else value
        # A string is its text: what PyYAML's constructor would return, without its cost
        # (most values in a tree file are strings).
        value = node.value
        try:
            text = interpolate(value, self._env)
        except InterpolationError as exc:
            doc.problem(path, str(exc))
            doc.reported.add(path)
            return value
        if len(text) > MAX_STRING_LENGTH:
            doc.problem(path, string_problem(len(text)))
            doc.reported.add(path)
            return None
        if text == value or node.style:  # plain: None from PyYAML, "" from libyaml
            return text  # quoted: stays a string, as the author asked
        # An unquoted value is typed after substitution, as if written in place:
        # `port: ${PORT:-8080}` is the integer 8080.
        tag = self._loader.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        if tag in _YAML_RETYPED:
            retyped = yaml.ScalarNode(tag, text, node.start_mark, node.end_mark)
            value = self._construct(retyped, path)
            return text if value is _INVALID else value
        return text

    def _construct(self, node: yaml.ScalarNode, path: DataPath) -> object:
        """The scalar's value by its tag, or _INVALID once the reason is recorded."""
        try:
            return self._loader.construct_object(node)
        except yaml.MarkedYAMLError as exc:
            message = f"invalid YAML: {exc.problem}"
        except (ArithmeticError, LookupError, ValueError, TypeError, AttributeError):
            # PyYAML's constructors trust the text to fit the tag (`!!float ""`,
            # `!!bool maybe`, `!!timestamp x`), and Python limits int() to
            # MAX_INT_DIGITS digits.
            if node.tag == _YAML_INT and len(node.value) > MAX_INT_DIGITS:
                message = int_problem(sum(c.isdigit() for c in node.value))
            else:
                message = f"invalid YAML: {node.value!r} is not a valid {_short_tag(node.tag)}"
        self._doc.problem(path, message)
        self._doc.reported.add(path)
        return _INVALID


# -- dicts -----------------------------------------------------------------------------


def read_mapping_data(data: object, doc: Document, env: Mapping[str, str]) -> None:
    """Put ``data`` (a dict from Python) in ``doc``, its strings interpolated.

    A dict nested deeper than `MAX_DEPTH`, or containing itself, is a problem
    of the document, as in a file.
    """
    open_ids: set[int] = set()

    def read(value: object, path: DataPath) -> object:
        if isinstance(value, str):
            try:
                return interpolate(value, env)
            except InterpolationError as exc:
                doc.problem(path, str(exc))
                doc.reported.add(path)
                return value
        if not isinstance(value, Mapping | list | tuple):
            return value
        if len(path) >= MAX_DEPTH:
            too_deep(doc, path)
        if id(value) in open_ids:
            doc.problem(path, "this value contains itself; a tree cannot be recursive")
            doc.reported.add(path)
            return None
        open_ids.add(id(value))
        try:
            if isinstance(value, Mapping):
                return {k: read(v, (*path, str(k))) for k, v in value.items()}
            return [read(v, (*path, i)) for i, v in enumerate(value)]
        finally:
            open_ids.discard(id(value))

    try:
        doc.data = read(data, ())
    except Abandon:
        doc.data = None


__all__ = [
    "DEFAULT_YAML_LOADER",
    "MAX_ALIAS_VALUES",
    "MAX_DEPTH",
    "MAX_FILE_SIZE",
    "MAX_INT_DIGITS",
    "MAX_STRING_LENGTH",
    "Abandon",
    "DataPath",
    "Document",
    "Position",
    "Step",
    "YamlLoader",
    "YamlReader",
    "depth_problem",
    "format_path",
    "int_problem",
    "read_mapping_data",
    "size_problem",
    "string_problem",
    "too_deep",
]
