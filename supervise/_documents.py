"""Tree data read from YAML, JSON or a dict, with the position of every key and value.

PyYAML's ``safe_load`` and `json.loads` forget where things were written; error
messages that point at a line need that. The readers here build the same plain
data (dicts, lists, scalars) and record, for each path such as
``("children", 2, "shutdown")``, the 1-based line and column of its value and
of its key. They also refuse duplicate keys (both formats would keep the last
one silently) and substitute ``${VAR}`` references in string values.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

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


# -- YAML ------------------------------------------------------------------------------

_YAML_MAP: Final = "tag:yaml.org,2002:map"
_YAML_SEQ: Final = "tag:yaml.org,2002:seq"
_YAML_STR: Final = "tag:yaml.org,2002:str"
_YAML_RETYPED: Final = frozenset(
    {
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
    }
)


def _mark(mark: yaml.Mark) -> Position:
    return mark.line + 1, mark.column + 1


class YamlReader:
    """Builds plain data from PyYAML's node graph, keeping each node's position.

    Composing nodes (rather than ``safe_load``) is what gives positions, and
    lets us refuse duplicate keys, which PyYAML would silently overwrite.
    Mapping keys are taken as written (always strings), so ``on:`` or ``1:`` do
    not turn into booleans or numbers.
    """

    def __init__(self, text: str, doc: Document, env: Mapping[str, str]) -> None:
        self._loader = yaml.SafeLoader(text)
        self._doc = doc
        self._env = env

    def read(self) -> None:
        try:
            try:
                node = self._loader.get_single_node()
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                problem = exc.problem or exc.context or "invalid YAML"
                self._doc.problem((), f"invalid YAML: {problem}", _mark(mark) if mark else None)
                return
            except yaml.YAMLError as exc:
                self._doc.problem((), f"invalid YAML: {exc}")
                return
            if node is not None:
                self._doc.data = self._value(node, ())
        finally:
            self._loader.dispose()

    def _value(self, node: yaml.Node, path: DataPath) -> object:
        doc = self._doc
        doc.values[path] = _mark(node.start_mark)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _YAML_SEQ:
                doc.problem(path, f"unsupported YAML tag {node.tag!r}; remove it")
                doc.reported.add(path)
            return [self._value(item, (*path, index)) for index, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: DataPath) -> object:
        doc = self._doc
        if node.tag != _YAML_MAP:
            doc.problem(path, f"unsupported YAML tag {node.tag!r}; remove it")
            doc.reported.add(path)
        try:
            self._loader.flatten_mapping(node)  # merge keys: <<: *defaults
        except yaml.MarkedYAMLError as exc:
            doc.problem(path, f"invalid YAML: {exc.problem}")
        result: dict[str, object] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                doc.problem(
                    path, "a mapping key must be a plain string", _mark(key_node.start_mark)
                )
                continue
            key = str(key_node.value)
            key_path = (*path, key)
            if key in result:
                first = doc.keys[key_path]
                doc.problem(
                    key_path,
                    f"duplicate key {key!r} (first at line {first[0]}); keep only one",
                    _mark(key_node.start_mark),
                )
                continue
            doc.keys[key_path] = _mark(key_node.start_mark)
            result[key] = self._value(value_node, key_path)
        return result

    def _scalar(self, node: yaml.ScalarNode, path: DataPath) -> object:
        doc = self._doc
        try:
            value: object = self._loader.construct_object(node)
        except yaml.MarkedYAMLError as exc:
            doc.problem(path, f"invalid YAML: {exc.problem}")
            doc.reported.add(path)
            return node.value
        if not (isinstance(value, str) and node.tag == _YAML_STR):
            return value
        try:
            text = interpolate(value, self._env)
        except InterpolationError as exc:
            doc.problem(path, str(exc))
            doc.reported.add(path)
            return value
        if text == value or node.style is not None:
            return text  # quoted: stays a string, as the author asked
        # An unquoted value is typed after substitution, as if written in place:
        # `port: ${PORT:-8080}` is the integer 8080.
        tag = self._loader.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        if tag in _YAML_RETYPED:
            return self._loader.construct_object(yaml.ScalarNode(tag, text))
        return text


# -- JSON ------------------------------------------------------------------------------

_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_JSON_CONSTANTS: Final[dict[str, object]] = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "-Infinity": float("-inf"),
}


class JsonReader:
    """A small JSON parser that records positions and refuses duplicate keys.

    The text is checked with `json.loads` first (for its syntax errors and
    their positions), so this parser may assume well-formed input.
    """

    def __init__(self, text: str, doc: Document, env: Mapping[str, str]) -> None:
        self._text = text
        self._doc = doc
        self._env = env
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def read(self) -> None:
        try:
            json.loads(self._text)
        except json.JSONDecodeError as exc:
            self._doc.problem((), f"invalid JSON: {exc.msg}", (exc.lineno, exc.colno))
            return
        self._doc.data, _ = self._value(self._skip(0), ())

    def _pos(self, offset: int) -> Position:
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def _skip(self, offset: int) -> int:
        match = _JSON_SPACE.match(self._text, offset)
        assert match is not None
        return match.end()

    def _string(self, offset: int) -> tuple[str, int]:
        match = _JSON_STRING.match(self._text, offset)
        assert match is not None
        value: str = json.loads(match.group(0))
        return value, match.end()

    def _value(self, offset: int, path: DataPath) -> tuple[object, int]:
        text, doc = self._text, self._doc
        doc.values[path] = self._pos(offset)
        char = text[offset]
        if char == "{":
            return self._object(offset, path)
        if char == "[":
            items: list[object] = []
            offset = self._skip(offset + 1)
            while text[offset] != "]":
                item, offset = self._value(offset, (*path, len(items)))
                items.append(item)
                offset = self._skip(offset)
                if text[offset] == ",":
                    offset = self._skip(offset + 1)
            return items, offset + 1
        if char == '"':
            value, end = self._string(offset)
            try:
                return interpolate(value, self._env), end
            except InterpolationError as exc:
                doc.problem(path, str(exc))
                doc.reported.add(path)
                return value, end
        for literal, constant in _JSON_CONSTANTS.items():
            if text.startswith(literal, offset):
                return constant, offset + len(literal)
        match = _JSON_NUMBER.match(text, offset)
        assert match is not None
        return json.loads(match.group(0)), match.end()

    def _object(self, offset: int, path: DataPath) -> tuple[object, int]:
        text, doc = self._text, self._doc
        result: dict[str, object] = {}
        offset = self._skip(offset + 1)
        while text[offset] != "}":
            key_pos = self._pos(offset)
            key, offset = self._string(offset)
            offset = self._skip(self._skip(offset) + 1)  # past the colon
            key_path = (*path, key)
            if key in result:
                doc.problem(
                    key_path,
                    f"duplicate key {key!r} (first at line {doc.keys[key_path][0]}); keep only one",
                    key_pos,
                )
                saved = (dict(doc.values), dict(doc.keys))
                _, offset = self._value(offset, key_path)
                doc.values, doc.keys = saved  # the first occurrence keeps its positions
            else:
                doc.keys[key_path] = key_pos
                result[key], offset = self._value(offset, key_path)
            offset = self._skip(offset)
            if text[offset] == ",":
                offset = self._skip(offset + 1)
        return result, offset + 1


# -- dicts -----------------------------------------------------------------------------


def read_mapping_data(
    data: object, path: DataPath, doc: Document, env: Mapping[str, str]
) -> object:
    if isinstance(data, str):
        try:
            return interpolate(data, env)
        except InterpolationError as exc:
            doc.problem(path, str(exc))
            doc.reported.add(path)
            return data
    if isinstance(data, Mapping):
        return {k: read_mapping_data(v, (*path, str(k)), doc, env) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [read_mapping_data(v, (*path, i), doc, env) for i, v in enumerate(data)]
    return data


__all__ = [
    "DataPath",
    "Document",
    "JsonReader",
    "Position",
    "Step",
    "YamlReader",
    "format_path",
    "read_mapping_data",
]
