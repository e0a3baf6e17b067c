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
    load_tree,
)
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
        load_tree(GOOD_YAML),
        load_tree(GOOD_JSON),
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
    with pytest.raises(TreeFileError, match=r"^.*/absent\.yaml: no such file$"):
        load_tree(tmp_path / "absent.yaml")


def test_a_dynamic_supervisor_can_be_the_root() -> None:
    """kind: dynamic_supervisor at the root gives a DynamicSupervisorSpec."""
    text = "kind: dynamic_supervisor\nname: pool\nchild: {name: c, actor: '_tree_actors:Plain'}\n"
    spec = load_tree(text)
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
    spec = load_tree(INTERPOLATED, env=env)
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
    assert load_tree(INTERPOLATED).name == "from-env"


def test_env_interpolation_in_json_and_dicts() -> None:
    """JSON strings and dict strings are interpolated too; numbers-as-strings are accepted."""
    text = '{"name": "${N:-root}", "max_restarts": "${MAX}"}'
    assert load_tree(text, env={"MAX": "2"}) == SupervisorSpec(name="root", max_restarts=2)
    data = {"name": "${N}", "children": [{"name": "c", "actor": "_tree_actors:Plain"}]}
    assert load_tree(data, env={"N": "x"}).name == "x"


def test_env_quoted_yaml_values_stay_strings() -> None:
    """A quoted reference stays a string after substitution, as the author asked."""
    text = (
        'name: root\nchildren: [{name: c, actor: "_tree_actors:Counter", args: {label: "${L}"}}]\n'
    )
    spec = load_tree(text, env={"L": "123"})
    assert isinstance(spec, SupervisorSpec)
    assert spec.children[0].args == {"label": "123"}  # type: ignore[union-attr]


def test_missing_env_vars_are_all_reported() -> None:
    """Each unset variable without default is named, at its position."""
    text = "name: ${A}\nmax_restarts: ${B}\n"
    with pytest.raises(TreeFileError) as info:
        load_tree(text, env={})
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
