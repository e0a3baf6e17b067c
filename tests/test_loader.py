"""load_tree: YAML, JSON, text and dicts; env interpolation; every problem, with its position.

The expected error texts of tests/bad_specs/ and docs/tree.schema.json are
regenerated with ``UPDATE_EXPECTED=1 python -m pytest tests/test_loader.py``
(then review the diff: it is the user-visible change).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from _tree_actors import Counter, Plain

from supervise import (
    Backoff,
    ChildSpec,
    DynamicSupervisorSpec,
    MailboxSpec,
    SpecError,
    SupervisorSpec,
    TreeFileError,
    TreeFileProblem,
    _documents,
    _loader,
    load_tree,
    load_tree_text,
)
from supervise._documents import MAX_DEPTH, MAX_STRING_LENGTH
from supervise.spec import json_schema

TESTS = Path(__file__).resolve().parent
BAD_SPECS = TESTS / "bad_specs"
BAD_FILES = sorted(p.name for p in BAD_SPECS.iterdir() if p.suffix in (".yaml", ".json"))

GOOD_YAML = """\
# The same tree as GOOD_JSON and PYTHON_SPEC.
name: root
strategy: rest_for_one
max_restarts: 5
max_seconds: 2.5
backoff: {min_seconds: 0.5, max_seconds: 4}
children:
  - name: counter
    actor: _tree_actors:Counter
    args: {start: 10, label: hits}
    restart: transient
    shutdown: brutal_kill
    mailbox: {capacity: 10, overflow: fail}
    registered_name: hits
  - kind: supervisor
    name: group
    strategy: one_for_all
    shutdown: 30
    children:
      - {name: plain, actor: "_tree_actors:Plain"}
  - kind: dynamic_supervisor
    name: pool
    max_children: 4
    child:
      name: conn
      actor: _tree_actors:Counter
      restart: temporary
"""

GOOD_JSON = """\
{
  "name": "root",
  "strategy": "rest_for_one",
  "max_restarts": 5,
  "max_seconds": 2.5,
  "backoff": {"min_seconds": 0.5, "max_seconds": 4},
  "children": [
    {
      "name": "counter",
      "actor": "_tree_actors:Counter",
      "args": {"start": 10, "label": "hits"},
      "restart": "transient",
      "shutdown": "brutal_kill",
      "mailbox": {"capacity": 10, "overflow": "fail"},
      "registered_name": "hits"
    },
    {
      "kind": "supervisor",
      "name": "group",
      "strategy": "one_for_all",
      "shutdown": 30,
      "children": [{"name": "plain", "actor": "_tree_actors:Plain"}]
    },
    {
      "kind": "dynamic_supervisor",
      "name": "pool",
      "max_children": 4,
      "child": {"name": "conn", "actor": "_tree_actors:Counter", "restart": "temporary"}
    }
  ]
}
"""

PYTHON_SPEC = SupervisorSpec(
    name="root",
    strategy="rest_for_one",
    max_restarts=5,
    max_seconds=2.5,
    backoff=Backoff(min_seconds=0.5, max_seconds=4),
    children=[
        ChildSpec(
            name="counter",
            actor=Counter,
            args={"start": 10, "label": "hits"},
            restart="transient",
            shutdown="brutal_kill",
            mailbox=MailboxSpec(capacity=10, overflow="fail"),
            registered_name="hits",
        ),
        SupervisorSpec(
            name="group",
            strategy="one_for_all",
            shutdown=30,
            children=[ChildSpec(name="plain", actor=Plain)],
        ),
        DynamicSupervisorSpec(
            name="pool",
            max_children=4,
            child=ChildSpec(name="conn", actor=Counter, restart="temporary"),
        ),
    ],
)


def test_yaml_json_and_python_build_identical_specs(tmp_path: Path) -> None:
    """A YAML file, a JSON file, their text, a dict and the Python models are equal."""
    (tmp_path / "tree.yaml").write_text(GOOD_YAML)
    (tmp_path / "tree.yml").write_text(GOOD_YAML)
    (tmp_path / "tree.json").write_text(GOOD_JSON)
    loaded = [
        load_tree(tmp_path / "tree.yaml"),
        load_tree(str(tmp_path / "tree.yml")),
        load_tree(tmp_path / "tree.json"),
        load_tree_text(GOOD_YAML),
        load_tree_text(GOOD_JSON, format="json"),
        load_tree_text(GOOD_JSON),  # JSON is YAML too
        load_tree(json.loads(GOOD_JSON)),
        load_tree(PYTHON_SPEC.model_dump()),
    ]
    for spec in loaded:
        assert spec == PYTHON_SPEC
    assert loaded[0].children[0].config == Counter.config_model(start=10, label="hits")  # type: ignore[union-attr, misc]


def test_format_overrides_the_suffix(tmp_path: Path) -> None:
    """`format=` reads a file whatever its suffix; an unknown suffix alone is an error."""
    (tmp_path / "tree.txt").write_text(GOOD_JSON)
    assert load_tree(tmp_path / "tree.txt", format="json") == PYTHON_SPEC
    assert load_tree(tmp_path / "tree.txt", format="yaml") == PYTHON_SPEC  # JSON is YAML
    with pytest.raises(TreeFileError) as info:
        load_tree(tmp_path / "tree.txt")
    assert str(info.value) == (
        f"{tmp_path / 'tree.txt'}: cannot tell the format from the suffix '.txt'; name the file "
        f".yaml, .yml or .json, or pass format='yaml' or 'json'"
    )


def test_a_missing_file_is_a_tree_file_error(tmp_path: Path) -> None:
    """A file that does not exist is reported like any other problem of the file."""
    absent = tmp_path / "absent.yaml"
    with pytest.raises(TreeFileError) as info:
        load_tree(absent)
    assert (
        str(info.value) == f"{absent}: no such file (looked for {absent.resolve()}); check the path"
    )


def test_a_dynamic_supervisor_can_be_the_root() -> None:
    """kind: dynamic_supervisor at the root gives a DynamicSupervisorSpec."""
    text = "kind: dynamic_supervisor\nname: pool\nchild: {name: c, actor: '_tree_actors:Plain'}\n"
    spec = load_tree_text(text)
    assert spec == DynamicSupervisorSpec(name="pool", child=ChildSpec(name="c", actor=Plain))


# -- environment interpolation ---------------------------------------------------------


INTERPOLATED = """\
name: ${ROOT_NAME}
max_restarts: ${MAX:-7}
max_seconds: ${EMPTY:-1.5}
children:
  - name: counter
    actor: _tree_actors:Counter
    args:
      start: ${START}
      label: "${LABEL:-n/a} costs $$5 (${START})"
