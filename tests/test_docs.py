"""The documentation: its code runs, its trees check, and the site builds with no broken link.

Every ``python`` block of the README and docs/ runs as a program (blocks marked
```` ```python fragment ```` are pieces of a larger program and are left out); every ``yaml``
block passes ``supervise check``; every ``json`` block parses, and its lifecycle events have
their catalogue fields; every ``supervise`` command line shown parses as the CLI would. The
generated reference pages are made from the code here directly, and the whole site is built
with ``mkdocs build --strict`` (the dev extra includes the docs extra, MkDocs and its
plugins).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from _doc_blocks import DOCS, ROOT, DocBlock, all_blocks, doc_pages
from click.testing import CliRunner

import supervise
from supervise import events, testing
from supervise._cli import main as cli_main
from supervise.spec import json_schema
from tools import docs_pages

#: Modules the docs' YAML examples name (shop.db:Database...), and the examples' own actors.
DOC_MODULES = ROOT / "tests" / "doc_modules"
EXAMPLES = ROOT / "examples"
#: Variables the docs' trees use without a default, set as a reader would set them.
DOC_ENV = {"DATABASE_URL": "postgresql://localhost/shop"}


def _ids(blocks: list[DocBlock]) -> list[str]:
    return [block.where for block in blocks]


PYTHON = [block for block in all_blocks("python") if not block.is_fragment]
YAML = [block for block in all_blocks("yaml") if not block.is_fragment]


@pytest.mark.parametrize("block", PYTHON, ids=_ids(PYTHON))
def test_python_block_runs(block: DocBlock, tmp_path: Path) -> None:
    """The block runs on its own as a program, in an empty directory, and exits 0."""
    script = tmp_path / "block.py"
    script.write_text(block.text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert result.returncode == 0, (
        f"{block.where}: the block failed (mark it ```python fragment if it is a piece of a "
        f"larger program):\n{result.stdout}\n{result.stderr}"
    )


@pytest.mark.parametrize("block", YAML, ids=_ids(YAML))
def test_yaml_block_passes_check(block: DocBlock, tmp_path: Path) -> None:
    """``supervise check`` accepts the block, with the modules it names importable."""
    tree = tmp_path / "tree.yaml"
    tree.write_text(block.text, encoding="utf-8")
    path = os.pathsep.join([str(ROOT), str(EXAMPLES), str(DOC_MODULES)])
    result = subprocess.run(
        [sys.executable, "-m", "supervise", "check", str(tree)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=path, **DOC_ENV),
    )
    assert result.returncode == 0, f"{block.where}:\n{result.stdout}{result.stderr}"
    assert f"{tree}: ok" in result.stdout


JSON = [block for block in all_blocks("json") if not block.is_fragment]


def _json_documents(text: str) -> list[Any]:
    """One JSON document, or JSON lines (one document per line)."""
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("block", JSON, ids=_ids(JSON))
def test_json_block_parses_and_its_events_have_their_fields(block: DocBlock) -> None:
    """A JSON example is JSON; a lifecycle event in it has the level and the fields that
    ``supervise.events.CATALOGUE`` gives it, as a log line would."""
    for document in _json_documents(block.text):
        name = document.get("event") if isinstance(document, dict) else None
        if name not in {event.value for event in events.Event}:
            continue  # an application's own event, or not an event at all
        spec = events.CATALOGUE[events.Event(name)]
        assert document["level"] == spec.level, block.where
        fields = set(document) - {"event", "level", "timestamp", "exception"}
        assert spec.fields <= fields, f"{block.where}: {name} lacks {spec.fields - fields}"
        unknown = fields - spec.fields - spec.optional
        assert not unknown, f"{block.where}: {name} has no fields {unknown}"


def _doc_command_lines() -> list[tuple[str, str]]:
    """Every ``supervise ...`` command line the docs show, with where it is."""
    found = []
    for block in [*all_blocks("bash"), *all_blocks("sh"), *all_blocks("text")]:
        for line in block.text.splitlines():
            line = line.strip().removeprefix("$ ")
            if not line.startswith("supervise ") or line.split()[1].endswith(":"):
                continue  # not a command: the command's own output ("supervise logs: ...")
            command = re.split(r"\s(?:\||#|&&|>)\s?", line)[0].strip()
            if re.search(r"\.\.\.|\[|[A-Z]{3,}", command):
                continue  # a synopsis with placeholders (FILE, PATH, [--json])
            found.append((block.where, command))
    return found


COMMANDS = _doc_command_lines()


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[c for _, c in COMMANDS])
def test_documented_command_lines_parse(where: str, command: str) -> None:
    """Each ``supervise`` command the docs show names a command and options that exist,
    with values of the right kind (parsed as the CLI would, without running it)."""
    assert isinstance(cli_main, click.Group)
    args = shlex.split(command)[1:]
    try:
        if args[0].startswith("-"):  # the group's own options: --version, --help
            cli_main.make_context("supervise", args)
        else:
            sub = cli_main.get_command(click.Context(cli_main, info_name="supervise"), args[0])
            assert sub is not None, f"{where}: `{command}`: no command {args[0]!r}"
            sub.make_context(args[0], args[1:]).close()
    except click.exceptions.Exit:
        pass  # --version, --help
    except click.UsageError as exc:
        pytest.fail(f"{where}: `{command}`: {exc.format_message()}")


def test_repository_files_the_docs_name_exist() -> None:
    """A test, example or benchmark file named in the README, docs/ or the changelog exists
    (mkdocs checks links only; these are mostly named in code spans)."""
    named = re.compile(r"\b(?:tests|examples|benchmarks)/[\w/.-]*\w\.(?:py|yaml|md|json)\b")
    missing = {
        f"{page.relative_to(ROOT)}: {path}"
        for page in [*doc_pages(), ROOT / "CHANGELOG.md"]
        for path in named.findall(page.read_text(encoding="utf-8"))
        if "*" not in path and not (ROOT / path).exists()
    }
    assert not missing, f"the docs name files that do not exist: {sorted(missing)}"


def test_some_blocks_are_checked() -> None:
    """The selection above is not empty by mistake (a renamed helper, a moved docs/)."""
    assert len(PYTHON) >= 3
    assert len(YAML) >= 3
    assert len(COMMANDS) >= 10


# -- Generated pages ----------------------------------------------------------------------


def test_event_catalogue_describes_every_event() -> None:
    described = docs_pages.event_descriptions()
    assert list(described) == [event.value for event in events.Event]
    page = docs_pages.event_catalogue()
    for name in described:
        spec = events.CATALOGUE[events.Event(name)]
        assert f"| `{name}` | {spec.level} | " in page


def test_cli_reference_has_every_command_and_option() -> None:
    page = docs_pages.cli_reference()
    assert isinstance(cli_main, click.Group)
    ctx = click.Context(cli_main, info_name="supervise")
    for name in cli_main.list_commands(ctx):
        command = cli_main.get_command(ctx, name)
        assert command is not None
        assert f"## `supervise {name}`" in page
        for param in command.params:
            if isinstance(param, click.Option):
                assert f"`{', '.join(param.opts)}" in page, (name, param.opts)


def test_tree_file_reference_has_every_type_and_field() -> None:
    page = docs_pages.tree_file_reference()
    for name, definition in json_schema()["$defs"].items():
        assert f"## {name}\n" in page
        for field in definition.get("properties", {}):
            assert f"| `{field}` |" in page, f"{name}.{field}"


def test_tree_file_reference_reads_attribute_sections() -> None:
    docstring = """A thing.

    Attributes:
        a: the first
            line and its continuation.
        b, c: both of these.

    Later text.
    """
    import inspect

    assert docs_pages._attribute_docs(inspect.cleandoc(docstring)) == {
        "a": "the first line and its continuation.",
        "b": "both of these.",
        "c": "both of these.",
    }


def test_api_reference_documents_every_public_name() -> None:
    page = docs_pages.api_reference()
    directives = re.findall(r"^::: (\S+)$", page, re.M)
    for name in supervise.__all__:
        assert f"supervise.{name}" in directives, name
    assert "supervise.testing" in directives


def test_every_public_name_has_a_docstring_the_reference_shows() -> None:
    """The API reference shows each public name with its docstring, as mkdocstrings reads it.

    A type alias or a constant is documented by a string right after it: a ``#:`` comment
    above it is not read, and the reference would show the bare name and its source.
    """
    import griffe

    package = griffe.load("supervise", search_paths=[str(ROOT)], resolve_aliases=True)
    modules = {"": supervise, "spec": supervise.spec, "events": events, "testing": testing}
    missing = []
    for prefix, module in modules.items():
        namespace = package[prefix] if prefix else package
        for name in module.__all__:
            docstring = namespace[name].docstring
            if docstring is None or not docstring.value.strip():
                missing.append(".".join(filter(None, ["supervise", prefix, name])))
    assert not missing, f"these public names have no docstring: {missing}"


# -- The site -----------------------------------------------------------------------------


def _mkdocs_config() -> dict[str, Any]:
    class Loader(yaml.SafeLoader):
        pass

    # mkdocs.yml may use !!python/name tags; they are irrelevant to these checks.
    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *_: None)
    config: dict[str, Any] = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)
    return config


def _nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


def test_every_page_is_in_the_nav() -> None:
    """A page added to docs/ shows in the site's navigation; every nav entry exists."""
    nav = _nav_pages(_mkdocs_config()["nav"])
    pages = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    generated = {*docs_pages.GENERATED, "changelog.md"}
    missing = sorted(pages - set(nav))
    assert not missing, f"add these pages to the nav in mkdocs.yml: {missing}"
    unknown = sorted(set(nav) - pages - generated)
    assert not unknown, f"mkdocs.yml's nav names pages that do not exist: {unknown}"


