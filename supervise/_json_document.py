"""JSON tree data with the position of every key and value (see `supervise._documents`)."""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Mapping
from typing import Final

from ._documents import (
    MAX_DEPTH,
    MAX_STRING_LENGTH,
    Abandon,
    DataPath,
    Document,
    Position,
    depth_problem,
    int_problem,
    string_problem,
    too_deep,
)
from ._interpolation import InterpolationError, interpolate

_JSON_SPACE = re.compile(r"[ \t\n\r]*")
# Unrolled, so that a long string is matched without a backtracking point per character.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKET_OR_STRING = re.compile(r'[\[\]{}]|"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
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
    their positions), so this parser may assume well-formed input. The limits
    of `YamlReader` apply too, as problems of the document.
    """

    def __init__(self, text: str, doc: Document, env: Mapping[str, str]) -> None:
        self._text = text
        self._doc = doc
        self._env = env
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def read(self) -> None:
        doc = self._doc
        try:
            # Integers stay text here: Python refuses to convert very long ones,
            # which _value reports with their position.
            json.loads(self._text, parse_int=str)
        except json.JSONDecodeError as exc:
            doc.problem((), f"invalid JSON: {exc.msg}", (exc.lineno, exc.colno))
            return
        except RecursionError:  # json's scanner recurses per level, up to Python's limit
            doc.problem((), f"invalid JSON: {depth_problem()}", self._too_deep_at())
            return
        try:
            doc.data, _ = self._value(self._skip(0), ())
        except Abandon:
            doc.data = None

    def _too_deep_at(self) -> Position | None:
        """Where the nesting first goes past MAX_DEPTH (brackets in strings do not count)."""
        depth = 0
        for match in _JSON_BRACKET_OR_STRING.finditer(self._text):
            char = match.group()
            if char in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    return self._pos(match.start())
            elif char in "]}":
                depth -= 1
        return None

    def _pos(self, offset: int) -> Position:
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def _skip(self, offset: int) -> int:
        match = _JSON_SPACE.match(self._text, offset)
        assert match is not None
        return match.end()

    def _string(self, offset: int, path: DataPath) -> tuple[str | None, int]:
        match = _JSON_STRING.match(self._text, offset)
        assert match is not None
        if match.end() - offset - 2 > MAX_STRING_LENGTH:
            value: str = json.loads(match.group(0))
            if len(value) > MAX_STRING_LENGTH:
                self._doc.problem(path, string_problem(len(value)), self._pos(offset))
                self._doc.reported.add(path)
                return None, match.end()
            return value, match.end()
        if "\\" not in match.group(0):
            return match.group(0)[1:-1], match.end()  # nothing to unescape
        return json.loads(match.group(0)), match.end()

    def _value(self, offset: int, path: DataPath) -> tuple[object, int]:
        text, doc = self._text, self._doc
        doc.values[path] = self._pos(offset)
        char = text[offset]
        if char in "{[" and len(path) >= MAX_DEPTH:
            too_deep(doc, path)
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
            value, end = self._string(offset, path)
            if value is None:
                return None, end
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
        number = match.group(0)
        try:
            return json.loads(number), match.end()
        except ValueError:  # an integer over MAX_INT_DIGITS digits
            doc.problem(path, int_problem(len(number.lstrip("-"))))
            doc.reported.add(path)
            return None, match.end()

    def _object(self, offset: int, path: DataPath) -> tuple[object, int]:
        text, doc = self._text, self._doc
        result: dict[str, object] = {}
        offset = self._skip(offset + 1)
        while text[offset] != "}":
            key_pos = self._pos(offset)
            key, offset = self._string(offset, path)
            offset = self._skip(self._skip(offset) + 1)  # past the colon
            if key is None:  # too long, reported
                _, offset = self._value(offset, path)
            elif key in result:
                key_path = (*path, key)
                doc.problem(
                    key_path,
                    f"duplicate key {key!r} (first at line {doc.keys[key_path][0]}); keep only one",
                    key_pos,
                )
                # Read past the value into a scratch document: the first occurrence
                # keeps its positions.
                self._doc = Document(doc.file)
                try:
                    _, offset = self._value(offset, key_path)
                finally:
                    self._doc = doc
            else:
                key_path = (*path, key)
                doc.keys[key_path] = key_pos
                result[key], offset = self._value(offset, key_path)
            offset = self._skip(offset)
            if text[offset] == ",":
                offset = self._skip(offset + 1)
        return result, offset + 1


__all__ = ["JsonReader"]