"""


def test_env_interpolation_in_yaml() -> None:
    """${VAR}, ${VAR:-default} (also for an empty VAR) and $$; unquoted values get typed."""
    env = {"ROOT_NAME": "app", "EMPTY": "", "START": "42"}
    spec = load_tree_text(INTERPOLATED, env=env)
    assert isinstance(spec, SupervisorSpec)
    assert (spec.name, spec.max_restarts, spec.max_seconds) == ("app", 7, 1.5)
    child = spec.children[0]
    assert isinstance(child, ChildSpec)
    # `start: ${START}` is unquoted, so it is read as the integer 42, as if written in place.
    assert child.args == {"start": 42, "label": "n/a costs $5 (42)"}


def test_env_interpolation_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without `env=`, variables come from the process environment."""
    monkeypatch.setenv("ROOT_NAME", "from-env")
    monkeypatch.setenv("START", "1")
    assert load_tree_text(INTERPOLATED).name == "from-env"


def test_env_interpolation_in_json_and_dicts() -> None:
    """JSON strings and dict strings are interpolated too; numbers-as-strings are accepted."""
    text = '{"name": "${N:-root}", "max_restarts": "${MAX}"}'
    assert load_tree_text(text, format="json", env={"MAX": "2"}) == SupervisorSpec(
        name="root", max_restarts=2
    )
    data = {"name": "${N}", "children": [{"name": "c", "actor": "_tree_actors:Plain"}]}
    assert load_tree(data, env={"N": "x"}).name == "x"


def test_env_quoted_yaml_values_stay_strings() -> None:
    """A quoted reference stays a string after substitution, as the author asked."""
    text = (
        'name: root\nchildren: [{name: c, actor: "_tree_actors:Counter", args: {label: "${L}"}}]\n'
    )
    spec = load_tree_text(text, env={"L": "123"})
    assert isinstance(spec, SupervisorSpec)
    assert spec.children[0].args == {"label": "123"}  # type: ignore[union-attr]


def test_missing_env_vars_are_all_reported() -> None:
    """Each unset variable without default is named, at its position."""
    text = "name: ${A}\nmax_restarts: ${B}\n"
    with pytest.raises(TreeFileError) as info:
        load_tree_text(text, env={})
    assert str(info.value).splitlines() == [
        "<string>:1:7: name: environment variable A is not set and has no default; "
        "set it, or write ${A:-default}",
        "<string>:2:15: max_restarts: environment variable B is not set and has no default; "
        "set it, or write ${B:-default}",
    ]


# -- errors ----------------------------------------------------------------------------