def test_site_url_is_the_documentation_url() -> None:
    """The site is published where the package metadata (and `supervise --help`) says."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    url = project["urls"]["Documentation"]
    assert _mkdocs_config()["site_url"].rstrip("/") == url.rstrip("/")


def test_help_links_to_the_documentation() -> None:
    """``supervise --help`` gives the address configured in pyproject.toml, not a file path."""
    installed = importlib.metadata.metadata("supervise").get_all("Project-URL")
    assert installed, "this install predates [project.urls]: run pip install -e '.[dev]'"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    url = project["urls"]["Documentation"].rstrip("/")
    result = CliRunner().invoke(cli_main, ["--help"])
    assert result.exit_code == 0
    assert f"Documentation: {url}/\n" in result.output
    assert f"{url}/tree-files/" in result.output
    assert "docs/" not in result.output


@pytest.mark.timeout(180)
def test_site_builds_strict(tmp_path: Path) -> None:
    """``mkdocs build --strict`` passes, and the built pages hold what they are made from."""
    assert importlib.util.find_spec("mkdocs") is not None, (
        "MkDocs is not installed: run pip install -e '.[dev]' (dev includes the docs extra)"
    )
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
    )
    assert result.returncode == 0, (
        "mkdocs build --strict failed; its WARNING lines name the page and the broken link "
        f"(or docstring):\n{result.stderr}"
    )
    api = (site / "reference" / "api" / "index.html").read_text()
    for name in ("Actor", "ActorRef", "SupervisorSpec", "open_tree", "load_tree", "Tree"):
        assert f'id="supervise.{name}"' in api, name
    assert 'id="supervise.ActorRef.call"' in api
    catalogue = (site / "reference" / "events" / "index.html").read_text()
    for event in events.Event:
        assert f"<code>{event.value}</code>" in catalogue
    commands = (site / "reference" / "cli" / "index.html").read_text()
    assert "supervise run" in commands
    assert "--log-format" in commands
    fields = (site / "reference" / "tree-file" / "index.html").read_text()
    assert 'id="childspec"' in fields
    # A link from docs/ to an example leads to a page showing its source.
    actors = (site / "actors" / "index.html").read_text()
    assert 'href="../source/examples/heal.py/"' in actors
    heal = (site / "source" / "examples" / "heal.py" / "index.html").read_text()
    assert "Watch a supervision tree crash and heal." in heal
    assert "Unreleased" in (site / "changelog" / "index.html").read_text()


def test_links_out_of_docs_lead_to_pages_of_the_site() -> None:
    """The hook's link mapping: repository paths as written in docs/ -> pages of the site."""
    from tools import mkdocs_hooks

    site = mkdocs_hooks._site_path
    assert site("../examples/heal.py", "docs/actors.md") == "source/examples/heal.py.md"
    assert site("../README.md", "docs/actors.md") == "index.md"
    assert site("../CHANGELOG.md", "docs/actors.md") == "changelog.md"
    assert site("docs/tree-files.md", "CHANGELOG.md") == "tree-files.md"
    assert site("tasks.md", "docs/actors.md") is None  # already a link between pages
    assert site("../examples/no-such-file.py", "docs/actors.md") is None  # --strict reports it
    assert site("https://example.com/x.md", "docs/actors.md") is None
    found = mkdocs_hooks._outside_files(
        "[a](../examples/heal.py) [b](tasks.md) [c](../README.md) [d](../nope.py)",
        "docs/actors.md",
    )
    assert found == {"examples/heal.py"}
