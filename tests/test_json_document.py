"""JsonReader: JSON tree data with the line and column of every key and value."""

from __future__ import annotations

import pytest

from supervise._documents import MAX_DEPTH, MAX_STRING_LENGTH, Document
from supervise._json_document import JsonReader


def read(text: str, env: dict[str, str] | None = None) -> Document:
    doc = Document("tree.json")
    JsonReader(text, doc, env or {}).read()
    return doc


def test_the_data_and_the_position_of_each_value_and_key() -> None:
    doc = read('{\n  "name": "root",\n  "children": [\n    {"name": "a", "shutdown": 5}\n  ]\n}')
    assert doc.problems == []
    assert doc.data == {"name": "root", "children": [{"name": "a", "shutdown": 5}]}
    assert doc.values[("name",)] == (2, 11)
    assert doc.keys[("children",)] == (3, 3)
    assert doc.values[("children", 0, "shutdown")] == (4, 31)
    assert doc.position(("children", 0, "shutdown", "deeper")) == (4, 31)  # nearest known


def test_numbers_booleans_null_and_escapes_read_as_json_does() -> None:
    doc = read('{"a": -1.5e3, "b": true, "c": null, "d": "tab\\there \\u00e9", "e": 12}')
    assert doc.data == {"a": -1500.0, "b": True, "c": None, "d": "tab\there é", "e": 12}


def test_a_duplicate_key_is_a_problem_at_its_second_place() -> None:
    """json.loads keeps the last value silently; a tree file must not."""
    doc = read('{"name": "root",\n "name": "other"}')
    [problem] = doc.problems
    assert (problem.line, problem.column, problem.path) == (2, 2, "name")
    assert "duplicate key" in problem.message


def test_invalid_json_is_one_problem_with_json_s_own_position() -> None:
    doc = read('{"name": "root",\n "children": [}')
    [problem] = doc.problems
    assert problem.message.startswith("invalid JSON: ")
    assert (problem.file, problem.line) == ("tree.json", 2)
    assert doc.data is None


def test_string_values_are_interpolated_but_keys_are_not() -> None:
    doc = read('{"url": "${HOST}:5432", "${KEY}": 1}', {"HOST": "db", "KEY": "k"})
    assert doc.data == {"url": "db:5432", "${KEY}": 1}


def test_an_unset_variable_is_a_problem_at_its_value() -> None:
    doc = read('{"name": "root",\n "url": "${MISSING}"}')
    [problem] = doc.problems
    assert (problem.line, problem.path) == (2, "url")
    assert "MISSING is not set" in problem.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2), "nested more than"),
        ('{"s": "' + "x" * (MAX_STRING_LENGTH + 1) + '"}', "characters, more than"),
        ('{"n": ' + "9" * 5000 + "}", "digits, more than"),
    ],
    ids=["depth", "string", "integer"],
)
def test_limits_become_problems_not_exceptions(text: str, expected: str) -> None:
    doc = read(text)
    assert [p for p in doc.problems if expected in p.message], doc.problems