def test_errors_carry_structured_problems(tmp_path: Path) -> None:
    """TreeFileError is a SpecError (a ValueError) with one TreeFileProblem per problem."""
    path = tmp_path / "t.yaml"
    path.write_text("name: root\nstrategy: nope\nmax_seconds: -1\n")
    with pytest.raises(SpecError) as info:
        load_tree(path)
    error = info.value
    assert isinstance(error, TreeFileError)
    assert isinstance(error, ValueError)
    assert error.file == str(path)
    assert error.problems == (
        TreeFileProblem(
            str(path),
            2,
            11,
            "strategy",
            'expected "one_for_one", "one_for_all" or "rest_for_one", found "nope"',
        ),
        TreeFileProblem(str(path), 3, 14, "max_seconds", "expected a number > 0, found -1"),
    )


def test_dict_problems_have_paths_but_no_positions() -> None:
    """A dict has no file and no lines; problems still name the field path."""
    with pytest.raises(TreeFileError) as info:
        child = {"name": "a", "actor": "_tree_actors:Plain", "shutdown": -2}
        load_tree({"name": "root", "children": [child]})
    assert str(info.value) == (
        'children[0].shutdown: expected seconds >= 0, "brutal_kill" or "infinity", found -2'
    )


def test_extra_sys_path_makes_modules_beside_the_file_importable(tmp_path: Path) -> None:
    """Actor modules next to the tree file import once its directory is passed."""
    (tmp_path / "beside_actors.py").write_text(
        "from pydantic import BaseModel\nfrom supervise import Actor\n"
        "class M(BaseModel, frozen=True):\n    pass\n"
        "class Beside(Actor[M]):\n    async def handle(self, msg: M) -> None:\n        pass\n"
    )
    tree = "name: r\nchildren: [{name: b, actor: 'beside_actors:Beside'}]\n"
    (tmp_path / "tree.yaml").write_text(tree)
    try:
        with pytest.raises(TreeFileError, match="cannot import module 'beside_actors'"):
            load_tree(tmp_path / "tree.yaml")
        spec = load_tree(tmp_path / "tree.yaml", extra_sys_path=[tmp_path])
        assert spec.children[0].actor.__name__ == "Beside"  # type: ignore[union-attr]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("beside_actors", None)


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_spec_corpus(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each file under bad_specs/ fails with exactly the text in its .expected file."""
    monkeypatch.chdir(TESTS)
    expected_file = BAD_SPECS / (name + ".expected")
    with pytest.raises(TreeFileError) as info:
        load_tree(f"bad_specs/{name}", env={}, extra_sys_path=[TESTS])
    actual = str(info.value) + "\n"
    if os.environ.get("UPDATE_EXPECTED"):
        expected_file.write_text(actual)
    assert actual == expected_file.read_text()
    assert all(p.file == f"bad_specs/{name}" for p in info.value.problems)


def test_the_corpus_is_large_enough() -> None:
    """At least 30 bad files, each with its expected text and nothing left over."""
    assert len(BAD_FILES) >= 30
    expected = sorted(p.name for p in BAD_SPECS.glob("*.expected"))
    assert expected == sorted(n + ".expected" for n in BAD_FILES)


def test_schema_copy_in_docs_is_current() -> None:
    """docs/tree.schema.json is what `supervise schema` prints (regenerate it if this fails)."""
    current = json.dumps(json_schema(), indent=2) + "\n"
    path = TESTS.parent / "docs" / "tree.schema.json"
    if os.environ.get("UPDATE_EXPECTED"):
        path.write_text(current)
    assert path.read_text() == current, "run: supervise schema > docs/tree.schema.json"


# -- YAML merge keys -------------------------------------------------------------------


def test_merge_keys_follow_yaml_rules() -> None:
    """`<<: *w` brings in w's keys; keys written beside it win; of several merged
    mappings the first wins; duplicates among the written keys are still refused."""
    text = """\
name: root
children:
  - &w {name: a, actor: "_tree_actors:Plain", restart: transient}
  - <<: *w
    name: b
  - <<: [{restart: temporary, name: c}, *w]
    shutdown: 2
"""
    spec = load_tree_text(text)
    assert isinstance(spec, SupervisorSpec)
    assert [(c.name, c.restart.value, c.shutdown) for c in spec.children] == [
        ("a", "transient", 5.0),
        ("b", "transient", 5.0),
        ("c", "temporary", 2.0),
    ]
    with pytest.raises(TreeFileError) as info:
        load_tree_text(text.replace("    name: b\n", "    name: b\n    name: d\n"))
    assert str(info.value) == (
        "<string>:6:5: children[1].name: duplicate key 'name' (first at line 5); keep only one"
    )


# -- limits and hostile files ----------------------------------------------------------


def test_a_file_over_the_size_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file larger than MAX_FILE_SIZE is a problem of the file; text is measured too."""
    monkeypatch.setattr(_documents, "MAX_FILE_SIZE", 100)
    monkeypatch.setattr(_loader, "MAX_FILE_SIZE", 100)
    path = tmp_path / "big.yaml"
    path.write_text("name: root\n" + "#" * 200 + "\n")
    message = (
        "the file has 212 bytes, more than the 100 a tree file may have; split the tree, "
        "or start many alike children from a dynamic supervisor's template"
    )
    with pytest.raises(TreeFileError) as info:
        load_tree(path)
    assert str(info.value) == f"{path}: {message}"
    with pytest.raises(TreeFileError) as info:
        load_tree_text(path.read_text())
    assert str(info.value) == f"<string>: {message}"


def test_a_string_over_the_length_limit_is_a_problem(tmp_path: Path) -> None:
    """A value longer than MAX_STRING_LENGTH is reported where it is, in YAML and JSON."""
    blob = "x" * (MAX_STRING_LENGTH + 1)
    message = (
        "a string of 1,000,001 characters, more than the 1,000,000 allowed; "
        "pass large data to the actor another way (a file name, for instance)"
    )
    with pytest.raises(TreeFileError) as info:
        load_tree_text(f"name: root\nstrategy: {blob}\n")
    assert str(info.value) == f"<string>:2:11: strategy: {message}"
    with pytest.raises(TreeFileError) as info:
        load_tree_text(f'{{"name": "root", "strategy": "{blob}"}}', format="json")
    assert str(info.value) == f"<string>:1:30: strategy: {message}"


def test_dicts_too_deep_or_containing_themselves_are_problems() -> None:
    """A dict is held to the same nesting limit, and may not contain itself."""
    deep: dict[str, object] = {"name": "root"}
    node = deep
    for _ in range(MAX_DEPTH):
        node["x"] = node = {}
    with pytest.raises(TreeFileError) as info:
        load_tree(deep)
    assert str(info.value) == (
        "x.x.x.x.x.x: nested more than 100 levels deep; a tree file may not nest deeper "
        "(below this value)"
    )
    looped: dict[str, object] = {"name": "root", "children": []}
    looped["children"] = [looped]
    with pytest.raises(TreeFileError) as info:
        load_tree(looped)
    assert str(info.value) == "children[0]: this value contains itself; a tree cannot be recursive"


def test_text_given_to_load_tree_points_at_load_tree_text() -> None:
    """load_tree takes no text, and says which function does."""
    with pytest.raises(TreeFileError) as info:
        load_tree("name: root\nchildren: []\n")
    assert str(info.value) == (
        "<string>: load_tree takes a file name or a dict, and this looks like YAML or JSON "
        "text; call load_tree_text(text) instead"
    )


@pytest.mark.parametrize("name", [n for n in BAD_FILES if n.endswith(".yaml")])
def test_the_pure_python_yaml_parser_also_raises_only_tree_file_errors(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without libyaml, PyYAML's own parser is used, with the same guarantees."""
    monkeypatch.setattr(_documents, "DEFAULT_YAML_LOADER", yaml.SafeLoader)
    with pytest.raises(TreeFileError):
        load_tree(BAD_SPECS / name, env={}, extra_sys_path=[TESTS])


DEPTH_MESSAGE = "nested more than 100 levels deep; a tree file may not nest deeper"


def test_deep_flow_nesting_is_refused_whatever_the_parser() -> None:
    """Nesting far past the limit (which an old libyaml would recurse through in C) is
    read by PyYAML's own composer and reported at the bracket that goes past MAX_DEPTH."""
    expected = {
        150: f"<string>:2:9: x[0][0][0][0][0]: {DEPTH_MESSAGE} (below this value)",
        # Past Python's recursion limit in PyYAML's composer: placed at the bracket.
        1500: f"<string>:2:104: invalid YAML: {DEPTH_MESSAGE}",
        100_000: f"<string>:2:104: invalid YAML: {DEPTH_MESSAGE}",
    }
    for levels, message in expected.items():
        with pytest.raises(TreeFileError) as info:
            load_tree_text("name: root\nx: " + "[" * levels + "]" * levels + "\n")
        assert str(info.value) == message


def test_json_nesting_past_the_scanners_limit_is_placed_at_the_bracket() -> None:
    """json's scanner stops at Python's recursion limit; the problem is placed at the bracket
    that goes past MAX_DEPTH (brackets inside strings do not count)."""
    with pytest.raises(TreeFileError) as info:
        load_tree_text('{"a": "[[[[", "x": ' + "[" * 3000 + "]" * 3000 + "}", format="json")
    assert str(info.value) == f"<string>:1:119: invalid JSON: {DEPTH_MESSAGE}"
