"""The layers of docs/architecture.md: the import contract holds and the page matches it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def _layered_modules() -> set[str]:
    names: set[str] = set()
    for line in _contracts()["layers"]["layers"]:
        names.update(name.strip() for name in re.split(r"[|:]", line))
    return names


def test_the_import_contracts_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    """lint-imports finds no import from a lower layer to a higher one (CI runs it too)."""
    cli = pytest.importorskip("importlinter.cli")
    status = cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    assert status == 0, capsys.readouterr().out


def test_every_layered_module_exists_and_has_its_paragraph() -> None:
    """Each module (or package) in the contract exists and has its paragraph, and back."""
    page = (ROOT / "docs" / "architecture.md").read_text()
    described = set(re.findall(r"^- \*\*`([\w.]+)`\*\*", page, re.M))
    layered = _layered_modules()
    assert described == layered
    package = ROOT / "supervise"
    missing = sorted(
        m
        for m in layered
        if not (package / f"{m}.py").exists() and not (package / m / "__init__.py").exists()
    )
    assert missing == []


def test_every_module_of_the_package_has_its_layer() -> None:
    """A new module (or subpackage) must be placed in the layers contract to land.

    import-linter only checks the modules a contract names; an unplaced module
    could import anything. ``__init__`` is the public facade over every layer.
    """
    package = ROOT / "supervise"
    modules = {p.stem for p in package.glob("*.py")} | {
        p.parent.name for p in package.glob("*/__init__.py")
    }
    unplaced = sorted(modules - _layered_modules() - {"__init__"})
    assert unplaced == [], (
        f"modules {unplaced} are in no layer: add each to the `layers` contract in "
        "pyproject.toml and give it a paragraph in docs/architecture.md"
    )


#: Modules whose tests are named for what they do rather than for the module.
_TESTED_ELSEWHERE = {
    "__main__": "test_cli.py",  # ``python -m supervise`` is the CLI
    "_subtree_host": "test_placement.py",  # with `_nats._placed`: the two sides of placement
}


def test_every_module_has_its_test_file() -> None:
    """Tests mirror the modules: ``supervise/_x.py`` has ``tests/test_x.py``; a package
    ``supervise/_x/`` has ``tests/test_x.py`` or ``tests/test_x_*.py`` files."""
    package, tests = ROOT / "supervise", ROOT / "tests"
    missing = []
    for path in sorted(package.glob("*.py")):
        name = path.stem
        if name != "__init__":
            expected = _TESTED_ELSEWHERE.get(name, f"test_{name.lstrip('_')}.py")
            if not (tests / expected).exists():
                missing.append(expected)
    for init in sorted(package.glob("*/__init__.py")):
        stem = f"test_{init.parent.name.lstrip('_')}"
        if not (tests / f"{stem}.py").exists() and not list(tests.glob(f"{stem}_*.py")):
            missing.append(f"{stem}.py")
    assert missing == [], f"write {missing} for the modules they are named after"


def test_specs_and_pure_logic_sit_in_the_specs_layer() -> None:
    """The modules forbidden an event loop are exactly those of the specs layer."""
    layers = _contracts()["layers"]["layers"]
    start, end = layers.index("_loader"), layers.index("_behaviour")
    specs_layer = {n.strip() for line in layers[start : end + 1] for n in re.split(r"[|:]", line)}
    sources = {
        m.removeprefix("supervise.") for m in _contracts()["specs-are-data"]["source_modules"]
    }
    assert sources == specs_layer


def test_a_supervisors_private_state_is_read_by_its_own_modules_only() -> None:
    """The snapshot and the metrics walk a supervisor's children through its methods
    (`Supervisor.child_slots`, `restarts_in_window`), never its ``_children`` or
    ``_intensity`` (docs/architecture.md, "Private state stays private")."""
    owners = {"_supervisor.py", "_dynamic_supervisor.py"}
    private = re.compile(r"(?<!\bself)\._(?:children|intensity)\b")
    readers = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "supervise").rglob("*.py")
        if path.name not in owners and private.search(path.read_text())
    )
    assert readers == []
