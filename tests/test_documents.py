"""YAML tree data and Python dicts read with positions, refusals and limits as problems."""

from __future__ import annotations

from typing import Any

from supervise._documents import Document, YamlReader, format_path, read_mapping_data


def read(text: str, env: dict[str, str] | None = None) -> Document:
    doc = Document("tree.yaml")
    YamlReader(text, doc, env or {}).read()
    return doc


def test_format_path_writes_fields_and_indexes() -> None:
    assert format_path(()) == ""
    assert format_path(("children", 2, "shutdown")) == "children[2].shutdown"
    assert format_path((0, "name")) == "[0].name"


def test_the_data_and_the_position_of_each_value_and_key() -> None:
    doc = read("name: root\nchildren:\n  - name: a\n    shutdown: 5\n")
    assert doc.problems == []
    assert doc.data == {"name": "root", "children": [{"name": "a", "shutdown": 5}]}
    assert doc.values[("name",)] == (1, 7)
    assert doc.keys[("children", 0, "shutdown")] == (4, 5)
    assert doc.values[("children", 0, "shutdown")] == (4, 15)


def test_keys_stay_strings_as_written() -> None:
    """YAML 1.1 would read ``on:`` as True and ``1:`` as an integer: keys are names here."""
    doc = read("on: 1\n1: yes\nnull: x\n")
    assert doc.data == {"on": 1, "1": True, "null": "x"}


def test_a_duplicate_key_is_a_problem_at_its_second_place() -> None:
    doc = read("name: root\nname: other\n")
    [problem] = doc.problems
    assert (problem.line, problem.column, problem.path) == (2, 1, "name")
    assert "duplicate key" in problem.message


def test_merge_keys_written_keys_win_and_the_first_merged_mapping_wins() -> None:
    doc = read(
        "base: &base {shutdown: 5, restart: transient}\n"
        "other: &other {shutdown: 9, max_restarts: 2}\n"
        "child:\n  <<: [*base, *other]\n  restart: temporary\n"
    )
    assert doc.problems == []
    assert doc.data["child"] == {"shutdown": 5, "restart": "temporary", "max_restarts": 2}  # type: ignore[index]


def test_an_alias_bomb_is_a_problem_not_a_hang() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"{n}: &{n} [{', '.join(['*' + p] * 10)}]"
        for p, n in zip("abcdefg", "bcdefgh", strict=True)
    ]
    doc = read("\n".join(lines) + "\n")
    assert any("alias" in p.message for p in doc.problems), doc.problems
    assert doc.data is None


def test_a_recursive_alias_is_a_problem() -> None:
    doc = read("a: &a [*a]\n")
    assert doc.problems


def test_invalid_yaml_is_one_problem_with_its_position() -> None:
    doc = read("name: root\nchildren: [a, b\n")
    [problem] = doc.problems
    assert problem.message.startswith("invalid YAML")
    assert problem.line is not None


def test_strings_are_interpolated_from_the_environment() -> None:
    doc = read("url: ${HOST}:5432\nkey: '$$literal'\n", {"HOST": "db"})
    assert doc.data == {"url": "db:5432", "key": "$literal"}


def test_python_data_is_interpolated_and_may_not_contain_itself() -> None:
    doc = Document(None)
    looped: dict[str, Any] = {"name": "root"}
    looped["children"] = [looped]
    read_mapping_data({"url": "${HOST}", "tree": looped}, doc, {"HOST": "db"})
    assert doc.data is not None
    assert doc.data["url"] == "db"  # type: ignore[index]
    [problem] = doc.problems
    assert problem.path == "tree.children[0]"
    assert "contains itself" in problem.message
